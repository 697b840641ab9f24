"""Limnoria's ChannelLogger: ``logs/ChannelLogger/<network>/<#channel>/<#channel>.<date>.log``.

Lines are ``YYYY-MM-DDTHH:MM:SS`` (``supybot.log.timestampFormat``), two spaces, then
``<nick> text``, ``* nick action``, ``-nick- notice`` or a ``*** `` line.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

from logbot.events import Kind
from logbot.importers.core import LineResult, Parsed, Source, is_channel, userhost_of

NAME = "limnoria"

_DATE_NAME = re.compile(r"\.(\d{4})-(\d\d)-(\d\d)\.log(?:\.gz)?$")
_LINE = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)  (.*)$", re.S)
_MESSAGE = re.compile(r"<([^ >]+)> (.*)$", re.S)
_ACTION = re.compile(r"\* (\S+) (.*)$", re.S)
_NOTICE = re.compile(r"-([^ -][^ ]*?)- (.*)$", re.S)
_JOIN = re.compile(r"\*\*\* (\S+) <([^>]*)> has joined (\S+)$")
_PART = re.compile(r"\*\*\* (\S+) <([^>]*)> has left (\S+)(?: \((.*)\))?$", re.S)
_QUIT = re.compile(r"\*\*\* (\S+) <([^>]*)> has quit IRC(?: \((.*)\))?$", re.S)
_KICK = re.compile(r"\*\*\* (\S+) was kicked by (\S+)(?: \((.*)\))?$", re.S)
_NICK = re.compile(r"\*\*\* (\S+) is now known as (\S+)$")
_TOPIC = re.compile(r'\*\*\* (\S+) changes topic to "(.*)"$', re.S)
_MODE = re.compile(r"\*\*\* (\S+) sets mode: (.*)$", re.S)


def sniff(path: Path, head: list[str]) -> bool:
    return any(_LINE.match(line) for line in head[:5])


def describe(path: Path) -> Source:
    """Network and channel from ``<network>/<#channel>/<#channel>[.<date>].log``."""
    source = Source(path=path, format=NAME)
    # the date in the name orders the files; the lines carry their own
    if (m := _DATE_NAME.search(path.name)) is not None:
        source.day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    if is_channel(path.parent.name):
        source.channel = path.parent.name
        source.network = path.parent.parent.name
    elif is_channel(path.name):
        source.channel = path.name.split(".", 1)[0]
    return source


class Parser:
    def __init__(self, source: Source) -> None:
        pass

    def parse(self, line: str) -> LineResult:
        m = _LINE.match(line)
        if m is None:
            return None
        y, mo, d, h, mi, se = (int(g) for g in m.groups()[:6])
        when = datetime(y, mo, d, h, mi, se)
        body = m.group(7)
        if (b := _MESSAGE.match(body)) is not None:
            return Parsed(when, Kind.MESSAGE, b.group(1), b.group(2))
        if not body.startswith("*** "):
            if (b := _ACTION.match(body)) is not None:
                return Parsed(when, Kind.ACTION, b.group(1), b.group(2))
            if (b := _NOTICE.match(body)) is not None:
                return Parsed(when, Kind.NOTICE, b.group(1), b.group(2))
            return None
        if (b := _JOIN.match(body)) is not None:
            return Parsed(when, Kind.JOIN, b.group(1), userhost=userhost_of(b.group(2)))
        if (b := _PART.match(body)) is not None:
            return Parsed(
                when, Kind.PART, b.group(1), b.group(4) or "", userhost=userhost_of(b.group(2))
            )
        if (b := _QUIT.match(body)) is not None:
            return Parsed(
                when, Kind.QUIT, b.group(1), b.group(3) or "", userhost=userhost_of(b.group(2))
            )
        if (b := _KICK.match(body)) is not None:
            return Parsed(when, Kind.KICK, b.group(2), b.group(3) or "", target=b.group(1))
        if (b := _NICK.match(body)) is not None:
            return Parsed(when, Kind.NICK, b.group(1), target=b.group(2))
        if (b := _TOPIC.match(body)) is not None:
            return Parsed(when, Kind.TOPIC, b.group(1), b.group(2))
        if (b := _MODE.match(body)) is not None:
            return Parsed(when, Kind.MODE, b.group(1), b.group(2))
        return None
