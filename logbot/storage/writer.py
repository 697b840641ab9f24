"""Blocking bulk writes of events: the one place that inserts into ``events``.

API (no Twisted here; the SQL backend runs it on its writer thread, ``logbot import`` may
call it directly):

- Rows (:data:`logbot.storage.rows.Row`, made by :func:`logbot.storage.rows.event_row`
  under keys from :class:`logbot.storage.rows.KeyAllocator`) are what it writes. Rows of
  the gap kinds (:data:`logbot.events.GAP_KINDS`) travel in order with the events and
  become rows of ``gaps`` (see :mod:`logbot.storage.gaps`).
- :class:`EventWriter` ``(engine)``: ``write(rows, salvage=False) -> WriteResult``; each
  call is one committed transaction (channels are created as needed, the SQLite FTS5 index
  is fed in bulk in the same transaction: :mod:`logbot.storage.inserts`). Raises
  :class:`WriteFailed` whose ``transient`` says whether retrying later can help (database
  down, locked, disk full) or the rows themselves are refused (then call again with
  ``salvage=True``: rows are cleaned, and any row still refused alone comes back in
  ``WriteResult.rejected``).
- ``write(rows, after=gate)`` (PostgreSQL, a second writer on its own connection): the
  batch is inserted at once but committed only once the :class:`CommitGate` of the batch
  before it opens, and not at all if that batch was not committed or has not ended
  within ``GATE_TIMEOUT`` (then :class:`WriteFailed`, transient, and nothing of this batch
  is stored). Two batches are
  then in flight while their rows still become visible in key order, which a reader that
  follows new rows by key (the web archive's live page) relies on.

A backfilled row (from the server's history) that is already stored is skipped: same
msgid in the same channel, or (when either has no msgid) same second, kind, nick and text.

Keys never lose an event: if a key is taken, the stored row is compared with the new one.
Same channel, kind, nick, text, target and userhost means it is the same event written
before (a spool replayed twice, a batch whose commit succeeded but whose answer was lost,
another bot logging the same channel with the same server time): it is skipped, so
replays are exactly-once. Anything else is a different event: it moves to the next free
key (one sequence number later, still in time order).
"""

from __future__ import annotations

import collections
import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from logbot.events import GAP_KINDS, Kind
from logbot.storage import gaps, migrate
from logbot.storage.engine import StorageError
from logbot.storage.inserts import DbRow, inserter_for
from logbot.storage.messages import error_line
from logbot.storage.redact import apply_redactions
from logbot.storage.rows import Row, sanitize_row
from logbot.storage.schema import EVENT_COLUMNS, KEY_SPREAD, channel_key

_GAP_KIND_VALUES = frozenset(k.value for k in GAP_KINDS)
#: rows that are not events: gap marks and redactions, applied after a batch's events
_MARK_KIND_VALUES = _GAP_KIND_VALUES | {Kind.REDACT.value}

#: rows per IN (...) lookup when resolving key collisions
_LOOKUP_CHUNK = 500
#: how often a batch is retried when another writer keeps taking the keys it chose
_RESOLVE_ATTEMPTS = 8
#: seconds a batch waits at the gate of the one before it (CommitGate), holding its
#: inserted rows: past it, it rolls back. The wait can be a cycle the database cannot
#: see: the batch before, moving a row whose key is taken (_write_resolving), may pick a
#: key this one has inserted and wait for this transaction to end.
GATE_TIMEOUT = 5.0


@dataclass
class WriteResult:
    """What one committed ``write`` did."""

    inserted: int = 0
    #: rows already stored under their key (or a later one) with the same content
    duplicates: int = 0
    #: rows stored under a later key because theirs held a different event
    rekeyed: int = 0
    #: stored messages an IRCv3 REDACT deleted
    redacted: int = 0
    #: rows the database refuses even alone, cleaned (only with ``salvage=True``)
    rejected: list[Row] = field(default_factory=list)
    #: the tables were gone (a database recreated or emptied under the writer) and this
    #: write created them again before committing
    recreated: bool = False


class CommitGate:
    """Opens when a batch's write has ended: ``open(True)`` once it is committed,
    ``open(False)`` if it failed. A writer given the gate as ``after`` commits only behind
    an open, committed batch. Thread-safe: opened in one writer's thread, waited on in
    another's."""

    def __init__(self) -> None:
        self._ended = threading.Event()
        self._committed = False

    def open(self, committed: bool) -> None:
        self._committed = committed
        self._ended.set()

    def wait(self, timeout: float) -> bool | None:
        """Whether the batch before was committed, once the gate opens; None if it has not
        within ``timeout`` seconds."""
        if not self._ended.wait(timeout):
            return None
        return self._committed


class _EarlierBatchFailed(Exception):
    """The batch this one waited for was not committed."""


class WriteFailed(Exception):
    """A write did not commit; ``transient``: the same rows may succeed later.

    ``schema``: the database lacks logbot's tables and creating them again failed; an
    operator has to look (retrying may help once they have).
    """

    def __init__(self, message: str, *, transient: bool, schema: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.schema = schema


#: PostgreSQL error codes that mean the schema the writer knows is gone: undefined table,
#: and a foreign key (of gaps, redactions) to a channel that no longer exists (its cached
#: id is stale; events have no key since 0007: ChannelsGone says it for them)
_SCHEMA_GONE_CODES = frozenset({"42P01", "23503"})


class ChannelsGone(StorageError):
    """PostgreSQL: a channel id the writer cached no longer names that channel (the
    database was recreated under it); what the foreign key's 23503 said before 0007."""


def schema_gone(exc: BaseException) -> bool:
    """True when ``exc`` says logbot's tables (or a channel row it cached) are missing."""
    orig = getattr(exc, "orig", None)
    base = orig if isinstance(orig, BaseException) else exc
    if isinstance(base, ChannelsGone) or getattr(base, "sqlstate", None) in _SCHEMA_GONE_CODES:
        return True
    return isinstance(base, sqlite3.OperationalError) and str(base).startswith("no such table")


#: seconds between two time spans of one channel above which drop_known asks separately
_RUN_GAP = 3_600


def _runs(buckets: list[int], gap: int) -> Iterator[tuple[int, int]]:
    """Sorted numbers as (first, last) runs without a hole wider than ``gap``."""
    low = high = buckets[0]
    for b in buckets[1:]:
        if b - high > max(gap, 1):
            yield low, high
            low = b
        high = b
    yield low, high


# (channel_id, kind, nick, text, target, userhost): what makes two rows the same event
_Content = tuple[int, str, str, str, str | None, str | None]
# the key and those six: the first seven columns
_CONTENT_COLUMNS = ", ".join(EVENT_COLUMNS[:7])
# ... plus the msgid: two lines alike in all else but with different msgids are two lines
_STORED_COLUMNS = _CONTENT_COLUMNS + ", msgid"


class EventWriter:
    """Writes batches of rows into one database; use it from one thread at a time."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        upgrade: bool = True,
        feed_fts: bool = True,
        statement_timeout: float | None = None,
    ) -> None:
        self.engine = engine
        # PostgreSQL: a statement of this connection that runs longer (seconds) is cancelled
        # by the server; a server-side hang (a lock never granted) then fails the batch
        self._statement_timeout = statement_timeout
        self._upgrade = upgrade
        self._conn: Any = None  # SQLAlchemy's pool proxy around the DBAPI connection
        self._channel_ids: dict[tuple[str, str], int] = {}
        self._dialect = engine.dialect.name
        self._dbapi: Any = engine.dialect.loaded_dbapi
        self._mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        # feed_fts=False: a bulk load (logbot.storage.bulk) builds the index afterwards
        self._inserter = inserter_for(engine, feed_fts=feed_fts)
        #: the gate the running write commits behind (see write)
        self._after: CommitGate | None = None
        self._poison: tuple[type[BaseException], ...] = (
            self._dbapi.DataError,
            UnicodeError,
            OverflowError,
            ValueError,
            TypeError,
        )

    # -- connection -------------------------------------------------------------------

    def _connection(self) -> Any:
        if self._conn is None:
            if self._upgrade:
                migrate.upgrade(self.engine)
                self._upgrade = False
            self._conn = self.engine.raw_connection()
            self._inserter.prepare(self._conn)
            if self._dialect == "postgresql" and self._statement_timeout is not None:
                cur = self._conn.cursor()
                try:
                    ms = int(self._statement_timeout * 1000)
                    cur.execute(f"SET statement_timeout = {ms}")
                finally:
                    cur.close()
                self._conn.commit()
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            # the connection is already broken: forgetting it is enough
            with contextlib.suppress(Exception):
                conn.invalidate()

    def close(self) -> None:
        """Give the connection back; the next write opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                if self._dialect == "postgresql" and self._statement_timeout is not None:
                    # the pool may hand it to a migration next, which must not be cut short
                    cur = conn.cursor()
                    cur.execute("RESET statement_timeout")
                    cur.close()
                    conn.commit()
            with contextlib.suppress(Exception):
                conn.close()

    # -- writing ----------------------------------------------------------------------

    def write(
        self, rows: Sequence[Row], *, salvage: bool = False, after: CommitGate | None = None
    ) -> WriteResult:
        """Insert ``rows`` in one transaction and commit (see the module doc); with
        ``after``, commit only behind that gate's committed batch."""
        if not rows:
            return WriteResult()
        self._after = after
        try:
            if salvage:
                return self._salvage(rows)
            return self._write_retrying(rows)
        except _EarlierBatchFailed as exc:
            self._rollback()
            raise WriteFailed(str(exc), transient=True) from None
        finally:
            self._after = None

    def _commit(self, conn: Any) -> None:
        """Commit the write's transaction; the first commit of a write given ``after``
        waits for that gate (_EarlierBatchFailed if its batch was not committed)."""
        gate, self._after = self._after, None
        if gate is not None:
            committed = gate.wait(GATE_TIMEOUT)
            if committed is None:
                raise _EarlierBatchFailed(
                    f"the batch before this one did not finish within {GATE_TIMEOUT:.0f}s; "
                    "this one is written again after it"
                )
            if not committed:
                raise _EarlierBatchFailed(
                    "an earlier batch was not written; this one waits with it"
                )
        conn.commit()

    def _write_retrying(self, rows: Sequence[Row]) -> WriteResult:
        # a connection kept open across a server restart fails on first use although the
        # database is back: one more try on a fresh connection tells the two apart
        attempts = 2 if self._conn is not None else 1
        attempt = 0
        recreated = False
        while True:
            try:
                result = self._write(rows)
            except self._poison as exc:
                self._rollback()
                raise WriteFailed(error_line(exc), transient=False) from exc
            except (self._dbapi.Error, sa.exc.DBAPIError, StorageError, OSError) as exc:
                self._drop_connection()
                if schema_gone(exc) and not recreated:
                    # not a passing outage: retrying the same statements fails for ever
                    self._recreate(exc)
                    recreated = True
                    continue
                attempt += 1
                if attempt >= attempts:
                    raise WriteFailed(
                        error_line(exc), transient=True, schema=schema_gone(exc)
                    ) from exc
            else:
                result.recreated = recreated
                return result

    def store_facts(self, facts: Mapping[tuple[str, str], str]) -> None:
        """Keep the latest value of each (network, name) fact in ``network_facts`` (an empty
        value: no row), in one transaction; WriteFailed if the database refuses."""
        m = self._mark
        try:
            conn = self._connection()
            cur = conn.cursor()
            try:
                for (network, name), value in facts.items():
                    cur.execute(
                        f"DELETE FROM network_facts WHERE network = {m} AND name = {m}",
                        (network, name),
                    )
                    if value:
                        cur.execute(
                            "INSERT INTO network_facts (network, name, value) "
                            f"VALUES ({m}, {m}, {m})",
                            (network, name, value),
                        )
            finally:
                cur.close()
            conn.commit()
        except (self._dbapi.Error, sa.exc.DBAPIError, StorageError, OSError) as exc:
            self._rollback()
            raise WriteFailed(error_line(exc), transient=True) from exc

    def _recreate(self, cause: BaseException) -> None:
        """The tables are gone: create them again (once per write), forget channel ids."""
        self._channel_ids.clear()
        try:
            migrate.upgrade(self.engine)
        except Exception as exc:
            raise WriteFailed(
                f"{error_line(cause)}; creating the tables again failed: {error_line(exc)}",
                transient=True,
                schema=True,
            ) from exc

    def drop_known(self, rows: Sequence[Row], resolution: int) -> tuple[list[Row], int]:
        """``rows`` without those already stored to within ``resolution`` seconds.

        For rows read from a log stamped to the second (or minute): a row is known when a
        stored event of its channel has the same kind, nick and text in the same
        ``resolution``-second span, whatever its microseconds (the bot logged it live, or
        a previous import stored it). Each stored event accounts for one row, so a line
        said twice in one second is kept twice. Returns the rows to write and how many
        were dropped. Raises :class:`WriteFailed` as :meth:`write` does.
        """
        if not rows:
            return [], 0
        try:
            return self._drop_known(rows, resolution)
        except (self._dbapi.Error, sa.exc.DBAPIError, StorageError, OSError) as exc:
            self._drop_connection()
            raise WriteFailed(error_line(exc), transient=True) from exc

    def _drop_known(self, rows: Sequence[Row], resolution: int) -> tuple[list[Row], int]:
        conn = self._connection()
        span = resolution * 1_000_000 * KEY_SPREAD
        spans: dict[tuple[str, str], set[int]] = collections.defaultdict(set)
        for r in rows:
            spans[r[1], channel_key(r[2])].add(r[0] // span)
        known: collections.Counter[tuple[str, str, int, str, str, str]] = collections.Counter()
        m = self._mark
        cur = conn.cursor()
        try:
            for (network, name_key), buckets in spans.items():
                cur.execute(
                    f"SELECT id FROM channels WHERE network = {m} AND name_key = {m}",
                    (network, name_key),
                )
                found = cur.fetchone()
                if found is None:
                    continue
                for low, high in _runs(sorted(buckets), _RUN_GAP // resolution):
                    cur.execute(
                        "SELECT id, kind, nick, text FROM events "
                        f"WHERE channel_id = {m} AND id >= {m} AND id < {m}",
                        (int(found[0]), low * span, (high + 1) * span),
                    )
                    for key, kind, nick, text in cur.fetchall():
                        known[network, name_key, int(key) // span, kind, nick, text] += 1
        finally:
            cur.close()
        if not known:
            return list(rows), 0
        kept: list[Row] = []
        for r in rows:
            ident = (r[1], channel_key(r[2]), r[0] // span, r[3], r[4], r[5])
            if known[ident] > 0:
                known[ident] -= 1
            else:
                kept.append(r)
        return kept, len(rows) - len(kept)

    def _rollback(self) -> None:
        if self._conn is not None:
            try:
                self._conn.rollback()
            except Exception:
                self._drop_connection()

    def _write(self, rows: Sequence[Row]) -> WriteResult:
        conn = self._connection()
        ids, pairs = self._resolve_channels(conn, rows)
        marks = [r for r in rows if r[3] in _MARK_KIND_VALUES]
        if marks:
            rows = [r for r in rows if r[3] not in _MARK_KIND_VALUES]
        db_rows: list[DbRow] = [
            (r[0], ids[r[1], r[2]], r[3], r[4], r[5], r[6], r[7], r[9], r[8], r[10], r[11])
            for r in rows
        ]
        result = WriteResult()
        if any(r[10] for r in db_rows):
            kept = self._drop_backfilled_duplicates(conn, db_rows)
            result.duplicates += len(db_rows) - len(kept)
            db_rows = kept
        if db_rows:
            try:
                self._lock_channels(conn, ids, pairs)
                self._inserter.insert(conn, db_rows)
                self._commit(conn)
                result.inserted += len(db_rows)
            except self._dbapi.IntegrityError:
                conn.rollback()
                resolved = self._write_resolving(conn, db_rows, ids, pairs)
                resolved.duplicates += result.duplicates
                result = resolved
        if marks:
            # after the events: a first join's gap is measured from the last stored event,
            # and a message redacted in the batch that brought it is stored to be deleted
            gap_marks = [
                (ids[r[1], r[2]], r[3], r[0], r[5], r[9]) for r in marks if r[3] in _GAP_KIND_VALUES
            ]
            if gap_marks:
                gaps.apply_marks(conn, self._mark, gap_marks)
            redacted = [
                (ids[r[1], r[2]], r[0], r[4], r[10] or "", r[5])
                for r in marks
                if r[3] not in _GAP_KIND_VALUES
            ]
            if redacted:
                result.redacted += apply_redactions(conn, self._mark, redacted)
            self._commit(conn)
        return result

    def _drop_backfilled_duplicates(self, conn: Any, db_rows: list[DbRow]) -> list[DbRow]:
        """The rows without the backfilled ones already stored (or twice in this batch)."""
        m = self._mark
        kept: list[DbRow] = []
        seen_ids: set[tuple[int, str]] = set()
        seen_lines: set[tuple[int, int, str, str, str]] = set()
        # live rows of this very batch count as stored: a history page may arrive within
        # the batch window of the lines it repeats
        for r in db_rows:
            if not r[10]:
                if r[9] is not None:
                    seen_ids.add((r[1], r[9]))
                seen_lines.add((r[1], r[0] // (KEY_SPREAD * 1_000_000), r[2], r[3], r[4]))
        cur = conn.cursor()
        try:
            for r in db_rows:
                if not r[10]:
                    kept.append(r)
                    continue
                channel_id, msgid = r[1], r[9]
                second = r[0] // (KEY_SPREAD * 1_000_000)
                line = (channel_id, second, r[2], r[3], r[4])
                if (msgid is not None and (channel_id, msgid) in seen_ids) or line in seen_lines:
                    continue
                found = None
                if msgid is not None:
                    cur.execute(
                        f"SELECT 1 FROM events WHERE channel_id = {m} AND msgid = {m}",
                        (channel_id, msgid),
                    )
                    found = cur.fetchone()
                if found is None:
                    lo = second * KEY_SPREAD * 1_000_000
                    msgid_rule = "" if msgid is None else " AND msgid IS NULL"
                    cur.execute(
                        f"SELECT 1 FROM events WHERE channel_id = {m} AND id >= {m} AND id < {m} "
                        f"AND kind = {m} AND nick = {m} AND text = {m}{msgid_rule}",
                        (channel_id, lo, lo + KEY_SPREAD * 1_000_000, r[2], r[3], r[4]),
                    )
                    found = cur.fetchone()
                if found is not None:
                    continue
                if msgid is not None:
                    seen_ids.add((channel_id, msgid))
                seen_lines.add(line)
                kept.append(r)
        finally:
            cur.close()
        return kept

    def _resolve_channels(
        self, conn: Any, rows: Iterable[Row]
    ) -> tuple[dict[tuple[str, str], int], set[tuple[str, str]]]:
        """The channel ids (creating rows as needed) and the (network, name) pairs of
        ``rows``."""
        ids = self._channel_ids
        pairs = {(r[1], r[2]) for r in rows}
        missing = pairs.difference(ids)
        if not missing:
            return ids, pairs
        m = self._mark
        cur = conn.cursor()
        try:
            for network, name in sorted(missing):
                key = channel_key(name)
                # ON CONFLICT: another bot on the same database may add it at the same time
                cur.execute(
                    "INSERT INTO channels (network, name, name_key) "
                    f"VALUES ({m}, {m}, {m}) ON CONFLICT (network, name_key) DO NOTHING",
                    (network, name, key),
                )
                cur.execute(
                    f"SELECT id FROM channels WHERE network = {m} AND name_key = {m}",
                    (network, key),
                )
                ids[network, name] = int(cur.fetchone()[0])
        finally:
            cur.close()
        # committed on its own: a channel row is harmless even if the events roll back
        conn.commit()
        return ids, pairs

    def _lock_channels(
        self, conn: Any, ids: Mapping[tuple[str, str], int], pairs: Iterable[tuple[str, str]]
    ) -> None:
        """PostgreSQL, where events have no foreign key (migration 0007): in the events'
        transaction, lock the batch's channel rows as the key's check did for each row
        (none can go before the events naming it commit), and check that each id still
        names its channel; ChannelsGone if not (a database recreated under the writer)."""
        if self._dialect != "postgresql":
            return
        wanted = {ids[p]: (p[0], channel_key(p[1]), p[1]) for p in pairs}
        cur = conn.cursor()
        try:
            cur.execute(
                "SELECT id, network, name_key FROM channels "
                f"WHERE id = ANY({self._mark}) FOR KEY SHARE",
                (list(wanted),),
            )
            found = {int(i): (network, key) for i, network, key in cur.fetchall()}
        finally:
            cur.close()
        for channel_id, (network, key, name) in wanted.items():
            if found.get(channel_id) != (network, key):
                raise ChannelsGone(
                    f"channel {name} of {network} (id {channel_id}) is not in the database"
                )

    def _stored(self, conn: Any, keys: Sequence[int]) -> dict[int, tuple[_Content, str | None]]:
        found: dict[int, tuple[_Content, str | None]] = {}
        cur = conn.cursor()
        try:
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[start : start + _LOOKUP_CHUNK]
                marks = ", ".join([self._mark] * len(chunk))
                cur.execute(
                    f"SELECT {_STORED_COLUMNS} FROM events WHERE id IN ({marks})",
                    tuple(chunk),
                )
                for row in cur.fetchall():
                    found[int(row[0])] = (
                        (int(row[1]), row[2], row[3], row[4], row[5], row[6]),
                        row[7],
                    )
        finally:
            cur.close()
        return found

    def _write_resolving(
        self,
        conn: Any,
        db_rows: Sequence[DbRow],
        ids: Mapping[tuple[str, str], int],
        pairs: Iterable[tuple[str, str]],
    ) -> WriteResult:
        """The slow path after a key collision: skip rows already stored, re-key the rest."""
        for _attempt in range(_RESOLVE_ATTEMPTS):
            stored = self._stored(conn, [r[0] for r in db_rows])
            taken = set(stored)
            result = WriteResult()
            out: list[DbRow] = []
            for r in db_rows:
                content: _Content = (r[1], r[2], r[3], r[4], r[5], r[6])
                key = r[0]
                duplicate = False
                while key in taken:
                    held = stored.get(key)
                    if (
                        held is not None
                        and held[0] == content
                        and (held[1] is None or r[9] is None or held[1] == r[9])
                    ):
                        duplicate = True
                        break
                    key += 1
                    if key not in stored and key not in taken:
                        # a key this lookup has not seen: ask the database about it
                        stored.update(self._stored(conn, [key]))
                        if key in stored:
                            taken.add(key)
                if duplicate:
                    result.duplicates += 1
                    continue
                if key != r[0]:
                    result.rekeyed += 1
                taken.add(key)
                out.append((key, *r[1:]))
            try:
                self._lock_channels(conn, ids, pairs)
                self._inserter.insert(conn, out)
                self._commit(conn)
            except self._dbapi.IntegrityError:
                # another writer took a key between our look and our insert: look again
                conn.rollback()
                continue
            result.inserted = len(out)
            return result
        raise WriteFailed("could not find free keys for a batch; will retry", transient=True)

    def _salvage(self, rows: Sequence[Row]) -> WriteResult:
        """Clean every row and write; rows refused even alone are returned, not raised."""
        clean = [sanitize_row(r) for r in rows]
        try:
            return self._write(clean)
        except self._poison:
            self._rollback()
        except (self._dbapi.Error, sa.exc.DBAPIError, StorageError, OSError) as exc:
            self._drop_connection()
            raise WriteFailed(error_line(exc), transient=True) from exc
        total = WriteResult()
        for row in clean:
            try:
                one = self._write([row])
            except self._poison:
                self._rollback()
                total.rejected.append(row)
                continue
            except (self._dbapi.Error, sa.exc.DBAPIError, StorageError, OSError) as exc:
                self._drop_connection()
                raise WriteFailed(error_line(exc), transient=True) from exc
            total.inserted += one.inserted
            total.duplicates += one.duplicates
            total.rekeyed += one.rekeyed
        return total


def write_or_salvage(writer: EventWriter, rows: Sequence[Row]) -> WriteResult:
    """``writer.write(rows)``; a batch refused for good (not a passing outage) is written
    again with ``salvage=True``, so one bad row does not cost the others. A transient
    :class:`WriteFailed` is raised as is: the caller keeps the rows for later."""
    try:
        return writer.write(rows)
    except WriteFailed as exc:
        if exc.transient:
            raise
        return writer.write(rows, salvage=True)
