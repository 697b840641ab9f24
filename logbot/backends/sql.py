"""The SQL backend: batched writes off the reactor, and nothing lost while the database is away.

``create(target, options)`` (entry point ``sql``): ``target`` is a SQLite path or a
SQLAlchemy URL (see :func:`logbot.storage.engine.make_engine`). It upgrades the schema
before returning (the bot does this before connecting); a bad URL, a missing driver or a
schema newer than this code raise :class:`~logbot.storage.engine.StorageError` (one line).
An unreachable database is not an error at start: events are held until it is back.

How events travel:

- ``write`` (reactor thread, never blocks): session markers (connected/disconnected) are
  skipped; every other event gets a distinct time key
  (:class:`~logbot.storage.writer.KeyAllocator`) and waits in memory.
- One writer thread (a one-thread pool started and stopped with the reactor) commits
  batches through :class:`~logbot.storage.writer.EventWriter`: a batch leaves as soon as
  1,000 events wait or every 250 ms, whichever comes first, whenever the writer is free.
  While it is busy, events keep arriving and the next transaction takes all of them
  (group commit): under a flood, transactions grow until the writer keeps up, which is
  what makes the full-text index affordable. A crash (kill -9) loses what waits in memory:
  at most one batch window.
- Database down or failing (unreachable, restarted, disk full, locked past the busy
  timeout): one warning line, then every tick (250 ms) the waiting events are appended to
  a spool file and fsynced, so memory stays small and a crash during the outage loses
  no more than when the database is up. The writer retries with exponential backoff
  (0.5 s doubling to 5 s). When a write succeeds again, one info line; the spool is
  replayed oldest first, then the events that arrived meanwhile.
- Replays are exactly-once: a spooled event carries its key, and the writer skips a row
  whose key already holds the same event (see :mod:`logbot.storage.writer`). A segment is
  deleted only after it is committed; a crash in between replays it again harmlessly.
  A spool left by a crashed process is replayed at the next start.
- A row the database refuses outright (it cannot happen with rows made by
  ``event_row``, but a database may have stricter limits) is cleaned and retried alone;
  if still refused it goes to ``rejected.jsonl`` in the spool directory with an error line,
  so one bad row never blocks the rest.

The spool lives in ``$XDG_STATE_HOME/logbot/spool/<digest>/`` (platformdirs
``user_state_path("logbot")``; ``~/.local/state/logbot/spool/...`` by default), one
directory per database (``<digest>`` hashes the database name; ``target.txt`` inside names
it, password hidden). Segments are JSON lines, one row per line
(:data:`~logbot.storage.writer.Row` as an array), named so that sorting by name is
oldest first.

``flush()`` fires when every event accepted so far is durable: committed, or (database
down) spooled and fsynced. ``close()`` flushes, waiting at most ``CLOSE_TIMEOUT`` seconds
for the database; past that the waiting events are spooled instead, then the writer stops.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from twisted.internet import defer, task, threads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from logbot.backends.base import BackendOptions
from logbot.events import Event, Kind
from logbot.storage import gaps, migrate
from logbot.storage.engine import StorageError, display_target, make_engine, storage_errors
from logbot.storage.writer import (
    OLD_ROW_FIELDS,
    ROW_FIELDS,
    EventWriter,
    KeyAllocator,
    Row,
    WriteFailed,
    WriteResult,
    event_row,
    storable_time,
    upgrade_row,
)

log = Logger(namespace="logbot.backends.sql")

#: a batch leaves when this many events wait (or at the next tick)
BATCH_SIZE = 1_000
#: seconds between ticks: the longest an event waits before its batch leaves
BATCH_INTERVAL = 0.25
#: events held in memory before they go to the spool even while the database is up
#: (a writer that cannot keep up); also the largest transaction. A waiting event costs
#: about 1 KB with everything around it: this bound keeps the bot under 100 MB in a flood.
MAX_MEMORY_ROWS = 8_000
#: rows per transaction when replaying a spool segment
REPLAY_CHUNK = 5_000
#: a spool segment is closed (and becomes replayable) after this many rows
SEGMENT_ROWS = 5_000
#: retry backoff after a failed write: first delay, factor, cap (seconds)
RETRY_FIRST = 0.5
RETRY_FACTOR = 2.0
RETRY_MAX = 5.0
#: seconds close() waits for the database before spooling what is left
CLOSE_TIMEOUT = 30.0
#: longest the service may stop reading IRC for a writer that is up but behind; past it
#: the waiting events go to the spool and reading resumes (a server's send queue is finite)
MAX_PRESSURE_SECONDS = 5.0

_SKIPPED = frozenset({Kind.CONNECTED, Kind.DISCONNECTED})


def spool_dir_for(target: str) -> Path:
    """The spool directory for a database, named as :func:`display_target` shows it."""
    digest = hashlib.sha256(target.encode("utf-8")).hexdigest()[:16]
    return platformdirs.user_state_path("logbot") / "spool" / digest


class Spool:
    """Append-only JSON-lines segments in one directory, replayed oldest first.

    The reactor thread appends and seals; the writer thread reads and deletes sealed
    segments. Only the open segment is ever appended to, and it is never read until
    sealed, so the two threads never touch the same file at the same time.
    """

    def __init__(self, directory: Path, target_name: str = "") -> None:
        self.directory = directory
        #: the database this spool belongs to, written to target.txt for operators
        self.target_name = target_name
        self._open: tuple[Path, int] | None = None  # (path, fd)
        self._open_rows = 0
        self._counter = itertools.count()
        self.rows_written = 0
        #: rows this process appended, per segment not yet replayed (orphans hold none)
        self.own_rows: dict[Path, int] = {}
        # False once a listing found nothing to replay and we have appended nothing since:
        # spares a directory listing after every commit
        self._maybe_sealed = True

    def _ensure_dir(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        note = self.directory / "target.txt"
        if self.target_name and not note.exists():
            note.write_text(self.target_name + "\n", encoding="utf-8")

    def sealed(self) -> list[Path]:
        """Segments ready to replay, oldest first."""
        if not self._maybe_sealed:
            return []
        try:
            names = sorted(p for p in self.directory.glob("*.jsonl") if p.name != "rejected.jsonl")
        except OSError:
            names = []
        current = self._open[0] if self._open else None
        found = [p for p in names if p != current]
        if not found and current is None:
            self._maybe_sealed = False
        return found

    def has_open(self) -> bool:
        return self._open is not None

    def append(self, rows: Sequence[Row]) -> None:
        """Add rows to the open segment and fsync; raises OSError when the disk refuses."""
        if not rows:
            return
        if self._open is None:
            self._ensure_dir()
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._counter):06d}.jsonl"
            path = self.directory / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._open = (path, fd)
            self._open_rows = 0
        self._maybe_sealed = True
        path, fd = self._open
        data = "".join(
            json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows
        )
        payload = data.encode("utf-8")
        written = 0
        while written < len(payload):
            written += os.write(fd, payload[written:])
        os.fsync(fd)
        self._open_rows += len(rows)
        self.rows_written += len(rows)
        self.own_rows[path] = self.own_rows.get(path, 0) + len(rows)
        if self._open_rows >= SEGMENT_ROWS:
            self.seal()

    def seal(self) -> None:
        """Close the open segment: from now on it is replayable."""
        if self._open is not None:
            _path, fd = self._open
            self._open = None
            os.close(fd)

    @staticmethod
    def read(path: Path) -> list[Row]:
        """The rows of a segment (writer thread). A torn last line (crash) is ignored."""
        rows: list[Row] = []
        with path.open("rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break
                try:
                    item = json.loads(line)
                except ValueError:
                    log.warn("spool {path}: skipping an unreadable line", path=str(path))
                    continue
                if isinstance(item, list) and len(item) in (ROW_FIELDS, OLD_ROW_FIELDS):
                    rows.append(upgrade_row(item))
        return rows


def _daemon_thread(*args: Any, **kwargs: Any) -> threading.Thread:
    # a writer stuck on a dead database connection must not keep the process alive
    # after close() gave up on it (its events are spooled by then)
    return threading.Thread(*args, daemon=True, **kwargs)


def make_writer_pool() -> ThreadPool:
    """The one-thread pool the writer runs on."""
    pool = ThreadPool(minthreads=1, maxthreads=1, name="logbot-sql-writer")
    pool.threadFactory = _daemon_thread  # type: ignore[assignment]
    return pool


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
        self._keys = KeyAllocator()

        self._buf: list[Row] = []
        self._inflight_rows: list[Row] = []  # memory rows in the running job
        self._busy = False
        self._up = up
        self._retry: Any = None
        self._backoff = RETRY_FIRST
        self._accepted = 0
        # rows of this process committed to the database (in acceptance order)
        self._committed_own = 0
        self._waiters: list[tuple[int, defer.Deferred[None]]] = []
        self._closing: defer.Deferred[None] | None = None
        self._closed = False
        self._gave_up = False
        self._warned_closed = False
        #: the service's callback to pause/resume reading IRC (see Throttling)
        self._pressure: Callable[[bool], None] | None = None
        self._pressed_at: float | None = None
        # after a pause that lasted too long, no new pause until the writer proves it moves
        self._press_blocked = False

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
            self._retry = self._reactor.callLater(self._backoff, self._retry_now)

    # -- the Backend protocol -----------------------------------------------------------

    def write(self, event: Event) -> None:
        if event.kind in _SKIPPED:
            return
        if self._closed:
            if not self._warned_closed:
                self._warned_closed = True
                log.warn("{db}: event after close() dropped", db=self.name)
            return
        self._buf.append(event_row(event, self._keys.key_for(storable_time(event))))
        self._accepted += 1
        if len(self._buf) >= self._batch_size and not self._busy and self._retry is None:
            self._pump(force=True)
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
        if self._up and self._retry is None:
            self._pump(force=True)
        else:
            self._spill()
        return d

    def last_event_before(
        self, network: str, channel: str, before: datetime
    ) -> defer.Deferred[datetime | None]:
        """Resumable: asked on the writer thread, so it never blocks the reactor; a
        database that is down answers None (the bot then fetches no history for it)."""
        if self._closed or self._pool is None or not self._up:
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

    def close(self) -> defer.Deferred[None]:
        if self._closing is not None:
            return self._chain(self._closing)
        self._closing = defer.Deferred()
        flushed = self.flush()
        timer = self._reactor.callLater(self._close_timeout, self._give_up)

        def done(_: object) -> None:
            if (self._buf or self._inflight_rows) and not self._gave_up:
                # events that arrived while closing (the QUIT exchange): those too
                self.flush().addBoth(done)
                return
            if timer.active():
                timer.cancel()
            self._finish_close()

        flushed.addBoth(done)
        return self._chain(self._closing)

    # -- internals ----------------------------------------------------------------------

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
        return self._accepted - len(self._buf) - len(self._inflight_rows)

    def _flushed(self, target: int) -> bool:
        """Committed; or, while the database is away (or given up on), safe in the spool."""
        if self._committed_own >= target:
            return True
        return (not self._up or self._gave_up) and self._durable() >= target

    def _check_waiters(self) -> None:
        if not self._waiters:
            return
        ready = [d for target, d in self._waiters if self._flushed(target)]
        self._waiters = [(t, d) for t, d in self._waiters if not self._flushed(t)]
        for d in ready:
            d.callback(None)

    def _can_press(self) -> bool:
        if self._pressure is None or not self._up or self._retry is not None:
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

    def _release(self) -> None:
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
        if self._up and self._retry is None:
            self._pump(force=True)
        else:
            self._spill()
        self._release_if_caught_up()

    def _spill(self) -> None:
        """Move waiting events to the spool (database down, or memory full)."""
        if not self._buf:
            return
        rows, self._buf = self._buf, []
        try:
            self._spool.append(rows)
        except OSError as exc:
            # the spool's disk refuses too: keep them in memory, the only place left
            self._buf = rows + self._buf
            log.error(
                "{db}: cannot write the spool {dir}: {error}; holding {n} events in memory",
                db=self.name,
                dir=str(self._spool.directory),
                error=exc.strerror or str(exc),
                n=len(self._buf),
            )
            return
        self._check_waiters()

    def _spill_if_needed(self) -> None:
        if len(self._buf) >= self._max_memory and (self._busy or not self._up):
            self._spill()

    def _pump(self, *, force: bool = False) -> None:
        """Start the next job if the writer is free: spool segments first, then memory."""
        if self._busy or self._retry is not None or self._pool is None:
            return
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
            self._run(self._writer_write, rows, memory=rows)

    def _run(self, job: Callable[..., WriteResult], arg: Any, *, memory: list[Row]) -> None:
        self._busy = True
        self._inflight_rows = memory
        d = threads.deferToThreadPool(self._reactor, self._pool, job, arg)
        d.addCallbacks(
            self._job_done,
            self._job_failed,
            callbackArgs=(arg, memory),
            errbackArgs=(job, arg, memory),
        )

    # thread side: nothing here touches backend state

    def _writer_write(self, rows: list[Row], salvage: bool = False) -> WriteResult:
        return self._writer.write(rows, salvage=salvage)

    def _writer_salvage(self, rows: list[Row]) -> WriteResult:
        return self._writer.write(rows, salvage=True)

    def _writer_replay(self, path: Path) -> WriteResult:
        try:
            rows = Spool.read(path)
        except FileNotFoundError:
            return WriteResult()  # another process sharing the spool replayed it
        total = WriteResult()
        for start in range(0, len(rows), REPLAY_CHUNK):
            chunk = rows[start : start + REPLAY_CHUNK]
            try:
                result = self._writer.write(chunk)
            except WriteFailed as exc:
                if exc.transient:
                    raise
                result = self._writer.write(chunk, salvage=True)
            total.inserted += result.inserted
            total.duplicates += result.duplicates
            total.rekeyed += result.rekeyed
            total.rejected.extend(result.rejected)
        path.unlink(missing_ok=True)
        return total

    # reactor side

    def _job_done(self, result: WriteResult, arg: Any, memory: list[Row]) -> None:
        self._busy = False
        self._press_blocked = False
        self._inflight_rows = []
        if memory:
            self._committed_own += len(memory)
        elif isinstance(arg, Path):
            self._committed_own += self._spool.own_rows.pop(arg, 0)
        self.committed += result.inserted
        self.duplicates += result.duplicates
        self.rekeyed += result.rekeyed
        if result.rejected:
            self._reject(result.rejected)
        if not self._up:
            self._up = True
            log.info("{db}: database is back; writing the events held meanwhile", db=self.name)
        self._backoff = RETRY_FIRST
        self._check_waiters()
        if self._closed:
            return
        more = self._spool.sealed() or len(self._buf) >= self._batch_size or self._waiters
        if more:
            self._pump(force=True)
        self._release_if_caught_up()

    def _job_failed(
        self, failure: Failure, job: Callable[..., WriteResult], arg: Any, memory: list[Row]
    ) -> None:
        self._busy = False
        self._inflight_rows = []
        exc = failure.value
        if isinstance(exc, WriteFailed) and not exc.transient and job == self._writer_write:
            # the rows themselves are refused: clean them, isolate any bad one
            self._run(self._writer_salvage, arg, memory=memory)
            return
        if memory:
            self._buf = memory + self._buf
        message = exc.args[0] if isinstance(exc, WriteFailed) and exc.args else str(exc)
        if not isinstance(exc, WriteFailed | StorageError):
            log.failure("{db}: unexpected error in the writer", failure, db=self.name)
        if self._up:
            self._up = False
            log.warn(
                "{db}: database unavailable ({error}); holding events (spool: {dir}) and retrying",
                db=self.name,
                error=message,
                dir=str(self._spool.directory),
            )
        self._spill()
        self._release()
        if self._closed:
            return
        self._retry = self._reactor.callLater(self._backoff, self._retry_now)
        self._backoff = min(self._backoff * RETRY_FACTOR, RETRY_MAX)

    def _retry_now(self) -> None:
        self._retry = None
        self._pump(force=True)

    def _reject(self, rows: list[Row]) -> None:
        self.rejected += len(rows)
        path = self._spool.directory / "rejected.jsonl"
        try:
            self._spool.directory.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.error("{db}: cannot write {path}: {error}", db=self.name, path=str(path), error=exc)
        log.error(
            "{db}: the database refused {n} event(s) even alone; kept in {path}",
            db=self.name,
            n=len(rows),
            path=str(path),
        )

    def _give_up(self) -> None:
        """close() waited long enough: spool what the database has not taken."""
        self._gave_up = True
        if self._inflight_rows:
            # the running job may still commit them: a replay would then skip them
            rows, self._inflight_rows = self._inflight_rows, []
            self._buf = rows + self._buf
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
        self._closed = True
        self._release()
        if self._loop.running:
            self._loop.stop()
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        with contextlib.suppress(OSError):
            self._spool.seal()
        closing = self._closing
        assert closing is not None
        if self._gave_up or self._pool is None:
            closing.callback(None)
            return
        d = threads.deferToThreadPool(self._reactor, self._pool, self._writer.close)

        def stop(_: object) -> None:
            if self._own_pool and self._pool.started:
                self._pool.stop()
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

    ``pool`` replaces the writer thread pool (tests pass a synchronous one; the caller then
    starts and stops it); ``spool_dir`` replaces the spool directory.
    """
    engine = make_engine(target)
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
    own_pool = pool is None
    if pool is None:
        pool = make_writer_pool()
        options.reactor.callWhenRunning(pool.start)
    return SQLBackend(
        EventWriter(engine, upgrade=not up),
        options,
        pool=pool,
        spool=spool,
        name=name,
        own_pool=own_pool,
        up=up,
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
