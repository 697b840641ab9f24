"""The SQL backend's spool: rows held on local disk while the database is away.

One directory per database, ``$XDG_STATE_HOME/logbot/spool/<digest>/`` (platformdirs
``user_state_path("logbot")``; ``~/.local/state/logbot/spool/...`` by default;
``<digest>`` hashes the database name, see :func:`spool_dir_for`); ``target.txt`` inside
names the database (password hidden) for operators. Segments are append-only JSON lines,
one :data:`~logbot.storage.rows.Row` as an array per line, named so that sorting by name
is oldest first, and replayed oldest first (:func:`replay_segment`); each is locked by the
process writing it, so writers sharing the directory replay only segments nobody holds.
Rows the database refuses even alone go to ``rejected.jsonl``, never replayed.
:class:`Spiller` appends for the backend, backing off while the disk refuses.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import platformdirs
from twisted.logger import Logger

from logbot import durable
from logbot.backends.spoolstat import REJECTED
from logbot.storage.rows import OLD_ROW_FIELDS, ROW_FIELDS, Row, upgrade_row
from logbot.storage.writer import EventWriter, WriteResult, write_or_salvage

log = Logger(namespace="logbot.backends.sql")

#: a spool segment is closed (and becomes replayable) after this many rows
SEGMENT_ROWS = 5_000
#: rows per transaction when replaying a spool segment
REPLAY_CHUNK = 5_000


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: a new file is 0600 (it holds log lines)."""
    return os.open(path, flags, 0o600)


def spool_dir_for(target: str) -> Path:
    """The spool directory for a database, named as :func:`display_target` shows it."""
    digest = hashlib.sha256(target.encode("utf-8")).hexdigest()[:16]
    return platformdirs.user_state_path("logbot") / "spool" / digest


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[bool]:
    """Hold ``path``'s lock for the block; False when another writer holds it (or it is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


class Spool:
    """Append-only JSON-lines segments in one directory, replayed oldest first.

    The reactor thread appends and seals; the writer thread reads and deletes sealed
    segments. Only the open segment is ever appended to, and it is never read until
    sealed, so the two threads never touch the same file at the same time.

    Several writers may share the directory (two bots on one database, or one bot naming
    a database two ways): a segment belongs to the writer that holds its ``flock`` (taken
    before the segment gets its ``.jsonl`` name, released when it is sealed or the process
    dies), and only segments nobody holds are listed for replay. A replay holds the lock
    too, so two writers never replay one segment at once.
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
        durable.makedirs_synced(self.directory, 0o700)
        note = self.directory / "target.txt"
        if self.target_name and not note.exists():
            with open(note, "w", encoding="utf-8", opener=private_opener) as f:
                f.write(self.target_name + "\n")

    def sealed(self) -> list[Path]:
        """Segments ready to replay, oldest first."""
        if not self._maybe_sealed:
            return []
        try:
            names = sorted(p for p in self.directory.glob("*.jsonl") if p.name != REJECTED)
        except OSError:
            names = []
        current = self._open[0] if self._open else None
        found = [p for p in names if p != current and self.free(p)]
        if not names:
            self._maybe_sealed = False
        return found

    @staticmethod
    def free(path: Path) -> bool:
        """True when no writer holds ``path`` (its owner sealed it, or died)."""
        with _locked(path) as held:
            return held

    #: the replay's claim on a segment: ``with Spool.claim(path) as held:``
    claim = staticmethod(_locked)

    def replayed_elsewhere(self) -> int:
        """Rows of this writer's sealed segments that another writer replayed (and deleted)."""
        gone = [p for p in self.own_rows if (not self._open or p != self._open[0])]
        gone = [p for p in gone if not p.exists()]
        return sum(self.own_rows.pop(p) for p in gone)

    def has_open(self) -> bool:
        return self._open is not None

    def append(self, rows: Sequence[Row]) -> None:
        """Add rows to the open segment and fsync; raises OSError when the disk refuses
        (then none of ``rows`` is in the segment)."""
        if not rows:
            return
        if self._open is None:
            self._ensure_dir()
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._counter):06d}.jsonl"
            path = self.directory / name
            # locked under a name no listing matches, then renamed: no other writer can
            # see the segment unlocked (a rename keeps the inode, and so the lock)
            fresh = path.with_name(name + ".new")
            fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.rename(fresh, path)
                # the rows' fsync below keeps their bytes; this keeps the segment's name
                durable.sync_directory(self.directory)
            except OSError:
                os.close(fd)
                with contextlib.suppress(OSError):
                    fresh.unlink()
                raise
            self._open = (path, fd)
            self._open_rows = 0
        self._maybe_sealed = True
        path, fd = self._open
        data = "".join(
            json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows
        )
        payload = data.encode("utf-8")
        start = os.fstat(fd).st_size
        written = 0
        try:
            while written < len(payload):
                written += os.write(fd, payload[written:])
            os.fsync(fd)
        except OSError:
            # the caller keeps these rows and tries again later: a torn line left here
            # would end the segment for the reader, and every later line with it
            try:
                os.ftruncate(fd, start)
            except OSError:
                self.seal()  # a torn tail is harmless at the very end of a segment
            raise
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

    @property
    def rejected_path(self) -> Path:
        """Where rows the database refused even alone are kept (never replayed)."""
        return self.directory / REJECTED

    def reject(self, rows: Sequence[Row]) -> None:
        """Append refused rows to :attr:`rejected_path`; OSError when the disk refuses."""
        self._ensure_dir()
        existed = self.rejected_path.exists()
        with open(self.rejected_path, "a", encoding="utf-8", opener=private_opener) as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            # kept for an operator to look at: they are logged lines all the same
            f.flush()
            os.fsync(f.fileno())
        if not existed:
            durable.sync_directory(self.directory)

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


class Spiller:
    """Appends to a spool whose disk may refuse (full, read-only), with one line each way.

    While the disk refuses, :meth:`append` tries again only after a backoff delay (encoding
    a whole buffer again at once would fail again): one error line when it starts refusing,
    one info line when it takes rows again.
    """

    def __init__(
        self, spool: Spool, db: str, bound: int, backoff: tuple[float, float, float]
    ) -> None:
        self._spool = spool
        self._db = db
        #: events the backend holds in memory before it pauses reading IRC (for the log)
        self._bound = bound
        #: first delay, factor, cap (seconds)
        self._first, self._factor, self._cap = backoff
        self._delay = self._first
        self._next_try = 0.0
        #: the disk refused the last append
        self.failing = False

    def append(self, rows: Sequence[Row], now: float) -> bool | None:
        """Spool and fsync ``rows``: None if they were not taken (the disk refuses, or it
        did and the next try is not due), else whether the disk took rows again after
        refusing."""
        if self.failing and now < self._next_try:
            return None
        try:
            self._spool.append(rows)
        except OSError as exc:
            if not self.failing:
                self.failing = True
                log.error(
                    "{db}: cannot write the spool {dir}: {error}; holding up to {bound} "
                    "events in memory, then pausing reading from IRC, until the spool or "
                    "the database takes them",
                    db=self._db,
                    dir=str(self._spool.directory),
                    error=exc.strerror or str(exc),
                    bound=self._bound,
                )
            self._next_try = now + self._delay
            self._delay = min(self._delay * self._factor, self._cap)
            return None
        if not self.failing:
            return False
        self.failing = False
        self._delay = self._first
        log.info(
            "{db}: the spool {dir} takes events again ({n} held in memory are in it now)",
            db=self._db,
            dir=str(self._spool.directory),
            n=len(rows),
        )
        return True

    def reject(self, rows: Sequence[Row]) -> None:
        """Keep rows the database refused even alone in ``rejected.jsonl``, with an error
        line (and one more if the disk refuses that too)."""
        path = self._spool.rejected_path
        try:
            self._spool.reject(rows)
        except OSError as exc:
            log.error("{db}: cannot write {path}: {error}", db=self._db, path=str(path), error=exc)
        log.error(
            "{db}: the database refused {n} event(s) even alone; kept in {path}",
            db=self._db,
            n=len(rows),
            path=str(path),
        )


def replay_segment(writer: EventWriter, path: Path) -> WriteResult:
    """Write a sealed segment through ``writer`` and delete it (on the writer's thread).

    Claims the segment first: if another writer sharing the spool holds it (or replayed
    and deleted it), nothing is written. Rows go in chunks of :data:`REPLAY_CHUNK`; a
    chunk the database refuses is salvaged (see :meth:`EventWriter.write`). The segment
    is deleted only once every chunk is committed: a crash in between replays it again,
    harmlessly (a replay skips rows already stored).
    """
    with Spool.claim(path) as held:
        if not held:
            return WriteResult()
        try:
            rows = Spool.read(path)
        except FileNotFoundError:
            return WriteResult()  # another process sharing the spool replayed it
        total = WriteResult()
        for start in range(0, len(rows), REPLAY_CHUNK):
            chunk = rows[start : start + REPLAY_CHUNK]
            result = write_or_salvage(writer, chunk)
            total.inserted += result.inserted
            total.duplicates += result.duplicates
            total.rekeyed += result.rekeyed
            total.rejected.extend(result.rejected)
        path.unlink(missing_ok=True)
        return total
