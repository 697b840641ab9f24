"""Channel events: who joins, parts, quits, is kicked or renamed, and topics and modes.

:class:`ChannelEvents` is a part of :class:`logbot.irc.protocol.LogBotProtocol`. Each
handler records an event only for a channel the bot is in, keeps the roster (so QUIT and
NICK are recorded in every channel the user shared with the bot), and for the bot's own
joins, parts and kicks marks where the channel's record has a hole (``gaps``), says the
channel's announcement, and rejoins after a kick or a refused JOIN (``joins``).
"""

from __future__ import annotations

from logbot.events import GAP_KICKED, GAP_PARTED, Kind
from logbot.irc.base import log
from logbot.irc.gaps import GapKeeping
from logbot.irc.joins import JOIN_FAILURES
from logbot.irc.wire import nick_of


class ChannelEvents(GapKeeping):
    """The ``irc_*`` handlers of channel events (see the module doc)."""

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
            since, first = self._gap_end(channel, times[0])
            self._emit(
                channel,
                Kind.JOIN,
                self.nickname,
                userhost=userhost,
                own=True,
                times=times,
                msgid=self._msgid(),
            )
            # paced by the outbox, and logged as the bot's own line once sent
            self._announcements.after_join(channel, self._clock.seconds(), self._outbox.reply)
            self._fill_gap(channel, since, first, times[0])
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
