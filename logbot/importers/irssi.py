"""irssi's autolog (default theme): ``~/irclogs/<network>/<#channel>.log``.

Lines are ``HH:MM`` (the default ``log_timestamp``; ``HH:MM:SS`` is read too), a space,
then ``<@nick> text``, `` * nick action``, ``-nick:#channel- notice`` or a ``-!-`` line.
``--- Log opened Fri Dec 04 23:58:34 2026`` and ``--- Day changed Sat Dec 05 2026`` give
the date.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from logbot.events import Kind
from logbot.importers.core import (
    SKIP,
    DayTracker,
    LineResult,
    Parsed,
    Source,
    asctime_day,
    channel_file_source,
)

NAME = "irssi"

_LINE = re.compile(r"(\d\d):(\d\d)(?::(\d\d))? (.*)$", re.S)
_DAY = re.compile(r"--- (?:Log opened|Log closed|Day changed) (.*)$")
_MESSAGE = re.compile(r"<([ ~&@%+]?)([^ >]+)> (.*)$", re.S)
_ACTION = re.compile(r" \* (\S+) (.*)$", re.S)
_NOTICE = re.compile(r"-([^ :]+)(?::\S+)?- (.*)$", re.S)
_JOIN = re.compile(r"-!- (\S+) \[([^]]*)\] has joined (\S+)$")
_PART = re.compile(r"-!- (\S+) \[([^]]*)\] has left (\S+) \[(.*)\]$", re.S)
_QUIT = re.compile(r"-!- (\S+) \[([^]]*)\] has quit \[(.*)\]$", re.S)
_KICK = re.compile(r"-!- (\S+) was kicked from (\S+) by (\S+) \[(.*)\]$", re.S)
_NICK = re.compile(r"-!- (\S+) is now known as (\S+)$")
_TOPIC = re.compile(r"-!- (\S+) changed the topic of (\S+) to: (.*)$", re.S)
_UNSET = re.compile(r"-!- Topic unset by (\S+) on (\S+)$")
_TOPIC_IS = re.compile(r"-!- Topic for (\S+): (.*)$", re.S)
_MODE = re.compile(r"-!- (?:mode|ServerMode)/(\S+) \[(.*)\] by (\S+)$", re.S)
_INFO = re.compile(r"-!- (?:Irssi: |Topic set by |You're now known as |Netsplit |Netsplit over)")


def sniff(path: Path, head: list[str]) -> bool:
    return any(line.startswith("--- Log opened ") for line in head)


def describe(path: Path) -> Source:
    """Network and channel from ``<network>/<#channel>.log``."""
    return channel_file_source(path, NAME)


class Parser:
    def __init__(self, source: Source) -> None:
        self.days = DayTracker(source.day)

    def parse(self, line: str) -> LineResult:
        if line.startswith("--- "):
            m = _DAY.match(line)
            day = asctime_day(m.group(1)) if m is not None else None
            if day is None:
                return None
            self.days.set(day)
            return SKIP
        m = _LINE.match(line)
        if m is None:
            return None
        seconds = m.group(3)
        when = self.days.at(int(m.group(1)), int(m.group(2)), int(seconds or 0))
        if when is None:
            return None
        resolution = 1 if seconds else 60
        body = m.group(4)
        if (b := _MESSAGE.match(body)) is not None:
            return Parsed(when, Kind.MESSAGE, b.group(2), b.group(3), resolution=resolution)
        if (b := _ACTION.match(body)) is not None:
            return Parsed(when, Kind.ACTION, b.group(1), b.group(2), resolution=resolution)
        if body.startswith("-!- "):
            return _status(body, when, resolution)
        if (b := _NOTICE.match(body)) is not None:
            return Parsed(when, Kind.NOTICE, b.group(1), b.group(2), resolution=resolution)
        return None


def _status(body: str, when: datetime, resolution: int) -> LineResult:
    r = resolution
    if (b := _JOIN.match(body)) is not None:
        return Parsed(when, Kind.JOIN, b.group(1), userhost=b.group(2), resolution=r)
    if (b := _PART.match(body)) is not None:
        return Parsed(when, Kind.PART, b.group(1), b.group(4), userhost=b.group(2), resolution=r)
    if (b := _QUIT.match(body)) is not None:
        return Parsed(when, Kind.QUIT, b.group(1), b.group(3), userhost=b.group(2), resolution=r)
    if (b := _KICK.match(body)) is not None:
        return Parsed(when, Kind.KICK, b.group(3), b.group(4), target=b.group(1), resolution=r)
    if (b := _NICK.match(body)) is not None:
        return Parsed(when, Kind.NICK, b.group(1), target=b.group(2), resolution=r)
    if (b := _TOPIC.match(body)) is not None:
        return Parsed(when, Kind.TOPIC, b.group(1), b.group(3), resolution=r)
    if (b := _UNSET.match(body)) is not None:
        return Parsed(when, Kind.TOPIC, b.group(1), "", resolution=r)
    if (b := _TOPIC_IS.match(body)) is not None:
        return Parsed(when, Kind.TOPIC, "", b.group(2), resolution=r)
    if (b := _MODE.match(body)) is not None:
        nick = "" if "." in b.group(3) else b.group(3)  # a server name
        return Parsed(when, Kind.MODE, nick, b.group(2), resolution=r)
    if _INFO.match(body):
        return SKIP
    return None
