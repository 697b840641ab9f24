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

import collections
import contextlib
import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from logbot.events import CHANNEL_KINDS
from logbot.render import json_line
from logbot.search import Filters, Reader
from logbot.storage.names import (
    CHANNEL_MAX,
    EARLIEST,
    KEY_SPREAD,
    LATEST,
    MSGID_MAX,
    NETWORK_MAX,
    NICK_MAX,
    TARGET_MAX,
    USERHOST_MAX,
)

if TYPE_CHECKING:
    from logbot.storage import bulk

__all__ = [
    "ArchiveError",
    "ImportStats",
    "RowBatch",
    "export_lines",
    "import_batches",
    "import_lines",
    "json_batches",
    "parse_line",
]

#: lines per transaction: large enough to amortise the commit and the FTS5 flush, small
#: enough that a batch of 10M-line imports keeps memory flat
IMPORT_BATCH = 20_000

_KINDS = frozenset(k.value for k in CHANNEL_KINDS)
_ONE_US = timedelta(microseconds=1)
_LATEST_US = (LATEST - EARLIEST) // _ONE_US
#: SQLite page cache of the importing connection, KiB. It also bounds each in-memory run
#: of the sorter that builds an index at the end of a bulk load, so the import's peak RSS
#: is about twice this plus the parsed batches (bench/README.md: 1M lines, 16 MiB or
#: 256 MiB, same wall time; #10 wants RSS <= 150 MB)
IMPORT_CACHE_KIB = 16_384
#: event_row's limit for message text
_TEXT_MAX = 1 << 20


class RowBatch(NamedTuple):
    """Storage rows for :func:`import_batches`, and the input bytes they came from."""

    rows: list[Any]
    consumed: int
    #: seconds the rows' time stamps can tell apart (text logs: 1 or 60); 0: exact
    resolution: int = 0
    #: the rows overlap in time with rows of an earlier file of this import (two logs of
    #: one channel): compare them with what is stored even in a bulk load
    overlaps: bool = False


class ArchiveError(Exception):
    """An import or export that cannot go on; one line for the user."""


def export_lines(reader: Reader, filters: Filters) -> Iterator[str]:
    """Every event passing ``filters``, oldest first, as JSON lines (without newlines)."""
    for rec in reader.export(filters):
        yield json_line(rec)


def export_text_lines(reader: Reader, filters: Filters, *, multi_channel: bool) -> Iterator[str]:
    """Every event passing ``filters``, oldest first, as the text log writes it (local time).

    The lines are :func:`logbot.backends.textfile.format_line`'s, with its ``--- Log
    opened`` / ``--- Day changed`` lines, so ``logbot import --format irclogbot`` reads them
    back. The database does not know which joins were the bot's own: every join is
    written as someone's.
    """
    from logbot.backends.textfile import date_line, format_line, local_day
    from logbot.events import RECORD_KINDS, Event, Kind
    from logbot.render import record_time

    day: str | None = None
    for rec in reader.export(filters):
        if Kind(rec.kind) in RECORD_KINDS:
            continue  # no text log has a line for them (see TextFileBackend.write)
        event = Event(
            record_time(rec.id),
            rec.network,
            rec.channel,
            Kind(rec.kind),
            rec.nick,
            rec.text,
            target=rec.target,
            userhost=rec.userhost,
        )
        this_day = local_day(event)
        if this_day != day:
            yield date_line(event, opened=day is None)
            day = this_day
        yield format_line(event, multi_channel=multi_channel)


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
    if not EARLIEST <= when < LATEST:
        raise ArchiveError(f"{where}: time {value!r} is outside {EARLIEST.year}..{LATEST.year - 1}")
    return when


def parse_line(line: str | bytes, where: str, tz: tzinfo | None = None) -> Any:
    """The storage row for one JSON line (see :data:`logbot.storage.rows.Row`).

    Raises :class:`ArchiveError` naming ``where`` (``FILE:LINE``) for anything malformed.
    """
    from logbot.events import Event, Kind
    from logbot.storage.rows import event_row
    from logbot.storage.schema import time_key

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
        msgid=_text(obj, "msgid", where, required=False),
    )
    # sequence 0: the writer walks on from there past other events of that microsecond,
    # and finds this very event if a previous import stored it
    return event_row(event, time_key(when))


class _Fast:
    """What the fast path of :func:`_parse_batch` needs, computed once per import."""

    def __init__(self) -> None:
        # the column sizes event_row clips to: values within them go through unchanged
        self.network = NETWORK_MAX
        self.channel = CHANNEL_MAX
        self.nick = NICK_MAX
        self.target = TARGET_MAX
        self.userhost = USERHOST_MAX


def _parse_batch(
    lines: list[bytes], numbers: list[int], source: str, tz: tzinfo | None, fast: _Fast
) -> list[Any]:
    """Rows for a batch of non-blank lines; one ``json.loads`` for the lot when it can.

    The fast path builds exactly the row :func:`parse_line` would for an ordinary line
    (strings within the column sizes, no NUL); anything else goes through parse_line,
    which also gives the precise error message.
    """
    try:
        objs = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:  # UnicodeDecodeError included
        objs = None
    if not isinstance(objs, list) or len(objs) != len(lines):
        return [
            parse_line(line, f"{source}:{n}", tz) for line, n in zip(lines, numbers, strict=True)
        ]
    rows: list[Any] = []
    append = rows.append
    epoch, one_us = EARLIEST, _ONE_US
    latest_us = _LATEST_US
    for obj, line, n in zip(objs, lines, numbers, strict=True):
        if type(obj) is dict:
            t = obj.get("time")
            network = obj.get("network")
            channel = obj.get("channel")
            nick = obj.get("nick")
            kind = obj.get("kind")
            text = obj.get("text", "")
            target = obj.get("target") or None
            userhost = obj.get("userhost") or None
            msgid = obj.get("msgid") or None
            if (
                type(t) is str
                and type(network) is str
                and type(channel) is str
                and type(nick) is str
                and type(text) is str
                # a list or an object is unhashable: checked as a string first
                and type(kind) is str
                and kind in _KINDS
                and channel
                and (target is None or type(target) is str)
                and (userhost is None or type(userhost) is str)
                and len(network) <= fast.network
                and len(channel) <= fast.channel
                and len(nick) <= fast.nick
                and len(text) <= _TEXT_MAX
                and (target is None or len(target) <= fast.target)
                and (userhost is None or len(userhost) <= fast.userhost)
                and (msgid is None or (type(msgid) is str and len(msgid) <= MSGID_MAX))
                and b"\\u0000" not in line
            ):
                try:
                    when = datetime.fromisoformat(t)
                except ValueError:
                    when = None
                if when is not None and when.tzinfo is not None:
                    micros = (when - epoch) // one_us
                    if 0 <= micros < latest_us:
                        append(
                            (
                                micros * KEY_SPREAD,
                                network,
                                channel,
                                kind,
                                nick,
                                text,
                                target,
                                userhost,
                                # own and backfilled: 0, not False, which equals it and
                                # spares the driver's adapter lookup for a bool
                                0,
                                None,
                                msgid,
                                0,
                            )
                        )
                        continue
        append(parse_line(line, f"{source}:{n}", tz))
    return rows


def _batches(
    lines: Iterable[bytes], source: str, tz: tzinfo | None, stats: ImportStats, size: int
) -> Iterator[tuple[list[Any], int]]:
    fast = _Fast()
    batch: list[bytes] = []
    numbers: list[int] = []
    consumed = 0
    for number, line in enumerate(lines, 1):
        consumed += len(line)
        if not line.strip():
            continue
        batch.append(line)
        numbers.append(number)
        if len(batch) >= size:
            stats.lines += len(batch)
            yield _parse_batch(batch, numbers, source, tz, fast), consumed
            batch, numbers, consumed = [], [], 0
    if batch or consumed:
        stats.lines += len(batch)
        yield _parse_batch(batch, numbers, source, tz, fast), consumed


def import_lines(
    target: str | None,
    lines: Iterable[bytes],
    *,
    source: str = "-",
    progress: Callable[[int], None] | None = None,
    tz: tzinfo | None = None,
    batch_size: int = IMPORT_BATCH,
    bulk_allowed: bool = True,
    indexing: Callable[[], None] | None = None,
) -> ImportStats:
    """Store the events of ``lines`` (JSON lines, bytes) in ``target``, creating it if need be.

    ``progress`` is called with the number of bytes consumed after each committed batch.
    Into an empty database (and ``bulk_allowed``) the indexes are built once at the end
    (:mod:`logbot.storage.bulk`); ``indexing`` is called before that step starts.
    Raises :class:`ArchiveError` (one line) for a malformed line or a database failure;
    batches before the failure stay committed, and running the import again is safe.
    """
    stats = ImportStats()
    return import_batches(
        target,
        json_batches(lines, source=source, tz=tz, stats=stats, batch_size=batch_size),
        stats=stats,
        progress=progress,
        bulk_allowed=bulk_allowed,
        indexing=indexing,
    )


def json_batches(
    lines: Iterable[bytes],
    *,
    source: str,
    tz: tzinfo | None,
    stats: ImportStats,
    batch_size: int = IMPORT_BATCH,
) -> Iterator[RowBatch]:
    """The storage rows of JSON lines, in batches for :func:`import_batches`."""
    for rows, consumed in _batches(lines, source, tz, stats, batch_size):
        yield RowBatch(rows, consumed)


def import_batches(
    target: str | None,
    batches: Iterable[RowBatch],
    *,
    stats: ImportStats | None = None,
    progress: Callable[[int], None] | None = None,
    bulk_allowed: bool = True,
    indexing: Callable[[], None] | None = None,
) -> ImportStats:
    """Store ``batches`` of storage rows in ``target``, creating it if need be.

    The one bulk path of every import (JSON lines, other programs' text logs). Rows of a
    batch with a ``resolution`` (text logs stamped to the second or minute) that match
    an event already stored within the same second or minute (same channel, kind, nick
    and text) are not stored again, so a text log of what the bot also logged live adds
    nothing twice. Otherwise as :func:`import_lines`; counts go to ``stats``.
    """
    from sqlalchemy import event as sa_event

    from logbot.storage import bulk, migrate
    from logbot.storage.engine import StorageError, make_engine
    from logbot.storage.writer import EventWriter, WriteFailed, write_or_salvage

    stats = stats if stats is not None else ImportStats()
    new_file: bulk.NewFile | None = None
    try:
        engine = make_engine(target)
        if bulk_allowed:
            # into a file not there yet: a temporary file, put in place when complete
            new_file = bulk.NewFile.open(engine, make_engine)
            if new_file is not None:
                engine = new_file.engine
        if engine.dialect.name == "sqlite":
            # registered after the engine's own pragmas, so these win
            sa_event.listen(engine, "connect", _import_pragmas)
        migrate.upgrade(engine)
        bulk_load = bulk_allowed and bulk.begin(engine)
    except StorageError as exc:
        if new_file is not None:
            new_file.discard()
        raise ArchiveError(str(exc)) from None
    writer = EventWriter(engine, upgrade=False, feed_fts=not bulk_load)
    parsed = _Prefetch(iter(batches))
    failed = True
    try:
        for rows, consumed, resolution, overlaps in parsed:
            if rows:
                # in key order the primary key and the (x, id) indexes are appended to
                rows.sort(key=_first)
                try:
                    if resolution and (overlaps or not bulk_load):
                        # into an empty database nothing can be there already, except
                        # what an earlier file of this import stored
                        rows, known = writer.drop_known(rows, resolution)
                        stats.duplicates += known
                    result = write_or_salvage(writer, rows)
                except WriteFailed as exc:
                    raise ArchiveError(f"cannot write the events: {exc}") from None
                stats.inserted += result.inserted
                stats.duplicates += result.duplicates
                stats.rekeyed += result.rekeyed
                stats.rejected += len(result.rejected)
            if progress is not None:
                progress(consumed)
        failed = False
    finally:
        parsed.close()
        writer.close()
        try:
            # a new file that failed is dropped whole: nothing to index
            if bulk_load and not (failed and new_file is not None):
                # also after a failure or Ctrl-C: what was committed becomes searchable
                if indexing is not None:
                    indexing()
                with _storage_errors():
                    bulk.finish(engine)
        except BaseException:
            failed = True
            raise
        finally:
            engine.dispose()
            if new_file is not None:
                if failed:
                    new_file.discard()
                else:
                    _put_in_place(new_file)
    return stats


def _put_in_place(new_file: bulk.NewFile) -> None:
    """Link the loaded new file into place; an ArchiveError (one line) if that fails."""
    try:
        new_file.commit()
    except FileExistsError:
        raise ArchiveError(
            f"{new_file.final} was created by something else during the import; "
            f"the imported database is kept as {new_file.temp}"
        ) from None
    except OSError as exc:
        new_file.discard()
        raise ArchiveError(f"cannot put {new_file.final} in place: {exc.strerror}") from None


@contextlib.contextmanager
def _storage_errors() -> Iterator[None]:
    from logbot.storage.engine import StorageError
    from logbot.storage.messages import error_line

    try:
        yield
    except StorageError as exc:
        raise ArchiveError(str(exc)) from None
    except Exception as exc:  # a database error building the indexes
        raise ArchiveError(f"cannot build the indexes: {error_line(exc)}") from exc


def _import_pragmas(dbapi_conn: Any, _record: object) -> None:
    dbapi_conn.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
    # the engine's temp_store = MEMORY would keep the sorted runs of each index build in
    # the heap, growing with the input (1M events: +55 MB); as temporary files they live
    # in the kernel's page cache instead, which is not the process's RSS
    dbapi_conn.execute("PRAGMA temp_store = FILE")


class _Prefetch:
    """Runs an iterator on a one-thread executor, a few items ahead of the consumer.

    Parsing JSON holds the GIL; SQLite and psycopg release it while they write. With the
    parsing of the next batch overlapping the writing of this one, an import uses both
    cores of a small machine. Exceptions reach the consumer in order.
    """

    def __init__(self, source: Iterator[Any], depth: int = 2) -> None:
        self._source = source
        self._depth = depth
        # one worker: the source is advanced by one thread at a time, in order
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="logbot-import")
        self._ahead: collections.deque[Future[Any]] = collections.deque()

    def _next(self) -> Any:
        return next(self._source, _END)

    def __iter__(self) -> Iterator[Any]:
        ahead = self._ahead
        while True:
            while len(ahead) < self._depth:
                ahead.append(self._executor.submit(self._next))
            item = ahead.popleft().result()
            if item is _END:
                return
            yield item

    def close(self) -> None:
        for future in self._ahead:
            future.cancel()
        self._ahead.clear()
        self._executor.shutdown(wait=True)


_END = object()


def _first(row: Any) -> int:
    return int(row[0])


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
