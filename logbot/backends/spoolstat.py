"""What waits in a SQL backend's spool directory: events and bytes, for /metrics and /healthz.

Read on demand (a scrape), never on the write path. Rows this process appended are known
(``own_rows``); a segment left by another run is counted once by reading it, and counted
again only if its size changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

#: where a refused row goes; it waits for no replay, so it is not "in the spool"
REJECTED = "rejected.jsonl"


class SpoolLike(Protocol):
    directory: Path
    #: rows this process appended, per segment not yet replayed
    own_rows: dict[Path, int]


def count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 16):
            lines += chunk.count(b"\n")
    return lines


class SpoolUsage:
    """``usage()`` -> (events, bytes) in the spool's segments, the open one included."""

    def __init__(self, spool: SpoolLike) -> None:
        self.spool = spool
        # segments of another run: path -> (size, rows) as last counted
        self._counted: dict[Path, tuple[int, int]] = {}

    def __call__(self) -> tuple[int, int]:
        try:
            paths = [p for p in self.spool.directory.glob("*.jsonl") if p.name != REJECTED]
        except OSError:
            return 0, 0
        rows = size = 0
        for path in paths:
            try:
                length = path.stat().st_size
            except OSError:
                continue  # replayed and deleted meanwhile
            size += length
            own = self.spool.own_rows.get(path)
            if own is None:
                cached = self._counted.get(path)
                if cached is None or cached[0] != length:
                    try:
                        cached = (length, count_lines(path))
                    except OSError:
                        continue
                    self._counted[path] = cached
                own = cached[1]
            rows += own
        for gone in set(self._counted) - set(paths):
            del self._counted[gone]
        return rows, size
