"""Search results as text, JSON lines or CSV: pure functions, golden-tested.

- text: ``YYYY-MM-DD HH:MM:SS #chan <nick> text`` in local time; the other kinds read like the
  text log (``* nick waves``, ``--> nick has joined #chan``, ...). Control characters and
  the invisible characters that reorder or hide text (bidi overrides, zero-width space...)
  are made visible (:func:`logbot.text.visible`), so one event is always one line, no
  text can drive the terminal and none reads other than it is.
- json: one object a line, ``{"time", "network", "channel", "nick", "kind", "text"}`` with the
  time in UTC (ISO-8601, microseconds, ``+00:00``); then, only when they hold something,
  ``"target"`` for the kinds that have one (kick: who was kicked; nick: the new nick) and
  ``"userhost"`` (joins, parts, quits): without them an archive would lose who was kicked and
  what a nick became, and an export imported back into its own database could not be
  recognised as the events already there; ``"msgid"`` where the server sent one.
  ``"context": true`` marks lines that ``--context`` added around a hit. ``logbot export``
  writes exactly these lines; ``logbot import`` reads them back. Lossless: the characters
  the text output makes visible are written as ``\\uXXXX`` escapes, which every JSON
  reader decodes back.
- csv: a header, then ``time,network,channel,nick,kind,text,target,userhost`` with the JSON's
  time; text made visible as in the text output, and a cell that a spreadsheet would take
  for a formula (starting with ``=``, ``+``, ``-`` or ``@``) starts with ``'``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, tzinfo
from typing import NamedTuple

from logbot.storage.names import key_time
from logbot.text import json_escaped, visible

__all__ = [
    "CSV_HEADER",
    "FORMATS",
    "Record",
    "csv_header",
    "csv_line",
    "json_line",
    "record_time",
    "result_lines",
    "text_line",
    "utc_iso",
    "visible",
]

#: kinds whose ``target`` is part of what happened
TARGET_KINDS = frozenset({"kick", "nick"})

CSV_HEADER = ("time", "network", "channel", "nick", "kind", "text", "target", "userhost")

HIGHLIGHT_ON = "\x1b[1;31m"
HIGHLIGHT_OFF = "\x1b[0m"

Highlighter = Callable[[str], list[tuple[int, int]]]


class Record(NamedTuple):
    """One stored event as search reads it back."""

    id: int
    network: str
    channel: str
    kind: str
    nick: str
    text: str
    target: str = ""
    userhost: str = ""
    #: the server's IRCv3 msgid, where it sent one and the database stores it
    msgid: str = ""


#: the aware UTC time an ``events.id`` time key stands for
record_time = key_time


def utc_iso(when: datetime) -> str:
    """``when`` as fixed-width ISO-8601 in UTC: ``2026-11-28T20:35:22.000000+00:00``."""
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def _mark(text: str, spans: list[tuple[int, int]]) -> str:
    out = []
    at = 0
    for start, end in spans:
        out.append(text[at:start])
        out.append(HIGHLIGHT_ON + text[start:end] + HIGHLIGHT_OFF)
        at = end
    out.append(text[at:])
    return "".join(out)


def _reason(text: str) -> str:
    return f" ({text})" if text else ""


def _who(rec: Record) -> str:
    return f"{rec.nick} ({rec.userhost})" if rec.userhost else rec.nick


def _body(rec: Record, text: str) -> str:
    kind, nick, chan = rec.kind, rec.nick, rec.channel
    if kind == "message":
        return f"<{nick}> {text}"
    if kind == "action":
        return f"* {nick} {text}"
    if kind == "notice":
        return f"-{nick}- {text}"
    if kind == "join":
        return f"--> {_who(rec)} has joined {chan}"
    if kind == "part":
        return f"<-- {_who(rec)} has left {chan}{_reason(text)}"
    if kind == "quit":
        return f"<-- {_who(rec)} has quit{_reason(text)}"
    if kind == "kick":
        return f"<-- {nick} has kicked {rec.target} from {chan}{_reason(text)}"
    if kind == "nick":
        return f"{nick} is now known as {rec.target}"
    if kind == "topic":
        if not text:
            return f"-- {nick or 'the server'} cleared the topic of {chan}"
        if not nick:
            return f"-- the topic of {chan} is: {text}"
        return f"-- {nick} changed the topic of {chan} to: {text}"
    if kind == "mode":
        return f"-- {nick or 'the server'} sets mode {chan} {text}"
    # a kind from a newer logbot: show it rather than fail
    return f"[{kind}] {nick} {text}".rstrip()


def text_line(
    rec: Record,
    *,
    tz: tzinfo | None = None,
    highlight: Highlighter | None = None,
    color: bool = False,
) -> str:
    """The human line for ``rec`` in local time (``tz``; ``None``: the system's zone)."""
    when = record_time(rec.id)
    local = when.astimezone(tz) if tz is not None else when.astimezone()
    shown = visible(rec.text)
    if color and highlight is not None and rec.text:
        spans = highlight(rec.text)
        if spans:
            shown = _mark(shown, spans)
    safe = Record(
        rec.id,
        rec.network,
        visible(rec.channel),
        rec.kind,
        visible(rec.nick),
        rec.text,
        visible(rec.target),
        visible(rec.userhost),
    )
    return f"{local:%Y-%m-%d %H:%M:%S} {safe.channel} {_body(safe, shown)}"


def _dumps(obj: dict[str, object]) -> str:
    import json

    global _dumps
    encode = json.JSONEncoder(ensure_ascii=False).encode

    def _dumps(obj: dict[str, object]) -> str:
        return json_escaped(encode(obj))

    return json_escaped(encode(obj))


def json_line(rec: Record, *, context: bool = False) -> str:
    """The JSON object line for ``rec`` (no newline), as search, export and import share it."""
    obj: dict[str, object] = {
        "time": utc_iso(record_time(rec.id)),
        "network": rec.network,
        "channel": rec.channel,
        "nick": rec.nick,
        "kind": rec.kind,
        "text": rec.text,
    }
    if rec.target and rec.kind in TARGET_KINDS:
        obj["target"] = rec.target
    if rec.userhost:
        obj["userhost"] = rec.userhost
    if rec.msgid:
        obj["msgid"] = rec.msgid
    if context:
        obj["context"] = True
    return _dumps(obj)


def csv_header() -> str:
    """The CSV header line (no newline)."""
    return ",".join(CSV_HEADER)


#: a cell starting with one of these is a formula to a spreadsheet (CSV injection)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: controls made visible, and a leading ``'``
    before what would start a formula (``=HYPERLINK(...)``, ``+cmd|...``)."""
    shown = visible(value)
    return "'" + shown if shown.startswith(_FORMULA_START) else shown


def csv_line(rec: Record) -> str:
    """One CSV row for ``rec`` (no final newline; one event is always one line).

    CSV is for spreadsheets and people: every text cell goes through :func:`_cell`. JSON
    is the lossless format.
    """
    # imported here: a text search should not pay for them at start-up
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(
        (
            utc_iso(record_time(rec.id)),
            _cell(rec.network),
            _cell(rec.channel),
            _cell(rec.nick),
            _cell(rec.kind),
            _cell(rec.text),
            _cell(rec.target) if rec.kind in TARGET_KINDS else "",
            _cell(rec.userhost),
        )
    )
    return buf.getvalue()[:-1]


FORMATS = ("text", "json", "csv")


def result_lines(
    groups: Iterable[list[tuple[Record, bool]]],
    fmt: str,
    *,
    color: bool = False,
    highlight: Highlighter | None = None,
    tz: tzinfo | None = None,
) -> Iterator[str]:
    """The lines ``logbot search`` prints for ``groups`` of (event, is_hit).

    Groups come from ``--context``: text separates them with ``--`` like ``grep -C``; json
    and csv stay one record a line (json marks the context lines).
    """
    if fmt == "csv":
        yield csv_header()
    first = True
    for group in groups:
        if fmt == "text" and not first and len(group) > 0:
            yield "--"
        first = False
        for rec, is_hit in group:
            if fmt == "json":
                yield json_line(rec, context=not is_hit)
            elif fmt == "csv":
                yield csv_line(rec)
            else:
                yield text_line(rec, tz=tz, highlight=highlight if is_hit else None, color=color)
