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


class ReplyBudget:
    """At most ``max_replies`` replies to one sender within ``window`` seconds.

    The per-minute :class:`SenderLimiter` slows a sender down; this stops one that keeps
    at it (another bot answering the answers) until the window has passed. Memory stays
    bounded: a sender is remembered only while one of its replies is inside the window,
    and the caller records only replies a :class:`SenderLimiter` allowed.
    """

    __slots__ = ("_replies", "max_replies", "window")

    def __init__(self, max_replies: int = 5, window: float = 3600.0) -> None:
        self.max_replies = max_replies
        self.window = window
        # sender key -> times of its replies within the window, oldest first
        self._replies: dict[str, list[float]] = {}

    def _expire(self, now: float) -> None:
        cutoff = now - self.window
        for sender in [s for s, times in self._replies.items() if times[-1] <= cutoff]:
            del self._replies[sender]

    def allows(self, sender: str, now: float) -> bool:
        """True if ``sender`` has had fewer than ``max_replies`` replies in the window."""
        self._expire(now)
        times = self._replies.get(sender)
        if times is None:
            return True
        cutoff = now - self.window
        recent = [t for t in times if t > cutoff]
        self._replies[sender] = recent
        return len(recent) < self.max_replies

    def record(self, sender: str, now: float) -> None:
        """A reply to ``sender`` went out (or was queued) at ``now``."""
        self._replies.setdefault(sender, []).append(now)
