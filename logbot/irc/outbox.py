"""What the bot says, paced: one outbox per connection, drained through a token bucket.

Three queues, in the order they go out: the newest PONG (only one ever waits), protocol
lines (JOIN, NICK, ISON ...; a line already waiting is not queued twice), then replies
to people (bounded: beyond ``max_replies`` waiting, a reply is dropped, since the queue
is the very flood it prevents). Before the server's welcome nothing is paced:
registration is a fixed handful of lines the server asked for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from logbot.irc.ratelimit import TokenBucket

if TYPE_CHECKING:
    from logbot.irc.clock import Clock, DelayedCall

#: A line goes out as at most this many bytes before its CRLF (RFC 1459's 512 in all).
MAX_SEND_BYTES = 510


def encode_line(line: str) -> bytes:
    """One line as wire bytes with its CRLF: line ends and NULs blanked, cut to fit."""
    if "\r" in line or "\n" in line or "\0" in line:
        line = line.replace("\r", " ").replace("\n", " ").replace("\0", " ")
    data = line.encode("utf-8", "replace")
    if len(data) > MAX_SEND_BYTES:
        data = data[:MAX_SEND_BYTES].decode("utf-8", "ignore").encode("utf-8")
    return data + b"\r\n"


class Outbox:
    """The queues and the bucket of one connection.

    ``write(data)`` puts bytes on the wire; ``sent_reply(channel, text, now)`` is told
    of each channel reply as it goes out (the protocol records it, ``own=True``).
    """

    def __init__(
        self,
        clock: Clock,
        write: Callable[[bytes], None],
        sent_reply: Callable[[str, str, float], None],
        interval: float = 2.0,
        burst: int = 5,
        max_replies: int = 10,
    ) -> None:
        self._clock = clock
        self._write = write
        self._sent_reply = sent_reply
        self.max_replies = max_replies
        self.bucket = TokenBucket(clock.seconds(), interval, burst)
        self.urgent: deque[str] = deque()
        self._pong: str | None = None
        self._replies: deque[tuple[str, str | None, str]] = deque()
        self._pump_call: DelayedCall | None = None
        #: lines may be written (the connection is up and no QUIT has been sent)
        self.open = False
        #: the server welcomed us: from now on every line waits for a token
        self.paced = False

    def send(self, line: str) -> None:
        """Queue a protocol line; it goes out as soon as the token bucket allows."""
        if line.startswith("PONG"):
            self._pong = line
        elif line not in self.urgent:
            self.urgent.append(line)
        self.pump()

    def reply(self, line: str, channel: str | None = None, text: str = "") -> bool:
        """Queue a reply; one to a channel is reported to ``sent_reply`` when it goes out.

        False: the queue was full and the reply is dropped.
        """
        if len(self._replies) >= self.max_replies:
            return False
        self._replies.append((line, channel, text))
        self.pump()
        return True

    def write_now(self, line: str) -> None:
        """Write ``line`` at once, ahead of the queues (QUIT)."""
        self._write(encode_line(line))

    def close(self) -> None:
        """Nothing more is said: the queues are emptied and the pending pump cancelled."""
        self.open = False
        self.urgent.clear()
        self._replies.clear()
        self._pong = None
        if self._pump_call is not None and self._pump_call.active():
            self._pump_call.cancel()
        self._pump_call = None

    def _next(self) -> tuple[str, str | None, str]:
        """The line to send next: the PONG, then protocol lines, then replies."""
        if self._pong is not None:
            line, self._pong = self._pong, None
            return line, None, ""
        if self.urgent:
            return self.urgent.popleft(), None, ""
        return self._replies.popleft()

    def pump(self) -> None:
        if not self.open:
            return
        if not self.paced:
            while self._pong is not None or self.urgent:
                self._write(encode_line(self._next()[0]))
        now = self._clock.seconds()
        bucket = self.bucket
        while (self._pong is not None or self.urgent or self._replies) and bucket.take(now):
            line, channel, text = self._next()
            self._write(encode_line(line))
            if channel is not None:
                self._sent_reply(channel, text, now)
        waiting = self._pong is not None or self.urgent or self._replies
        if waiting and self._pump_call is None:
            self._pump_call = self._clock.callLater(bucket.wait(now), self._pump_later)

    def _pump_later(self) -> None:
        self._pump_call = None
        self.pump()
