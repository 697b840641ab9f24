"""The text log: ircLogBot's line format, one event per line, in local time.

``format_line`` and ``date_line`` are pure (golden-tested); ``TextFileBackend`` owns the file:
lines are buffered in memory and written with one ``write`` call per flush (at least once a
second, sooner when the buffer grows), so the hot path never makes a system call.

A write error (disk full, file system gone read-only) never reaches the caller: it is logged
once, the bytes stay held (up to ``MAX_HELD_BYTES``, oldest dropped beyond that) and the next
flush tries again.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.internet import defer, task
from twisted.logger import Logger

from logbot import durable
from logbot.backends.base import DEFAULT_FILE_MODE, BackendOptions
from logbot.events import RECORD_KINDS, Event, Kind
from logbot.text import visible

log = Logger(namespace="logbot.backends.textfile")

#: how often buffered lines go to the file (the contract: at least once a second)
FLUSH_INTERVAL = 1.0
#: buffered characters that trigger an early write, so a burst never grows memory
FLUSH_THRESHOLD_CHARS = 256 * 1024
#: how much unwritable data is held for a retry while the disk refuses it
MAX_HELD_BYTES = 16 * 1024 * 1024

# the one system call that moves bytes to the file; a seam for tests that simulate a full disk
_write = os.write

_ONE_SECOND = timedelta(seconds=1)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class _Second:
    """The local-time facts of one wall-clock second, computed once and reused.

    The hot path formats many lines per second; ``time.localtime`` and the formatting run
    only when the second changes. ``tzname`` is the identity of ``time.tzname``, which ``tzset()``
    replaces, so a time-zone change is noticed.
    """

    __slots__ = ("asctime", "day", "end", "iso_day", "stamp", "start", "tzname")

    def __init__(self, epoch: int) -> None:
        local = time.localtime(epoch)
        self.start = datetime.fromtimestamp(epoch, UTC)
        self.end = self.start + _ONE_SECOND
        self.tzname = time.tzname
        self.stamp = f"[{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d}] "
        self.asctime = time.asctime(local)
        #: the local calendar day, e.g. "Sun Nov 29 2026" (English whatever the locale)
        self.day = (
            f"{_DAYS[local.tm_wday]} {_MONTHS[local.tm_mon - 1]} "
            f"{local.tm_mday:02d} {local.tm_year}"
        )
        #: the same day as ``2026-11-29`` (the name of a per-day file)
        self.iso_day = f"{local.tm_year:04d}-{local.tm_mon:02d}-{local.tm_mday:02d}"


_last = _Second(0)


def _second(event: Event) -> _Second:
    global _last
    when = event.time
    cached = _last
    # comparing aware datetimes is cheaper than computing a timestamp for every line
    if cached.start <= when < cached.end and cached.tzname is time.tzname:
        return cached
    cached = _last = _Second(math.floor(when.timestamp()))
    return cached


def _who(nick: str, userhost: str) -> str:
    return f"{nick} ({userhost})" if userhost else nick


def _reason(text: str) -> str:
    return f" ({text})" if text else ""


def _body(event: Event, second: _Second) -> str:
    kind = event.kind
    nick = event.nick
    text = event.text
    if kind is Kind.MESSAGE:
        return f"<{nick}> {text}"
    if kind is Kind.ACTION:
        return f"* {nick} {text}"
    if kind is Kind.NOTICE:
        return f"-{nick}- {text}"
    if kind is Kind.JOIN:
        if event.own:
            return f"[I have joined {event.channel}]"
        return f"--> {_who(nick, event.userhost)} has joined {event.channel}"
    if kind is Kind.PART:
        if event.own:
            return f"[I have left {event.channel}{_reason(text)}]"
        return f"<-- {_who(nick, event.userhost)} has left {event.channel}{_reason(text)}"
    if kind is Kind.QUIT:
        return f"<-- {_who(nick, event.userhost)} has quit{_reason(text)}"
    if kind is Kind.KICK:
        return f"<-- {nick} has kicked {event.target} from {event.channel}{_reason(text)}"
    if kind is Kind.NICK:
        return f"{nick} is now known as {event.target}"
    if kind is Kind.TOPIC:
        if not text:
            return f"-- {nick or 'the server'} cleared the topic of {event.channel}"
        if not nick:
            return f"-- the topic of {event.channel} is: {text}"
        return f"-- {nick} set the topic of {event.channel} to: {text}"
    if kind is Kind.MODE:
        return f"-- {nick or 'the server'} sets mode {event.channel} {text}"
    # Session markers are exactly ircLogBot's, which scripts parse: the reason for a
    # disconnect is on stderr (the journal), not here.
    if kind is Kind.CONNECTED:
        return f"[connected at {second.asctime}]"
    if kind is Kind.DISCONNECTED:
        return f"[disconnected at {second.asctime}]"
    raise ValueError(f"no text-log format for event kind {kind!r}")


def format_line(event: Event, *, multi_channel: bool) -> str:
    """The log line for ``event`` (no trailing newline), in ircLogBot's format, local time.

    With ``multi_channel`` the channel follows the timestamp (session markers, which belong to
    no channel, have none). The result never contains a line break.
    """
    second = _second(event)
    body = _body(event, second)
    if multi_channel and event.channel:
        return visible(f"{second.stamp}{event.channel} {body}")
    return visible(second.stamp + body)


def local_day(event: Event) -> str:
    """The local calendar day of ``event`` as ``YYYY-MM-DD`` (the day its line is dated)."""
    return _second(event).iso_day


def date_line(event: Event, *, opened: bool = False) -> str:
    """The line that marks the local date of ``event``: at a day change, or a file's start.

    A day change is stamped at local midnight (``[00:00:00] --- Day changed Sun Nov 29 2026``);
    the opening line carries the time of the event that opened the file.
    """
    second = _second(event)
    if opened:
        return f"{second.stamp}--- Log opened {second.day}"
    return f"[00:00:00] --- Day changed {second.day}"


class TextFileBackend:
    """Appends formatted lines to one file; see the module docstring for the guarantees."""

    def __init__(
        self,
        path: str,
        reactor: Any,
        *,
        multi_channel: bool = False,
        pool: Any = None,
        file_mode: int = DEFAULT_FILE_MODE,
        dir_mode: int = 0o777,
        date_lines: bool = True,
    ) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.multi_channel = multi_channel
        #: write "Log opened" / "Day changed" lines (a per-day file's name is its date)
        self.date_lines = date_lines
        self._lines: list[str] = []
        self._chars = 0
        #: bytes a failed write left behind, written before anything newer
        self._held = b""
        self._failing = False
        #: lines given up while the disk refused them (beyond MAX_HELD_BYTES)
        self._dropped = 0
        self._day: str | None = None
        self._closed = False
        self._reactor = reactor
        self._file_mode = file_mode
        self._dir_mode = dir_mode
        #: directories naming a file or directory this backend created, synced with the
        #: next fdatasync (until then a power loss could take the whole new file)
        self._unsynced_dirs: list[str] = []
        #: where fdatasync runs (the service's shared pool); None: the reactor's own pool
        self._pool = pool
        #: written since the last fdatasync / a sync is running on a thread
        self._dirty = False
        self._syncing = False
        try:
            self._fd = self._open()
        except OSError as exc:
            # one line for the user at startup, naming the file
            raise OSError(f"cannot open the text log {self.path}: {exc.strerror or exc}") from exc
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = reactor
        self._loop.start(FLUSH_INTERVAL, now=False)

    def __repr__(self) -> str:
        return f"<TextFileBackend {self.path}>"

    def _open(self) -> int:
        directory = os.path.dirname(self.path)
        new_entries = durable.makedirs(directory, self._dir_mode)
        existed = os.path.exists(self.path)
        fd = os.open(
            self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, self._file_mode
        )
        if not existed:
            new_entries.append(directory)
        self._unsynced_dirs.extend(d for d in new_entries if d not in self._unsynced_dirs)
        return fd

    def write(self, event: Event) -> None:
        if self._closed or event.backfilled or event.kind in RECORD_KINDS:
            # the text log is what the bot heard, in the order it heard it: its
            # "[disconnected at ...]" lines already mark the holes, lines fetched later
            # from the server's history (with older times) belong to the database, and a
            # fact about the network is no line of any log
            return
        day = _second(event).day
        line = format_line(event, multi_channel=self.multi_channel)
        if day != self._day and self.date_lines:
            marker = date_line(event, opened=self._day is None)
            self._day = day
            self._lines.append(marker + "\n")
            self._chars += len(marker) + 1
        self._lines.append(line + "\n")
        self._chars += len(line) + 1
        if self._chars >= FLUSH_THRESHOLD_CHARS and not self._failing:
            self._write_out()

    def _tick(self) -> None:
        if self._lines or self._held:
            self._write_out()
        self._sync_soon()

    def _sync_soon(self) -> None:
        """fdatasync what was written, on a thread: the contract allows a power loss to cost
        at most the last second, and a sync can take long enough to stall the reactor."""
        if self._syncing or not (self._dirty or self._unsynced_dirs):
            return
        self._dirty = False
        try:
            # a private descriptor: SIGHUP may close self._fd while the sync runs
            fd = os.dup(self._fd)
        except OSError:
            return
        directories, self._unsynced_dirs = self._unsynced_dirs, []

        def sync() -> None:
            try:
                os.fdatasync(fd)
            except OSError:
                pass  # a pipe or a file system without sync: written all the same
            finally:
                os.close(fd)
            _sync_directories(directories)

        call_in_thread = (
            self._pool.callInThread
            if self._pool is not None
            else getattr(self._reactor, "callInThread", None)
        )
        if call_in_thread is None:  # a test clock: no threads
            sync()
            return
        self._syncing = True

        def in_thread() -> None:
            sync()
            self._reactor.callFromThread(setattr, self, "_syncing", False)

        call_in_thread(in_thread)

    def _write_out(self) -> bool:
        """Write everything buffered; True when the file has all of it."""
        data = self._held
        if self._lines:
            data += "".join(self._lines).encode("utf-8", "backslashreplace")
            self._lines = []
            self._chars = 0
        self._held = b""
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                written += _write(self._fd, view[written:])
        except OSError as exc:
            self._hold(data[written:], exc)
            return False
        self._dirty = self._dirty or written > 0
        if self._failing:
            self._failing = False
            if self._dropped:
                log.warn(
                    "writing to {path} again; {dropped} lines were dropped while it failed",
                    path=self.path,
                    dropped=self._dropped,
                )
            else:
                log.info("writing to {path} again; no line was lost", path=self.path)
            self._dropped = 0
        return True

    def _hold(self, rest: bytes, exc: OSError) -> None:
        if not self._failing:
            self._failing = True
            log.error(
                "cannot write to {path}: {error}; holding up to {limit} MiB of lines and "
                "retrying each second",
                path=self.path,
                error=exc.strerror or str(exc),
                limit=MAX_HELD_BYTES // 2**20,
            )
        if len(rest) > MAX_HELD_BYTES:
            # keep the newest lines, cut at a line boundary; counted, and reported once the
            # file takes lines again (a report per second would flood the journal)
            cut = rest.find(b"\n", len(rest) - MAX_HELD_BYTES) + 1
            self._dropped += rest[:cut].count(b"\n")
            rest = rest[cut:]
        self._held = rest

    def flush(self) -> defer.Deferred[None]:
        if not self._closed:
            self._write_out()
        return defer.succeed(None)

    def reopen(self) -> None:
        if self._closed:
            return
        # lines received before the signal belong to the old (rotated) file
        self._write_out()
        try:
            fd = self._open()
        except OSError as exc:
            log.error(
                "cannot reopen {path}: {error}; still writing to the old file",
                path=self.path,
                error=exc.strerror or str(exc),
            )
            return
        old, self._fd = self._fd, fd
        os.close(old)
        self._day = None

    def close(self) -> defer.Deferred[None]:
        if self._closed:
            return defer.succeed(None)
        if self._loop.running:
            self._loop.stop()
        complete = self._write_out()
        self._closed = True
        # a pipe or a file system without fsync: the data is written all the same
        with contextlib.suppress(OSError):
            os.fsync(self._fd)
        os.close(self._fd)
        directories, self._unsynced_dirs = self._unsynced_dirs, []
        _sync_directories(directories)
        if not complete:
            log.error(
                "{path}: {count} bytes ({lines} lines) could not be written before closing",
                path=self.path,
                count=len(self._held),
                lines=self._held.count(b"\n") + self._dropped,
            )
            self._held = b""
        return defer.succeed(None)


def _sync_directories(directories: list[str]) -> None:
    for directory in directories:
        try:
            durable.sync_directory(directory)
        except OSError as exc:
            # the lines are written; only their file's name may not survive a power loss
            log.warn(
                "cannot sync the directory {path}: {error}",
                path=directory,
                error=exc.strerror or str(exc),
            )


def create(target: str, options: BackendOptions) -> TextFileBackend:
    """The ``file`` backend entry point: ``target`` is the log file's path."""
    return TextFileBackend(
        target,
        options.reactor,
        multi_channel=options.multi_channel,
        pool=options.pool,
        file_mode=options.new_file_mode,
    )
