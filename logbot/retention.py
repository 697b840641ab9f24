"""Retention: which databases and channels ``retention_days`` applies to, and the hourly run.

:func:`cutoff_for` turns settings into the ``cutoff(network, channel)`` that
:func:`logbot.storage.forget.prune` asks; :class:`RetentionRunner` runs it every hour in a
thread, with its own read-write engine per database, in small batches with pauses so
the bot's writer is never held back. ``logbot prune`` runs the same thing once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

from twisted.logger import Logger

from logbot.policy import retention_cutoff, stored_channel_policy
from logbot.settings import Settings

__all__ = [
    "INTERVAL",
    "RetentionRunner",
    "cutoff_for",
    "local_zone",
    "prune_database",
    "retention_configured",
    "sql_targets",
]

log = Logger(namespace="logbot.retention")

#: seconds between two retention runs of the running bot
INTERVAL = 3600.0
#: the first run waits this long after start (the bot joins its channels first)
FIRST_DELAY = 60.0
#: seconds between two delete batches of a background run (the writer's turn)
PAUSE = 0.05


def local_zone() -> tzinfo:
    """The local time zone with its DST rules (what the text log's times use)."""
    from dateutil.tz import tzlocal

    return tzlocal()


def retention_configured(settings: Settings) -> bool:
    """Some channel, network or the top level sets ``retention_days``."""
    if settings.retention_days is not None:
        return True
    return any(
        network.retention_days is not None or any(c.retention_days for c in network.channels)
        for network in settings.networks
    )


def cutoff_for(
    settings: Settings, now: datetime, tz: tzinfo
) -> Callable[[str, str], datetime | None]:
    """``cutoff(network, channel)``: the instant before which that channel's events go."""

    def cutoff(network: str, channel: str) -> datetime | None:
        days = stored_channel_policy(settings, network, channel).retention_days
        return None if days is None else retention_cutoff(days, now, tz)

    return cutoff


def sql_targets(settings: Settings) -> list[str | None]:
    """Every database the settings write to (None: the default SQLite file)."""
    from logbot.service import backend_routes

    return [route.target for route in backend_routes(settings) if route.kind == "sql"]


def prune_database(
    target: str | None,
    settings: Settings,
    now: datetime,
    tz: tzinfo,
    *,
    dry_run: bool = False,
    pause: float = 0.0,
    stop: Callable[[], bool] = lambda: False,
) -> Any:
    """Prune one database by the settings; the :class:`~logbot.storage.forget.PruneResult`.

    The database must exist and be at the newest schema (this never creates one).
    """
    from logbot.storage import migrate
    from logbot.storage.engine import StorageError, display_target, make_engine, storage_errors
    from logbot.storage.forget import prune

    engine = make_engine(target, create_dirs=False, must_exist=True)
    try:
        with storage_errors(engine):
            revision = migrate.current_revision(engine)
            if revision != migrate.head_revision():
                raise StorageError(
                    f"{display_target(engine)} is at schema {revision}, not "
                    f"{migrate.head_revision()}: run logbot db upgrade first"
                )
            return prune(
                engine, cutoff_for(settings, now, tz), dry_run=dry_run, pause=pause, stop=stop
            )
    finally:
        engine.dispose()


class RetentionRunner:
    """Prunes every database of a run once an hour, in a thread (never on the reactor)."""

    def __init__(self, settings: Settings, reactor: Any) -> None:
        self.settings = settings
        self.reactor = reactor
        self._stopping = threading.Event()
        self._running = False
        self._call: Any = None

    def start(self) -> None:
        self._call = self.reactor.callLater(FIRST_DELAY, self._tick)

    def stop(self) -> None:
        self._stopping.set()
        if self._call is not None and self._call.active():
            self._call.cancel()

    def _tick(self) -> None:
        from twisted.internet import threads

        self._call = self.reactor.callLater(INTERVAL, self._tick)
        if self._running:
            return  # the previous run is still going: it will finish the work
        self._running = True
        d = threads.deferToThreadPool(
            self.reactor, self.reactor.getThreadPool(), self._run, datetime.now(UTC)
        )
        d.addErrback(
            lambda failure: log.warn("retention run failed: {why}", why=failure.getErrorMessage())
        )
        d.addBoth(self._done)

    def _done(self, _: object) -> None:
        self._running = False

    def _run(self, now: datetime) -> None:
        tz = local_zone()
        for target in sql_targets(self.settings):
            if self._stopping.is_set():
                return
            result = prune_database(
                target, self.settings, now, tz, pause=PAUSE, stop=self._stopping.is_set
            )
            if result.total:
                log.info(
                    "retention: deleted {count} events older than retention_days",
                    count=result.total,
                )
