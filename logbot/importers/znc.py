"""ZNC's ``log`` module: ``.../moddata/log/<network>/<#channel>/<YYYY-MM-DD>.log``.

Lines are ``[HH:MM:SS] `` and then ``<nick> text``, ``* nick action``, ``-nick- notice`` or
a ``*** `` line (joins, parts, quits, kicks, nick, topic and mode changes). The date is the
file's name. (A network-level module keeps ``.../networks/<network>/moddata/log/<#channel>/``.)
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from pathlib import Path

from logbot.events import Kind
from logbot.importers.core import SKIP, LineResult, Parsed, Source, is_channel, userhost_of

NAME = "znc"

_new = tuple.__new__
_MESSAGE_KIND = Kind.MESSAGE

_DATE_NAME = re.compile(r"(\d{4})-(\d\d)-(\d\d)\.log(?:\.gz)?$")
_LINE = re.compile(r"\[(\d\d):(\d\d):(\d\d)\] (.*)$", re.S)
_MESSAGE = re.compile(r"<([^ >]+)> (.*)$", re.S)
#: the common case in one match: a message
_MESSAGE_LINE = re.compile(r"\[(\d\d):(\d\d):(\d\d)\] <([^ >]+)> (.*)$", re.S)
_ACTION = re.compile(r"\* (\S+) (.*)$", re.S)
_NOTICE = re.compile(r"-([^ -][^ ]*?)- (.*)$", re.S)
_JOIN = re.compile(r"\*\*\* Joins: (\S+) \((.*)\)$")
_PART = re.compile(r"\*\*\* Parts: (\S+) \(([^)]*)\) \((.*)\)$", re.S)
_QUIT = re.compile(r"\*\*\* Quits: (\S+) \(([^)]*)\) \((.*)\)$", re.S)
_KICK = re.compile(r"\*\*\* (\S+) was kicked by (\S+) \((.*)\)$", re.S)
_NICK = re.compile(r"\*\*\* (\S+) is now known as (\S+)$")
_TOPIC = re.compile(r"\*\*\* (\S+) changes topic to '(.*)'$", re.S)
_MODE = re.compile(r"\*\*\* (\S+) sets mode: (.*?) ?$", re.S)
_SESSION = re.compile(r"\*\*\* (?:Connected to IRC|Disconnected from IRC|Attached|Detached)")


def sniff(path: Path, head: list[str]) -> bool:
    """A date-named file in a channel's directory, or lines only ZNC writes."""
    if _DATE_NAME.search(path.name) and is_channel(path.parent.name):
        return any(_LINE.match(line) for line in head)
    return any(
        _JOIN.match(m.group(4)) or _PART.match(m.group(4)) or _QUIT.match(m.group(4))
        for m in (_LINE.match(line) for line in head)
        if m is not None
    )


def describe(path: Path) -> Source:
    """Network, channel and date from ``<network>/<#channel>/<YYYY-MM-DD>.log``."""
    source = Source(path=path, format=NAME)
    m = _DATE_NAME.search(path.name)
    if m is not None:
        source.day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    source.network, source.channel = _where(path.parent)
    return source


@functools.lru_cache(maxsize=256)
def _where(folder: Path) -> tuple[str, str]:
    """(network, channel) of a channel's folder; once per folder, not per day's file."""
    if not is_channel(folder.name):
        return "", ""
    network = folder.parent
    if network.name == "log" and network.parent.name == "moddata":
        # a network-level module: .../networks/<network>/moddata/log/<#channel>/
        network = network.parent.parent
    return network.name, folder.name


class Parser:
    def __init__(self, source: Source) -> None:
        self.day = source.day

    def parse(self, line: str) -> LineResult:
        if self.day is None:
            return None
        d = self.day
        m = _MESSAGE_LINE.match(line)
        if m is not None:
            h, mi, s, nick, text = m.groups()
            when = datetime(d.year, d.month, d.day, int(h), int(mi), int(s))
            # most lines: the tuple without Parsed's keyword handling
            return _new(Parsed, (when, _MESSAGE_KIND, nick, text, "", "", "", 1))
        m = _LINE.match(line)
        if m is None:
            return None
        when = datetime(d.year, d.month, d.day, int(m.group(1)), int(m.group(2)), int(m.group(3)))
        body = m.group(4)
        if body.startswith("*** "):
            return _status(when, body)
        if (b := _MESSAGE.match(body)) is not None:
            return Parsed(when, Kind.MESSAGE, b.group(1), b.group(2))
        if (b := _ACTION.match(body)) is not None:
            return Parsed(when, Kind.ACTION, b.group(1), b.group(2))
        if (b := _NOTICE.match(body)) is not None:
            return Parsed(when, Kind.NOTICE, b.group(1), b.group(2))
        return None


def _status(when: datetime, body: str) -> LineResult:
    if (b := _JOIN.match(body)) is not None:
        return Parsed(when, Kind.JOIN, b.group(1), userhost=userhost_of(b.group(2)))
    if (b := _PART.match(body)) is not None:
        return Parsed(when, Kind.PART, b.group(1), b.group(3), userhost=userhost_of(b.group(2)))
    if (b := _QUIT.match(body)) is not None:
        return Parsed(when, Kind.QUIT, b.group(1), b.group(3), userhost=userhost_of(b.group(2)))
    if (b := _KICK.match(body)) is not None:
        return Parsed(when, Kind.KICK, b.group(2), b.group(3), target=b.group(1))
    if (b := _NICK.match(body)) is not None:
        return Parsed(when, Kind.NICK, b.group(1), target=b.group(2))
    if (b := _TOPIC.match(body)) is not None:
        return Parsed(when, Kind.TOPIC, b.group(1), b.group(2))
    if (b := _MODE.match(body)) is not None:
        nick = "" if b.group(1) == "Server" else b.group(1)
        return Parsed(when, Kind.MODE, nick, b.group(2))
    if _SESSION.match(body):
        return SKIP
    return None
