"""Text logs that last: one file per network, channel and local day.

``DIR/<network>/<#channel>/<YYYY-MM-DD>.log``, each line exactly as the ``file`` backend
writes it for one channel (:func:`~logbot.backends.textfile.format_line`, local time). A
file's name is its date, so no "Log opened" / "Day changed" lines are written in it. The
channel's directory is its folded name (``channel_key``): ``#Foo`` and ``#foo`` are one
channel. Names are made safe for a path (``/``, ``%`` and NUL escaped as ``%2F``...; ``.``
and ``..`` spelled ``%2E``).

Every event goes to the file of its own local day, so no event is ever split or lost at
midnight, whatever the clock does (DST included); at each local midnight the files of
other days are closed. Session markers (``[connected at ...]``) go to the day's file of each
channel of that network this run has written. A late event (server-time) of an earlier day
goes to that day's file.

``compress_after_days = N``: a day's file is gzipped N days after that day (never a file
that is open), on the backends' thread pool: ``.log.gz.tmp`` written and fsynced, renamed
to ``.log.gz``, then the ``.log`` unlinked. A ``.log`` that shows up again next to its
``.log.gz`` (a very late event) is appended to it as one more gzip member.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger

from logbot import durable
from logbot.backends.base import BackendOptions
from logbot.backends.textfile import TextFileBackend, local_day
from logbot.casemap import channel_key
from logbot.events import RECORD_KINDS, Event, Kind

log = Logger(namespace="logbot.backends.textdaily")

_SESSION = frozenset({Kind.CONNECTED, Kind.DISCONNECTED})
_DAY_FILE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\.log$")


def path_component(name: str) -> str:
    """``name`` as one safe path component (reversible: ``%`` is escaped too)."""
    safe = name.replace("%", "%25").replace("/", "%2F").replace("\0", "%00")
    if safe in ("", ".", ".."):
        return "%2E" * len(safe) or "%00"
    return safe


def day_path(directory: str, network: str, channel: str, day: str) -> str:
    """Where the lines of ``channel`` on ``network`` dated ``day`` (YYYY-MM-DD) go."""
    return os.path.join(
        directory, path_component(network), path_component(channel_key(channel)), f"{day}.log"
    )


def _dir_mode(file_mode: int) -> int:
    # whoever may read the files may list their directories
    return 0o700 | ((file_mode & 0o044) >> 2) | (file_mode & 0o044)


def _today(reactor: Any) -> date:
    local = time.localtime(reactor.seconds())
    return date(local.tm_year, local.tm_mon, local.tm_mday)


def _next_midnight(now: float) -> float:
    """The epoch of the next local midnight after ``now`` (DST-aware: mktime decides)."""
    local = time.localtime(now)
    tomorrow = date(local.tm_year, local.tm_mon, local.tm_mday) + timedelta(days=1)
    midnight = time.mktime((tomorrow.year, tomorrow.month, tomorrow.day, 0, 0, 0, 0, 0, -1))
    return midnight if midnight > now else now + 1.0


def compress_file(path: str) -> None:
    """gzip ``path`` (a ``.log``) atomically into ``path + ".gz"``, then unlink it.

    An existing ``.gz`` is kept as the first member of the new one, so nothing is lost.
    """
    final = path + ".gz"
    tmp = final + ".tmp"
    mode = os.stat(path).st_mode & 0o777
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            if os.path.exists(final):
                with open(final, "rb") as old:
                    shutil.copyfileobj(old, out)
            with (
                open(path, "rb") as src,
                gzip.GzipFile(
                    filename=os.path.basename(path), mode="wb", fileobj=out, mtime=0
                ) as gz,
            ):
                shutil.copyfileobj(src, gz)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    durable.sync_directory(os.path.dirname(path) or ".")
    os.unlink(path)


def due_files(directory: str, last_day: date, skip: Iterable[str]) -> list[str]:
    """The ``.log`` files under ``directory`` of days up to ``last_day``, except ``skip``."""
    held = set(skip)
    found = []
    for root, _dirs, files in os.walk(directory):
        for name in files:
            match = _DAY_FILE.match(name)
            if match is None:
                continue
            try:
                day = date(*(int(part) for part in match.groups()))
            except ValueError:
                continue
            path = os.path.join(root, name)
            if day <= last_day and path not in held:
                found.append(path)
    return sorted(found)


class DailyTextBackend:
    """The ``log_dir`` backend; see the module docstring."""

    def __init__(
        self,
        directory: str,
        reactor: Any,
        *,
        pool: Any = None,
        file_mode: int = 0o600,
        compress_after_days: int | None = None,
    ) -> None:
        self.directory = os.path.abspath(os.path.expanduser(directory))
        self._reactor = reactor
        self._pool = pool
        self._file_mode = file_mode
        self.compress_after_days = compress_after_days
        #: path -> the open file of that network, channel and day
        self._open: dict[str, TextFileBackend] = {}
        #: network -> channels this run wrote (where its session markers go)
        self._channels: dict[str, dict[str, None]] = {}
        #: while a compression job runs, the last day it may touch (YYYY-MM-DD): events of
        #: such days wait in ``_waiting`` and are written once it is done
        self._busy_until: str | None = None
        self._waiting: list[Event] = []
        self._idle: defer.Deferred[None] | None = None
        self._closing = False
        self._closed = False
        try:
            durable.makedirs_synced(self.directory, _dir_mode(file_mode))
        except OSError as exc:
            raise OSError(
                f"cannot create the log directory {self.directory}: {exc.strerror or exc}"
            ) from exc
        self._midnight = reactor.callLater(
            _next_midnight(reactor.seconds()) - reactor.seconds(), self._at_midnight
        )
        self.compress_due()

    def __repr__(self) -> str:
        return f"<DailyTextBackend {self.directory}>"

    def write(self, event: Event) -> None:
        if self._closed or event.backfilled or event.kind in RECORD_KINDS:
            return  # as the file backend (see TextFileBackend.write)
        day = local_day(event)
        if self._busy_until is not None and day <= self._busy_until:
            # its day may be being compressed right now: written once the job is done
            self._waiting.append(event)
            return
        if event.kind in _SESSION or not event.channel:
            for channel in self._channels.get(event.network, {}):
                self._write_to(day_path(self.directory, event.network, channel, day), event)
            return
        self._channels.setdefault(event.network, {})[channel_key(event.channel)] = None
        self._write_to(day_path(self.directory, event.network, event.channel, day), event)

    def _write_to(self, path: str, event: Event) -> None:
        backend = self._open.get(path)
        if backend is None:
            backend = TextFileBackend(
                path,
                self._reactor,
                pool=self._pool,
                file_mode=self._file_mode,
                dir_mode=_dir_mode(self._file_mode),
                date_lines=False,
            )
            self._open[path] = backend
        backend.write(event)

    def _at_midnight(self) -> None:
        self.close_other_days()
        self._midnight = self._reactor.callLater(
            _next_midnight(self._reactor.seconds()) - self._reactor.seconds(), self._at_midnight
        )
        self.compress_due()

    def close_other_days(self) -> None:
        """Close the open files of days other than today (local)."""
        today = _today(self._reactor).isoformat()
        for path in [p for p in self._open if os.path.basename(p) != f"{today}.log"]:
            self._open.pop(path).close()

    def compress_due(self) -> None:
        """Start gzipping the closed files old enough (one job at a time, off the reactor)."""
        days = self.compress_after_days
        if days is None or self._busy_until is not None or self._closing:
            return
        last_day = _today(self._reactor) - timedelta(days=days)
        # files of those days still open (late events) are closed first: they are done
        for path in list(self._open):
            if os.path.basename(path)[:10] <= last_day.isoformat():
                self._open.pop(path).close()
        self._busy_until = last_day.isoformat()
        directory = self.directory
        self._in_thread(lambda: _compress_all(directory, last_day), self._compressed)

    def _compressed(self, failures: list[tuple[str, str]]) -> None:
        for path, error in failures:
            log.error("cannot compress {path}: {error}; kept as it is", path=path, error=error)
        self._busy_until = None
        waiting, self._waiting = self._waiting, []
        for event in waiting:
            self.write(event)
        idle, self._idle = self._idle, None
        if idle is not None:
            idle.callback(None)

    def _in_thread(self, work: Callable[[], Any], then: Callable[[Any], None]) -> None:
        call_in_thread = (
            self._pool.callInThread
            if self._pool is not None
            else getattr(self._reactor, "callInThread", None)
        )
        if call_in_thread is None:  # a test clock: no threads
            then(work())
            return

        def in_thread() -> None:
            try:
                result = work()
            except Exception as exc:  # never leave the backend waiting for ever
                result = [(directory_of(exc), str(exc))]
            self._reactor.callFromThread(then, result)

        def directory_of(exc: Exception) -> str:
            return getattr(exc, "filename", None) or self.directory

        call_in_thread(in_thread)

    def flush(self) -> defer.Deferred[None]:
        for backend in self._open.values():
            backend.flush()
        return defer.succeed(None)

    def reopen(self) -> None:
        for backend in self._open.values():
            backend.reopen()

    def close(self) -> defer.Deferred[None]:
        if self._closing:
            return defer.succeed(None)
        self._closing = True
        if self._midnight.active():
            self._midnight.cancel()
        if self._busy_until is None:
            self._close_files()
            return defer.succeed(None)
        # a compression job still runs: its days' waiting events are written after it
        self._idle = defer.Deferred()
        self._idle.addCallback(lambda _: self._close_files())
        return self._idle

    def _close_files(self) -> None:
        self._closed = True
        for backend in self._open.values():
            backend.close()
        self._open.clear()


def _compress_all(directory: str, last_day: date) -> list[tuple[str, str]]:
    """Compress every ``.log`` of a day up to ``last_day``; the failures, as (path, error)."""
    failures = []
    for path in due_files(directory, last_day, ()):
        try:
            compress_file(path)
        except OSError as exc:
            failures.append((path, exc.strerror or str(exc)))
    return failures


def create(target: str, options: BackendOptions) -> DailyTextBackend:
    """The ``daily`` backend entry point: ``target`` is the log directory."""
    return DailyTextBackend(
        target,
        options.reactor,
        pool=options.pool,
        file_mode=options.new_file_mode,
        compress_after_days=options.compress_after_days,
    )
