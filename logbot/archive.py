"""``logbot export`` and ``logbot import``: an archive as JSON lines, on any engine.

Export streams the events oldest first as the very lines ``logbot search --format json``
prints (:func:`logbot.render.json_line`), in constant memory. Import reads such lines (from
this logbot or any tool writing the same keys) and stores them in bulk through
:class:`logbot.storage.writer.EventWriter`, the one code path that inserts events: it
creates or upgrades the database first, and recognises an event already stored under the
same time key (same channel, kind, nick, text, target, userhost), so importing a file twice
adds nothing. Ids are time keys, so imported history lands in time order however old it
is and in whatever order the lines arrive.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import IO, Any

from logbot.render import json_line
from logbot.search import Filters, Reader

__all__ = ["ArchiveError", "ImportStats", "export_lines", "import_lines", "parse_line"]

#: lines per transaction: large enough to amortise the commit and the FTS5 flush, small
#: enough that a batch of 10M-line imports keeps memory flat
IMPORT_BATCH = 20_000

_KINDS = frozenset(
    ("message", "action", "notice", "join", "part", "quit", "kick", "nick", "topic", "mode")
)
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


class ArchiveError(Exception):
    """An import or export that cannot go on; one line for the user."""


def export_lines(reader: Reader, filters: Filters) -> Iterator[str]:
    """Every event passing ``filters``, oldest first, as JSON lines (without newlines)."""
    for rec in reader.export(filters):
        yield json_line(rec)


@dataclass
class ImportStats:
    """What an import did."""

    lines: int = 0
    inserted: int = 0
    #: events already in the database (an archive imported twice, overlapping exports)
    duplicates: int = 0
    #: events stored one sequence number later because another event held their key
    rekeyed: int = 0
    #: events the database refused even after cleaning
    rejected: int = 0


def _text(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise ArchiveError(f"{where}: missing {key!r}")
        return ""
    if not isinstance(value, str):
        raise ArchiveError(f"{where}: {key!r} must be a string, not {type(value).__name__}")
    return value


def _when(value: str, where: str, tz: tzinfo | None) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ArchiveError(f"{where}: 'time' is not an ISO-8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        # same rule as every WHEN a user types: no offset means local time
        parsed = parsed.replace(tzinfo=tz) if tz is not None else parsed.astimezone()
    when = parsed.astimezone(UTC)
    if not _EARLIEST <= when < _LATEST:
        raise ArchiveError(f"{where}: time {value!r} is outside 1970..2199")
    return when


def parse_line(line: str | bytes, where: str, tz: tzinfo | None = None) -> Any:
    """The storage row for one JSON line (see :data:`logbot.storage.writer.Row`).

    Raises :class:`ArchiveError` naming ``where`` (``FILE:LINE``) for anything malformed.
    """
    from logbot.events import Event, Kind
    from logbot.storage.schema import time_key
    from logbot.storage.writer import event_row

    try:
        obj = json.loads(line)
    except UnicodeDecodeError:
        raise ArchiveError(f"{where}: not UTF-8 text") from None
    except ValueError as exc:
        raise ArchiveError(f"{where}: not a JSON object ({exc})") from None
    if not isinstance(obj, dict):
        raise ArchiveError(f"{where}: not a JSON object")
    kind = _text(obj, "kind", where)
    if kind not in _KINDS:
        raise ArchiveError(f"{where}: unknown kind {kind!r} (one of {', '.join(sorted(_KINDS))})")
    channel = _text(obj, "channel", where)
    if not channel:
        raise ArchiveError(f"{where}: 'channel' is empty")
    when = _when(_text(obj, "time", where), where, tz)
    event = Event(
        time=when,
        network=_text(obj, "network", where),
        channel=channel,
        kind=Kind(kind),
        nick=_text(obj, "nick", where),
        text=_text(obj, "text", where, required=False),
        target=_text(obj, "target", where, required=False),
        userhost=_text(obj, "userhost", where, required=False),
    )
    # sequence 0: the writer walks on from there past other events of that microsecond,
    # and finds this very event if a previous import stored it
    return event_row(event, time_key(when))


def _batches(
    lines: Iterable[bytes], source: str, tz: tzinfo | None, stats: ImportStats, size: int
) -> Iterator[tuple[list[Any], int]]:
    batch: list[Any] = []
    consumed = 0
    for number, line in enumerate(lines, 1):
        consumed += len(line)
        if not line.strip():
            continue
        stats.lines += 1
        batch.append(parse_line(line, f"{source}:{number}", tz))
        if len(batch) >= size:
            yield batch, consumed
            batch, consumed = [], 0
    if batch or consumed:
        yield batch, consumed


def import_lines(
    target: str | None,
    lines: Iterable[bytes],
    *,
    source: str = "-",
    progress: Callable[[int], None] | None = None,
    tz: tzinfo | None = None,
    batch_size: int = IMPORT_BATCH,
) -> ImportStats:
    """Store the events of ``lines`` (JSON lines, bytes) in ``target``, creating it if need be.

    ``progress`` is called with the number of bytes consumed after each committed batch.
    Raises :class:`ArchiveError` (one line) for a malformed line or a database failure;
    batches before the failure stay committed, and running the import again is safe.
    """
    from logbot.storage import migrate
    from logbot.storage.engine import StorageError, make_engine
    from logbot.storage.writer import EventWriter, WriteFailed

    stats = ImportStats()
    try:
        engine = make_engine(target)
        migrate.upgrade(engine)
    except StorageError as exc:
        raise ArchiveError(str(exc)) from None
    writer = EventWriter(engine, upgrade=False)
    try:
        for rows, consumed in _batches(lines, source, tz, stats, batch_size):
            if rows:
                try:
                    try:
                        result = writer.write(rows)
                    except WriteFailed as exc:
                        if exc.transient:
                            raise
                        result = writer.write(rows, salvage=True)
                except WriteFailed as exc:
                    raise ArchiveError(f"cannot write the events: {exc}") from None
                stats.inserted += result.inserted
                stats.duplicates += result.duplicates
                stats.rekeyed += result.rekeyed
                stats.rejected += len(result.rejected)
            if progress is not None:
                progress(consumed)
    finally:
        writer.close()
        engine.dispose()
    return stats


def read_binary(stream: IO[bytes]) -> Iterator[bytes]:
    """The lines of ``stream`` in big reads (``for line in stream`` is slower on pipes)."""
    rest = b""
    while chunk := stream.read(1 << 20):
        chunk = rest + chunk
        lines = chunk.split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest
