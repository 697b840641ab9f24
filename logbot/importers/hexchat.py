"""HexChat's logs: ``<network>/<#channel>.log`` (default text events, default timestamps).

Written from HexChat's documented defaults, not by HexChat itself (it needs a display):
``**** BEGIN LOGGING AT Fri Dec  4 23:58:30 2026`` opens a session (and gives the year),
then ``Dec 04 23:59:02 `` (``stamp_log_format``, ``%b %d %H:%M:%S``), the event's prefix,
a tab and its text: ``<nick>`` for a message, ``*`` for an action and for the channel
events (joins, parts, quits, kicks, nick, topic and mode changes), ``-nick/#channel-``
for a notice.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from logbot.events import Kind
from logbot.importers.core import (
    SKIP,
    LineResult,
    Parsed,
    Source,
    asctime_day,
    channel_file_source,
    is_channel,
    month_number,
    strip_mode,
)

NAME = "hexchat"

_SESSION = re.compile(r"\*\*\*\* (BEGIN|ENDING) LOGGING AT (.*)$")
_LINE = re.compile(r"(\w{3}) (\d\d) (\d\d):(\d\d):(\d\d) ([^\t]*)\t(.*)$", re.S)
_MESSAGE = re.compile(r"<([^>]+)>$")
_NOTICE = re.compile(r"-([^/ ]+)(?:/\S+)?-$")
_JOIN = re.compile(r"(\S+) \(([^)]*)\) has joined (\S+)$")
_PART = re.compile(r"(\S+) \(([^)]*)\) has left (\S+)(?: \((.*)\))?$", re.S)
_QUIT = re.compile(r"(\S+) has quit \((.*)\)$", re.S)
_KICK = re.compile(r"(\S+) has kicked (\S+) from (\S+) \((.*)\)$", re.S)
_NICK = re.compile(r"(\S+) is now known as (\S+)$")
_TOPIC = re.compile(r"(\S+) has changed the topic to: (.*)$", re.S)
_MODES = (
    (re.compile(r"(\S+) gives channel operator status to (\S+)$"), "+o"),
    (re.compile(r"(\S+) removes channel operator status from (\S+)$"), "-o"),
    (re.compile(r"(\S+) gives voice to (\S+)$"), "+v"),
    (re.compile(r"(\S+) removes voice from (\S+)$"), "-v"),
    (re.compile(r"(\S+) sets ban on (\S+)$"), "+b"),
    (re.compile(r"(\S+) removes ban on (\S+)$"), "-b"),
)
_MODE = re.compile(r"(\S+) sets mode (\S+)(?: (.*))?$")
#: HexChat's lines about the user's own session and channel state: not channel events
_INFO = re.compile(
    r"(?:Now talking on |Topic for \S+ is: |Topic for \S+ set by |Channel \S+ modes: "
    r"|Channel \S+ created on |You are now known as |Disconnected \(|Loaded log from )"
)


def sniff(path: Path, head: list[str]) -> bool:
    return any(_SESSION.match(line) for line in head)


def describe(path: Path) -> Source:
    """Network and channel from ``<network>/<#channel>.log``."""
    return channel_file_source(path, NAME)


class Parser:
    def __init__(self, source: Source) -> None:
        self.year: int | None = source.day.year if source.day else None
        self.month = 0
        self.channel = source.channel

    def parse(self, line: str) -> LineResult:
        if line.startswith("**** "):
            m = _SESSION.match(line)
            day = asctime_day(m.group(2)) if m is not None else None
            if day is None:
                return None
            self.year, self.month = day.year, day.month
            return SKIP
        m = _LINE.match(line)
        month = month_number(m.group(1)) if m is not None else None
        if m is None or month is None or self.year is None:
            return None
        if month < self.month:
            self.year += 1  # the stamps have no year: December runs into January
        self.month = month
        when = datetime(
            self.year, month, int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5))
        )
        prefix, text = m.group(6), m.group(7)
        if (b := _MESSAGE.match(prefix)) is not None:
            return Parsed(when, Kind.MESSAGE, strip_mode(b.group(1)), text)
        if (b := _NOTICE.match(prefix)) is not None:
            return Parsed(when, Kind.NOTICE, b.group(1), text)
        if prefix in ("*", "-->", "<--", "---"):
            return _event(when, text)
        return None


def _event(when: datetime, text: str) -> LineResult:
    if _INFO.match(text):
        return SKIP
    if (b := _JOIN.match(text)) is not None:
        return Parsed(when, Kind.JOIN, b.group(1), userhost=b.group(2))
    if (b := _PART.match(text)) is not None:
        return Parsed(when, Kind.PART, b.group(1), b.group(4) or "", userhost=b.group(2))
    if (b := _QUIT.match(text)) is not None:
        return Parsed(when, Kind.QUIT, b.group(1), b.group(2))
    if (b := _KICK.match(text)) is not None:
        return Parsed(when, Kind.KICK, b.group(1), b.group(4), target=b.group(2))
    if (b := _NICK.match(text)) is not None:
        return Parsed(when, Kind.NICK, b.group(1), target=b.group(2))
    if (b := _TOPIC.match(text)) is not None:
        return Parsed(when, Kind.TOPIC, b.group(1), b.group(2))
    for pattern, mode in _MODES:
        if (b := pattern.match(text)) is not None:
            return Parsed(when, Kind.MODE, b.group(1), f"{mode} {b.group(2)}")
    if (b := _MODE.match(text)) is not None:
        args = b.group(3) or ""
        # "alice sets mode +t #chan": the channel is HexChat's, not an argument of the mode
        args = " ".join(a for a in args.split() if not is_channel(a))
        return Parsed(when, Kind.MODE, b.group(1), f"{b.group(2)} {args}".strip())
    # anything else after "*" is an action: "* bob waves"
    nick, _, action = text.partition(" ")
    return Parsed(when, Kind.ACTION, nick, action)
