"""IRC in, events out: the ``IRCClient`` that turns what a server says into ``Event`` records.

The protocol never opens a file or touches storage: every channel event goes to the
``sink`` it was given (``Callable[[Event], None]``). It reads the time only from the
injected clock (``IReactorTime``), so tests drive it with ``task.Clock``.

This module keeps line handling, dispatch and the channel events; the rest is in its
own module, each usable (and tested) on its own:

- ``registration``: IRCv3 capabilities and SASL PLAIN/EXTERNAL, a pure state machine
  (server lines in, lines to send and outcomes out), with ``sasl_required`` and the
  NickServ IDENTIFY fallback;
- ``outbox``: every line goes through a token bucket, so the bot cannot be dropped for
  flooding, and replies wait in a bounded queue;
- ``keepalive``: a PING every ``ping_interval``; nothing heard for ``ping_timeout``
  after it aborts the connection, so the factory reconnects;
- ``regain``: takes the configured nick back when it is free (MONITOR or ISON);
- ``joins``: joins every configured channel on sign-on, rejoins after a kick, retries
  refused joins with a growing delay.

What the protocol itself does beyond Twisted's ``IRCClient``:

- decodes each line as UTF-8, else the network's fallback encoding, and never lets a
  line (undecodable, overlong, malformed) raise out of ``dataReceived``;
- strips and reads IRCv3 message tags before parsing (``@time=`` is the event time when
  ``server-time`` was negotiated; the receive time is kept in ``Event.received``);
- keeps a roster so QUIT and NICK are recorded in every channel the user shared with
  the bot, and records the bot's own joins and replies (``own=True``);
- records only what happens in the channels it is in (a line naming any other target,
  ``*`` or ``+o`` or a channel it never joined, is no history of ours), and treats a
  channel it is in or configured for as a channel whatever a later ISUPPORT says;
- states where each channel's record has a hole (gap_start when it disconnects, is
  kicked, parts or stops; gap_end when it rejoins) and, when the server keeps history,
  fills the hole from it (``history``); records each line's IRCv3 ``msgid``;
- answers whispers (never logged) and mentions (logged), both rate-limited per sender
  and in all, never a NOTICE and never another bot's answer (no reply loops);
- sends no secret (PASS, NickServ IDENTIFY) over a connection without TLS unless
  ``allow_plaintext_secrets`` is set.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.interfaces import IHandshakeListener, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.words.protocols import irc
from zope.interface import implementer  # type: ignore[import-untyped]

from logbot import __version__
from logbot.events import (
    FACT_CRAWLER_INDEX,
    GAP_DISCONNECTED,
    GAP_END_FIRST_JOIN,
    GAP_KICKED,
    GAP_PARTED,
    GAP_STOPPED,
    Event,
    Kind,
    utcnow_from,
)
from logbot.irc import registration
from logbot.irc.clock import Clock, DelayedCall
from logbot.irc.consent import Announcements, ConsentFilter
from logbot.irc.counts import NetworkCounts
from logbot.irc.failures import describe_failure
from logbot.irc.history import GapBook, History
from logbot.irc.joins import JOIN_FAILURES, Joins
from logbot.irc.keepalive import Keepalive
from logbot.irc.outbox import Outbox
from logbot.irc.ratelimit import ReplyBudget, SenderLimiter
from logbot.irc.regain import NickRegain
from logbot.irc.registration import Registration, Step
from logbot.irc.roster import Roster
from logbot.irc.wire import (
    MAX_LINE_BYTES,
    check_encoding,
    nick_of,
    plausible_server_time,
    split_message,
    tag_value,
    unescape_tag_value,
)
from logbot.settings import NetworkConfig

if TYPE_CHECKING:
    from logbot.irc.factory import LogBotFactory

__all__ = [
    "JOIN_FAILURES",
    "MENTION_REPLY",
    "MENTION_TEXT",
    "WHISPER_REPLY",
    "Clock",
    "DelayedCall",
    "LogBotProtocol",
    "Sink",
]

log = Logger(namespace="logbot.irc")

# Twisted's IRCClient is untyped (its class attributes read as None to mypy): subclass
# it through Any.
_IRCClient: Any = irc.IRCClient

Sink = Callable[[Event], None]

WHISPER_REPLY = "It isn't nice to whisper! Play nice with the group."
MENTION_TEXT = "I am a log bot"
MENTION_REPLY = "{nick}: " + MENTION_TEXT

_UNSEEN = "\0unseen"  # a cache miss, distinct from None (a private target)


def _ctcp(text: str) -> tuple[str, str]:
    """``"\\x01ACTION waves\\x01"`` as ``("ACTION", "waves")``."""
    body = text[1:-1] if text.endswith("\x01") and len(text) > 1 else text[1:]
    tag, _, rest = body.partition(" ")
    return tag.upper(), rest


@implementer(IHandshakeListener)
class LogBotProtocol(_IRCClient):  # type: ignore[misc]
    """One connection to one network. Built by ``LogBotFactory``; see the module docstring.

    ``LogBotProtocol(network, sink, clock, factory)``: ``network`` is the connection's
    settings, ``sink`` receives every ``Event``, ``clock`` is the reactor (or a
    ``task.Clock``), ``factory`` (optional in tests) is told about sign-on, the learned
    network name and the loss of the connection.

    Dispatch is Twisted's: a line's command goes to ``handleCommand``, which calls the
    ``irc_<COMMAND>`` method (numerics by their ``irc.numeric_to_symbolic`` name, like
    ``irc_RPL_WELCOME``; unnamed ones by number, like ``irc_900``). Two differences,
    both for speed and to keep to what the bot means to handle: the method of each
    command is looked up once per connection (a dict, not ``getattr`` and string
    formatting per line), and only the ``irc_*`` methods this class defines are
    dispatched; the ones ``IRCClient`` defines for other commands only feed callbacks
    (``myInfo``, ``luserClient`` ...) the bot does not use. ISUPPORT (005) is parsed by
    Twisted's ``ServerSupportedFeatures`` into ``self.supported`` and read from there.
    """

    #: seconds before rejoining a channel the bot was kicked from
    kick_rejoin_delay = 5.0
    #: the first retry of a refused JOIN waits this long, doubling up to join_retry_max
    join_retry_initial = 30.0
    join_retry_max = 1800.0
    #: whisper and mention replies (each counted apart): one per sender per interval,
    #: whisper_global_max in all
    whisper_interval = 60.0
    whisper_global_max = 10
    #: a sender given this many mention replies within mention_loop_window seconds gets
    #: no more until the window has passed (a bot answering the bot)
    mention_loop_max = 5
    mention_loop_window = 3600.0
    #: how often to ask (ISON) whether the configured nick is free, without MONITOR
    regain_poll_interval = 120.0
    #: output token bucket: line_burst lines at once, then one per line_interval seconds
    #: (registration, before the welcome, is exempt: a fixed handful of lines)
    line_interval = 2.0
    line_burst = 5
    #: replies waiting beyond this many are dropped (the queue is the flood it prevents)
    max_queued_replies = 10

    #: command as received (numerics as digits) -> name of the method handling it; see
    #: the class docstring (filled in below the class)
    handlers: dict[str, str] = {}

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
        self._announcements = (
            factory.announcements if factory is not None else Announcements(network)
        )
        self._clock = cast(Clock, clock)
        #: the network's counters (the factory's, which outlive this connection)
        self.counts = factory.counts if factory is not None else NetworkCounts()
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
        else:
            try:
                b"\xff".decode(self._fallback, "replace")
            except Exception:
                # a codec Python knows that does not turn bytes into text (base64, rot13)
                log.warn(
                    "{network}: fallback encoding {encoding!r} is not a text encoding; "
                    "using latin-1",
                    network=self._label(),
                    encoding=network.fallback_encoding,
                )
                self._fallback = "latin-1"

        self._network_name = factory.network_name if factory is not None else self._label()
        self._roster = Roster()
        # consent first: what people asked not to keep reaches no backend (nor its spool)
        self._sink = ConsentFilter(network, sink, self._roster)
        self._fold = self._roster.fold
        self._folded_nick = self._fold(self.nickname)
        #: ISUPPORT, parsed by Twisted (defaults: a server that sends none)
        self.supported: Any = irc.ServerSupportedFeatures()  # type: ignore[no-untyped-call]
        self._chantypes: frozenset[str] = frozenset()
        self._statusmsg = ""
        self._prefixes = ""
        self._read_isupport()
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
        self._register_deadline: DelayedCall | None = None
        #: the factory paused reading (flow control from a backend); see pause_reading
        self.reading_paused = False
        self._outbox = Outbox(
            self._clock,
            self._write_bytes,
            self._reply_sent,
            self.line_interval,
            self.line_burst,
            self.max_queued_replies,
        )
        self._keepalive = Keepalive(
            self._clock,
            network.ping_interval,
            network.ping_timeout,
            self.sendLine,
            lambda: self._rx,
            lambda: self.reading_paused,
            self.drop,
        )
        self._regain = NickRegain(
            network.nick,
            self._clock,
            self.sendLine,
            lambda name: self._fold(name),
            lambda: self.nickname,
            self.regain_poll_interval,
        )
        self._joins = Joins(
            network.channels,
            self._clock,
            self.sendLine,
            lambda name: self._fold(name),
            self._roster.is_joined,
            self.join_retry_initial,
            self.join_retry_max,
        )
        #: where each channel's hole started (kept by the factory across connections)
        self._gaps: GapBook = factory.gaps if factory is not None else GapBook()
        self._history = History(
            self.sendLine,
            self._sink,
            lambda: self._network_name,
            lambda: self.nickname,
            lambda name: self._fold(name),
            self._joined,
            self.counts,
        )
        self._whispers = SenderLimiter(self.whisper_interval, self.whisper_global_max)
        self._ctcp_limit = SenderLimiter(self.whisper_interval, self.whisper_global_max)
        self._mentions = SenderLimiter(self.whisper_interval, self.whisper_global_max)
        self._mention_budget = ReplyBudget(self.mention_loop_max, self.mention_loop_window)
        #: a secret may cross this connection: TLS, or the config allows clear text
        self._secrets_allowed = network.tls or network.allow_plaintext_secrets
        sasl_password = network.sasl_password
        mechanism = network.sasl_mechanism or ("PLAIN" if sasl_password else None)
        self._registration = Registration(
            mechanism,
            network.sasl_user or network.nick,
            sasl_password.reveal() if sasl_password is not None else None,
            required=network.sasl_required,
            secrets_allowed=self._secrets_allowed,
        )
        self._dispatch: dict[str, Callable[[str, list[str]], None]] = {
            command: getattr(self, name) for command, name in self.handlers.items()
        }

    # -- small helpers ---------------------------------------------------------------

    @property
    def caps(self) -> set[str]:
        """The IRCv3 capabilities the server acknowledged."""
        return self._registration.caps

    @property
    def authenticated(self) -> bool:
        """SASL succeeded on this connection."""
        return self._registration.authenticated

    def _label(self) -> str:
        if self.factory is not None:
            return str(self.factory.network_name)
        return self.network.name or self.network.server

    @property
    def registered(self) -> bool:
        """The server welcomed the bot (001) on this connection."""
        return self._registered

    def is_joined(self, channel: str) -> bool:
        """The bot is in ``channel`` now (compared under the server's casemapping)."""
        return self._roster.is_joined(channel)

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
        if self._registration.server_time and self._tags:
            stamp = tag_value(self._tags, "time")
            if stamp:
                when = plausible_server_time(stamp, now)
                if when is not None:
                    return when, now
                # Event has no field for a stamp that is not the event's time: say it here.
                log.debug(
                    "{network}: server-time {stamp!r} is not plausible; using the receive time",
                    network=self._network_name,
                    stamp=stamp,
                )
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
        msgid: str | None = None,
    ) -> None:
        """Record an event; with no ``times`` it is the current line's (time and msgid)."""
        if times is None:
            times = self._times()
            if msgid is None:
                msgid = self._msgid()
        when, received = times
        self._sink(
            Event(
                when,
                self._network_name,
                channel,
                kind,
                nick,
                text,
                target,
                userhost,
                own,
                received,
                msgid or "",
            )
        )

    def _msgid(self) -> str:
        """The current line's IRCv3 ``msgid`` tag, or ``""``."""
        return _msgid_of(self._tags) if self._tags else ""

    def _gap_start(self, channel: str, why: str, when: datetime) -> None:
        """``channel`` stops being logged at ``when`` (once per hole)."""
        if self._gaps.start(self._fold(channel), when, channel):
            self._sink(Event(when, self._network_name, channel, Kind.GAP_START, "", why))

    def _channel_of(self, target: str) -> str | None:
        """The channel a PRIVMSG/NOTICE target names, as recorded.

        ``""`` for a channel the bot is not in (nothing of it is recorded), None for a
        target that is no channel (a private message). A channel the bot is in, or is
        configured for, is a channel whatever ISUPPORT CHANTYPES says.
        """
        cache = self._chan_cache
        if target in cache:
            return cache[target]
        name = target
        if name[:1] and name[0] in self._statusmsg:
            # "@#chan": a message to the channel's ops is still said in the channel
            name = name.lstrip(self._statusmsg)
        channel = self._roster.canonical(name) if name else None
        if channel is None and name and self._is_channel_name(name):
            channel = ""
        if len(cache) < 256:
            cache[target] = channel
        return channel

    def _is_channel_name(self, name: str) -> bool:
        """``name`` is a channel: by its first character, or because it is configured."""
        return name[:1] in self._chantypes or self._joins.is_configured(name)

    def _joined(self, name: str) -> str | None:
        """The channel's name as recorded if the bot is in it, else None."""
        return self._roster.canonical(name)

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

    def _handle_lines(self, lines: list[bytes]) -> None:
        # Every line of one read arrived at the same moment: one clock reading for all.
        self._received_at = utcnow_from(self._clock.seconds())
        dispatch = self._dispatch
        fallback = self._fallback
        counts = self.counts
        counts.lines += len(lines)
        for raw in lines:
            if not raw:
                counts.lines -= 1
                continue
            try:
                line = raw.decode()
            except UnicodeDecodeError:
                try:
                    line = raw.decode(fallback, "replace")
                except Exception:
                    # No decoding problem may cost the line, let alone the connection.
                    line = raw.decode("latin-1")
            try:
                self._tags, prefix, command, params = split_message(line)
            except ValueError:
                counts.unparsed += 1
                log.debug("{network}: ignoring a malformed line", network=self._network_name)
                continue
            tags = self._tags
            if tags and "batch=" in tags and self._history.owns(tags):
                # a line of the server's history: recorded as backfilled, never live
                self._history.line(tags, prefix, command, params)
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

    def handleCommand(self, command: str, prefix: str, params: list[str]) -> None:
        """Twisted's entry point: ``command`` by name (``RPL_WELCOME``) or as received."""
        code = irc.symbolic_to_numeric.get(command, command)
        handler = self._dispatch.get(code)
        if handler is not None:
            self._command = code
            handler(prefix, params)

    # -- connection life -------------------------------------------------------------

    def connectionMade(self) -> None:
        self._outbox.open = True
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
        self._register_deadline = self._clock.callLater(
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
        for line in self._registration.start():
            self.sendLine(line)
        if self.password is not None:
            if self._secrets_allowed:
                # trailing, so that a password with spaces arrives whole
                self.sendLine(f"PASS :{self.password}")
            else:
                log.warn(
                    "{network}: not sending the server password (PASS): the connection has "
                    "no TLS and it would cross the network in clear text "
                    "(set allow_plaintext_secrets = true to send it anyway)",
                    network=self._network_name,
                )
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
        self._outbox.write_now(f"QUIT :{reason}")
        if self.transport is not None:
            self.transport.loseConnection()

    def quit_now(self, message: str) -> None:
        """Send QUIT at once (ahead of anything queued): the service is shutting down."""
        if self._lost or self._quitting:
            return
        self._quitting = True
        self._drop_reason = f"quit: {message}" if message else "quit"
        self._outbox.close()
        self._keepalive.stop()
        self._outbox.write_now(f"QUIT :{message}")

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._lost = True
        self._stopped = True
        self._outbox.close()
        self._keepalive.stop()
        self._regain.stop(send=False)
        self._joins.close()
        if self._register_deadline is not None and self._register_deadline.active():
            self._register_deadline.cancel()
        self._register_deadline = None
        why = self._drop_reason
        if why is None:
            why = (
                describe_failure(reason, self.network.server)
                if reason is not None
                else "connection lost"
            )
        # the hole starts when the bot last heard from the server (a dead link can take a
        # ping timeout to notice); a QUIT of its own starts it now
        if self._quitting:
            gap_why, since = GAP_STOPPED, self._now()[0]
        else:
            gap_why, since = GAP_DISCONNECTED, self._received_at
        for channel in self._roster.channels():
            self._gap_start(channel, gap_why, since)
        if self._marked_connected:
            self._emit("", Kind.DISCONNECTED, self.nickname, text=why, times=self._now())
        self._history.close()
        self._roster.clear()
        if self.factory is not None:
            self.factory.protocol_lost(self, why)

    def _mark_connected(self) -> None:
        """Record the session marker once per connection, when the network's name is known."""
        if not self._marked_connected:
            self._marked_connected = True
            now = self._now()
            self._emit("", Kind.CONNECTED, self.nickname, times=now)
            # ISUPPORT is complete by now: what this connection's server says, even nothing
            # (a network that stopped announcing it is indexed again)
            index = crawler_index(self.supported.getFeature("CRAWLER"))
            self._emit("", Kind.FACT, "", text=index, target=FACT_CRAWLER_INDEX, times=now)

    # -- keepalive (IRCClient's names) --------------------------------------------------

    def startHeartbeat(self) -> None:
        self._keepalive.start()

    def stopHeartbeat(self) -> None:
        self._keepalive.stop()

    # -- output ------------------------------------------------------------------------

    def sendLine(self, line: str) -> None:
        """Queue a protocol line; it goes out as soon as the token bucket allows.

        A line already waiting is not queued twice, and only the newest PONG waits: a
        server (or a flood of 731s) can never grow the queue faster than it drains.
        """
        self._outbox.send(line)

    def _reply(self, line: str, channel: str | None = None, text: str = "") -> None:
        """Queue a reply; a reply to a channel is recorded (own=True) when it is sent."""
        self._outbox.reply(line, channel, text)

    def _reply_sent(self, channel: str, text: str, now: float) -> None:
        self._emit(
            channel, Kind.MESSAGE, self.nickname, text, own=True, times=(utcnow_from(now), None)
        )

    def _write_bytes(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    # -- registration --------------------------------------------------------------------

    def _apply(self, step: Step) -> None:
        """Do what the registration machine asked: log, send, or give up."""
        for level, text in step.notes:
            emit = log.info if level == "info" else log.warn if level == "warn" else log.error
            emit("{network}: {text}", network=self._network_name, text=text)
        if step.refuse is not None:
            self._refuse(step.refuse)
            return
        for line in step.send:
            self.sendLine(line)

    def _on_registration(self, prefix: str, params: list[str]) -> None:
        self._apply(self._registration.feed(self._command, params))

    def irc_RPL_WELCOME(self, prefix: str, params: list[str]) -> None:
        if self._registered:
            # 001 counts once per connection: a second one is a confused or hostile
            # server, and must not rename the bot or sign it on again.
            log.debug("{network}: ignoring a second welcome (001)", network=self._network_name)
            return
        step = self._registration.welcome()
        self._apply(step)
        if step.refuse is not None:
            return
        self._registered = True
        self._outbox.paced = True
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
        identify = self._registration.identify_line()
        if identify is not None:
            self.sendLine(identify)
        self._joins.join_all()
        self._regain.start(self.supported.hasFeature("MONITOR"))

    def _read_isupport(self) -> None:
        """Take the facts the bot uses from ``self.supported``."""
        supported: Any = self.supported
        self._chantypes = frozenset(supported.getFeature("CHANTYPES") or ())
        self._statusmsg = supported.getFeature("STATUSMSG") or ""
        prefix = supported.getFeature("PREFIX") or {}
        self._prefixes = "".join(sym for sym, _ in sorted(prefix.values(), key=lambda p: p[1]))

    def irc_RPL_ISUPPORT(self, prefix: str, params: list[str]) -> None:
        supported = self.supported
        for token in params[1:-1]:
            try:
                supported.parse([token])
            except ValueError:
                # a malformed value (a bad \\xHH escape, say) costs that token only
                log.debug(
                    "{network}: ignoring ISUPPORT {token!r}",
                    network=self._network_name,
                    token=token,
                )
                continue
            key = token.partition("=")[0].upper()
            if key == "CASEMAPPING":
                value = supported.getFeature("CASEMAPPING")
                if value and value[0]:
                    self._roster.set_casemapping(value[0])
                    self._fold = self._roster.fold
                    self._folded_nick = self._fold(self.nickname)
                    self._joins.reindex()
            elif key == "CHATHISTORY":
                self._history.set_limit(token.partition("=")[2])
            elif key == "NETWORK" and self.factory is not None:
                name = supported.getFeature("NETWORK")
                if name:
                    self.factory.learned_network_name(name)
                    self._network_name = self.factory.network_name
        self._read_isupport()
        self._chan_cache.clear()

    def irc_RPL_ENDOFMOTD(self, prefix: str, params: list[str]) -> None:
        if self._registered:
            self._mark_connected()

    irc_ERR_NOMOTD = irc_RPL_ENDOFMOTD

    def irc_PING(self, prefix: str, params: list[str]) -> None:
        self.sendLine(f"PONG :{params[-1]}" if params else "PONG")

    def irc_ERROR(self, prefix: str, params: list[str]) -> None:
        text = params[-1] if params else ""
        if self._drop_reason is None:
            self._drop_reason = f"server closed the link: {text}"

    def irc_ERR_PASSWDMISMATCH(self, prefix: str, params: list[str]) -> None:
        if self._registered:
            return  # the password was accepted long ago; a stray 464 says nothing
        log.error("{network}: the server rejected the password", network=self._network_name)
        self._drop_reason = "server password rejected"

    # -- nicks -------------------------------------------------------------------------

    def alterCollidedNick(self, nickname: str) -> str:
        """ircLogBot's rule: append ``^`` (again while the result is taken)."""
        return nickname + "^"

    def irc_ERR_NICKNAMEINUSE(self, prefix: str, params: list[str]) -> None:
        if self._registered:
            # our attempt to take the configured nick back lost a race; the poll goes on
            return
        taken = params[1] if len(params) > 1 else self._attemptedNick
        self.setNick(self.alterCollidedNick(taken))

    def irc_ERR_ERRONEUSNICKNAME(self, prefix: str, params: list[str]) -> None:
        refused = params[1] if len(params) > 1 else self._attemptedNick
        reason = params[-1] if params else ""
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

    def _try_regain(self) -> None:
        if self._registered:
            self._regain.attempt()

    def irc_RPL_ISON(self, prefix: str, params: list[str]) -> None:
        if self._regain.ison(params):
            self._try_regain()

    def irc_731(self, prefix: str, params: list[str]) -> None:
        """RPL_MONOFFLINE: someone MONITOR watches went offline."""
        if self._regain.offline(params):
            self._try_regain()

    def irc_734(self, prefix: str, params: list[str]) -> None:
        """ERR_MONLISTFULL: no room to MONITOR; poll with ISON instead."""
        self._regain.monitor_full()

    # -- channels ----------------------------------------------------------------------

    def _on_join_failure(self, prefix: str, params: list[str]) -> None:
        if len(params) < 2:
            return
        channel = params[1]
        if self._command == "437" and channel[:1] not in self._chantypes:
            # 437 for a nick: "temporarily unavailable" while registering is a collision
            if not self._registered:
                self.setNick(self.alterCollidedNick(channel))
            return
        delay = self._joins.refused(channel)
        if delay is None:
            return
        log.warn(
            "{network}: cannot join {channel}: {why} ({code}: {text}); retrying in {delay:g} s",
            network=self._network_name,
            channel=channel,
            why=JOIN_FAILURES[self._command],
            code=self._command,
            text=params[-1],
            delay=delay,
        )

    def irc_JOIN(self, prefix: str, params: list[str]) -> None:
        if not params:
            return
        # extended-join puts account and real name after the channel
        channel = params[0]
        nick, _, userhost = prefix.partition("!")
        if self._is_me(nick):
            if not channel or not self._is_channel_name(channel):
                return  # "JOIN 0" and other non-channels are not somewhere the bot went
            self._roster.joined(channel)
            self._chan_cache.clear()
            self._joins.joined(channel)
            self._mark_connected()
            log.info("{network}: joined {channel}", network=self._network_name, channel=channel)
            times = self._times()
            since, first = self._gaps.end(self._fold(channel), channel)
            self._sink(
                Event(
                    times[0],
                    self._network_name,
                    channel,
                    Kind.GAP_END,
                    "",
                    GAP_END_FIRST_JOIN if first else "",
                )
            )
            self._emit(
                channel,
                Kind.JOIN,
                self.nickname,
                userhost=userhost,
                own=True,
                times=times,
                msgid=self._msgid(),
            )
            announce = self._announcements.due(channel, self._clock.seconds())
            # paced by the outbox, and logged as the bot's own line once sent; a full
            # reply queue drops it, and then the next join says it
            if announce is not None and not self._outbox.reply(
                f"PRIVMSG {channel} :{announce}", channel, announce
            ):
                self._announcements.dropped(channel)
            self._history.configure(self.caps)
            if since is not None:
                self._history.fill(channel, since, times[0])
            elif first and self._history.enabled:
                self._resume(channel, times[0])
        else:
            joined = self._joined(channel)
            if joined is None:
                return  # only the channels the bot is in have a history here
            self._roster.add(joined, nick)
            self._emit(joined, Kind.JOIN, nick, userhost=userhost)

    def irc_PART(self, prefix: str, params: list[str]) -> None:
        if not params:
            return
        channel = self._joined(params[0])
        if channel is None:
            return
        reason = params[1] if len(params) > 1 else ""
        nick, _, userhost = prefix.partition("!")
        own = self._is_me(nick)
        self._emit(channel, Kind.PART, nick, text=reason, userhost=userhost, own=own)
        if own:
            self._gap_start(channel, GAP_PARTED, self._times()[0])
            self._roster.left(channel)
            self._chan_cache.clear()
        else:
            self._roster.remove(channel, nick)

    def irc_KICK(self, prefix: str, params: list[str]) -> None:
        if len(params) < 2:
            return
        channel = self._joined(params[0])
        if channel is None:
            return
        kicked = params[1]
        reason = params[2] if len(params) > 2 else ""
        kicker = nick_of(prefix)
        self._emit(channel, Kind.KICK, kicker, text=reason, target=kicked)
        if self._is_me(kicked):
            self._gap_start(channel, GAP_KICKED, self._times()[0])
            self._roster.left(channel)
            self._chan_cache.clear()
            if self._joins.is_configured(channel):
                log.warn(
                    "{network}: kicked from {channel} by {kicker} ({reason}); "
                    "rejoining in {delay:g} s",
                    network=self._network_name,
                    channel=channel,
                    kicker=kicker,
                    reason=reason,
                    delay=self.kick_rejoin_delay,
                )
                self._joins.schedule(channel, self.kick_rejoin_delay)
        else:
            self._roster.remove(channel, kicked)

    def irc_QUIT(self, prefix: str, params: list[str]) -> None:
        nick, _, userhost = prefix.partition("!")
        if self._is_me(nick):
            return
        reason = params[-1] if params else ""
        shared = self._roster.quit(nick)
        if shared:
            times = self._times()
            for channel in shared:
                self._emit(
                    channel,
                    Kind.QUIT,
                    nick,
                    text=reason,
                    userhost=userhost,
                    times=times,
                    msgid=self._msgid(),
                )
        if self._regain.is_wanted(nick):
            self._try_regain()

    def irc_NICK(self, prefix: str, params: list[str]) -> None:
        if not params:
            return
        old = nick_of(prefix)
        new = params[0]
        own = self._is_me(old)
        shared = self._roster.rename(old, new)
        if own:
            self._set_nick(new)
            log.info("{network}: now known as {nick}", network=self._network_name, nick=new)
            if self._regain.is_wanted(new):
                self._regain.stop()
        times = self._times()
        msgid = self._msgid()
        for channel in shared:
            self._emit(channel, Kind.NICK, old, target=new, own=own, times=times, msgid=msgid)
        if not own and self._regain.is_wanted(old):
            self._try_regain()

    def irc_TOPIC(self, prefix: str, params: list[str]) -> None:
        if len(params) < 2:
            return
        channel = self._joined(params[0])
        if channel is not None:
            self._emit(channel, Kind.TOPIC, nick_of(prefix), text=params[1])

    def irc_RPL_TOPIC(self, prefix: str, params: list[str]) -> None:
        # 332 on join: the topic now, its setter follows in 333 (if the server sends it)
        if len(params) >= 3:
            channel = self._joined(params[1])
            if channel is not None:
                self._topics[self._fold(channel)] = (channel, params[2])

    def irc_333(self, prefix: str, params: list[str]) -> None:
        """RPL_TOPICWHOTIME: who set the topic 332 gave."""
        if len(params) >= 3:
            pending = self._topics.pop(self._fold(params[1]), None)
            if pending is not None:
                self._emit(pending[0], Kind.TOPIC, nick_of(params[2]), text=pending[1])

    def irc_RPL_NAMREPLY(self, prefix: str, params: list[str]) -> None:
        # "353 me = #chan :@op +voice nick" (RFC 1459 servers omit the "=")
        if len(params) >= 3:
            self._roster.names(params[-2], params[-1].split(), self._prefixes)

    def irc_RPL_ENDOFNAMES(self, prefix: str, params: list[str]) -> None:
        if len(params) >= 2:
            self._roster.end_names(params[1])
            pending = self._topics.pop(self._fold(params[1]), None)
            if pending is not None:
                self._emit(pending[0], Kind.TOPIC, "", text=pending[1])

    def irc_MODE(self, prefix: str, params: list[str]) -> None:
        if len(params) < 2:
            return
        # the bot's own user modes, or a channel it is not in, are no history here
        channel = self._joined(params[0])
        if channel is None:
            return
        self._emit(channel, Kind.MODE, nick_of(prefix), text=" ".join(params[1:]))

    def irc_REDACT(self, prefix: str, params: list[str]) -> None:
        # IRCv3 draft/message-redaction: REDACT <target> <msgid> [:reason]; a private
        # message is never stored, so only a channel the bot is in counts
        if len(params) < 2 or not params[1]:
            return
        channel = self._joined(params[0])
        if channel is not None:
            reason = params[2] if len(params) > 2 else ""
            self._emit(
                channel, Kind.REDACT, nick_of(prefix), text=reason, times=self._times(),
                msgid=params[1],
            )  # fmt: skip

    # -- what people say -------------------------------------------------------------------

    def irc_PRIVMSG(self, prefix: str, params: list[str]) -> None:
        # The hot path: most lines a logger reads are this, so it is kept lean.
        if len(params) < 2:
            return
        target, text = params[0], params[1]
        bang = prefix.find("!")
        nick = prefix if bang < 0 else prefix[:bang]
        channel = self._chan_cache.get(target, _UNSEEN)
        if channel is _UNSEEN:
            channel = self._channel_of(target)
        if not channel:
            if channel is None and self._is_me(target):
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
        if self._registration.server_time:
            when, received = self._times()
        else:
            when, received = self._received_at, None
        msgid = _msgid_of(self._tags) if self._tags else ""
        self._sink(
            Event(when, self._network_name, channel, kind, nick, text, "", "", own, received, msgid)
        )
        if kind is Kind.MESSAGE and not own:
            n = len(self.nickname)
            if len(text) > n and text[n] in ":," and self._fold(text[:n]) == self._folded_nick:
                self._on_mention(nick, channel, text[n + 1 :])

    def _on_mention(self, nick: str, channel: str, rest: str) -> None:
        """``logbot: ...`` in a channel: answered, rate-limited, never in a loop."""
        if rest.strip() == MENTION_TEXT or not nick or "." in nick:
            return  # another bot's answer (answering it would loop for ever), or a server
        key = self._fold(nick)
        now = self._clock.seconds()
        if not self._mention_budget.allows(key, now) or not self._mentions.allow(key, now):
            return
        self._mention_budget.record(key, now)
        reply = MENTION_REPLY.format(nick=nick)
        self._reply(f"PRIVMSG {channel} :{reply}", channel, reply)

    def _on_whisper(self, nick: str, text: str) -> None:
        """A private message: answered (rate-limited), never recorded."""
        if not nick or "." in nick or self._is_me(nick) or text == WHISPER_REPLY:
            return  # a server, ourselves, or another bot's answer (answering would loop)
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

    def irc_NOTICE(self, prefix: str, params: list[str]) -> None:
        if len(params) < 2:
            return
        text = params[1]
        channel = self._channel_of(params[0])
        if channel == "":
            return
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

    # -- the server's history (see logbot.irc.history) -----------------------------------

    def _resume(self, channel: str, joined: datetime) -> None:
        """A run's first join: fill the time the bot was not running, from where storage
        says the channel's record stopped."""
        resume = self.factory.resume if self.factory is not None else None
        if resume is None:
            return

        def fill(since: datetime | None) -> None:
            # the answer comes from another thread, later: the connection may be gone
            if since is not None and not self._lost and self._joined(channel) is not None:
                self._history.fill(channel, since, joined)

        resume(self._network_name, channel, joined).addCallback(fill)

    def irc_BATCH(self, prefix: str, params: list[str]) -> None:
        self._history.batch(self._tags, params)

    def irc_FAIL(self, prefix: str, params: list[str]) -> None:
        if params and params[0].upper() == "CHATHISTORY":
            self._history.fail(self._tags, params)

    def irc_ACK(self, prefix: str, params: list[str]) -> None:
        self._history.ack(self._tags)


def _msgid_of(tags: str) -> str:
    """The ``msgid`` in a raw tag string, or ``""``: :func:`tag_value` spelled out for the
    common case, because it runs for every message a server tags."""
    i = tags.find("msgid=")
    if i < 0:
        return ""
    if i and tags[i - 1] != ";":
        return tag_value(tags, "msgid") or ""  # "xmsgid=": the rare slow way
    end = tags.find(";", i)
    value = tags[i + 6 :] if end < 0 else tags[i + 6 : end]
    return unescape_tag_value(value) if "\\" in value else value


def _handlers(cls: type) -> dict[str, str]:
    """Command as received -> the ``irc_*`` method of ``cls`` (not of Twisted) for it."""
    table: dict[str, str] = {}
    for klass in reversed(cls.__mro__[: cls.__mro__.index(irc.IRCClient)]):
        for name in vars(klass):
            if name.startswith("irc_"):
                symbol = name[4:]
                table[irc.symbolic_to_numeric.get(symbol, symbol)] = name
    return table


for _code in (*registration.COMMANDS, *JOIN_FAILURES):
    # Several numerics, one handler each: named as Twisted would dispatch them.
    setattr(
        LogBotProtocol,
        "irc_" + irc.numeric_to_symbolic.get(_code, _code),
        LogBotProtocol._on_registration
        if _code in registration.COMMANDS
        else LogBotProtocol._on_join_failure,
    )
LogBotProtocol.handlers = _handlers(LogBotProtocol)


def crawler_index(value: object) -> str:
    """The ``index`` key of an ISUPPORT ``CRAWLER`` value as Twisted parsed it (a tuple of
    comma-separated items: ``("index:deny", "cooldown:3600")``): "allow", "deny", or ""
    when the token is absent, valueless (to be ignored) or says neither."""
    if not isinstance(value, tuple):
        return ""
    for item in value:
        key, _, setting = str(item).partition(":")
        if key.strip().lower() == "index" and setting.strip().lower() in ("allow", "deny"):
            return setting.strip().lower()
    return ""
