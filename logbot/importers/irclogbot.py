"""logbot's own text log and the ircLogBot one it descends from.

Lines are ``[HH:MM:SS] `` (local time), in a multi-channel file followed by the channel,
then the bodies :mod:`logbot.backends.textfile` writes. The date comes from
``--- Log opened Sun Nov 29 2026`` / ``--- Day changed ...`` lines (logbot) or
``[connected at Fri Dec  4 23:58:30 2026]`` lines (ircLogBot, which has no others); the
file names no channel: ``--channel`` for a one-channel file.
"""

from __future__ import annotations

import re
from pathlib import Path

from logbot.events import Kind
from logbot.importers.core import (
    CHANNEL_PREFIX_CLASS,
    SKIP,
    DayTracker,
    LineResult,
    Parsed,
    Source,
    asctime_day,
    is_channel,
)

NAME = "irclogbot"

_LINE = re.compile(r"\[(\d\d):(\d\d):(\d\d)\] (.*)$", re.S)
_SESSION = re.compile(r"\[(?:dis)?connected at (.*)\]$")
_DAY = re.compile(r"--- (?:Log opened|Day changed) (.*)$")
_OWN = re.compile(r"\[I have (?:joined|left) (\S+)(?: \(.*\))?\]$", re.S)
_CHANNEL = re.compile(rf"({CHANNEL_PREFIX_CLASS}\S*) (.*)$", re.S)
_MESSAGE = re.compile(r"<([^ >]+)> (.*)$", re.S)
_ACTION = re.compile(r"\* (\S+) (.*)$", re.S)
_NOTICE = re.compile(r"-([^ -][^ ]*?)- (.*)$", re.S)
_WHO = r"(\S+)(?: \(([^)]*)\))?"
_JOIN = re.compile(rf"--> {_WHO} has joined (\S+)$")
_PART = re.compile(rf"<-- {_WHO} has left (\S+)(?: \((.*)\))?$", re.S)
_QUIT = re.compile(rf"<-- {_WHO} has quit(?: \((.*)\))?$", re.S)
_KICK = re.compile(r"<-- (\S+) has kicked (\S+) from (\S+)(?: \((.*)\))?$", re.S)
_NICK = re.compile(r"(\S+) is now known as (\S+)$")
_TOPIC = re.compile(r"-- (.+?) set the topic of (\S+) to: (.*)$", re.S)
_TOPIC_IS = re.compile(r"-- the topic of (\S+) is: (.*)$", re.S)
_CLEARED = re.compile(r"-- (.+?) cleared the topic of (\S+)$")
_MODE = re.compile(r"-- (.+?) sets mode (\S+) (.*)$", re.S)
_SERVER = "the server"


def sniff(path: Path, head: list[str]) -> bool:
    return any(_LINE.match(line) for line in head)


def describe(path: Path) -> Source:
    """Nothing in the path: ``--network`` and ``--channel`` say (or the lines)."""
    return Source(path=path, format=NAME)


class Parser:
    def __init__(self, source: Source) -> None:
        self.days = DayTracker(source.day)

    def parse(self, line: str) -> LineResult:
        m = _LINE.match(line)
        if m is None:
            s = _SESSION.match(line)  # ircLogBot writes these without a stamp
            day = asctime_day(s.group(1)) if s is not None else None
            if day is None:
                return None
            self.days.set(day)
            return SKIP
        body = m.group(4)
        if body.startswith("--- "):
            d = _DAY.match(body)
            day = asctime_day(d.group(1)) if d is not None else None
            if day is None:
                return None
            self.days.set(day)
            return SKIP
        if (s := _SESSION.match(body)) is not None:
            day = asctime_day(s.group(1))
            if day is not None:
                self.days.set(day)
            return SKIP
        when = self.days.at(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if when is None:
            return None
        if _OWN.match(body):
            return SKIP  # the bot's own join or part: it does not say the bot's nick
        channel = ""
        if is_channel(body) and (c := _CHANNEL.match(body)) is not None:
            channel, body = c.group(1), c.group(2)
        parsed = _body(body)
        if parsed is None:
            return None
        kind, nick, text, target, userhost = parsed
        return Parsed(when, kind, nick, text, target, userhost, channel)


def _body(body: str) -> tuple[Kind, str, str, str, str] | None:
    if (b := _MESSAGE.match(body)) is not None:
        return Kind.MESSAGE, b.group(1), b.group(2), "", ""
    if (b := _ACTION.match(body)) is not None:
        return Kind.ACTION, b.group(1), b.group(2), "", ""
    if (b := _JOIN.match(body)) is not None:
        return Kind.JOIN, b.group(1), "", "", b.group(2) or ""
    if (b := _PART.match(body)) is not None:
        return Kind.PART, b.group(1), b.group(4) or "", "", b.group(2) or ""
    if (b := _KICK.match(body)) is not None:
        return Kind.KICK, b.group(1), b.group(4) or "", b.group(2), ""
    if (b := _QUIT.match(body)) is not None:
        return Kind.QUIT, b.group(1), b.group(3) or "", "", b.group(2) or ""
    if (b := _TOPIC.match(body)) is not None:
        return Kind.TOPIC, b.group(1), b.group(3), "", ""
    if (b := _TOPIC_IS.match(body)) is not None:
        return Kind.TOPIC, "", b.group(2), "", ""
    if (b := _CLEARED.match(body)) is not None:
        return Kind.TOPIC, "" if b.group(1) == _SERVER else b.group(1), "", "", ""
    if (b := _MODE.match(body)) is not None:
        return Kind.MODE, "" if b.group(1) == _SERVER else b.group(1), b.group(3), "", ""
    if (b := _NOTICE.match(body)) is not None:
        return Kind.NOTICE, b.group(1), b.group(2), "", ""
    if (b := _NICK.match(body)) is not None:
        return Kind.NICK, b.group(1), "", b.group(2), ""
    return None
