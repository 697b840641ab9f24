"""WeeChat's logger: ``irc.<network>.<#channel>.weechatlog``.

Lines are ``YYYY-MM-DD HH:MM:SS<TAB>prefix<TAB>message``: the prefix is the nick (with its
mode sign), `` *`` for an action, ``-->`` / ``<--`` for joins and departures and ``--`` for
the rest (notices, topic, mode and nick changes, and informational lines).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from logbot.events import Kind
from logbot.importers.core import CHANNEL_PREFIX_CLASS, SKIP, LineResult, Parsed, Source, strip_mode

NAME = "weechat"

_NAME = re.compile(rf"^irc\.(.+?)\.({CHANNEL_PREFIX_CLASS}.*)\.weechatlog(?:\.gz)?$")
_LINE = re.compile(r"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\t([^\t]*)\t(.*)$", re.S)
_JOIN = re.compile(r"(\S+) \(([^)]*)\) has joined (\S+)$")
_PART = re.compile(r"(\S+) \(([^)]*)\) has left (\S+)(?: \((.*)\))?$", re.S)
_QUIT = re.compile(r"(\S+) \(([^)]*)\) has quit(?: \((.*)\))?$", re.S)
_KICK = re.compile(r"(\S+) has kicked (\S+)(?: \((.*)\))?$", re.S)
_NOTICE = re.compile(r"Notice\(([^)]+)\)(?: -> \S+)?: (.*)$", re.S)
_TOPIC = re.compile(r'(\S+) has changed topic for (\S+) (?:from ".*" )?to "(.*)"$', re.S)
_UNSET = re.compile(r"(\S+) has unset topic for (\S+)")
_MODE = re.compile(r"Mode (\S+) \[(.*)\] by (\S+)$", re.S)
_NICK = re.compile(r"(\S+) is now known as (\S+)$")
_INFO = re.compile(
    r"(Channel \S+: \d+ nicks|Channel created on|Topic for |Topic set by |Mode \S+ \[[^]]*\]$"
    r"|You are now known as |Nicks |Day changed)"
)


def sniff(path: Path, head: list[str]) -> bool:
    return path.name.endswith((".weechatlog", ".weechatlog.gz")) or any(
        _LINE.match(line) for line in head[:5]
    )


def describe(path: Path) -> Source:
    """Network and channel from ``irc.<network>.<#channel>.weechatlog``."""
    source = Source(path=path, format=NAME)
    m = _NAME.match(path.name)
    if m is not None:
        source.network, source.channel = m.group(1), m.group(2)
    return source


class Parser:
    def __init__(self, source: Source) -> None:
        self.channel = source.channel

    def parse(self, line: str) -> LineResult:
        m = _LINE.match(line)
        if m is None:
            return None
        y, mo, d, h, mi, se = (int(g) for g in m.groups()[:6])
        when = datetime(y, mo, d, h, mi, se)
        prefix, text = m.group(7), m.group(8)
        if prefix == "-->":
            if (b := _JOIN.match(text)) is not None:
                return Parsed(when, Kind.JOIN, b.group(1), userhost=b.group(2))
            return None
        if prefix == "<--":
            if (b := _PART.match(text)) is not None:
                return Parsed(when, Kind.PART, b.group(1), b.group(4) or "", userhost=b.group(2))
            if (b := _QUIT.match(text)) is not None:
                return Parsed(when, Kind.QUIT, b.group(1), b.group(3) or "", userhost=b.group(2))
            if (b := _KICK.match(text)) is not None:
                return Parsed(when, Kind.KICK, b.group(1), b.group(3) or "", target=b.group(2))
            return None
        if prefix == "--":
            return _network_line(when, text)
        if prefix == " *":
            nick, _, action = text.partition(" ")
            return Parsed(when, Kind.ACTION, strip_mode(nick), action)
        if prefix and not prefix.startswith("=!="):
            return Parsed(when, Kind.MESSAGE, strip_mode(prefix), text)
        return None


def _network_line(when: datetime, text: str) -> LineResult:
    if (b := _NOTICE.match(text)) is not None:
        return Parsed(when, Kind.NOTICE, b.group(1), b.group(2))
    if (b := _TOPIC.match(text)) is not None:
        return Parsed(when, Kind.TOPIC, b.group(1), b.group(3))
    if (b := _UNSET.match(text)) is not None:
        return Parsed(when, Kind.TOPIC, b.group(1), "")
    if (b := _MODE.match(text)) is not None:
        return Parsed(when, Kind.MODE, b.group(3), b.group(2))
    if (b := _NICK.match(text)) is not None:
        return Parsed(when, Kind.NICK, b.group(1), target=b.group(2))
    if _INFO.match(text):
        return SKIP
    return None
