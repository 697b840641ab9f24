"""The SQL backend's spool: rows held on local disk while the database is away.

Append-only JSON-lines segments in one directory per database, replayed oldest first.
Each line is one :data:`~logbot.storage.writer.Row` as an array; segment names sort oldest
first. ``target.txt`` in the directory names the database (password hidden) for operators.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import platformdirs
from twisted.logger import Logger

from logbot.storage.writer import Row

log = Logger(namespace="logbot.backends.sql")

#: a spool segment is closed (and becomes replayable) after this many rows
SEGMENT_ROWS = 5_000


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: a new file is 0600 (it holds log lines)."""
    return os.open(path, flags, 0o600)


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
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        note = self.directory / "target.txt"
        if self.target_name and not note.exists():
            with open(note, "w", encoding="utf-8", opener=private_opener) as f:
                f.write(self.target_name + "\n")

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
                if isinstance(item, list) and len(item) == 10:
                    rows.append(tuple(item))
        return rows
