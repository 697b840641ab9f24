"""Limits on what the bot says, so nobody can make it flood: pure, time passed in."""

from __future__ import annotations


class SenderLimiter:
    """At most one reply per ``interval`` seconds to each sender, ``global_max`` in all.

    Memory stays bounded by ``global_max``: only senders that were answered are
    remembered, and only for ``interval`` seconds.
    """

    __slots__ = ("_answered", "global_max", "interval")

    def __init__(self, interval: float = 60.0, global_max: int = 10) -> None:
        self.interval = interval
        self.global_max = global_max
        # sender key -> when answered, in answer order (so expiry trims from the front)
        self._answered: dict[str, float] = {}

    def allow(self, sender: str, now: float) -> bool:
        """True (and remembered) if ``sender`` may be answered at ``now``."""
        answered = self._answered
        cutoff = now - self.interval
        while answered:
            first = next(iter(answered))
            if answered[first] > cutoff:
                break
            del answered[first]
        if sender in answered or len(answered) >= self.global_max:
            return False
        answered[sender] = now
        return True


class TokenBucket:
    """``burst`` lines at once, then one line every ``interval`` seconds.

    The defaults are RFC 1459's flood rule as servers apply it: each line costs two
    seconds and a client may run ten seconds ahead before the server drops it.
    """

    __slots__ = ("_stamp", "burst", "interval", "tokens")

    def __init__(self, now: float, interval: float = 2.0, burst: int = 5) -> None:
        self.interval = interval
        self.burst = float(burst)
        self.tokens = float(burst)
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self.tokens = min(self.burst, self.tokens + (now - self._stamp) / self.interval)
        self._stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self._refill(now)
        # a hair of slack so that waiting exactly wait() seconds always earns the token
        if self.tokens >= 1.0 - 1e-9:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds until the next token is there (0 if one is there now)."""
        self._refill(now)
        return max(0.0, (1.0 - self.tokens) * self.interval)
