"""IRC in, events out: the ``IRCClient`` that turns what a server says into ``Event`` records.

The protocol never opens a file or touches storage: every channel event goes to the
``sink`` it was given (``Callable[[Event], None]``). It reads the time only from the
injected clock (``IReactorTime``), so tests drive it with ``task.Clock``.

This module keeps line handling, dispatch, the connection's life and the wiring. The
handlers are parts of the class, each in its own module on ``base.ProtocolBase`` (the
state they share and the helpers: the current line's time, recording an event):

- ``channel_events``: JOIN, PART, KICK, QUIT, NICK, TOPIC, MODE, REDACT, NAMES;
- ``messages``: PRIVMSG and NOTICE, and the replies to whispers, mentions and CTCP;
- ``session``: registration steps, the welcome and sign-on, ISUPPORT, PING, nicks;
- ``gaps``: gap_start/gap_end marks and asking the server's history to fill a hole.

The rest is in helper objects, each usable (and tested) on its own:

- ``registration``: IRCv3 capabilities and SASL PLAIN/EXTERNAL, a pure state machine
  (server lines in, lines to send and outcomes out), with ``sasl_required`` and the
  NickServ IDENTIFY fallback;
- ``outbox``: every line goes through a token bucket, so the bot cannot be dropped for
  flooding, and replies wait in a bounded queue;
- ``keepalive``: a PING every ``ping_interval``; nothing heard for ``ping_timeout``
  after it aborts the connection, so the factory reconnects;
- ``regain``: takes the configured nick back when it is free (MONITOR or ISON);
- ``joins``: joins every configured channel on sign-on, rejoins after a kick, retries
  refused joins with a growing delay;
- ``consent``: between the protocol and its sink, drops what people asked not to keep,
  and says each channel's announcement after a join;
- ``history``: the server's history (IRCv3 chathistory) and the gap book.

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
from typing import TYPE_CHECKING, cast

from twisted.internet.interfaces import IHandshakeListener, IReactorTime
from twisted.python.failure import Failure
from twisted.words.protocols import irc
from zope.interface import implementer  # type: ignore[import-untyped]

from logbot.events import (
    FACT_CRAWLER_INDEX,
    GAP_DISCONNECTED,
    GAP_STOPPED,
    Kind,
    utcnow_from,
)
from logbot.irc import registration
from logbot.irc.base import Sink, log
from logbot.irc.channel_events import ChannelEvents
from logbot.irc.clock import Clock, DelayedCall
from logbot.irc.consent import Announcements, ConsentFilter
from logbot.irc.counts import NetworkCounts
from logbot.irc.failures import describe_failure
from logbot.irc.history import GapBook, History
from logbot.irc.joins import JOIN_FAILURES, Joins
from logbot.irc.keepalive import Keepalive
from logbot.irc.messages import MENTION_REPLY, MENTION_TEXT, WHISPER_REPLY, Messages
from logbot.irc.outbox import Outbox
from logbot.irc.ratelimit import ReplyBudget, SenderLimiter
from logbot.irc.regain import NickRegain
from logbot.irc.registration import Registration
from logbot.irc.roster import Roster
from logbot.irc.session import Session
from logbot.irc.wire import MAX_LINE_BYTES, check_encoding, split_message
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


@implementer(IHandshakeListener)
class LogBotProtocol(ChannelEvents, Messages, Session):
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
        consent = ConsentFilter(network, sink, self._roster)
        self._sink = consent
        # what the consent filter would pass unchanged goes here directly (see irc_PRIVMSG)
        self._unfiltered = consent.unfiltered
        self._downstream = consent.downstream
        self._fold = self._roster.fold
        self._folded_nick = self._fold(self.nickname)
        #: ISUPPORT, parsed by Twisted (defaults: a server that sends none)
        self.supported = irc.ServerSupportedFeatures()  # type: ignore[no-untyped-call]
        self._chantypes = frozenset()
        self._statusmsg = ""
        self._prefixes = ""
        self._read_isupport()
        # raw target -> channel name as recorded (small; cleared when membership changes)
        self._chan_cache = {}
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
        self._drop_reason = None
        self._marked_connected = False
        self._registered = False
        # topic from 332, waiting for 333 (who set it) or 366 (end of NAMES)
        self._topics = {}
        self._register_deadline = None
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
        self._gaps = factory.gaps if factory is not None else GapBook()
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

    # -- what the factory, metrics and tests read --------------------------------------

    @property
    def caps(self) -> set[str]:
        """The IRCv3 capabilities the server acknowledged."""
        return self._registration.caps

    @property
    def authenticated(self) -> bool:
        """SASL succeeded on this connection."""
        return self._registration.authenticated

    @property
    def registered(self) -> bool:
        """The server welcomed the bot (001) on this connection."""
        return self._registered

    def is_joined(self, channel: str) -> bool:
        """The bot is in ``channel`` now (compared under the server's casemapping)."""
        return self._roster.is_joined(channel)

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
        batches = self._history.batches  # the open ones (a BATCH line may open one)
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
                tags, prefix, command, params = split_message(line)
            except ValueError:
                counts.unparsed += 1
                log.debug("{network}: ignoring a malformed line", network=self._network_name)
                continue
            self._tags = tags
            if tags and batches and "batch=" in tags and self._history.owns(tags):
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

    def _reply_sent(self, channel: str, text: str, now: float) -> None:
        self._emit(
            channel, Kind.MESSAGE, self.nickname, text, own=True, times=(utcnow_from(now), None)
        )

    def _write_bytes(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)


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
