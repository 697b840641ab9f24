"""Keepalive: a PING every ``interval``; nothing heard for ``timeout`` after it is death.

Any data from the server counts as a sign of life (the protocol counts what it reads),
so a busy connection is never dropped for a PONG stuck behind other lines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

if TYPE_CHECKING:
    from logbot.irc.clock import Clock, DelayedCall


class Keepalive:
    """``send`` queues a line; ``heard()`` counts what was read so far; ``paused()`` is
    true while the service holds reading back (then silence is ours, not the server's);
    ``dead(reason)`` ends the connection."""

    def __init__(
        self,
        clock: Clock,
        interval: float,
        timeout: float,
        send: Callable[[str], None],
        heard: Callable[[], int],
        paused: Callable[[], bool],
        dead: Callable[[str], None],
    ) -> None:
        self._clock = clock
        self.interval = interval
        self.timeout = timeout
        self._send = send
        self._heard = heard
        self._paused = paused
        self._dead = dead
        self._loop: LoopingCall | None = None
        self._deadline: DelayedCall | None = None

    def start(self) -> None:
        self.stop()
        loop = LoopingCall(self._ping)
        loop.clock = cast(IReactorTime, self._clock)
        self._loop = loop
        loop.start(self.interval, now=False)

    def stop(self) -> None:
        if self._loop is not None:
            if self._loop.running:
                self._loop.stop()
            self._loop = None
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def _ping(self) -> None:
        self._send("PING :logbot")
        if self._deadline is None:
            self._deadline = self._clock.callLater(self.timeout, self._check, self._heard())

    def _check(self, heard_at_ping: int) -> None:
        self._deadline = None
        if self._heard() == heard_at_ping and not self._paused():
            self._dead(f"no reply to PING within {self.timeout:g} s")
