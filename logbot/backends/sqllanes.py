"""PostgreSQL's two writers: the lanes a batch of the SQL backend runs on.

:class:`~logbot.backends.sql.SQLBackend` decides when a batch starts and what becomes
of it; this module holds what two batches in flight need (see the backend's module doc):

- :class:`Lane`: an :class:`~logbot.storage.writer.EventWriter` (its own connection) and
  the lock that keeps it to one thread, with how many of its writes are still running.
- :class:`Lanes`: the two of them; which one a new job takes (the first, unless a
  forgotten follower still holds it), which one a follower takes (the other one, if
  free), and a memory write on a lane, run on the backend's pool, that opens its
  :class:`~logbot.storage.writer.CommitGate` when it ends.
- :class:`Follower`: the batch started behind the running one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, threads

from logbot.storage.rows import Row
from logbot.storage.writer import CommitGate, EventWriter, WriteResult

__all__ = ["Follower", "Lane", "Lanes"]


@dataclass(eq=False)
class Lane:
    """A writer (its own connection) and the lock that keeps its use to one thread."""

    writer: EventWriter
    lock: threading.Lock
    #: memory writes started on it whose thread has not returned (reactor side)
    busy: int = 0


@dataclass(eq=False)
class Follower:
    """The next batch, written on the other lane while the current job runs; it commits
    only behind the current job's gate."""

    rows: list[Row]
    lane: Lane
    gate: CommitGate
    #: set when its thread returned: a WriteResult, or the Failure
    outcome: Any = None
    ended: bool = False


class Lanes:
    """Two lanes; the first shares its writer and lock with the backend's other jobs."""

    def __init__(
        self,
        first: EventWriter,
        first_lock: threading.Lock,
        second: EventWriter,
        *,
        reactor: Any,
        pool: Any,
    ) -> None:
        self.first = Lane(first, first_lock)
        self.second = Lane(second, threading.Lock())
        self._reactor = reactor
        self._pool = pool

    def for_job(self) -> Lane:
        """The lane a new job runs on: one a forgotten follower may still hold is left
        to it."""
        return self.first if self.first.busy == 0 else self.second

    def beside(self, lane: Lane) -> Lane | None:
        """The lane a follower of a job on ``lane`` runs on; None while a forgotten
        follower still holds it."""
        other = self.second if lane is self.first else self.first
        return None if other.busy else other

    def write(
        self, lane: Lane, rows: list[Row], after: CommitGate | None, gate: CommitGate
    ) -> defer.Deferred[WriteResult]:
        """Write ``rows`` on ``lane``'s writer, committing behind ``after``; ``gate``
        opens when the write ends."""
        lane.busy += 1
        d = threads.deferToThreadPool(
            self._reactor, self._pool, _write_gated, lane, rows, after, gate
        )

        def free(result: object) -> object:
            lane.busy -= 1
            return result

        d.addBoth(free)
        return d

    def close_second(self) -> None:
        """Thread side, at shutdown: close the second writer, unless a forgotten follower
        stuck on a silent connection holds it (the shutdown must not wait for it)."""
        if self.second.lock.acquire(blocking=False):
            try:
                self.second.writer.close()
            finally:
                self.second.lock.release()


def _write_gated(
    lane: Lane, rows: list[Row], after: CommitGate | None, gate: CommitGate
) -> WriteResult:
    """Thread side: a memory write on ``lane``, behind ``after``; ``gate`` opens when it
    ends."""
    try:
        with lane.lock:
            result = lane.writer.write(rows, after=after)
    except BaseException:
        gate.open(False)
        raise
    gate.open(True)
    return result
