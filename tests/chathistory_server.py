"""A fake IRC server that keeps channel history and serves IRCv3 ``CHATHISTORY``.

It talks to a real ``LogBotProtocol`` over a ``StringTransport`` on a ``task.Clock``:
registration with CAP negotiation, JOIN, live channel traffic, and ``CHATHISTORY
BETWEEN`` answered as the spec says (a ``chathistory`` batch of at most ``limit``
lines, ascending, both references excluded, ``FAIL CHATHISTORY ...`` for what it
refuses). ``caps=()`` makes a server without history (ngircd's case).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from twisted.internet import task
from twisted.internet.error import ConnectionLost
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from logbot.irc.factory import LogBotFactory
from logbot.irc.protocol import LogBotProtocol

NAME = "irc.example"
HISTORY_CAPS = ("batch", "draft/chathistory", "server-time", "message-tags", "draft/event-playback")


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class Stored:
    time: datetime
    msgid: str
    line: str  # ":prefix COMMAND params" without tags


@dataclass
class FakeHistoryServer:
    clock: task.Clock
    caps: tuple[str, ...] = HISTORY_CAPS
    #: ISUPPORT CHATHISTORY= (the most lines a request may ask for)
    limit: int = 3
    #: answer the n-th CHATHISTORY request (1-based) with FAIL instead of a batch
    fail_on: int | None = None
    history: dict[str, list[Stored]] = field(default_factory=dict)
    #: every CHATHISTORY line the bot sent
    requests: list[str] = field(default_factory=list)
    #: the label of each request ("" when it had none)
    labels: list[str] = field(default_factory=list)
    #: called with the request's number (1-based) before it is answered
    before_answer: list[Callable[[int], None]] = field(default_factory=list)
    proto: LogBotProtocol | None = None
    transport: StringTransport | None = None
    nick: str = ""
    joined: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _registered: bool = False
    _cap_done: bool = False
    _user: bool = False

    # -- the connection --------------------------------------------------------------

    def connect(self, factory: LogBotFactory) -> LogBotProtocol:
        self.proto = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.joined = set()
        self._registered = self._cap_done = self._user = False
        self.proto.makeConnection(self.transport)
        self.pump()
        return self.proto

    def drop(self) -> None:
        """The link dies (the bot notices; the server just forgets it)."""
        assert self.proto is not None
        self.proto.connectionLost(Failure(ConnectionLost()))
        self.proto = None
        self.joined = set()

    def send(self, line: str) -> None:
        if self.proto is not None:
            self.proto.dataReceived(line.encode() + b"\r\n")

    def pump(self, seconds: float = 0.0) -> None:
        """Answer what the bot wrote until it is quiet; let the clock run up to ``seconds``."""
        waited = 0.0
        while True:
            assert self.transport is not None
            data = self.transport.value()
            self.transport.clear()
            for raw in data.split(b"\r\n")[:-1]:
                self.handle(raw.decode())
            if self.transport.value():
                continue
            if waited >= seconds:
                return
            self.clock.advance(0.5)  # the bot paces its lines (token bucket)
            waited += 0.5

    # -- what the bot says -------------------------------------------------------------

    def handle(self, line: str) -> None:
        tags = ""
        if line.startswith("@"):
            tags, _, line = line.partition(" ")
        words = line.split(" ")
        command = words[0].upper()
        if command == "CAP":
            self._cap(words, line)
        elif command == "NICK":
            self.nick = words[1]
            self._maybe_welcome()
        elif command == "USER":
            self._user = True
            self._maybe_welcome()
        elif command == "JOIN":
            for channel in words[1].split(","):
                self.joined.add(channel.lower())
                self.send(f"@time={stamp(self.now)} :{self.nick}!bot@host JOIN {channel}")
                self.send(f":{NAME} 353 {self.nick} = {channel} :{self.nick} alice")
                self.send(f":{NAME} 366 {self.nick} {channel} :End of /NAMES list.")
        elif command == "CHATHISTORY":
            self.requests.append(line)
            for hook in self.before_answer:
                hook(len(self.requests))
            self._chathistory(tags, words)
        elif command == "PRIVMSG":
            target, text = words[1], line.partition(" :")[2]
            self._record(target, f":{self.nick}!bot@host PRIVMSG {target} :{text}", live=False)

    def _cap(self, words: list[str], line: str) -> None:
        sub = words[2] if words[1] == "*" else words[1]
        if sub == "LS":
            self.send(f":{NAME} CAP * LS :{' '.join(self.caps)}")
        elif sub == "REQ":
            wanted = line.partition(" :")[2].split()
            self.send(f":{NAME} CAP * ACK :{' '.join(c for c in wanted if c in self.caps)}")
        elif sub == "END":
            self._cap_done = True
            self._maybe_welcome()

    def _maybe_welcome(self) -> None:
        if self._registered or not (self._cap_done and self._user and self.nick):
            return
        self._registered = True
        history = f" CHATHISTORY={self.limit}" if "draft/chathistory" in self.caps else ""
        self.send(f":{NAME} 001 {self.nick} :Welcome")
        self.send(f":{NAME} 005 {self.nick} CHANTYPES=# CASEMAPPING=ascii{history} :are supported")
        self.send(f":{NAME} 376 {self.nick} :End of MOTD")

    # -- channel traffic and its history ---------------------------------------------------

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def say(self, channel: str, nick: str, text: str) -> str:
        """``nick`` says ``text`` in ``channel`` now: kept, and sent to the bot if it is there."""
        return self._record(channel, f":{nick}!u@h PRIVMSG {channel} :{text}", live=True)

    def _record(self, channel: str, line: str, *, live: bool) -> str:
        msgid = f"m{next(self._ids)}"
        when = self.now
        self.history.setdefault(channel.lower(), []).append(Stored(when, msgid, line))
        if live and channel.lower() in self.joined and "server-time" in self.caps:
            self.send(f"@time={stamp(when)};msgid={msgid} {line}")
        elif live and channel.lower() in self.joined:
            self.send(line)
        return msgid

    def _chathistory(self, tags: str, words: list[str]) -> None:
        label = ""
        for tag in tags.lstrip("@").split(";"):
            if tag.startswith("label="):
                label = tag[len("label=") :]
        self.labels.append(label)
        if len(self.requests) == self.fail_on:
            self.send(f":{NAME} FAIL CHATHISTORY MESSAGE_ERROR {words[2]} :History unavailable")
            return
        if len(words) != 6 or words[1].upper() != "BETWEEN":
            self.send(f":{NAME} FAIL CHATHISTORY INVALID_PARAMS {words[1]} :Bad request")
            return
        target, ref1, ref2, count = words[2], words[3], words[4], int(words[5])
        if count > self.limit:
            self.send(f":{NAME} FAIL CHATHISTORY INVALID_PARAMS {target} :Over the limit")
            return
        stored = self.history.get(target.lower(), [])
        keys = [(s.time, i) for i, s in enumerate(stored)]
        after = self._position(stored, ref1)
        before = self._position(stored, ref2)
        if after is None or before is None:
            self.send(f":{NAME} FAIL CHATHISTORY INVALID_MSGREFTYPE {target} :Bad reference")
            return
        chosen = [s for s, k in zip(stored, keys, strict=True) if after < k < before][:count]
        ref = f"b{next(self._ids)}"
        head = f"@label={label} " if label else ""
        self.send(f"{head}:{NAME} BATCH +{ref} chathistory {target}")
        for s in chosen:
            self.send(f"@batch={ref};time={stamp(s.time)};msgid={s.msgid} {s.line}")
        self.send(f":{NAME} BATCH -{ref}")

    @staticmethod
    def _position(stored: list[Stored], ref: str) -> tuple[datetime, float] | None:
        """A reference as a (time, index) bound; a timestamp falls between indexes."""
        kind, _, value = ref.partition("=")
        if kind == "timestamp":
            when = parse_stamp(value)
            # after every line stamped before it, before every line stamped at or after it
            return (when, -0.5)
        if kind == "msgid":
            for i, s in enumerate(stored):
                if s.msgid == value:
                    return (s.time, float(i))
        return None
