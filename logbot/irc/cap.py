"""IRCv3 capability negotiation and SASL payloads: pure helpers for the protocol."""

from __future__ import annotations

import base64
from collections.abc import Iterable

#: What logbot asks for when the server offers it, and why:
#: server-time (the server's time of each event), message-tags (tags on every
#: message, e.g. account), multi-prefix (every prefix in NAMES, stripped correctly),
#: account-tag, extended-join (JOIN carries the account), chghost (a host change is
#: one CHGHOST line rather than a fake QUIT and JOIN polluting the log), away-notify,
#: cap-notify (CAP NEW/DEL after registration); batch, chathistory (or its draft),
#: draft/event-playback and labeled-response to fill gaps from the server's history
#: (see :mod:`logbot.irc.history`); draft/message-redaction (a REDACT deletes the
#: stored message: see :mod:`logbot.storage.redact`).
WANTED_CAPS: tuple[str, ...] = (
    "account-tag",
    "away-notify",
    "batch",
    "cap-notify",
    "chathistory",
    "chghost",
    "draft/chathistory",
    "draft/event-playback",
    "draft/message-redaction",
    "extended-join",
    "labeled-response",
    "message-tags",
    "multi-prefix",
    "server-time",
)

#: Room for the capability list in one ``CAP REQ :...`` line (512 minus framing and slack).
_REQ_ROOM = 400
#: SASL sends its payload in base64 chunks of at most this many bytes.
SASL_CHUNK = 400


def parse_caps(text: str) -> dict[str, str]:
    """``"sasl=PLAIN,EXTERNAL multi-prefix"`` as ``{"sasl": "PLAIN,EXTERNAL", "multi-prefix": ""}``.

    Draft modifiers (``~`` and ``=``) some old servers put before a name are dropped;
    a ``-`` (a capability being disabled, in ACK) is kept for the caller.
    """
    caps: dict[str, str] = {}
    for token in text.split():
        name, _, value = token.lstrip("~=").partition("=")
        if name:
            caps[name] = value
    return caps


def req_lines(caps: Iterable[str]) -> list[tuple[str, frozenset[str]]]:
    """``CAP REQ`` lines asking for ``caps``, each short enough for any server.

    Each item is the line and the set of capabilities it asks for (one ACK or NAK
    answers each line as a whole).
    """
    lines: list[tuple[str, frozenset[str]]] = []
    chunk: list[str] = []
    size = 0
    for cap in caps:
        if chunk and size + 1 + len(cap) > _REQ_ROOM:
            lines.append(("CAP REQ :" + " ".join(chunk), frozenset(chunk)))
            chunk, size = [], 0
        chunk.append(cap)
        size += len(cap) + (1 if size else 0)
    if chunk:
        lines.append(("CAP REQ :" + " ".join(chunk), frozenset(chunk)))
    return lines


def sasl_plain_chunks(account: str, password: str) -> list[str]:
    """The ``AUTHENTICATE`` arguments that carry a SASL PLAIN response.

    The response is ``authzid NUL authcid NUL password`` (the account as both), base64,
    cut into 400-byte pieces; a final piece of exactly 400 bytes is followed by ``+``
    so the server knows the response is complete.
    """
    raw = b"\0".join((account.encode(), account.encode(), password.encode()))
    payload = base64.b64encode(raw).decode("ascii")
    chunks = [payload[i : i + SASL_CHUNK] for i in range(0, len(payload), SASL_CHUNK)]
    if not chunks or len(chunks[-1]) == SASL_CHUNK:
        chunks.append("+")
    return chunks


def join_lines(channels: Iterable[tuple[str, str | None]], room: int = 400) -> list[str]:
    """``JOIN`` lines for ``(channel, key)`` pairs, several channels per line.

    Keyed channels come first in each line, because a JOIN's keys pair with its
    channels in order; each line stays under ``room`` bytes.
    """
    items = sorted(channels, key=lambda item: item[1] is None)
    lines: list[str] = []
    names: list[str] = []
    keys: list[str] = []
    size = 0
    for name, key in items:
        extra = len(name.encode()) + 1 + (len(key.encode()) + 1 if key else 0)
        if names and size + extra > room:
            lines.append(_join_line(names, keys))
            names, keys, size = [], [], 0
        names.append(name)
        if key:
            keys.append(key)
        size += extra
    if names:
        lines.append(_join_line(names, keys))
    return lines


def _join_line(names: list[str], keys: list[str]) -> str:
    line = "JOIN " + ",".join(names)
    return line + " " + ",".join(keys) if keys else line
