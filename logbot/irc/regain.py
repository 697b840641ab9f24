"""Taking the configured nick back: running as ``nick^``, watch for ``nick`` to be free.

With ISUPPORT ``MONITOR`` the server says when it goes offline (731); without, an
``ISON`` every ``poll_interval`` asks. A QUIT or NICK of the holder is a hint too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from logbot.irc.wire import nick_of

if TYPE_CHECKING:
    from logbot.irc.clock import Clock


class NickRegain:
    """``send`` queues a line; ``fold`` folds a name under the current casemapping;
    ``current()`` is the nick the bot has now."""

    def __init__(
        self,
        wanted: str,
        clock: Clock,
        send: Callable[[str], None],
        fold: Callable[[str], str],
        current: Callable[[], str],
        poll_interval: float,
    ) -> None:
        self.wanted = wanted
        self._clock = clock
        self._send = send
        self._fold = fold
        self._current = current
        self.poll_interval = poll_interval
        self._loop: LoopingCall | None = None
        self._monitoring = False

    def is_wanted(self, nick: str) -> bool:
        """``nick`` is the configured nick (under the casemapping)."""
        return self._fold(nick) == self._fold(self.wanted)

    def start(self, monitor: bool) -> None:
        """Signed on: if not running as the wanted nick, watch for it."""
        if self.is_wanted(self._current()):
            return
        if monitor:
            self._monitoring = True
            self._send(f"MONITOR + {self.wanted}")
        else:
            self._start_poll()

    def _start_poll(self) -> None:
        if self._loop is None:
            loop = LoopingCall(self._send, f"ISON {self.wanted}")
            loop.clock = cast(IReactorTime, self._clock)
            self._loop = loop
            loop.start(self.poll_interval, now=True)

    def stop(self, send: bool = True) -> None:
        if self._loop is not None:
            if self._loop.running:
                self._loop.stop()
            self._loop = None
        if self._monitoring:
            self._monitoring = False
            if send:
                self._send(f"MONITOR - {self.wanted}")

    def attempt(self) -> None:
        """Ask for the wanted nick (the caller knows the bot is registered)."""
        if not self.is_wanted(self._current()):
            self._send(f"NICK {self.wanted}")

    def ison(self, params: list[str]) -> bool:
        """303: True if the wanted nick is free (worth an attempt)."""
        online = {self._fold(n) for n in params[-1].split()} if len(params) > 1 else set()
        return self._fold(self.wanted) not in online

    def offline(self, params: list[str]) -> bool:
        """731 (MONITOR: these went offline): True if the wanted nick is among them."""
        if not params:
            return False
        wanted = self._fold(self.wanted)
        return any(self._fold(nick_of(t)) == wanted for t in params[-1].split(","))

    def monitor_full(self) -> None:
        """734: the server's MONITOR list is full; poll instead."""
        self._monitoring = False
        self._start_poll()
