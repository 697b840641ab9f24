"""The backend interface, the entry-point registry and the fan-out to several backends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from logbot.events import Event

# permissions of new log files (text log, SQLite database): one rule, kept with the engine
from logbot.storage.names import NEW_FILE_MODE as DEFAULT_FILE_MODE

__all__ = [
    "DEFAULT_FILE_MODE",
    "Backend",
    "BackendFactory",
    "BackendOptions",
    "FanOut",
    "PressureHandler",
    "Throttling",
    "UnknownBackend",
    "load_backend",
    "make_thread_pool",
    "stop_thread_pool",
]

log = Logger(namespace="logbot.backends")


@runtime_checkable
class Backend(Protocol):
    """What every logger backend does.

    ``write`` must never block the reactor: a backend that does I/O buffers and does the
    slow part later (the text file buffers and flushes each second; SQL writes on a thread).
    """

    def write(self, event: Event) -> None:
        """Accept one event. Must not block, must not raise for a storage problem."""

    def flush(self) -> defer.Deferred[None]:
        """Make everything accepted so far durable; fires when it is."""

    def reopen(self) -> None:
        """Reopen files (after logrotate moved them; SIGHUP)."""

    def close(self) -> defer.Deferred[None]:
        """Flush and release resources; fires when done. No write follows."""


PressureHandler = Callable[[bool], None]


@runtime_checkable
class Throttling(Protocol):
    """A backend that can ask the service to stop reading from IRC for a moment.

    When events arrive faster than it can make them durable, it calls the handler with
    True; the service then pauses reading from the sockets (TCP pushes back on the
    server) instead of the backend piling events up in memory or a spool file. It calls
    the handler with False once it has caught up. Optional: most backends never fall behind.
    """

    def set_pressure_handler(self, handler: PressureHandler) -> None:
        """Install the callback; called once, before the first event."""


CommitObserver = Callable[[float], None]


@dataclass(frozen=True)
class BackendHealth:
    """How a backend is keeping up, read when someone asks (``/metrics``, ``/healthz``)."""

    #: the database as the log names it (password hidden)
    name: str
    #: events accepted and held in memory, not yet durable (the writer's queue)
    waiting: int
    #: events in the spool, waiting to be written to the database
    spooled: int
    #: bytes of spool segments on disk
    spool_bytes: int
    #: the last write to the database succeeded
    up: bool
    #: why it is not keeping up, in a few words; None while it is
    problem: str | None


@runtime_checkable
class Observable(Protocol):
    """A backend that can say how it keeps up, and time its commits. Optional.

    Both are cheap on the write path: ``health`` is computed only when asked, and the
    observer is called once per transaction (never per event).
    """

    def health(self) -> BackendHealth:
        """The state now (reactor thread)."""

    def set_commit_observer(self, observer: CommitObserver) -> None:
        """``observer(seconds)`` after each committed transaction: how long it took."""


@runtime_checkable
class Resumable(Protocol):
    """A backend that knows where a channel's record stopped (optional).

    The IRC side asks it at a run's first join, to fetch from the server's history what
    happened while the bot was not running. It knows nothing of IRC: a network, a channel
    name and a time in, a time out.
    """

    def last_event_before(
        self, network: str, channel: str, before: datetime
    ) -> defer.Deferred[datetime | None]:
        """Fires with the time of the channel's newest stored event before ``before``,
        or None (none stored, or the storage cannot say now). Never fails."""


@dataclass(frozen=True)
class BackendOptions:
    """What the service tells a backend about the run it is part of."""

    #: the reactor (or a ``task.Clock`` in tests); backends schedule flushes on it and
    #: a SQL backend runs its writer thread through it
    reactor: Any
    #: more than one channel (or network) goes to this backend: the text log then
    #: names the channel on each line
    multi_channel: bool = False
    #: the thread pool every backend of the run does its blocking work on (the SQL
    #: writer, the text log's fdatasync); see :func:`make_thread_pool`. None: a backend
    #: makes its own (a backend built outside the service)
    pool: ThreadPool | None = None
    #: permissions of a log file a backend creates (an existing file keeps its own);
    #: None: :data:`DEFAULT_FILE_MODE`, private, as logs of channels with a key must be
    file_mode: int | None = None
    #: ``compress_after_days`` of the per-day text logs (None: never compressed)
    compress_after_days: int | None = None

    @property
    def new_file_mode(self) -> int:
        """The permissions a new log file gets."""
        return DEFAULT_FILE_MODE if self.file_mode is None else self.file_mode


#: threads of the shared pool: each backend runs at most one job at a time (a SQL
#: writer stuck on a dead connection holds one), so this is a ceiling, not a count
POOL_THREADS = 16


def _daemon_thread(*args: Any, **kwargs: Any) -> threading.Thread:
    # a writer stuck on a dead database connection must not keep the process alive
    # after close() gave up on it (its events are spooled by then)
    return threading.Thread(*args, daemon=True, **kwargs)


def make_thread_pool(reactor: Any, *, name: str = "logbot-backends") -> ThreadPool:
    """The pool backends run blocking work on, started with ``reactor``.

    Threads are created as jobs need them. At shutdown the pool is stopped once no job
    runs any more; a thread stuck on a dead connection is a daemon and does not hold
    the process.
    """
    pool = ThreadPool(minthreads=0, maxthreads=POOL_THREADS, name=name)
    pool.threadFactory = _daemon_thread  # type: ignore[assignment]
    reactor.callWhenRunning(pool.start)
    add_trigger = getattr(reactor, "addSystemEventTrigger", None)
    if add_trigger is not None:
        add_trigger("after", "shutdown", stop_thread_pool, pool)
    return pool


def stop_thread_pool(pool: ThreadPool) -> None:
    """Stop ``pool`` unless a job still runs (joining a stuck thread would hang)."""
    if pool.started and not pool.working:
        pool.stop()


BackendFactory = Callable[[str, BackendOptions], Backend]


class UnknownBackend(LookupError):
    """No ``logbot.backends`` entry point has that name."""


def load_backend(name: str) -> BackendFactory:
    """The factory registered as ``name`` in the ``logbot.backends`` entry-point group."""
    for ep in entry_points(group="logbot.backends"):
        if ep.name == name:
            factory: BackendFactory = ep.load()
            return factory
    known = sorted(ep.name for ep in entry_points(group="logbot.backends"))
    raise UnknownBackend(f"no backend named {name!r} (installed: {', '.join(known) or 'none'})")


class FanOut:
    """Gives every event to each backend; one backend's failure never reaches another.

    A backend that raises from ``write`` is logged (once per failure streak, so a broken
    disk does not flood the journal) and keeps receiving later events, so it can recover.
    """

    def __init__(self, backends: Sequence[Backend]) -> None:
        self.backends: tuple[Backend, ...] = tuple(backends)
        self._failing: set[int] = set()

    def write(self, event: Event) -> None:
        for i, backend in enumerate(self.backends):
            try:
                backend.write(event)
            except Exception:
                if i not in self._failing:
                    self._failing.add(i)
                    log.failure("backend {backend!r} failed to write", backend=backend)
            else:
                if self._failing and i in self._failing:
                    self._failing.discard(i)
                    log.info("backend {backend!r} writes again", backend=backend)

    __call__ = write

    def _each(
        self, what: str, call: Callable[[Backend], defer.Deferred[None]]
    ) -> defer.Deferred[None]:
        def one(backend: Backend) -> defer.Deferred[None]:
            d = defer.maybeDeferred(call, backend)
            d.addErrback(
                lambda f: log.failure(
                    "backend {backend!r}: {what} failed", f, backend=backend, what=what
                )
            )
            return d

        dl = defer.DeferredList([one(b) for b in self.backends], consumeErrors=True)
        return dl.addCallback(lambda _: None)

    def flush(self) -> defer.Deferred[None]:
        return self._each("flush", lambda b: b.flush())

    def last_event_before(
        self, network: str, channel: str, before: datetime
    ) -> defer.Deferred[datetime | None]:
        """The first :class:`Resumable` backend's answer (None when there is none)."""
        for backend in self.backends:
            if isinstance(backend, Resumable):
                return backend.last_event_before(network, channel, before)
        return defer.succeed(None)

    def reopen(self) -> None:
        for backend in self.backends:
            try:
                backend.reopen()
            except Exception:
                log.failure("backend {backend!r} failed to reopen", backend=backend)

    def close(self) -> defer.Deferred[None]:
        return self._each("close", lambda b: b.close())
