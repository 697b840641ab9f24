"""The backend interface, the entry-point registry and the fan-out to several backends."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from twisted.internet import defer
from twisted.logger import Logger

from logbot.events import Event

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
