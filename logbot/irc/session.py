"""The session with the server: registration, sign-on, ISUPPORT, PING, and the bot's nick.

:class:`Session` is a part of :class:`logbot.irc.protocol.LogBotProtocol`. It does what
the registration machine (``registration``: capabilities and SASL) asks, signs on at the
welcome (001: keepalive, NickServ fallback, joins, nick regain), reads ISUPPORT (005),
answers PING, remembers why the server closed the link, and finds another nick when the
configured one is taken or refused (``regain`` takes it back when it is free).
"""

from __future__ import annotations

from typing import Any

from logbot.irc.base import ProtocolBase, log
from logbot.irc.registration import Step


class Session(ProtocolBase):
    """Registration, sign-on, ISUPPORT and nick handlers (see the module doc)."""

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
