"""What people say: channel messages, actions and notices, and the bot's few answers.

:class:`Messages` is a part of :class:`logbot.irc.protocol.LogBotProtocol`. A PRIVMSG or
NOTICE to a channel the bot is in is recorded (an ACTION as ``Kind.ACTION``; other CTCP
to a channel is no conversation). Whispers (never recorded) and mentions (recorded) are
answered, both rate-limited per sender and in all, never a NOTICE and never another
bot's answer (no reply loops); CTCP VERSION, PING and CLIENTINFO are answered by NOTICE.
"""

from __future__ import annotations

from logbot import __version__
from logbot.events import Kind, new_event
from logbot.irc.base import _UNSEEN, ProtocolBase, log
from logbot.irc.wire import MAX_SERVER_TIME_SKEW, nick_of, parse_server_time, time_and_msgid

WHISPER_REPLY = "It isn't nice to whisper! Play nice with the group."
MENTION_TEXT = "I am a log bot"
MENTION_REPLY = "{nick}: " + MENTION_TEXT


def _ctcp(text: str) -> tuple[str, str]:
    """``"\\x01ACTION waves\\x01"`` as ``("ACTION", "waves")``."""
    body = text[1:-1] if text.endswith("\x01") and len(text) > 1 else text[1:]
    tag, _, rest = body.partition(" ")
    return tag.upper(), rest


class Messages(ProtocolBase):
    """The ``irc_PRIVMSG`` and ``irc_NOTICE`` handlers and the replies (see the module doc)."""

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
        tags = self._tags
        received = None
        when = self._received_at
        msgid = ""
        if tags:
            stamp, msgid = time_and_msgid(tags)
            if stamp and self._registration.server_time:
                # _times() and plausible_server_time() spelled out: this runs for every
                # line a server stamps
                stamped = parse_server_time(stamp)
                if stamped is not None and abs(stamped - when) <= MAX_SERVER_TIME_SKEW:
                    when, received = stamped, when
                else:
                    when, received = self._times()  # which says why not
        event = new_event(
            when, self._network_name, channel, kind, nick, text, "", "", own, received, msgid
        )
        # consent: in a channel without opt-outs, a line that cannot start with a nolog
        # prefix passes the filter unchanged, so it need not be asked
        first = self._unfiltered.get(channel)
        if first is not None and text[:1] not in first:
            self._downstream(event)
        else:
            self._sink(event)
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
