"""What every part of the protocol shares: a connection's state and the small helpers.

:class:`ProtocolBase` is the ``IRCClient`` that :class:`logbot.irc.protocol.LogBotProtocol`
and its parts (``channel_events``, ``messages``, ``session``, ``gaps``) build on. It
declares the state ``LogBotProtocol.__init__`` sets up (so each part is type-checked
against it), the tunables, and the helpers every part uses: the event time of the current
line, recording an event, which channel a target names.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger
from twisted.words.protocols import irc

from logbot.events import Event, Kind, utcnow_from
from logbot.irc.clock import Clock, DelayedCall
from logbot.irc.consent import Announcements
from logbot.irc.counts import NetworkCounts
from logbot.irc.history import GapBook, History
from logbot.irc.joins import Joins
from logbot.irc.keepalive import Keepalive
from logbot.irc.outbox import Outbox
from logbot.irc.ratelimit import ReplyBudget, SenderLimiter
from logbot.irc.regain import NickRegain
from logbot.irc.registration import Registration
from logbot.irc.roster import Roster
from logbot.irc.wire import msgid_of, plausible_server_time, tag_value
from logbot.settings import NetworkConfig

if TYPE_CHECKING:
    from logbot.irc.factory import LogBotFactory

log = Logger(namespace="logbot.irc")

# Twisted's IRCClient is untyped (its class attributes read as None to mypy): subclass
# it through Any.
_IRCClient: Any = irc.IRCClient

Sink = Callable[[Event], None]

_UNSEEN = "\0unseen"  # a cache miss, distinct from None (a private target)


class ProtocolBase(_IRCClient):  # type: ignore[misc]
    """The state of one connection and the helpers its parts share (see the module doc)."""

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

    # The state, set up by LogBotProtocol.__init__ (which says what each is for).
    network: NetworkConfig
    factory: LogBotFactory | None
    nickname: str
    supported: Any
    counts: NetworkCounts
    _sink: Sink
    _unfiltered: dict[str, frozenset[str]]
    _downstream: Sink
    _announcements: Announcements
    _clock: Clock
    _fallback: str
    _network_name: str
    _roster: Roster
    _fold: Callable[[str], str]
    _folded_nick: str
    _chantypes: frozenset[str]
    _statusmsg: str
    _prefixes: str
    _chan_cache: dict[str, str | None]
    _tags: str
    _command: str
    _received_at: datetime
    _stopped: bool
    _lost: bool
    _quitting: bool
    _drop_reason: str | None
    _marked_connected: bool
    _registered: bool
    _topics: dict[str, tuple[str, str]]
    _register_deadline: DelayedCall | None
    _outbox: Outbox
    _keepalive: Keepalive
    _regain: NickRegain
    _joins: Joins
    _gaps: GapBook
    _history: History
    _whispers: SenderLimiter
    _ctcp_limit: SenderLimiter
    _mentions: SenderLimiter
    _mention_budget: ReplyBudget
    _secrets_allowed: bool
    _registration: Registration

    if TYPE_CHECKING:
        # LogBotProtocol's, used by the parts

        def _mark_connected(self) -> None: ...
        def _refuse(self, reason: str) -> None: ...
        def sendLine(self, line: str) -> None: ...

    # -- small helpers ---------------------------------------------------------------

    def _label(self) -> str:
        if self.factory is not None:
            return str(self.factory.network_name)
        return self.network.name or self.network.server

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
        return msgid_of(self._tags) if self._tags else ""

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

    def _try_regain(self) -> None:
        if self._registered:
            self._regain.attempt()

    def _reply(self, line: str, channel: str | None = None, text: str = "") -> None:
        """Queue a reply; a reply to a channel is recorded (own=True) when it is sent."""
        self._outbox.reply(line, channel, text)
