"""SQLite: the file opened read-only through the standard library's ``sqlite3``.

Not through SQLAlchemy: importing it alone costs ~0.5 s of start-up, three times the
whole budget of a search. The FTS5 index's rowid is ``events.id``, so the newest matches
come from walking it backwards; filters are checked through the ``(channel_id, id)``,
``(lower(nick), id)`` and ``(kind, id)`` indexes (:meth:`SqliteReader._probes`).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import Any

from logbot.query import Query, matches, to_fts5, without_prefixes
from logbot.search.opening import check_revision
from logbot.search.reader import (
    _COLUMNS_MSGID,
    Channel,
    Reader,
    _limit,
    _marks,
    _prefilter,
    nick_key,
)
from logbot.search.request import Filters, SearchError, SearchTimeout
from logbot.storage.messages import error_line
from logbot.storage.names import FTS_TABLE, IX_CHANNEL, IX_KIND, IX_NICK

__all__ = ["PROGRESS_STEPS", "SqliteReader"]

#: virtual-machine steps between two looks at the clock under Reader.time_limit (a step
#: is a fraction of a microsecond: the limit is kept to about a millisecond)
PROGRESS_STEPS = 5_000
#: a query with a prefix beside other words: how many events matching the other words
#: are checked against the whole query before the index is asked for the whole query
#: after all (~2 us an event: the few milliseconds a search may spend on it)
PLAIN_FIRST_BUDGET = 1_000


class SqliteReader(Reader):
    """A SQLite file opened read-only with the standard library."""

    _walk_dense = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        # os.path, not pathlib: pathlib's imports cost ~4 ms of a search's start-up
        self.path = os.path.abspath(path)
        self.description = self.path
        if os.path.isdir(self.path):
            raise SearchError(f"{self.path} is a directory, not a database file")
        if not os.path.exists(self.path):
            raise SearchError(f"no database at {self.path}")
        try:
            self._conn = sqlite3.connect(_read_only_uri(self.path), uri=True)
        except sqlite3.Error as exc:
            raise SearchError(f"cannot open {self.path}: {exc}") from None
        try:
            self._conn.execute("PRAGMA busy_timeout = 10000")
            # reading through a memory map spares a copy per page; read-only, so it is safe
            self._conn.execute(f"PRAGMA mmap_size = {1 << 34}")
            self._conn.execute("PRAGMA cache_size = -65536")
            tables = {name for (name,) in self._conn.execute("SELECT name FROM sqlite_master")}
            revision = None
            if "alembic_version" in tables:
                row = self._conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = row[0] if row else None
            self.notes = check_revision(revision, self.description)
            if "events" in tables and FTS_TABLE not in tables:
                # dropped for a bulk import (logbot.storage.bulk) and not yet rebuilt
                raise SearchError(
                    f"{self.path} has no full-text index: an import is building it or was "
                    f"interrupted (`logbot db upgrade --db {self.path}` builds it)"
                )
            self._channels = {
                r[0]: Channel(*r)
                for r in self._conn.execute("SELECT id, network, name, name_key FROM channels")
            }
            columns = {r[1] for r in self._conn.execute("PRAGMA table_info(events)")}
            if "msgid" in columns:
                self._columns = _COLUMNS_MSGID
        except sqlite3.Error as exc:
            self._conn.close()
            raise SearchError(f"cannot read {self.path}: {error_line(exc)}") from None
        except SearchError:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    _cut = False

    def _arm_limit(self) -> None:
        deadline = self._deadline
        assert deadline is not None
        self._cut = False

        def past() -> int:
            # SQLite asks every PROGRESS_STEPS steps; non-zero interrupts the statement
            if time.monotonic() >= deadline:
                self._cut = True
                return 1
            return 0

        self._conn.set_progress_handler(past, PROGRESS_STEPS)

    def _disarm_limit(self) -> None:
        self._conn.set_progress_handler(None, 0)

    def _failed(self, exc: sqlite3.Error) -> SearchError:
        if self._cut:
            self._cut = False
            return SearchTimeout(self._limit_seconds)
        return SearchError(f"cannot read {self.path}: {error_line(exc)}")

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self._remaining()
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        self._remaining()
        try:
            cursor = self._conn.cursor()
            cursor.arraysize = 1000
            cursor.execute(sql, params)
            while rows := cursor.fetchmany():
                yield from rows
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def _check_filtered_here(self, query: Query) -> bool:
        # FTS5 expands a prefix over the whole index whatever the filters keep (asked
        # per event, once per event): a few thousand texts are checked here in
        # milliseconds
        return any(p.prefix for p in (*query.positive(), *query.excluded))

    def _no_index(self, column: str) -> str:
        # SQLite's documented way to keep a term from using an index: a unary +
        return "+" + column

    def _match_condition(self, query: Query, params: list[Any]) -> str:
        params.append(to_fts5(query))
        return (
            f"e.text <> '' AND EXISTS (SELECT 1 FROM {FTS_TABLE} "
            f"WHERE {FTS_TABLE} MATCH ? AND {FTS_TABLE}.rowid = e.id)"
        )

    def _probes(
        self, filters: Filters, channel_ids: list[int] | None, column: str
    ) -> tuple[str, list[Any]]:
        """Joins that keep only the ids in ``column`` passing the channel, nick and kind
        filters, asked of those columns' own indexes rather than of the events table.

        One nick's (or channel's) index entries lie together and stay in the page cache,
        where the rows of the matches are scattered over the whole table: checking a
        match costs an index lookup instead of reading its row. (A join, not EXISTS: the
        same lookup without a subprogram per row.) Ids are unique, so no join adds rows.
        """
        joins: list[str] = []
        params: list[Any] = []
        if filters.nicks:
            keys = sorted({nick_key(n) for n in filters.nicks})
            joins.append(
                f"CROSS JOIN events AS n INDEXED BY {IX_NICK} "
                f"ON lower(n.nick) IN ({_marks(keys)}) AND n.id = {column}"
            )
            params.extend(keys)
        if channel_ids is not None:
            joins.append(
                f"CROSS JOIN events AS c INDEXED BY {IX_CHANNEL} "
                f"ON c.channel_id IN ({_marks(channel_ids)}) AND c.id = {column}"
            )
            params.extend(channel_ids)
        if filters.kinds:
            joins.append(
                f"CROSS JOIN events AS k INDEXED BY {IX_KIND} "
                f"ON k.kind IN ({_marks(filters.kinds)}) AND k.id = {column}"
            )
            params.extend(filters.kinds)
        return " ".join(joins), params

    @staticmethod
    def _rowid_range(filters: Filters, column: str) -> tuple[str, list[Any]]:
        # on the index's rowid, so FTS5 seeks to the range
        low, high = filters.id_range()
        sql, params = "", []
        if low is not None:
            sql += f" AND {column} >= ?"
            params.append(low)
        if high is not None:
            sql += f" AND {column} < ?"
            params.append(high)
        return sql, params

    def _search_index_first(
        self,
        query: Query,
        filters: Filters,
        channel_ids: list[int] | None,
        limit: int | None,
        rank: bool,
    ) -> list[tuple[Any, ...]]:
        plain = without_prefixes(query)
        if not rank and limit is not None and plain is not None and plain != query:
            found = self._search_plain_first(query, plain, filters, channel_ids, limit)
            if found is not None:
                return found
        joins, join_params = self._probes(filters, channel_ids, "f.rowid")
        ranges, range_params = self._rowid_range(filters, "f.rowid")
        score = f"bm25({FTS_TABLE})" if rank else "0"
        walk = f"SELECT f.rowid AS id, {score} AS score FROM {FTS_TABLE} AS f {joins} "
        walk += f"WHERE {FTS_TABLE} MATCH ?" + ranges
        walk += f" ORDER BY {'score, ' if rank else ''}f.rowid DESC" + _limit(limit)
        # only the hits' rows are read, once the index has chosen them; the index is walked
        # in rowid (time) order, so no match is ever sorted by time
        sql = f"SELECT {self._columns} FROM ({walk}) AS s CROSS JOIN events AS e ON e.id = s.id"
        sql += f" ORDER BY {'s.score, ' if rank else ''}s.id DESC"
        return self._rows(sql, [*join_params, to_fts5(query), *range_params])

    def _search_plain_first(
        self,
        query: Query,
        plain: Query,
        filters: Filters,
        channel_ids: list[int] | None,
        limit: int,
    ) -> list[tuple[Any, ...]] | None:
        """The newest ``limit`` matches of ``query``, from the newest matches of ``plain``
        (:func:`~logbot.query.without_prefixes`) checked against ``query`` here: the
        index expands no prefix, so memory stays small. None when the first
        :data:`PLAIN_FIRST_BUDGET` of them held too few (the prefix is the rare part)."""
        joins, join_params = self._probes(filters, channel_ids, "f.rowid")
        ranges, range_params = self._rowid_range(filters, "f.rowid")
        walk = f"SELECT f.rowid FROM {FTS_TABLE} AS f {joins} WHERE {FTS_TABLE} MATCH ?"
        walk += ranges + f" ORDER BY f.rowid DESC LIMIT {PLAIN_FIRST_BUDGET}"
        # the walk is a co-routine the CROSS JOIN keeps outermost: rows come newest first
        # without the sort an outer ORDER BY would add over all of them
        sql = f"SELECT e.id, e.text FROM ({walk}) AS w CROSS JOIN events AS e ON e.id = w.rowid"
        could_match = _prefilter(query)
        found: list[int] = []
        walked = 0
        for eid, text in self._stream(sql, [*join_params, to_fts5(plain), *range_params]):
            walked += 1
            if could_match(text) and matches(query, text):
                found.append(eid)
                if len(found) >= limit:
                    break
        if len(found) < limit and walked >= PLAIN_FIRST_BUDGET:
            return None
        return self._by_ids(found)

    def _search_index_first_budget(
        self,
        query: Query,
        filters: Filters,
        channel_ids: list[int] | None,
        limit: int | None,
        budget: int,
    ) -> list[tuple[Any, ...]] | None:
        ranges, range_params = self._rowid_range(filters, "rowid")
        walk = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?" + ranges
        walk += f" ORDER BY rowid DESC LIMIT {int(budget)}"
        walk_params = [to_fts5(query), *range_params]
        joins, join_params = self._probes(filters, channel_ids, "w.rowid")
        chosen = f"SELECT w.rowid AS id FROM ({walk}) AS w {joins}"
        chosen += " ORDER BY w.rowid DESC" + _limit(limit)
        sql = f"SELECT {self._columns} FROM ({chosen}) AS s CROSS JOIN events AS e ON e.id = s.id"
        rows = self._rows(sql + " ORDER BY s.id DESC", [*walk_params, *join_params])
        if limit is not None and len(rows) >= limit:
            return rows
        walked = self._rows(f"SELECT count(*) FROM ({walk})", walk_params)[0][0]
        return rows if walked < budget else None

    def _count_match(self, query: Query, filters: Filters, channel_ids: list[int] | None) -> int:
        joins, join_params = self._probes(filters, channel_ids, "f.rowid")
        ranges, range_params = self._rowid_range(filters, "f.rowid")
        sql = f"SELECT count(*) FROM {FTS_TABLE} AS f {joins} WHERE {FTS_TABLE} MATCH ?" + ranges
        return int(self._rows(sql, [*join_params, to_fts5(query), *range_params])[0][0])


def _read_only_uri(path: str) -> str:
    """The ``file:`` URI that opens ``path`` read-only, as ``Path.as_uri()`` would spell it
    (without importing pathlib): every byte that SQLite's URI parser could read otherwise
    (``%``, ``?``, ``#``, anything not printable ASCII) is percent-encoded."""
    quoted = "".join(
        chr(b) if 0x20 < b < 0x7F and b not in _URI_SPECIAL else f"%{b:02X}"
        for b in os.fsencode(path)
    )
    return f"file://{quoted}?mode=ro"


_URI_SPECIAL = frozenset(b"%?#")
