"""IRC wire syntax without Twisted: bytes to text, IRCv3 message tags, line splitting.

Everything here is pure and cheap, because it runs for every line the server sends.
"""

from __future__ import annotations

import codecs
from datetime import UTC, datetime, timedelta

#: An IRCv3 line is at most 8191 bytes of tags plus 512 of message; anything without a
#: line end after this many bytes is garbage we drop rather than buffer without bound.
MAX_LINE_BYTES = 16 * 1024

#: A ``server-time`` stamp further than this from when the line was read is not believed
#: (a server with a broken clock, or a hostile one): the receive time is used instead.
MAX_SERVER_TIME_SKEW = timedelta(days=1)

_TAG_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


def check_encoding(name: str) -> str:
    """The codec's canonical name; ``LookupError`` if Python knows no such encoding."""
    return codecs.lookup(name).name


def unescape_tag_value(value: str) -> str:
    """Undo IRCv3 tag-value escaping (``\\:`` ``\\s`` ``\\\\`` ``\\r`` ``\\n``).

    An unknown escape stands for the character itself; a lone trailing backslash is dropped.
    """
    if "\\" not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == "\\":
            i += 1
            if i < n:
                nxt = value[i]
                out.append(_TAG_ESCAPES.get(nxt, nxt))
        else:
            out.append(c)
        i += 1
    return "".join(out)


def tag_value(raw: str, key: str) -> str | None:
    """The value of one tag in a raw tag string, without parsing the others.

    None if the tag is absent or has no value (``key`` alone, a flag).
    """
    start = 0
    needle = key + "="
    while True:
        i = raw.find(needle, start)
        if i < 0:
            return None
        if i == 0 or raw[i - 1] == ";":
            end = raw.find(";", i)
            value = raw[i + len(needle) :] if end < 0 else raw[i + len(needle) : end]
            return unescape_tag_value(value) if "\\" in value else value
        start = i + 1


def time_and_msgid(tags: str) -> tuple[str | None, str]:
    """A raw tag string's ``time`` (None when absent) and ``msgid`` (``""`` when absent):
    :func:`tag_value` for both, spelled out for the common case, because it runs for
    every line a server tags."""
    i = tags.find("time=")
    if i < 0:
        stamp = None
    elif i and tags[i - 1] != ";":
        stamp = tag_value(tags, "time")  # "xtime=" first: the rare slow way
    else:
        end = tags.find(";", i)
        stamp = tags[i + 5 :] if end < 0 else tags[i + 5 : end]
        if "\\" in stamp:
            stamp = unescape_tag_value(stamp)
    i = tags.find("msgid=")
    if i < 0:
        return stamp, ""
    if i and tags[i - 1] != ";":
        return stamp, tag_value(tags, "msgid") or ""
    end = tags.find(";", i)
    msgid = tags[i + 6 :] if end < 0 else tags[i + 6 : end]
    return stamp, unescape_tag_value(msgid) if "\\" in msgid else msgid


def msgid_of(tags: str) -> str:
    """The ``msgid`` in a raw tag string, or ``""``."""
    return time_and_msgid(tags)[1]


def parse_server_time(value: str) -> datetime | None:
    """An IRCv3 ``time`` tag (``2011-10-19T16:40:51.620Z``) as aware UTC.

    None if malformed, or not representable in UTC (``0001-01-01T00:00:00+01:00``).
    """
    try:
        when = datetime.fromisoformat(value)
        if when.tzinfo is UTC:
            return when  # the spec's form ("...Z"): nothing to convert
        if when.tzinfo is None:
            # The spec says UTC with a Z; a server that omits the zone still means UTC.
            return when.replace(tzinfo=UTC)
        return when.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def plausible_server_time(value: str, received: datetime) -> datetime | None:
    """The ``time`` tag as aware UTC if it is well-formed and within a day of ``received``."""
    when = parse_server_time(value)
    if when is None or abs(when - received) > MAX_SERVER_TIME_SKEW:
        return None
    return when


def split_message(line: str) -> tuple[str, str, str, list[str]]:
    """Split one decoded line into ``(tags, prefix, command, params)``.

    ``tags`` is the raw tag string (without ``@``, ``""`` when there is none) so that
    callers parse it only when they need a tag. ``prefix`` is ``""`` when absent. The
    trailing parameter (after `` :``) is the last item of ``params``. Raises
    ``ValueError`` for a line with no command.
    """
    # partition() rather than find() and slices: this runs for every line received
    tags = ""
    if line[:1] == "@":
        tags, space, line = line.partition(" ")
        if not space:
            raise ValueError("a line with tags but no command")
        tags = tags[1:]
        line = line.lstrip(" ")
    prefix = ""
    if line[:1] == ":":
        prefix, space, line = line.partition(" ")
        if not space:
            raise ValueError("a line with a prefix but no command")
        prefix = prefix[1:]
    head, colon, trailing = line.partition(" :")
    params = head.split()
    if not params or params[0][0] == ":":
        raise ValueError("a line with no command")
    if colon:
        params.append(trailing)
    command = params.pop(0).upper()
    return tags, prefix, command, params


def nick_of(prefix: str) -> str:
    """The nick in a ``nick!user@host`` prefix (the whole prefix when it is a server)."""
    bang = prefix.find("!")
    return prefix if bang < 0 else prefix[:bang]
