"""Joining the configured channels: on sign-on, after a kick, and again after a refusal.

A refused JOIN (471 full, 474 banned ...) is retried after ``retry_initial`` seconds,
doubling up to ``retry_max``; a kick is followed by a rejoin after ``kick_delay``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from logbot.irc.cap import join_lines
from logbot.settings import ChannelConfig

if TYPE_CHECKING:
    from logbot.irc.clock import Clock, DelayedCall

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


class Joins:
    """The configured channels of one connection and the joins still to make.

    ``send`` queues a line; ``fold`` folds a channel name under the current casemapping;
    ``is_joined(channel)`` says whether the bot is in it now.
    """

    def __init__(
        self,
        channels: tuple[ChannelConfig, ...],
        clock: Clock,
        send: Callable[[str], None],
        fold: Callable[[str], str],
        is_joined: Callable[[str], bool],
        retry_initial: float,
        retry_max: float,
    ) -> None:
        self._channels = channels
        self._clock = clock
        self._send = send
        self._fold = fold
        self._is_joined = is_joined
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.configured: dict[str, ChannelConfig] = {}
        self._rejoins: dict[str, DelayedCall] = {}
        self._delays: dict[str, float] = {}
        #: no more joins (the connection is gone)
        self.closed = False
        self.reindex()

    def reindex(self) -> None:
        """Fold the configured names again (the server announced its casemapping)."""
        self.configured = {self._fold(c.name): c for c in self._channels}

    def is_configured(self, channel: str) -> bool:
        return self._fold(channel) in self.configured

    def join_all(self) -> None:
        """Signed on: JOIN every configured channel, several per line."""
        for line in join_lines((c.name, c.key) for c in self._channels):
            self._send(line)

    def join_one(self, channel: str) -> None:
        key = self._fold(channel)
        self._rejoins.pop(key, None)
        config = self.configured.get(key)
        if config is None or self.closed or self._is_joined(channel):
            return
        self._send(f"JOIN {config.name} {config.key}" if config.key else f"JOIN {config.name}")

    def schedule(self, channel: str, delay: float) -> None:
        """JOIN ``channel`` after ``delay`` seconds (unless one is already scheduled)."""
        key = self._fold(channel)
        pending = self._rejoins.get(key)
        if pending is not None and pending.active():
            return
        self._rejoins[key] = self._clock.callLater(delay, self.join_one, channel)

    def refused(self, channel: str) -> float | None:
        """A JOIN of ``channel`` was refused: the delay before the retry now scheduled,
        None when there is nothing to retry (not configured, or in it anyway)."""
        key = self._fold(channel)
        if key not in self.configured or self._is_joined(channel):
            return None
        delay = self._delays.get(key, self.retry_initial)
        self._delays[key] = min(delay * 2, self.retry_max)
        self.schedule(channel, delay)
        return delay

    def joined(self, channel: str) -> None:
        """In: the next refusal of this channel starts from the shortest delay again."""
        self._delays.pop(self._fold(channel), None)

    def close(self) -> None:
        self.closed = True
        for call in self._rejoins.values():
            if call.active():
                call.cancel()
        self._rejoins.clear()
