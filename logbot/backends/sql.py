"""The SQL backend: batched writes off the reactor, and nothing lost while the database is away.

``create(target, options)`` (entry point ``sql``): ``target`` is a SQLite path or a
SQLAlchemy URL (see :func:`logbot.storage.engine.make_engine`). It upgrades the schema
before returning (the bot does this before connecting); a bad URL, a missing driver or a
schema newer than this code raise :class:`~logbot.storage.engine.StorageError` (one line).
An unreachable database is not an error at start: events are held until it is back.

How events travel:

- ``write`` (reactor thread, never blocks): session markers (connected/disconnected) are
  skipped; network facts (``Kind.FACT``) are kept, latest per network and name, in the
  ``network_facts`` table (a small job in the writer's lane, tried each tick until
  stored); every other event gets a distinct time key
  (:class:`~logbot.storage.rows.KeyAllocator`) and waits in memory.
- One writer job at a time, on the service's shared thread pool (``BackendOptions.pool``;
  a backend built on its own makes its own pool), commits batches through
  :class:`~logbot.storage.writer.EventWriter`: a batch leaves as soon as 1,000 events
  wait or every 250 ms, whichever comes first, whenever the writer is free. While it is
  busy, events keep arriving and the next transaction takes all of them (group commit):
  under a flood, transactions grow until the writer keeps up, which is
  what makes the full-text index affordable. A crash (kill -9) loses what waits in memory:
  at most one batch window.
- PostgreSQL: when a whole memory bound (``MAX_MEMORY_ROWS``) waits behind the running
  batch, those rows start at once on a second connection (the follower) instead of
  reading IRC being paused. The follower commits only after the running batch has
  committed (:class:`~logbot.storage.writer.CommitGate`), and not at all if that one
  fails or has not ended within 5 s (the follower then rolls back and is written again
  after it): rows still become visible in key order, while the server works on two
  batches at a time. A follower whose batch before it failed, stalled or was given up on is
  forgotten: its rows go back with that batch's (to memory or the spool), and a commit
  it made after all is skipped on replay. Under such a flood a crash loses up to two
  batches. SQLite has one writer (it takes one write transaction at a time).
- Database down or failing (unreachable, restarted, disk full, locked past the busy
  timeout): one warning line, then every tick (250 ms) the waiting events are appended to
  a spool file (:mod:`logbot.backends.spool`) and fsynced, so memory stays small and a
  crash during the outage loses no more than when the database is up. The writer retries
  with exponential backoff (0.5 s doubling to 5 s). When a write succeeds again, one info
  line; the spool is replayed oldest first, then the events that arrived meanwhile.
- Replays are exactly-once: a spooled event carries its key, and the writer skips a row
  whose key already holds the same event (see :mod:`logbot.storage.writer`). A segment is
  deleted only after it is committed; a crash in between replays it again harmlessly.
  A spool left by a crashed process is replayed at the next start.
- The spool's disk refuses too (full, read-only): one error line; the events stay in
  memory, spool appends are retried with the same backoff (never once per event), and
  past ``MAX_MEMORY_ROWS`` the service is asked to stop reading IRC (Throttling) until the
  spool or the database takes events again (one info line).
- A write that has not returned within ``COMMIT_TIMEOUT`` (a connection that died
  silently): its events and newer ones go to the spool (state ``STALLED``, one warning)
  until the job ends. If it commits after all, the replay skips the copies; if it fails,
  the replay writes them.
- Tables gone (a database recreated under the bot): the writer creates the schema again
  once (one error line); if it cannot, one error line and the spool, as for an outage.
- The writer's moves are the states of :class:`State`, listed in :data:`TRANSITIONS`.
- A row the database refuses outright (it cannot happen with rows made by
  ``event_row``, but a database may have stricter limits) is cleaned and retried alone;
  if still refused it goes to ``rejected.jsonl`` in the spool directory with an error line,
  so one bad row never blocks the rest.

``flush()`` fires when every event accepted so far is durable: committed, or (database
down) spooled and fsynced. ``close()`` flushes, waiting at most ``CLOSE_TIMEOUT`` seconds
for the database; past that the waiting events are spooled instead, then the writer stops.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from twisted.internet import defer, task, threads
from twisted.logger import Logger
from twisted.python.failure import Failure

from logbot.backends.base import (
    BackendHealth,
    BackendOptions,
    CommitObserver,
    make_thread_pool,
    stop_thread_pool,
)
from logbot.backends.spool import Spiller, Spool, replay_segment, spool_dir_for
from logbot.backends.spoolstat import SpoolUsage
from logbot.backends.sqlfacts import FactKeeper
from logbot.backends.sqllanes import Follower, Lane, Lanes
from logbot.backends.sqlstate import (
    BATCH_INTERVAL,
    BATCH_SIZE,
    BUSY,
    CLOSE_TIMEOUT,
    COMMIT_TIMEOUT,
    MAX_MEMORY_ROWS,
    MAX_PRESSURE_SECONDS,
    RETRY_FACTOR,
    RETRY_FIRST,
    RETRY_MAX,
    STATEMENT_TIMEOUT,
    TRANSITIONS,
    UP,
    State,
    health_problem,
)
from logbot.events import Event, Kind
from logbot.storage import gaps, migrate
from logbot.storage.engine import StorageError, display_target, make_engine, storage_errors
from logbot.storage.rows import KeyAllocator, Row, event_row, storable_time
from logbot.storage.writer import CommitGate, EventWriter, WriteFailed, WriteResult

log = Logger(namespace="logbot.backends.sql")

_SKIPPED = frozenset({Kind.CONNECTED, Kind.DISCONNECTED})


# once per event on the reactor thread: module constants, because looking up an Enum
# member on its class costs ~0.17 us on Python 3.11
_IDLE = State.IDLE
_CLOSED = State.CLOSED
_FACT = Kind.FACT


class SQLBackend:
    """A :class:`~logbot.backends.base.Backend` writing to SQLite or PostgreSQL."""

    def __init__(
        self,
        writer: EventWriter,
        options: BackendOptions,
        *,
        pool: Any,
        spool: Spool,
        name: str,
        own_pool: bool = False,
        up: bool = True,
        batch_size: int = BATCH_SIZE,
        interval: float = BATCH_INTERVAL,
        max_memory_rows: int = MAX_MEMORY_ROWS,
        close_timeout: float = CLOSE_TIMEOUT,
        commit_timeout: float = COMMIT_TIMEOUT,
        second_writer: EventWriter | None = None,
    ) -> None:
        self._writer = writer
        self._reactor = options.reactor
        self._pool = pool
        self._own_pool = own_pool
        self._spool = spool
        self.name = name
        self._batch_size = batch_size
        self._max_memory = max_memory_rows
        self._close_timeout = close_timeout
        self._commit_timeout = commit_timeout
        #: fires _stall when the running job takes longer than commit_timeout
        self._stall_timer: Any = None
        self._keys = KeyAllocator()

        self._buf: list[Row] = []
        self._inflight_rows: list[Row] = []  # memory rows in the running job
        #: the writer's state (see State and TRANSITIONS)
        self.state = State.IDLE if up else State.WAITING
        #: the scheduled retry while WAITING
        self._retry: Any = None
        #: one job of this backend at a time, whatever the pool shares it with: the
        #: EventWriter is used from one thread at a time
        self._lane = threading.Lock()
        #: with a second writer (PostgreSQL): memory writes alternate between two lanes,
        #: the first being the one above, so that a follower can run beside the current job
        self._lanes: Lanes | None = None
        if second_writer is not None:
            self._lanes = Lanes(writer, self._lane, second_writer, reactor=self._reactor, pool=pool)
        #: the running memory write's lane and gate (None: no follower may start)
        self._job_lane: Lane | None = None
        self._gate: CommitGate | None = None
        #: the batch started behind the running job, and a follower that has become the
        #: running job before its thread returned
        self._follower: Follower | None = None
        self._promoted: Follower | None = None
        # a follower starts where reading IRC would otherwise pause: a whole memory bound
        # waiting behind the running job (smaller batches cost more than they hide)
        self._follow_at = max_memory_rows
        self._backoff = RETRY_FIRST
        self._accepted = 0
        # rows of this process committed to the database (in acceptance order)
        self._committed_own = 0
        self._waiters: list[tuple[int, defer.Deferred[None]]] = []
        self._closing: defer.Deferred[None] | None = None
        self._warned_closed = False
        #: appends to the spool, backing off while its disk refuses (full, read-only)
        self._spiller = Spiller(
            spool, name, max_memory_rows, (RETRY_FIRST, RETRY_FACTOR, RETRY_MAX)
        )
        #: the service's callback to pause/resume reading IRC (see Throttling)
        self._pressure: Callable[[bool], None] | None = None
        self._pressed_at: float | None = None
        # after a pause that lasted too long, no new pause until the writer proves it moves
        self._press_blocked = False

        self._commit_observer: CommitObserver | None = None
        self._spool_usage = SpoolUsage(spool)
        self._job_started = 0.0
        self._facts = FactKeeper(
            name,
            lambda facts: threads.deferToThreadPool(
                self._reactor, self._pool, self._in_lane, self._writer.store_facts, facts
            ),
        )

        #: counters for tests and the benchmark
        self.committed = 0
        self.duplicates = 0
        self.rekeyed = 0
        self.rejected = 0

        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = self._reactor
        self._loop.start(interval, now=False)
        if not up:
            # unreachable at start: try again as after any failed write
            self._schedule_retry()

    # -- the Backend protocol -----------------------------------------------------------

    def write(self, event: Event) -> None:
        if event.kind is _FACT:
            self._facts.put(event.network, event.target, event.text)
            self._store_facts()
            return
        if event.kind in _SKIPPED:
            return
        if self.state is _CLOSED:
            if not self._warned_closed:
                self._warned_closed = True
                log.warn("{db}: event after close() dropped", db=self.name)
            return
        self._buf.append(event_row(event, self._keys.key_for(storable_time(event))))
        self._accepted += 1
        waiting = len(self._buf)
        if waiting >= self._batch_size:
            if self.state is _IDLE:
                self._pump(force=True)
            elif waiting >= self._follow_at and self._gate is not None and self._follower is None:
                self._follow()
        if len(self._buf) >= self._max_memory:
            # A writer that is up but behind: ask the service to stop reading IRC so TCP
            # slows the sender, rather than a JSON-and-fsync round trip through the spool
            # for every later event. Events already read keep coming until the pause
            # takes effect; twice the bound, or a pause that lasts, falls back to the spool.
            if self._can_press() and len(self._buf) < 2 * self._max_memory:
                self._press()
            else:
                self._spill_if_needed()

    def set_pressure_handler(self, handler: Callable[[bool], None]) -> None:
        """Throttling: ``handler(True)`` pauses reading IRC, ``handler(False)`` resumes."""
        self._pressure = handler

    def flush(self) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        target = self._accepted
        if self._flushed(target):
            d.callback(None)
            return d
        self._waiters.append((target, d))
        if self.state in UP:
            self._pump(force=True)
        else:
            self._spill()
        return d

    def last_event_before(
        self, network: str, channel: str, before: datetime
    ) -> defer.Deferred[datetime | None]:
        """Resumable: asked on the writer thread, so it never blocks the reactor; a
        database that is down answers None (the bot then fetches no history for it)."""
        if self.state not in UP:
            return defer.succeed(None)

        def ask() -> datetime | None:
            with storage_errors(self._writer.engine), self._writer.engine.connect() as conn:
                return gaps.last_event_before(conn, network, channel, before)

        d = threads.deferToThreadPool(self._reactor, self._pool, ask)

        def failed(failure: Failure) -> None:
            log.debug(
                "{db}: cannot tell where {channel} stopped: {error}",
                db=self.name,
                channel=channel,
                error=str(failure.value),
            )
            return

        d.addErrback(failed)
        return d

    def reopen(self) -> None:
        """Nothing to reopen: database connections are not files logrotate moves."""

    # -- Observable -----------------------------------------------------------------------

    def set_commit_observer(self, observer: CommitObserver) -> None:
        self._commit_observer = observer

    def health(self) -> BackendHealth:
        spooled, spool_bytes = self._spool_usage()
        waiting = self.pending
        problem = None
        problem = health_problem(self.state, spooled, waiting, self._max_memory)
        return BackendHealth(self.name, waiting, spooled, spool_bytes, self.state in UP, problem)

    def close(self) -> defer.Deferred[None]:
        if self._closing is not None:
            return self._chain(self._closing)
        self._closing = defer.Deferred()
        flushed = self.flush()
        timer = self._reactor.callLater(self._close_timeout, self._give_up)

        def done(_: object) -> None:
            if (
                self._buf or self._inflight_rows or self._follower
            ) and self.state is not State.GAVE_UP:
                # events that arrived while closing (the QUIT exchange): those too
                self.flush().addBoth(done)
                return
            if timer.active():
                timer.cancel()
            self._finish_close()

        flushed.addBoth(done)
        return self._chain(self._closing)

    # -- internals ----------------------------------------------------------------------

    def _to(self, new: State) -> None:
        old = self.state
        if new not in TRANSITIONS[old]:
            log.error(
                "{db}: unexpected writer state change {old} -> {new}",
                db=self.name,
                old=old.value,
                new=new.value,
            )
        self.state = new

    @staticmethod
    def _chain(d: defer.Deferred[None]) -> defer.Deferred[None]:
        out: defer.Deferred[None] = defer.Deferred()

        def fire(result: object) -> object:
            out.callback(None)
            return result

        d.addBoth(fire)
        return out

    @property
    def pending(self) -> int:
        """Events accepted but not yet durable (memory only: spooled ones are durable)."""
        return self._accepted - self._durable()

    def _durable(self) -> int:
        following = len(self._follower.rows) if self._follower is not None else 0
        return self._accepted - len(self._buf) - len(self._inflight_rows) - following

    def _flushed(self, target: int) -> bool:
        """Committed; or, while the database is away (or given up on), safe in the spool."""
        if self._committed_own >= target:
            return True
        return self.state not in UP and self._durable() >= target

    def _check_waiters(self) -> None:
        if not self._waiters:
            return
        ready = [d for target, d in self._waiters if self._flushed(target)]
        self._waiters = [(t, d) for t, d in self._waiters if not self._flushed(t)]
        for d in ready:
            d.callback(None)

    def _can_press(self) -> bool:
        if self._pressure is None or self.state not in UP:
            return False
        if self._press_blocked:
            return False
        return self._pressed_at is None or (
            self._reactor.seconds() - self._pressed_at < MAX_PRESSURE_SECONDS
        )

    def _press(self) -> None:
        if self._pressed_at is None and self._pressure is not None:
            self._pressed_at = self._reactor.seconds()
            self._pressure(True)

    def _release(self, *, force: bool = False) -> None:
        if not force and self._spiller.failing and len(self._buf) >= self._max_memory // 4:
            return  # nowhere to keep more: reading stays paused
        if self._pressed_at is not None and self._pressure is not None:
            self._pressed_at = None
            self._pressure(False)

    def _release_if_caught_up(self) -> None:
        if self._pressed_at is not None and len(self._buf) < self._max_memory // 4:
            self._release()

    def _tick(self) -> None:
        if self._pressed_at is not None and not self._can_press():
            # down, or behind for too long: the spool takes the backlog, reading resumes
            self._press_blocked = True
            self._spill()
            self._release()
        if self.state in UP:
            self._pump(force=True)
            self._store_facts()
        else:
            self._spill()
        self._release_if_caught_up()

    def _store_facts(self) -> None:
        if self.state in UP:
            self._facts.store()

    def _spill(self) -> None:
        """Move waiting events to the spool (database down, or memory full)."""
        if not self._buf:
            return
        rows, self._buf = self._buf, []
        taken = self._spiller.append(rows, self._reactor.seconds())
        if taken is None:
            # the spool's disk refuses too (or we back off): memory is the only place left
            self._buf = rows + self._buf
            self._hold()
            return
        if taken:
            self._release()  # the disk took events again after refusing
        self._check_waiters()

    def _hold(self) -> None:
        """Nothing can keep more events: past the bound, stop reading IRC."""
        if len(self._buf) >= self._max_memory:
            self._press()

    def _spill_if_needed(self) -> None:
        if len(self._buf) >= self._max_memory and self.state is not State.IDLE:
            self._spill()

    def _pump(self, *, force: bool = False) -> None:
        """Start the next job if the writer is free: spool segments first, then memory."""
        if self.state not in (State.IDLE, State.WAITING) or self._retry is not None:
            return
        # segments of this writer another one replayed are committed all the same
        self._committed_own += self._spool.replayed_elsewhere()
        sealed = self._spool.sealed()
        if not sealed and self._spool.has_open():
            # the database is back: what was spooled goes before anything newer
            self._spool.seal()
            sealed = self._spool.sealed()
        if sealed:
            self._run(self._writer_replay, sealed[0], memory=[])
            return
        if self._buf and (force or len(self._buf) >= self._batch_size):
            rows = self._buf[: self._max_memory]
            self._buf = self._buf[len(rows) :]
            lane = None
            if self._lanes is not None and self.state is State.IDLE:
                lane = self._lanes.for_job()
            self._run(self._writer_write, rows, memory=rows, lane=lane)

    def _run(
        self,
        job: Callable[..., WriteResult],
        arg: Any,
        *,
        memory: list[Row],
        lane: Lane | None = None,
    ) -> None:
        """Start a job; a memory write given a ``lane`` runs on that lane's writer and
        opens a gate a follower may commit behind (else ``job`` runs on the first)."""
        self._to(State.WRITING if self.state in UP else State.RETRYING)
        self._inflight_rows = memory
        self._job_started = self._reactor.seconds()
        self._stall_timer = self._reactor.callLater(self._commit_timeout, self._stall)
        if lane is None:
            self._job_lane = self._gate = None
            d = threads.deferToThreadPool(self._reactor, self._pool, self._in_lane, job, arg)
        else:
            assert self._lanes is not None
            self._job_lane, self._gate = lane, CommitGate()
            d = self._lanes.write(lane, arg, None, self._gate)
        d.addCallbacks(
            self._job_done,
            self._job_failed,
            callbackArgs=(arg, memory),
            errbackArgs=(job, arg, memory),
        )

    def _follow(self) -> None:
        """Start the next batch on the other lane while the current job runs: it commits
        only behind the current job (EventWriter.write's ``after``)."""
        if self._lanes is None or self._job_lane is None or self.state is not State.WRITING:
            return
        lane = self._lanes.beside(self._job_lane)
        if lane is None:
            return
        rows = self._buf[: self._max_memory]
        self._buf = self._buf[len(rows) :]
        follower = Follower(rows, lane, CommitGate())
        self._follower = follower
        d = self._lanes.write(lane, rows, self._gate, follower.gate)
        d.addBoth(self._follower_ended, follower)
        self._release_if_caught_up()

    def _follower_ended(self, outcome: Any, follower: Follower) -> None:
        if follower is self._follower:
            # still behind the running job: settled when that one is
            follower.outcome, follower.ended = outcome, True
        elif follower is self._promoted:
            self._promoted = None
            self._settle(follower.rows, outcome)
        # else forgotten: its rows went back with the batch before it, which it cannot
        # have been committed without (a commit it made after all is skipped on replay)

    def _settle(self, rows: list[Row], outcome: Any) -> None:
        if isinstance(outcome, Failure):
            self._job_failed(outcome, self._writer_write, rows, rows)
        else:
            self._job_done(outcome, rows, rows)

    def _promote(self) -> None:
        """The running job has committed: its follower becomes the running job."""
        follower, self._follower = self._follower, None
        assert follower is not None
        self._to(State.WRITING)
        self._inflight_rows = follower.rows
        self._job_started = self._reactor.seconds()
        self._stall_timer = self._reactor.callLater(self._commit_timeout, self._stall)
        self._job_lane, self._gate = follower.lane, follower.gate
        if follower.ended:
            self._settle(follower.rows, follower.outcome)
            return
        self._promoted = follower
        if len(self._buf) >= self._follow_at:
            self._follow()

    def _forget_follower(self) -> list[Row]:
        """No follower any more (its batch before failed, stalled or was given up on): its
        rows, to go back with that batch's."""
        follower, self._follower = self._follower, None
        self._gate = None
        return follower.rows if follower is not None else []

    # thread side: nothing here touches backend state

    def _in_lane(self, job: Callable[..., Any], *args: Any) -> Any:
        with self._lane:
            return job(*args)

    def _close_writers(self) -> None:
        self._writer.close()
        if self._lanes is not None:
            self._lanes.close_second()

    def _writer_write(self, rows: list[Row], salvage: bool = False) -> WriteResult:
        return self._writer.write(rows, salvage=salvage)

    def _writer_salvage(self, rows: list[Row]) -> WriteResult:
        return self._writer.write(rows, salvage=True)

    def _writer_replay(self, path: Path) -> WriteResult:
        return replay_segment(self._writer, path)

    # reactor side

    def _stall(self) -> None:
        """A job has not returned for commit_timeout: its events go to the spool meanwhile.

        The job keeps its thread until the connection fails or answers. If it commits after
        all, the spooled copies are skipped on replay (same key, same event); if it fails,
        they are what gets written. Either way each event is stored once.
        """
        self._stall_timer = None
        if self.state not in (State.WRITING, State.RETRYING):
            return
        was = self.state
        self._to(State.STALLED)
        if was is State.WRITING:
            log.warn(
                "{db}: the database has not answered for {t:.0f}s; holding events in the "
                "spool {dir} until it does",
                db=self.name,
                t=self._commit_timeout,
                dir=str(self._spool.directory),
            )
        rows, self._inflight_rows = self._inflight_rows, []
        self._buf = rows + self._forget_follower() + self._buf
        self._spill()
        self._release()
        self._check_waiters()

    def _job_ended(self) -> State:
        if self._stall_timer is not None:
            if self._stall_timer.active():
                self._stall_timer.cancel()
            self._stall_timer = None
        return self.state

    def _job_done(self, result: WriteResult, arg: Any, memory: list[Row]) -> None:
        was = self._job_ended()
        self._gate = None
        if was in BUSY:
            self._to(State.IDLE)
        self._press_blocked = False
        self._inflight_rows = []
        if self._commit_observer is not None:
            self._commit_observer(self._reactor.seconds() - self._job_started)
        if memory and was is State.STALLED:
            pass  # these rows went to the spool: counted when it is replayed
        elif memory:
            self._committed_own += len(memory)
        elif isinstance(arg, Path) and not arg.exists():
            # replayed (by this writer or, if the claim failed, by another one)
            self._committed_own += self._spool.own_rows.pop(arg, 0)
        self.committed += result.inserted
        self.duplicates += result.duplicates
        self.rekeyed += result.rekeyed
        if result.rejected:
            self._reject(result.rejected)
        if result.recreated:
            log.error(
                "{db}: the database's tables were gone; created them again (events written "
                "before are not in this database any more)",
                db=self.name,
            )
        if was in (State.RETRYING, State.STALLED):
            log.info("{db}: database is back; writing the events held meanwhile", db=self.name)
        self._backoff = RETRY_FIRST
        self._check_waiters()
        if self._follower is not None and self.state is State.IDLE:
            self._promote()
            self._release_if_caught_up()
            return
        if self.state is not State.IDLE:
            return
        more = self._spool.sealed() or len(self._buf) >= self._batch_size or self._waiters
        if more:
            self._pump(force=True)
        self._release_if_caught_up()

    def _job_failed(
        self, failure: Failure, job: Callable[..., WriteResult], arg: Any, memory: list[Row]
    ) -> None:
        was = self._job_ended()
        self._inflight_rows = []
        # a follower cannot commit behind a failed batch: its rows go back with these
        following = self._forget_follower()
        exc = failure.value
        if (
            isinstance(exc, WriteFailed)
            and not exc.transient
            and job == self._writer_write
            and was in (State.WRITING, State.RETRYING)
        ):
            # the rows themselves are refused: clean them, isolate any bad one
            self._buf = following + self._buf
            self._run(self._writer_salvage, arg, memory=memory)
            return
        if memory and was is not State.STALLED:
            # (a stalled job's rows are in the spool already)
            self._buf = memory + following + self._buf
        else:
            self._buf = following + self._buf
        message = exc.args[0] if isinstance(exc, WriteFailed) and exc.args else str(exc)
        if not isinstance(exc, WriteFailed | StorageError):
            log.failure("{db}: unexpected error in the writer", failure, db=self.name)
        if was in BUSY:
            self._to(State.WAITING)
        if was is State.WRITING and isinstance(exc, WriteFailed) and exc.schema:
            # not an outage that passes by itself: an operator has to look
            log.error(
                "{db}: the database's tables are gone ({error}); holding events in the "
                "spool {dir} and retrying",
                db=self.name,
                error=message,
                dir=str(self._spool.directory),
            )
        elif was is State.WRITING:
            log.warn(
                "{db}: database unavailable ({error}); holding events (spool: {dir}) and retrying",
                db=self.name,
                error=message,
                dir=str(self._spool.directory),
            )
        self._spill()
        self._release()
        if self.state is State.WAITING:
            self._schedule_retry()

    def _schedule_retry(self) -> None:
        self._retry = self._reactor.callLater(self._backoff, self._retry_now)
        self._backoff = min(self._backoff * RETRY_FACTOR, RETRY_MAX)

    def _retry_now(self) -> None:
        self._retry = None
        self._pump(force=True)
        if self.state is State.WAITING and self._retry is None:
            # nothing to write yet (unreachable at start, nothing logged since): try again
            # later, so that events arriving meanwhile are not left in the spool
            self._to(State.WAITING)
            self._schedule_retry()

    def _reject(self, rows: list[Row]) -> None:
        self.rejected += len(rows)
        self._spiller.reject(rows)

    def _give_up(self) -> None:
        """close() waited long enough: spool what the database has not taken."""
        self._to(State.GAVE_UP)
        if self._inflight_rows or self._follower is not None:
            # the running job may still commit them: a replay would then skip them
            rows, self._inflight_rows = self._inflight_rows, []
            self._buf = rows + self._forget_follower() + self._buf
        self._spill()
        log.warn(
            "{db}: database did not answer within {t:.0f}s at shutdown; remaining events "
            "are in the spool {dir}",
            db=self.name,
            t=self._close_timeout,
            dir=str(self._spool.directory),
        )
        self._check_waiters()

    def _finish_close(self) -> None:
        # a job still stuck holds the writer: closing it would wait for that job
        gave_up = self.state in (State.GAVE_UP, State.STALLED)
        self._to(State.CLOSED)
        self._job_ended()  # no stall to notice any more
        self._release(force=True)
        if self._loop.running:
            self._loop.stop()
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        with contextlib.suppress(OSError):
            self._spool.seal()
        closing = self._closing
        assert closing is not None
        if gave_up:
            closing.callback(None)
            return
        # in the lane: after a job still running (a spool replay) has finished
        d = threads.deferToThreadPool(self._reactor, self._pool, self._in_lane, self._close_writers)

        def stop(_: object) -> None:
            if self._own_pool:
                stop_thread_pool(self._pool)
            self._writer.engine.dispose()
            closing.callback(None)

        d.addBoth(stop)


def create(
    target: str,
    options: BackendOptions,
    *,
    pool: Any = None,
    spool_dir: Path | None = None,
) -> SQLBackend:
    """The ``sql`` backend for a SQLite path or a SQLAlchemy URL (see the module doc).

    ``pool`` replaces the thread pool of ``options`` (tests pass a synchronous one; the
    caller then starts and stops it); with neither, the backend makes its own.
    ``spool_dir`` replaces the spool directory.
    """
    engine = make_engine(target, file_mode=options.new_file_mode)
    name = display_target(engine)
    try:
        up = _startup_upgrade(engine, name)
    except BaseException:
        engine.dispose()
        raise
    spool = Spool(spool_dir if spool_dir is not None else spool_dir_for(name), name)
    leftover = spool.sealed()
    if leftover:
        log.info(
            "{db}: replaying {n} spool segment(s) left by an earlier run",
            db=name,
            n=len(leftover),
        )
    if pool is None:
        pool = options.pool
    own_pool = pool is None
    if pool is None:
        pool = make_thread_pool(options.reactor, name="logbot-sql-writer")
    second = None
    if engine.dialect.name == "postgresql":
        second = EventWriter(engine, upgrade=False, statement_timeout=STATEMENT_TIMEOUT)
    return SQLBackend(
        EventWriter(engine, upgrade=not up, statement_timeout=STATEMENT_TIMEOUT),
        options,
        pool=pool,
        spool=spool,
        name=name,
        own_pool=own_pool,
        up=up,
        second_writer=second,
    )


def _startup_upgrade(engine: sa.Engine, name: str) -> bool:
    """Upgrade the schema now; False (and a warning) if the database cannot be reached."""
    try:
        migrate.upgrade(engine)
    except migrate.SchemaError:
        raise
    except StorageError as exc:
        log.warn(
            "{db}: cannot reach the database at start ({error}); events will be held "
            "until it is back",
            db=name,
            error=str(exc),
        )
        return False
    return True
