"""IRC in, events out: the ``IRCClient`` that turns what a server says into ``Event`` records.

The protocol never opens a file or touches storage: every channel event goes to the
``sink`` it was given (``Callable[[Event], None]``). It reads the time only from the
injected clock (``IReactorTime``), so tests drive it with ``task.Clock``.

What it does beyond Twisted's ``IRCClient``:

- decodes each line as UTF-8, else the network's fallback encoding, and never lets a
  line (undecodable, overlong, malformed) raise out of ``dataReceived``;
- strips and reads IRCv3 message tags before parsing (``@time=`` is the event time when
  ``server-time`` was negotiated; the receive time is kept in ``Event.received``);
- negotiates IRCv3 capabilities (``CAP LS 302``/``REQ``/``END``) and SASL PLAIN or
  EXTERNAL, with ``sasl_required`` and a NickServ IDENTIFY fallback;
- keeps a roster so QUIT and NICK are recorded in every channel the user shared with
  the bot, and records the bot's own joins and replies (``own=True``);
- answers whispers (rate-limited, never logged) and mentions (logged);
- keepalive: a PING every ``ping_interval``; nothing heard for ``ping_timeout`` after
  it aborts the connection, so the factory reconnects;
- joins every configured channel on sign-on, rejoins after a kick, retries failed
  joins with a growing delay, takes its configured nick back when it is free;
- sends every line through a token bucket, so it cannot be dropped for flooding.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from twisted.internet.interfaces import IHandshakeListener, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.words.protocols import irc
from zope.interface import implementer  # type: ignore[import-untyped]

from logbot import __version__
from logbot.events import Event, Kind, utcnow_from
from logbot.irc.cap import WANTED_CAPS, join_lines, parse_caps, req_lines, sasl_plain_chunks
from logbot.irc.failures import describe_failure
from logbot.irc.ratelimit import SenderLimiter, TokenBucket
from logbot.irc.roster import Roster
from logbot.irc.wire import (
    MAX_LINE_BYTES,
    check_encoding,
    nick_of,
    parse_server_time,
    split_message,
    tag_value,
)
from logbot.settings import ChannelConfig, NetworkConfig

if TYPE_CHECKING:
    from logbot.irc.factory import LogBotFactory

log = Logger(namespace="logbot.irc")

# Twisted's IRCClient is untyped (its class attributes read as None to mypy): subclass
# it through Any, and describe the few reactor features used as typing Protocols,
# because zope interfaces are opaque to mypy without its plugin.
_IRCClient: Any = irc.IRCClient


class DelayedCall(Protocol):
    def active(self) -> bool: ...
    def cancel(self) -> None: ...
    def getTime(self) -> float: ...


class Clock(Protocol):
    """The part of ``IReactorTime`` the bot uses (``task.Clock`` in tests)."""

    def seconds(self) -> float: ...
    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> DelayedCall: ...


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...
    def loseConnection(self) -> None: ...
    def abortConnection(self) -> None: ...


Sink = Callable[[Event], None]

WHISPER_REPLY = "It isn't nice to whisper! Play nice with the group."
MENTION_REPLY = "{nick}: I am a log bot"

#: Numerics that refuse a JOIN, with the words a log line gives for each.
JOIN_FAILURES: dict[str, str] = {
    "403": "no such channel",
    "405": "joined too many channels",
    "437": "channel temporarily unavailable",
    "471": "channel is full (+l)",
    "473": "invite only (+i)",
    "474": "banned (+b)",
    "475": "wrong or missing key (+k)",
    "476": "bad channel name",
    "477": "needs a registered nick",
    "489": "needs a TLS connection",
    "520": "operators only",
}

_SASL_FAILURES = {
    "902": "the account is locked",
    "904": "authentication failed",
    "905": "the response was too long",
    "906": "authentication aborted",
}

# command -> handler method name; a command not listed is ignored (cheaply)
_HANDLERS: dict[str, str] = {
    "PRIVMSG": "_on_privmsg",
    "NOTICE": "_on_notice",
    "JOIN": "_on_join",
    "PART": "_on_part",
    "QUIT": "_on_quit",
    "KICK": "_on_kick",
    "NICK": "_on_nick",
    "TOPIC": "_on_topic",
    "MODE": "_on_mode",
    "PING": "_on_ping",
    "ERROR": "_on_error",
    "CAP": "_on_cap",
    "AUTHENTICATE": "_on_authenticate",
    "001": "_on_welcome",
    "005": "_on_isupport",
    "303": "_on_ison",
    "332": "_on_topic_reply",
    "333": "_on_topic_who",
    "353": "_on_names",
    "366": "_on_end_names",
    "376": "_on_end_motd",
    "421": "_on_unknown_command",
    "422": "_on_end_motd",
    "432": "_on_bad_nick",
    "433": "_on_nick_in_use",
    "464": "_on_bad_password",
    "731": "_on_monitor_offline",
    "734": "_on_monitor_full",
    "900": "_on_logged_in",
    "903": "_on_sasl_success",
    "907": "_on_sasl_success",
    "908": "_on_sasl_mechs",
    **dict.fromkeys(_SASL_FAILURES, "_on_sasl_failure"),
    **dict.fromkeys(JOIN_FAILURES, "_on_join_failure"),
}


_UNSEEN = "\0unseen"  # a cache miss, distinct from None (a private target)


def _ctcp(text: str) -> tuple[str, str]:
    """``"\\x01ACTION waves\\x01"`` as ``("ACTION", "waves")``."""
    body = text[1:-1] if text.endswith("\x01") and len(text) > 1 else text[1:]
    tag, _, rest = body.partition(" ")
    return tag.upper(), rest


def _isupport_unescape(value: str) -> str:
    r"""ISUPPORT values escape bytes as ``\xHH`` (``NETWORK=Example\x20Net``)."""
    if "\\x" not in value:
        return value
    parts = value.split("\\x")
    out = [parts[0]]
    for part in parts[1:]:
        try:
            out.append(chr(int(part[:2], 16)) + part[2:])
        except ValueError:
            out.append("\\x" + part)
    return "".join(out)


@implementer(IHandshakeListener)
class LogBotProtocol(_IRCClient):  # type: ignore[misc]
    """One connection to one network. Built by ``LogBotFactory``; see the module docstring.

    ``LogBotProtocol(network, sink, clock, factory)``: ``network`` is the connection's
    settings, ``sink`` receives every ``Event``, ``clock`` is the reactor (or a
    ``task.Clock``), ``factory`` (optional in tests) is told about sign-on, the learned
    network name and the loss of the connection.
    """

    #: seconds before rejoining a channel the bot was kicked from
    kick_rejoin_delay = 5.0
    #: the first retry of a refused JOIN waits this long, doubling up to join_retry_max
    join_retry_initial = 30.0
    join_retry_max = 1800.0
    #: whisper replies: one per sender per interval, whisper_global_max in all
    whisper_interval = 60.0
    whisper_global_max = 10
    #: how often to ask (ISON) whether the configured nick is free, without MONITOR
    regain_poll_interval = 120.0
    #: output token bucket: line_burst lines at once, then one per line_interval seconds
    #: (registration, before the welcome, is exempt: a fixed handful of lines)
    line_interval = 2.0
    line_burst = 5
    #: replies waiting beyond this many are dropped (the queue is the flood it prevents)
    max_queued_replies = 10

    versionName = "logbot"
    versionNum = __version__
    versionEnv = None
    sourceURL = None
    heartbeatInterval = None  # Twisted's own heartbeat is replaced by ours

    def __init__(
        self,
        network: NetworkConfig,
        sink: Sink,
        clock: IReactorTime,
        factory: LogBotFactory | None = None,
    ) -> None:
        self.network = network
        self.factory = factory
        self._sink = sink
        self._clock = cast(Clock, clock)
        self.nickname = network.nick
        self.username = network.username or network.nick
        self.realname = network.realname or "logbot"
        self.password = network.password.reveal() if network.password is not None else None
        try:
            self._fallback = check_encoding(network.fallback_encoding)
        except LookupError:
            log.warn(
                "{network}: unknown fallback encoding {encoding!r}; using latin-1",
                network=self._label(),
                encoding=network.fallback_encoding,
            )
            self._fallback = "latin-1"

        self._network_name = factory.network_name if factory is not None else self._label()
        self._roster = Roster()
        self._fold = self._roster.fold
        self._folded_nick = self._fold(self.nickname)
        self._wanted_nick = network.nick
        self._configured: dict[str, ChannelConfig] = {}
        self._index_configured()
        # ISUPPORT facts, with the defaults of a server that sends none
        self._chantypes: frozenset[str] = frozenset("#&")
        self._statusmsg = ""
        self._prefixes = "@+%"
        self._monitor = False
        # raw target -> channel name as recorded (small; cleared when membership changes)
        self._chan_cache: dict[str, str | None] = {}
        # per-line state, set before each handler runs
        self._tags = ""
        self._command = ""
        self._received_at = utcnow_from(self._clock.seconds())
        # bytes of an unfinished line; True while skipping the rest of an overlong one
        self._buffer = b""
        self._discarding = False
        self._rx = 0  # chunks received: any data is a sign of life
        self._stopped = False  # no more lines are handled once the connection is going
        self._lost = False
        self._quitting = False  # QUIT sent: lines still received are logged, nothing is said
        self._drop_reason: str | None = None
        self._marked_connected = False
        self._registered = False
        # topic from 332, waiting for 333 (who set it) or 366 (end of NAMES)
        self._topics: dict[str, tuple[str, str]] = {}
        # delayed work to cancel when the connection goes
        self._heartbeat_loop: LoopingCall | None = None
        self._ping_deadline: DelayedCall | None = None
        self._register_deadline: DelayedCall | None = None
        self._regain_loop: LoopingCall | None = None
        self._monitoring = False
        self._rejoins: dict[str, DelayedCall] = {}
        self._join_delays: dict[str, float] = {}
        # output
        self._bucket = TokenBucket(self._clock.seconds(), self.line_interval, self.line_burst)
        self._urgent: deque[str] = deque()
        self._pong: str | None = None
        self._replies: deque[tuple[str, str | None, str]] = deque()
        self._pump_call: DelayedCall | None = None
        #: the factory paused reading (flow control from a backend); see pause_reading
        self.reading_paused = False
        self._whispers = SenderLimiter(self.whisper_interval, self.whisper_global_max)
        self._ctcp_limit = SenderLimiter(self.whisper_interval, self.whisper_global_max)
        # IRCv3
        self._cap_state = "off"  # off -> ls -> req -> (sasl) -> done
        self._cap_offered: dict[str, str] = {}
        self.caps: set[str] = set()
        self._cap_pending: list[frozenset[str]] = []
        self._server_time = False
        mechanism = network.sasl_mechanism or ("PLAIN" if network.sasl_password else None)
        self._sasl_mech = mechanism.upper() if mechanism else None
        self._sasl_account = network.sasl_user or network.nick
        self.authenticated = False
        self._sasl_requested = False
        self._nickserv_fallback = False
        self._dispatch: dict[str, Callable[[str, list[str]], None]] = {
            command: getattr(self, name) for command, name in _HANDLERS.items()
        }

    # -- small helpers ---------------------------------------------------------------

    def _label(self) -> str:
        if self.factory is not None:
            return str(self.factory.network_name)
        return self.network.name or self.network.server

    def _index_configured(self) -> None:
        self._configured = {self._fold(c.name): c for c in self.network.channels}

    def _is_me(self, nick: str) -> bool:
        return nick == self.nickname or self._fold(nick) == self._folded_nick

    def _set_nick(self, nick: str) -> None:
        self.nickname = nick
        self._folded_nick = self._fold(nick)

    def _now(self) -> tuple[datetime, None]:
        """(the clock's time, None): for what the bot itself does, which no server stamped."""
        return utcnow_from(self._clock.seconds()), None

    def _times(self) -> tuple[datetime, datetime | None]:
        """(event time, receive time): the server's time when negotiated, else the clock's."""
        now = self._received_at
        if self._server_time and self._tags:
            stamp = tag_value(self._tags, "time")
            if stamp:
                when = parse_server_time(stamp)
                if when is not None:
                    return when, now
        return now, None

    def _emit(
        self,
        channel: str,
        kind: Kind,
        nick: str,
        text: str = "",
        target: str = "",
        userhost: str = "",
        own: bool = False,
        times: tuple[datetime, datetime | None] | None = None,
    ) -> None:
        when, received = times if times is not None else self._times()
        self._sink(
            Event(
                when, self._network_name, channel, kind, nick, text, target, userhost, own, received
            )
        )

    def _channel_of(self, target: str) -> str | None:
        """The channel a PRIVMSG/NOTICE target names, as recorded; None for a private one."""
        cache = self._chan_cache
        if target in cache:
            return cache[target]
        name = target
        if name[:1] and name[0] in self._statusmsg:
            # "@#chan": a message to the channel's ops is still said in the channel
            name = name.lstrip(self._statusmsg)
        channel: str | None = None
        if name[:1] and name[0] in self._chantypes:
            channel = self._roster.canonical(name) or name
        if len(cache) < 256:
            cache[target] = channel
        return channel

    def _later(self, delay: float, fn: Callable[..., object], *args: object) -> DelayedCall:
        return self._clock.callLater(delay, fn, *args)

    # -- input -----------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """Split the stream into lines and handle each; nothing here ever raises."""
        self._rx += 1
        if self._stopped:
            return
        if self._discarding:
            # the rest of an overlong line: drop up to its end
            ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
            if not ends:
                return
            self._discarding = False
            data = data[min(ends) + 1 :]
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        end = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if end < len(data) - 1:
            rest = data[end + 1 :]
            if len(rest) > MAX_LINE_BYTES:
                log.warn(
                    "{network}: dropping a line longer than {limit} bytes",
                    network=self._network_name,
                    limit=MAX_LINE_BYTES,
                )
                self._discarding = True
            else:
                self._buffer = rest
        if end < 0:
            return
        self._handle_lines(data[:end].splitlines())

    def lineReceived(self, line: bytes) -> None:
        """One line without its line end (Twisted's entry point, kept for callers)."""
        self._handle_lines([line])

    def _handle_lines(self, lines: list[bytes]) -> None:
        # Every line of one read arrived at the same moment: one clock reading for all.
        self._received_at = utcnow_from(self._clock.seconds())
        dispatch = self._dispatch
        fallback = self._fallback
        for raw in lines:
            if not raw:
                continue
            try:
                line = raw.decode()
            except UnicodeDecodeError:
                line = raw.decode(fallback, "replace")
            try:
                self._tags, prefix, command, params = split_message(line)
            except ValueError:
                log.debug("{network}: ignoring a malformed line", network=self._network_name)
                continue
            handler = dispatch.get(command)
            if handler is None:
                continue
            self._command = command
            try:
                handler(prefix, params)
            except Exception:
                # A bug or a server quirk in one line must not cost the connection.
                log.failure(
                    "{network}: error handling {command} line",
                    Failure(),  # type: ignore[no-untyped-call]
                    network=self._network_name,
                    command=command,
                )
            if self._stopped:
                break

    # -- connection life -------------------------------------------------------------

    def connectionMade(self) -> None:
        self.supported = irc.ServerSupportedFeatures()  # type: ignore[no-untyped-call]
        if self.network.tls:
            # The TLS handshake is still to come: "connected" is said once it succeeded
            # (handshakeCompleted), so a refused certificate reads as a refusal only.
            log.debug(
                "{network}: TCP connection to {host}:{port} made; TLS handshake next",
                network=self._network_name,
                host=self.network.server,
                port=self.network.port,
            )
        else:
            self._log_connected()
        # A server that accepts the connection but never welcomes us is as dead as one
        # that stops answering PINGs.
        self._register_deadline = self._later(
            self.network.ping_timeout, self._registration_timed_out
        )
        self.register(self.nickname)

    def handshakeCompleted(self) -> None:
        """IHandshakeListener: the TLS handshake succeeded (the certificate verified)."""
        self._log_connected()

    def _log_connected(self) -> None:
        tls = ""
        if self.network.tls:
            tls = " (TLS)" if self.network.tls_verify else " (TLS, certificate NOT verified)"
        log.info(
            "{network}: connected to {host}:{port}{tls}; registering as {nick}",
            network=self._network_name,
            host=self.network.server,
            port=self.network.port,
            tls=tls,
            nick=self.nickname,
        )

    def register(self, nickname: str, hostname: str = "0", servername: str = "*") -> None:
        """Ask for capabilities, then PASS/NICK/USER (the server holds on until CAP END)."""
        self._cap_state = "ls"
        self.sendLine("CAP LS 302")
        if self.password is not None:
            self.sendLine(f"PASS {self.password}")
        self.setNick(nickname)
        self.sendLine(f"USER {self.username} {hostname} {servername} :{self.realname}")

    def _registration_timed_out(self) -> None:
        self._register_deadline = None
        if not self._registered:
            self.drop(f"not welcomed by the server within {self.network.ping_timeout:g} s")

    def drop(self, reason: str) -> None:
        """Abort the connection now (the factory will reconnect), remembering why."""
        if self._drop_reason is None:
            self._drop_reason = reason
        self._stopped = True
        if self.transport is not None:
            self.transport.abortConnection()

    def _refuse(self, reason: str) -> None:
        """End the connection politely: QUIT, then close once the QUIT is written."""
        log.error("{network}: {reason}", network=self._network_name, reason=reason)
        self._drop_reason = reason
        self._stopped = True
        self._write(f"QUIT :{reason}")
        if self.transport is not None:
            self.transport.loseConnection()

    def quit_now(self, message: str) -> None:
        """Send QUIT at once (ahead of anything queued): the service is shutting down."""
        if self._lost or self._quitting:
            return
        self._quitting = True
        self._drop_reason = f"quit: {message}" if message else "quit"
        self._urgent.clear()
        self._replies.clear()
        self._pong = None
        self.stopHeartbeat()
        self._write(f"QUIT :{message}")

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._lost = True
        self._stopped = True
        self.stopHeartbeat()
        self._stop_regain(send=False)
        for call in (self._register_deadline, self._pump_call, *self._rejoins.values()):
            if call is not None and call.active():
                call.cancel()
        self._register_deadline = self._pump_call = None
        self._rejoins.clear()
        why = self._drop_reason
        if why is None:
            why = (
                describe_failure(reason, self.network.server)
                if reason is not None
                else "connection lost"
            )
        if self._marked_connected:
            self._emit("", Kind.DISCONNECTED, self.nickname, text=why, times=self._now())
        self._roster.clear()
        if self.factory is not None:
            self.factory.protocol_lost(self, why)

    def _mark_connected(self) -> None:
        """Record the session marker once per connection, when the network's name is known."""
        if not self._marked_connected:
            self._marked_connected = True
            self._emit("", Kind.CONNECTED, self.nickname, times=self._now())

    # -- keepalive ---------------------------------------------------------------------

    def startHeartbeat(self) -> None:
        self.stopHeartbeat()
        loop = LoopingCall(self._sendHeartbeat)
        loop.clock = cast(IReactorTime, self._clock)
        self._heartbeat_loop = loop
        loop.start(self.network.ping_interval, now=False)

    def stopHeartbeat(self) -> None:
        if self._heartbeat_loop is not None:
            if self._heartbeat_loop.running:
                self._heartbeat_loop.stop()
            self._heartbeat_loop = None
        if self._ping_deadline is not None:
            if self._ping_deadline.active():
                self._ping_deadline.cancel()
            self._ping_deadline = None

    def _sendHeartbeat(self) -> None:
        self.sendLine("PING :logbot")
        if self._ping_deadline is None:
            self._ping_deadline = self._later(
                self.network.ping_timeout, self._check_alive, self._rx
            )

    def _check_alive(self, rx_at_ping: int) -> None:
        self._ping_deadline = None
        # while the service holds reading back (a backend catching up) silence is ours
        if self._rx == rx_at_ping and not self.reading_paused:
            self.drop(f"no reply to PING within {self.network.ping_timeout:g} s")

    # -- output ------------------------------------------------------------------------

    def sendLine(self, line: str) -> None:
        """Queue a protocol line; it goes out as soon as the token bucket allows.

        A line already waiting is not queued twice, and only the newest PONG waits: a
        server (or a flood of 731s) can never grow the queue faster than it drains.
        """
        if line.startswith("PONG"):
            self._pong = line
        elif line not in self._urgent:
            self._urgent.append(line)
        self._pump()

    def _reply(self, line: str, channel: str | None = None, text: str = "") -> None:
        """Queue a reply; a reply to a channel is recorded (own=True) when it is sent."""
        if len(self._replies) >= self.max_queued_replies:
            return
        self._replies.append((line, channel, text))
        self._pump()

    def _next_line(self) -> tuple[str, str | None, str]:
        """The line to send next: the PONG, then protocol lines, then replies."""
        if self._pong is not None:
            line, self._pong = self._pong, None
            return line, None, ""
        if self._urgent:
            return self._urgent.popleft(), None, ""
        return self._replies.popleft()

    def _pump(self) -> None:
        if self._lost or self._quitting or self.transport is None:
            return
        if not self._registered:
            # Registration is a fixed handful of lines (CAP, NICK, USER, SASL) the server
            # asked for, not something anyone can make the bot repeat: no need to pace it.
            while self._pong is not None or self._urgent:
                self._write(self._next_line()[0])
        now = self._clock.seconds()
        bucket = self._bucket
        stamp = None
        while (self._pong is not None or self._urgent or self._replies) and bucket.take(now):
            line, channel, text = self._next_line()
            self._write(line)
            if channel is not None:
                stamp = stamp or (utcnow_from(now), None)
                self._emit(channel, Kind.MESSAGE, self.nickname, text, own=True, times=stamp)
        waiting = self._pong is not None or self._urgent or self._replies
        if waiting and self._pump_call is None:
            self._pump_call = self._later(bucket.wait(now), self._pump_later)

    def _pump_later(self) -> None:
        self._pump_call = None
        self._pump()

    def _write(self, line: str) -> None:
        if "\r" in line or "\n" in line or "\0" in line:
            line = line.replace("\r", " ").replace("\n", " ").replace("\0", " ")
        data = line.encode("utf-8", "replace")
        if len(data) > 510:
            data = data[:510].decode("utf-8", "ignore").encode("utf-8")
        if self.transport is not None:
            self.transport.write(data + b"\r\n")

    # -- registration and capabilities ------------------------------------------------------

    def _on_cap(self, prefix: str, params: list[str]) -> None:
        if len(params) < 3:
            return
        sub = params[1].upper()
        more = len(params) > 3 and params[2] == "*"
        caps = parse_caps(params[-1])
        if sub == "LS":
            self._cap_offered.update(caps)
            if not more and self._cap_state == "ls":
                self._cap_ls_done()
        elif sub == "ACK":
            acked = set()
            for name in caps:
                if name.startswith("-"):
                    self.caps.discard(name[1:])
                else:
                    self.caps.add(name)
                    acked.add(name)
            self._server_time = "server-time" in self.caps
            self._cap_answered(acked, rejected=False)
        elif sub == "NAK":
            self._cap_answered(set(caps), rejected=True)
        elif sub == "NEW":
            self._cap_offered.update(caps)
            wanted = [c for c in WANTED_CAPS if c in caps and c not in self.caps]
            for line, asked in req_lines(wanted):
                self._cap_pending.append(asked)
                self.sendLine(line)
        elif sub == "DEL":
            for name in caps:
                self._cap_offered.pop(name, None)
                self.caps.discard(name)
            self._server_time = "server-time" in self.caps

    def _cap_ls_done(self) -> None:
        offered = self._cap_offered
        wanted = [c for c in WANTED_CAPS if c in offered]
        mech = self._sasl_mech
        if mech is not None:
            if "sasl" not in offered:
                self._sasl_unavailable("the server does not offer SASL")
            elif offered["sasl"] and mech not in offered["sasl"].upper().split(","):
                self._sasl_unavailable(
                    f"the server offers SASL {offered['sasl']}, not {mech}",
                    fallback=False,
                )
            else:
                wanted.append("sasl")
                self._sasl_requested = True
            if self._stopped:
                return
        if not wanted:
            self._cap_end()
            return
        self._cap_state = "req"
        for line, asked in req_lines(wanted):
            self._cap_pending.append(asked)
            self.sendLine(line)

    def _cap_answered(self, answered: set[str], rejected: bool) -> None:
        """An ACK or NAK: settle the requests it answers; when none is left, go on."""
        still: list[frozenset[str]] = []
        retry: list[str] = []
        for asked in self._cap_pending:
            if not asked & answered:
                still.append(asked)
            elif rejected:
                if len(asked) > 1:
                    # One name the server dislikes refuses the whole line: ask for each alone.
                    retry.extend(sorted(asked))
            elif asked - answered:
                still.append(asked - answered)
        for cap in retry:
            still.append(frozenset([cap]))
        self._cap_pending = still
        for cap in retry:
            self.sendLine(f"CAP REQ :{cap}")
        if not still and self._cap_state == "req":
            self._cap_requests_done()

    def _cap_requests_done(self) -> None:
        if self._sasl_requested and not self.authenticated:
            if "sasl" in self.caps:
                self._cap_state = "sasl"
                self.sendLine(f"AUTHENTICATE {self._sasl_mech}")
                return
            self._sasl_unavailable("the server refused the sasl capability", fallback=False)
            if self._stopped:
                return
        self._cap_end()

    def _cap_end(self) -> None:
        self._cap_state = "done"
        self.sendLine("CAP END")

    def _on_unknown_command(self, prefix: str, params: list[str]) -> None:
        if len(params) > 1 and params[1].upper() == "CAP" and self._cap_state == "ls":
            # A server from before IRCv3: registration simply goes on.
            self._cap_state = "done"
            if self._sasl_mech is not None:
                self._sasl_unavailable("the server does not support IRCv3 capabilities")

    def _on_authenticate(self, prefix: str, params: list[str]) -> None:
        if self._cap_state != "sasl" or not params or params[0] != "+":
            return
        if self._sasl_mech == "PLAIN":
            password = self.network.sasl_password
            secret = password.reveal() if password is not None else ""
            for chunk in sasl_plain_chunks(self._sasl_account, secret):
                self.sendLine(f"AUTHENTICATE {chunk}")
        else:
            # EXTERNAL: the TLS client certificate is the credential; the identity is implied
            self.sendLine("AUTHENTICATE +")

    def _on_logged_in(self, prefix: str, params: list[str]) -> None:
        account = params[2] if len(params) > 3 else "?"
        log.info("{network}: logged in as {account}", network=self._network_name, account=account)

    def _on_sasl_success(self, prefix: str, params: list[str]) -> None:
        self.authenticated = True
        log.info(
            "{network}: SASL {mech} authentication succeeded",
            network=self._network_name,
            mech=self._sasl_mech,
        )
        if self._cap_state == "sasl":
            self._cap_end()

    def _on_sasl_mechs(self, prefix: str, params: list[str]) -> None:
        if len(params) > 1:
            log.info(
                "{network}: the server accepts SASL {mechs}",
                network=self._network_name,
                mechs=params[1],
            )

    def _on_sasl_failure(self, prefix: str, params: list[str]) -> None:
        if self._cap_state != "sasl" or self.authenticated:
            return
        what = _SASL_FAILURES.get(self._command, "failed")
        detail = params[-1] if len(params) > 1 else ""
        reason = f"SASL {self._sasl_mech} {what} ({self._command}: {detail})"
        if self.network.sasl_required:
            self._refuse(f"{reason}; sasl_required is set, not joining unauthenticated")
            return
        log.warn(
            "{network}: {reason}; going on unauthenticated",
            network=self._network_name,
            reason=reason,
        )
        self._cap_end()

    def _sasl_unavailable(self, reason: str, fallback: bool = True) -> None:
        if self.network.sasl_required:
            self._refuse(f"{reason}; sasl_required is set, not joining unauthenticated")
            return
        self._nickserv_fallback = (
            fallback and self._sasl_mech == "PLAIN" and self.network.sasl_password is not None
        )
        log.warn(
            "{network}: {reason}; {then}",
            network=self._network_name,
            reason=reason,
            then="will identify to NickServ" if self._nickserv_fallback else "going on without",
        )

    def _on_welcome(self, prefix: str, params: list[str]) -> None:
        if self._cap_state == "ls":
            # Welcomed without a word about CAP: a server that ignores it.
            self._cap_state = "done"
            if self._sasl_mech is not None:
                self._sasl_unavailable("the server does not support IRCv3 capabilities")
        elif self._cap_state != "done":
            self._cap_state = "done"
        if self._stopped:
            return
        if self.network.sasl_required and not self.authenticated:
            self._refuse("not authenticated by SASL; sasl_required is set, not joining")
            return
        self._registered = True
        self.hostname = prefix
        if params:
            self._set_nick(params[0])
        if self._register_deadline is not None and self._register_deadline.active():
            self._register_deadline.cancel()
        self._register_deadline = None
        self.signedOn()

    def signedOn(self) -> None:
        """Registered: reset the backoff, start the keepalive, identify, join, regain."""
        if self.factory is not None:
            self.factory.signed_on(self)
        log.info(
            "{network}: signed on to {host} as {nick}",
            network=self._network_name,
            host=self.hostname,
            nick=self.nickname,
        )
        self.startHeartbeat()
        if self._nickserv_fallback and not self.authenticated:
            password = self.network.sasl_password
            assert password is not None
            self.sendLine(f"PRIVMSG NickServ :IDENTIFY {self._sasl_account} {password.reveal()}")
        self._join_all()
        self._start_regain()

    def _on_isupport(self, prefix: str, params: list[str]) -> None:
        for token in params[1:-1]:
            key, _, value = token.partition("=")
            key = key.upper()
            if key == "CHANTYPES":
                self._chantypes = frozenset(value)
            elif key == "PREFIX":
                self._prefixes = value.partition(")")[2]
            elif key == "STATUSMSG":
                self._statusmsg = value
            elif key == "CASEMAPPING" and value:
                self._roster.set_casemapping(value)
                self._fold = self._roster.fold
                self._folded_nick = self._fold(self.nickname)
                self._index_configured()
            elif key == "NETWORK" and value:
                if self.factory is not None:
                    self.factory.learned_network_name(_isupport_unescape(value))
                    self._network_name = self.factory.network_name
            elif key == "MONITOR":
                self._monitor = True
        self._chan_cache.clear()

    def _on_end_motd(self, prefix: str, params: list[str]) -> None:
        if self._registered:
            self._mark_connected()

    def _on_ping(self, prefix: str, params: list[str]) -> None:
        self.sendLine(f"PONG :{params[-1]}" if params else "PONG")

    def _on_error(self, prefix: str, params: list[str]) -> None:
        text = params[-1] if params else ""
        if self._drop_reason is None:
            self._drop_reason = f"server closed the link: {text}"

    def _on_bad_password(self, prefix: str, params: list[str]) -> None:
        log.error("{network}: the server rejected the password", network=self._network_name)
        self._drop_reason = "server password rejected"

    # -- nicks -------------------------------------------------------------------------

    def alterCollidedNick(self, nickname: str) -> str:
        """ircLogBot's rule: append ``^`` (again while the result is taken)."""
        return nickname + "^"

    def _on_nick_in_use(self, prefix: str, params: list[str]) -> None:
        if self._registered:
            # our attempt to take the configured nick back lost a race; the poll goes on
            return
        taken = params[1] if len(params) > 1 else self._attemptedNick
        self.setNick(self.alterCollidedNick(taken))

    def _on_bad_nick(self, prefix: str, params: list[str]) -> None:
        refused = params[1] if len(params) > 1 else self._attemptedNick
        reason = params[-1]
        if self._registered:
            log.warn(
                "{network}: nick {nick} refused: {reason}",
                network=self._network_name,
                nick=refused,
                reason=reason,
            )
            return
        carets = len(refused) - len(refused.rstrip("^"))
        stem = refused.rstrip("^")[:-1]
        if carets and stem:
            # "nick^" broke the length limit: make room for the carets
            self.setNick(stem + "^" * carets)
        else:
            self._refuse(f"the server refuses the nick {refused!r}: {reason}")

    def _start_regain(self) -> None:
        """Running as nick^: watch for the configured nick to become free."""
        if self._fold(self._wanted_nick) == self._folded_nick:
            return
        if self._monitor:
            self._monitoring = True
            self.sendLine(f"MONITOR + {self._wanted_nick}")
        else:
            self._start_ison_poll()

    def _start_ison_poll(self) -> None:
        if self._regain_loop is None:
            loop = LoopingCall(self.sendLine, f"ISON {self._wanted_nick}")
            loop.clock = cast(IReactorTime, self._clock)
            self._regain_loop = loop
            loop.start(self.regain_poll_interval, now=True)

    def _stop_regain(self, send: bool = True) -> None:
        if self._regain_loop is not None:
            if self._regain_loop.running:
                self._regain_loop.stop()
            self._regain_loop = None
        if self._monitoring:
            self._monitoring = False
            if send:
                self.sendLine(f"MONITOR - {self._wanted_nick}")

    def _try_regain(self) -> None:
        if self._registered and self._fold(self._wanted_nick) != self._folded_nick:
            self.sendLine(f"NICK {self._wanted_nick}")

    def _on_ison(self, prefix: str, params: list[str]) -> None:
        online = {self._fold(n) for n in params[-1].split()} if len(params) > 1 else set()
        if self._fold(self._wanted_nick) not in online:
            self._try_regain()

    def _on_monitor_offline(self, prefix: str, params: list[str]) -> None:
        wanted = self._fold(self._wanted_nick)
        if any(self._fold(nick_of(t)) == wanted for t in params[-1].split(",")):
            self._try_regain()

    def _on_monitor_full(self, prefix: str, params: list[str]) -> None:
        self._monitoring = False
        self._start_ison_poll()

    # -- channels ----------------------------------------------------------------------

    def _join_all(self) -> None:
        for line in join_lines((c.name, c.key) for c in self.network.channels):
            self.sendLine(line)

    def _join_one(self, channel: str) -> None:
        key = self._fold(channel)
        self._rejoins.pop(key, None)
        config = self._configured.get(key)
        if config is None or self._lost or self._roster.is_joined(channel):
            return
        self.sendLine(f"JOIN {config.name} {config.key}" if config.key else f"JOIN {config.name}")

    def _schedule_join(self, channel: str, delay: float) -> None:
        key = self._fold(channel)
        pending = self._rejoins.get(key)
        if pending is not None and pending.active():
            return
        self._rejoins[key] = self._later(delay, self._join_one, channel)

    def _on_join_failure(self, prefix: str, params: list[str]) -> None:
        if len(params) < 2:
            return
        channel = params[1]
        if self._command == "437" and channel[:1] not in self._chantypes:
            # 437 for a nick: "temporarily unavailable" while registering is a collision
            if not self._registered:
                self.setNick(self.alterCollidedNick(channel))
            return
        key = self._fold(channel)
        if key not in self._configured or self._roster.is_joined(channel):
            return
        delay = self._join_delays.get(key, self.join_retry_initial)
        self._join_delays[key] = min(delay * 2, self.join_retry_max)
        log.warn(
            "{network}: cannot join {channel}: {why} ({code}: {text}); retrying in {delay:g} s",
            network=self._network_name,
            channel=channel,
            why=JOIN_FAILURES[self._command],
            code=self._command,
            text=params[-1],
            delay=delay,
        )
        self._schedule_join(channel, delay)

    def _on_join(self, prefix: str, params: list[str]) -> None:
        if not params:
            return
        # extended-join puts account and real name after the channel
        channel = params[0]
        nick, _, userhost = prefix.partition("!")
        if self._is_me(nick):
            self._roster.joined(channel)
            self._chan_cache.clear()
            self._join_delays.pop(self._fold(channel), None)
            self._mark_connected()
            log.info("{network}: joined {channel}", network=self._network_name, channel=channel)
            self._emit(channel, Kind.JOIN, self.nickname, userhost=userhost, own=True)
        else:
            self._roster.add(channel, nick)
            self._emit(channel, Kind.JOIN, nick, userhost=userhost)

    def _on_part(self, prefix: str, params: list[str]) -> None:
        if not params:
            return
        channel = self._roster.canonical(params[0]) or params[0]
        reason = params[1] if len(params) > 1 else ""
        nick, _, userhost = prefix.partition("!")
        own = self._is_me(nick)
        self._emit(channel, Kind.PART, nick, text=reason, userhost=userhost, own=own)
        if own:
            self._roster.left(channel)
            self._chan_cache.clear()
        else:
            self._roster.remove(channel, nick)

    def _on_kick(self, prefix: str, params: list[str]) -> None:
        if len(params) < 2:
            return
        channel = self._roster.canonical(params[0]) or params[0]
        kicked = params[1]
        reason = params[2] if len(params) > 2 else ""
        kicker = nick_of(prefix)
        self._emit(channel, Kind.KICK, kicker, text=reason, target=kicked)
        if self._is_me(kicked):
            self._roster.left(channel)
            self._chan_cache.clear()
            if self._fold(channel) in self._configured:
                log.warn(
                    "{network}: kicked from {channel} by {kicker} ({reason}); "
                    "rejoining in {delay:g} s",
                    network=self._network_name,
                    channel=channel,
                    kicker=kicker,
                    reason=reason,
                    delay=self.kick_rejoin_delay,
                )
                self._schedule_join(channel, self.kick_rejoin_delay)
        else:
            self._roster.remove(channel, kicked)

    def _on_quit(self, prefix: str, params: list[str]) -> None:
        nick, _, userhost = prefix.partition("!")
        if self._is_me(nick):
            return
        reason = params[-1] if params else ""
        shared = self._roster.quit(nick)
        if shared:
            times = self._times()
            for channel in shared:
                self._emit(channel, Kind.QUIT, nick, text=reason, userhost=userhost, times=times)
        if self._fold(nick) == self._fold(self._wanted_nick):
            self._try_regain()

    def _on_nick(self, prefix: str, params: list[str]) -> None:
        if not params:
            return
        old = nick_of(prefix)
        new = params[0]
        own = self._is_me(old)
        shared = self._roster.rename(old, new)
        if own:
            self._set_nick(new)
            log.info("{network}: now known as {nick}", network=self._network_name, nick=new)
            if self._fold(new) == self._fold(self._wanted_nick):
                self._stop_regain()
        times = self._times()
        for channel in shared:
            self._emit(channel, Kind.NICK, old, target=new, own=own, times=times)
        if not own and self._fold(old) == self._fold(self._wanted_nick):
            self._try_regain()

    def _on_topic(self, prefix: str, params: list[str]) -> None:
        if len(params) < 2:
            return
        channel = self._roster.canonical(params[0]) or params[0]
        self._emit(channel, Kind.TOPIC, nick_of(prefix), text=params[1])

    def _on_topic_reply(self, prefix: str, params: list[str]) -> None:
        # 332 on join: the topic now, its setter follows in 333 (if the server sends it)
        if len(params) >= 3:
            channel = self._roster.canonical(params[1]) or params[1]
            self._topics[self._fold(channel)] = (channel, params[2])

    def _on_topic_who(self, prefix: str, params: list[str]) -> None:
        if len(params) >= 3:
            pending = self._topics.pop(self._fold(params[1]), None)
            if pending is not None:
                self._emit(pending[0], Kind.TOPIC, nick_of(params[2]), text=pending[1])

    def _on_names(self, prefix: str, params: list[str]) -> None:
        # "353 me = #chan :@op +voice nick" (RFC 1459 servers omit the "=")
        if len(params) >= 3:
            self._roster.names(params[-2], params[-1].split(), self._prefixes)

    def _on_end_names(self, prefix: str, params: list[str]) -> None:
        if len(params) >= 2:
            self._roster.end_names(params[1])
            pending = self._topics.pop(self._fold(params[1]), None)
            if pending is not None:
                self._emit(pending[0], Kind.TOPIC, "", text=pending[1])

    def _on_mode(self, prefix: str, params: list[str]) -> None:
        if len(params) < 2:
            return
        target = params[0]
        if target[:1] not in self._chantypes:
            return  # the bot's own user modes are not a channel's history
        channel = self._roster.canonical(target) or target
        self._emit(channel, Kind.MODE, nick_of(prefix), text=" ".join(params[1:]))

    # -- what people say -------------------------------------------------------------------

    def _on_privmsg(self, prefix: str, params: list[str]) -> None:
        # The hot path: most lines a logger reads are this, so it is kept lean.
        if len(params) < 2:
            return
        target, text = params[0], params[1]
        bang = prefix.find("!")
        nick = prefix if bang < 0 else prefix[:bang]
        channel = self._chan_cache.get(target, _UNSEEN)
        if channel is _UNSEEN:
            channel = self._channel_of(target)
        if channel is None:
            self._on_whisper(nick, text)
            return
        if not text:
            return
        kind = Kind.MESSAGE
        if text[0] == "\x01":
            tag, text = _ctcp(text)
            if tag != "ACTION":
                return  # CTCP queries to a channel are not conversation; no replies either
            kind = Kind.ACTION
        own = nick == self.nickname
        if self._server_time:
            when, received = self._times()
        else:
            when, received = self._received_at, None
        self._sink(
            Event(when, self._network_name, channel, kind, nick, text, "", "", own, received)
        )
        if kind is Kind.MESSAGE and not own:
            n = len(self.nickname)
            if len(text) > n and text[n] in ":," and self._fold(text[:n]) == self._folded_nick:
                reply = MENTION_REPLY.format(nick=nick)
                self._reply(f"PRIVMSG {channel} :{reply}", channel, reply)

    def _on_whisper(self, nick: str, text: str) -> None:
        """A private message: answered (rate-limited), never recorded."""
        if not nick or "." in nick or self._is_me(nick):
            return  # a server, or ourselves
        if text[:1] == "\x01":
            tag, body = _ctcp(text)
            if tag != "ACTION":
                self._ctcp_query(nick, tag, body)
                return
        if self._whispers.allow(self._fold(nick), self._clock.seconds()):
            self._reply(f"PRIVMSG {nick} :{WHISPER_REPLY}")

    def _ctcp_query(self, nick: str, tag: str, body: str) -> None:
        if tag == "VERSION":
            answer = f"VERSION logbot {__version__}"
        elif tag == "PING":
            answer = f"PING {body[:64]}"
        elif tag == "CLIENTINFO":
            answer = "CLIENTINFO ACTION CLIENTINFO PING VERSION"
        else:
            return
        if self._ctcp_limit.allow(self._fold(nick), self._clock.seconds()):
            self._reply(f"NOTICE {nick} :\x01{answer}\x01")

    def _on_notice(self, prefix: str, params: list[str]) -> None:
        if len(params) < 2:
            return
        text = params[1]
        channel = self._channel_of(params[0])
        if channel is None:
            log.debug(
                "{network}: notice from {sender}: {text}",
                network=self._network_name,
                sender=prefix,
                text=text,
            )
            return
        if not text or text[0] == "\x01":
            return  # CTCP replies are not conversation
        self._emit(channel, Kind.NOTICE, nick_of(prefix), text=text)
