"""The bulk INSERT of event rows, one way per database: the writer's hot path.

:func:`inserter_for` ``(engine, feed_fts=...)`` picks the :class:`Inserter` for an engine;
:class:`~logbot.storage.writer.EventWriter` calls ``prepare(conn)`` on each new DBAPI
connection and ``insert(conn, rows)`` once per batch (rows of :data:`DbRow`); the writer
commits, so that it can hold a commit back (see ``EventWriter.write``'s ``after``).

- SQLite: multi-row ``INSERT ... VALUES`` in statements of a few fixed sizes (plain rows,
  those with every optional column at its default, binding only the first five columns),
  and the FTS5 index fed in the same transaction (from the rows just written, in one statement, when
  the batch's key range holds no older row).
- PostgreSQL with psycopg 3: one ``COPY`` into ``events`` (psycopg 3 parses every query
  text it has not cached: a multi-row VALUES of thousands of placeholders costs ~45 us a
  row in Python; COPY sends rows as data).
  Each row carries its full-text ``tsvector`` (:func:`logbot.storage.tsvector.tsvector_text`)
  in the column the GIN index is on.
- Any other driver (psycopg2): multi-row VALUES as for SQLite, without the FTS5 index (on
  PostgreSQL with the ``tsvector`` column).

A taken key fails the insert with the driver's ``IntegrityError`` on every path (no
``ON CONFLICT``): the writer's one collision path handles duplicates and re-keys alike.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, cast

import sqlalchemy as sa

from logbot.storage import fts
from logbot.storage.names import PG_FTS_COLUMN
from logbot.storage.schema import EVENT_COLUMNS
from logbot.storage.tsvector import tsvector_text

#: a row of ``events`` in EVENT_COLUMNS order
DbRow = tuple[int, int, str, str, str, str | None, str | None, int | None, bool, str | None, bool]

#: rows per INSERT statement, largest first: 11 parameters a row, at most 11,000 in a
#: statement (SQLite allows 32,766 by default, PostgreSQL 65,535); sizes this SQLite's
#: parameter limit cannot take are skipped
STATEMENT_ROWS = (1_000, 250, 50, 10, 1)
#: the events columns in table order: every INSERT, COPY and row tuple here follows it
_COLUMNS = ", ".join(EVENT_COLUMNS)
_EVENTS_HEAD = f"INSERT INTO events ({_COLUMNS}) VALUES "
_FTS_HEAD = f"INSERT INTO {fts.FTS_TABLE}(rowid, {fts.FTS_COLUMN}) VALUES "
#: SQLite: the FTS5 index fed from the stored rows of a key range
_SQLITE_FTS_FROM_RANGE = (
    f"INSERT INTO {fts.FTS_TABLE}(rowid, {fts.FTS_COLUMN}) "
    "SELECT id, text FROM events WHERE id BETWEEN ? AND ? AND text <> ''"
)
#: PostgreSQL: the events columns and the full-text column, last (DbRow + its tsvector)
_PG_COLUMNS = f"{_COLUMNS}, {PG_FTS_COLUMN}"
# straight into events: a taken key fails the COPY with the driver's IntegrityError, as the
# VALUES path fails, so both engines share one collision path and its duplicate/re-key
# rules (a staging table and an INSERT ... SELECT cost the server ~1.5 us a row more)
_PG_COPY_SQL = f"COPY events ({_PG_COLUMNS}) FROM STDIN"
_PG_EVENTS_HEAD = f"INSERT INTO events ({_PG_COLUMNS}) VALUES "

_key_of = operator.itemgetter(0)


class Inserter:
    """Multi-row VALUES inserts (any driver); subclasses per database."""

    def __init__(self, mark: str) -> None:
        self._mark = mark
        self._events_sql: dict[int, str] = {}
        self._sizes: tuple[int, ...] = STATEMENT_ROWS

    def prepare(self, conn: Any) -> None:
        """Set up a new DBAPI connection (SQLAlchemy's pool proxy) for inserts."""

    def insert(self, conn: Any, db_rows: Sequence[DbRow]) -> None:
        """Insert ``db_rows`` (not committed); the driver's IntegrityError if a key is taken."""
        # Multi-row VALUES, not executemany: the driver binds a whole chunk at once and
        # the database inserts it in one step with the GIL released, while executemany
        # gives the GIL back and waits for it again on every row, which stalls behind a
        # busy reactor thread (the convoy effect) exactly when the bot is flooded.
        cur = conn.cursor()
        try:
            self._insert_rows(cur, sorted(db_rows, key=_key_of))
        finally:
            cur.close()

    def _insert_rows(self, cur: Any, db_rows: list[DbRow]) -> None:
        flat = [v for r in db_rows for v in r]
        self._insert_many(cur, self._events_sql, _EVENTS_HEAD, len(EVENT_COLUMNS), flat)

    def _values_sql(self, cache: dict[int, str], head: str, width: int, rows: int) -> str:
        sql = cache.get(rows)
        if sql is None:
            one = "(" + ", ".join([self._mark] * width) + ")"
            sql = cache[rows] = head + ", ".join([one] * rows)
        return sql

    def _insert_many(
        self,
        cur: Any,
        cache: dict[int, str],
        head: str,
        width: int,
        flat: list[Any],
        sizes: tuple[int, ...] | None = None,
    ) -> int:
        """INSERT ``flat`` (``width`` values a row) in statements of a few fixed sizes
        (``sizes``, largest first; by default this inserter's, which end with 1: every
        row; other sizes insert the first rows they add up to); how many rows it inserted.

        Only sizes from :data:`STATEMENT_ROWS` are used, so the driver's statement cache
        holds a handful of prepared statements instead of one per batch length (each
        large one costs megabytes and a fresh parse).
        """
        total = len(flat) // width
        done = 0
        for size in self._sizes if sizes is None else sizes:
            while total - done >= size:
                sql = self._values_sql(cache, head, width, size)
                cur.execute(sql, flat[done * width : (done + size) * width])
                done += size
        return done


#: SQLite: the columns bound for a plain row, one whose others all hold their defaults
#: (no target, userhost, receive time or msgid; not the bot's own; not backfilled): a
#: channel message, most of a busy log. The driver binds None and bool through an adapter
#: (see _bind_none_and_bool_directly), ~1,000 instructions a value: the six defaults
#: bound cost ~7,800 instructions a row of the writer's ~49,000 (callgrind).
_PLAIN_WIDTH = 5
_PLAIN_DEFAULTS = (None, None, None, False, None, False)
_PLAIN_HEAD = f"INSERT INTO events ({', '.join(EVENT_COLUMNS[:_PLAIN_WIDTH])}) VALUES "
#: SQLite: rows per INSERT, largest first, of plain rows (5 parameters a row) and of the
#: others (all 11). The driver keeps every size it prepared: 1,000 plain rows cost
#: ~0.56 MB of statement, 500 full rows ~0.64 MB, together what one 1,000-row statement
#: of all columns did (issue #15's 60 MB has no room for more). Plain rows go in whole
#: statements of 1,000 only, the rest and any plain rows left over in the other sizes: a
#: flood's batch of 4,000 (MAX_MEMORY_ROWS), ~90% plain, takes five statements, each a
#: wait for the GIL on the writer thread while the reactor is busy.
PLAIN_STATEMENT_ROWS = (1_000,)
SQLITE_STATEMENT_ROWS = (500, 250, 50, 10, 1)


def _bind_none_and_bool_directly() -> None:
    """Let :mod:`sqlite3` bind None and bool without its failing adapter search.

    The driver binds only exact int, float, str and bytearray values directly; for any
    other (None, bool) it looks for an adapter and asks the type and the value for
    ``__adapt__`` and ``__conform__``, raising and clearing an AttributeError: ~0.27 us a
    value with the GIL held, and a typical row has six (~1.6 us of the writer thread's
    GIL time a row, which the reactor waits for). Registered adapters are found at the
    first step, and these return what the driver binds anyway: NULL for None, 0/1 for a
    bool. The registry is the driver's, process-wide; a prepared statement binding ''
    through ``nullif`` instead costs ~2 MB more of prepared statements (issue #15's 60 MB).
    """
    none_for_none = cast("Callable[[None], None]", {}.get)  # a C callable: no Python frame
    sqlite3.register_adapter(type(None), none_for_none)
    sqlite3.register_adapter(bool, int)


class SQLiteInserter(Inserter):
    """Events and (unless a bulk load builds it afterwards) the FTS5 index."""

    def __init__(self, mark: str, *, feed_fts: bool) -> None:
        super().__init__(mark)
        _bind_none_and_bool_directly()
        self._feed_fts = feed_fts
        self._fts_sql: dict[int, str] = {}
        self._plain_sql: dict[int, str] = {}
        self._sizes = SQLITE_STATEMENT_ROWS
        self._plain_sizes: tuple[int, ...] = PLAIN_STATEMENT_ROWS

    def prepare(self, conn: Any) -> None:
        driver = conn.driver_connection
        if isinstance(driver, sqlite3.Connection):
            limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            width = len(EVENT_COLUMNS)
            self._sizes = tuple(n for n in SQLITE_STATEMENT_ROWS if n * width <= limit)
            self._plain_sizes = tuple(n for n in PLAIN_STATEMENT_ROWS if n * _PLAIN_WIDTH <= limit)

    def _insert_rows(self, cur: Any, db_rows: list[DbRow]) -> None:
        """Plain rows in whole statements of :data:`PLAIN_STATEMENT_ROWS` (five columns
        bound a row), the rest, with any plain rows left over, as ``Inserter`` does."""
        plain: list[DbRow] = []
        full: list[DbRow] = []
        for r in db_rows:
            (plain if r[_PLAIN_WIDTH:] == _PLAIN_DEFAULTS else full).append(r)
        flat = [v for r in plain for v in r[:_PLAIN_WIDTH]]
        taken = self._insert_many(
            cur, self._plain_sql, _PLAIN_HEAD, _PLAIN_WIDTH, flat, self._plain_sizes
        )
        if taken < len(plain):
            full += plain[taken:]
            full.sort(key=_key_of)
        if full:
            super()._insert_rows(cur, full)

    def insert(self, conn: Any, db_rows: Sequence[DbRow]) -> None:
        # FTS5 flushes its in-memory index into a new segment whenever a rowid is not
        # larger than the previous one: out-of-order keys (several networks, server-time,
        # a spool replay) would make a segment per row. In key order, one per transaction.
        rows = sorted(db_rows, key=_key_of)
        cur = conn.cursor()
        try:
            self._insert_rows(cur, rows)
            if self._feed_fts and rows and not self._index_range(cur, rows):
                # the range held older rows too, and their texts are now indexed twice:
                # undo the batch and index its texts by value
                conn.rollback()
                self._insert_rows(cur, rows)
                texts = [v for r in rows if r[4] for v in (r[0], r[4])]
                self._insert_many(cur, self._fts_sql, _FTS_HEAD, 2, texts)
        finally:
            cur.close()

    @staticmethod
    def _index_range(cur: Any, rows: list[DbRow]) -> bool:
        """Index the texts of the stored rows from the first key of ``rows`` to the last, in
        one statement (no text bound again, and one GIL hand-over on the writer thread where
        a count first would cost more); False if that indexed more texts than ``rows`` have,
        as when a replay lands among older rows."""
        cur.execute(_SQLITE_FTS_FROM_RANGE, (rows[0][0], rows[-1][0]))
        return bool(cur.rowcount == len(rows) - [r[4] for r in rows].count(""))


def _with_tsvector(r: DbRow) -> tuple[Any, ...]:
    """A row as PostgreSQL stores it: the events columns, then the text's tsvector."""
    return (*r, tsvector_text(r[4]) if r[4] else None)


class PostgresCopyInserter(Inserter):
    """psycopg 3: one COPY into events."""

    def insert(self, conn: Any, db_rows: Sequence[DbRow]) -> None:
        cur = conn.driver_connection.cursor()
        try:
            with cur.copy(_PG_COPY_SQL) as copy:
                write_row = copy.write_row
                for r in sorted(db_rows, key=_key_of):
                    write_row(_with_tsvector(r))
        finally:
            cur.close()


class PostgresValuesInserter(Inserter):
    """Any other PostgreSQL driver: multi-row VALUES with the tsvector column."""

    def _insert_rows(self, cur: Any, db_rows: list[DbRow]) -> None:
        flat = [v for r in db_rows for v in _with_tsvector(r)]
        self._insert_many(cur, self._events_sql, _PG_EVENTS_HEAD, len(EVENT_COLUMNS) + 1, flat)


def inserter_for(engine: sa.Engine, *, feed_fts: bool = True) -> Inserter:
    """The inserter for ``engine``'s database and driver (see the module doc)."""
    mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    if engine.dialect.name == "sqlite":
        return SQLiteInserter(mark, feed_fts=feed_fts)
    if engine.dialect.name == "postgresql":
        if engine.dialect.driver == "psycopg":
            return PostgresCopyInserter(mark)
        return PostgresValuesInserter(mark)
    return Inserter(mark)
