"""``logbot search`` and ``logbot export``: read-only queries over the stored events.

Speed comes from the schema's time keys: ``events.id`` orders events by time, and the
SQLite full-text index's rowid *is* that id. The newest matches are found by walking the
index backwards and stopping at ``--limit``, never by sorting every match by a time
column, and ``--since``/``--until`` are id ranges. On SQLite, a query with filters runs:

- *index first* when the filters keep many events: walk the full-text matches newest first
  and keep those that pass the filters;
- when they keep few (counted with a cap, through the ``(channel_id, id)``,
  ``(lower(nick), id)`` and ``(kind, id)`` indexes): the same walk, but only for as long
  as it is cheaper than the alternative, then *filter first*: walk those events newest
  first and ask the index about each.

PostgreSQL's GIN index has no order, so :meth:`PostgresReader._newest_windows` chooses from
the planner's estimate between reading every match, walking the primary key backwards, and
asking about ever wider windows of the newest ids.

SQLite is read through the standard library's ``sqlite3`` opened read-only: SQLAlchemy
alone costs ~0.5 s of start-up, three times the whole budget of a search. PostgreSQL goes
through :mod:`logbot.storage.engine`, in a read-only transaction. Nothing here creates,
migrates or writes a database.
"""

from __future__ import annotations

import contextlib
import heapq
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, NamedTuple

from logbot.casemap import ASCII_LOWER
from logbot.query import Phrase, Query, QueryError, fold, matches, parse, to_fts5, to_tsquery
from logbot.render import Record
from logbot.storage.messages import error_line
from logbot.storage.names import (
    FTS_TABLE,
    IX_CHANNEL,
    IX_KIND,
    IX_NICK,
    KEY_SPREAD,
    PG_CONNECT_TIMEOUT,
    PG_FTS_INDEX,
    PG_INSTALL_HINT,
    PG_TS_CONFIG,
    channel_key,
    default_db_path,
    epoch_micros,
    is_url,
)
from logbot.storage.scripts import known_revisions
from logbot.timeparse import TimeParseError, parse_when

__all__ = [
    "Filters",
    "Outcome",
    "Reader",
    "SearchError",
    "SearchRequest",
    "Window",
    "group_windows",
    "open_reader",
    "parse_kinds",
    "run_search",
]

#: "filter first" when the filters keep at most this many events in the time range
FILTER_FIRST_MAX = 4000
#: asking the full-text index about one event costs about as much as walking this many of
#: its matches (measured on SQLite: ~50 us against ~1.5 us)
SCANS_PER_PROBE = 30
#: the least number of index matches walked before giving up on the index-first plan
SCAN_BUDGET_MIN = 2000
#: A prefix query (``t*``) first checks the newest events itself, while the
#: matches it finds there say it would take at most this many events to find --limit of
#: them. FTS5 reads the whole posting list of every word a prefix covers before it can
#: yield the newest match (``the*`` on 10M events: 0.35 s), where a dense prefix is
#: found in a few hundred of the newest events.
DENSE_WALK_MAX = 3000
#: ... looking at this many first, then at as many as the density seen so far says
DENSE_WALK_FIRST = 256
#: PostgreSQL: the same, with a longer walk: the GIN index answers a prefix in 20-50 ms
#: (its posting lists merged), where a walk reads and checks an event in ~1 us
PG_DENSE_WALK_MAX = 15_000
PG_DENSE_WALK_FIRST = 1024
#: PostgreSQL, choosing between walking the primary key backwards (checking each row: cost
#: grows as matches get rarer) and the GIN index (which reads every match whatever the id
#: window: cost grows with the matches). Microseconds, measured on 10M events:
#: reading one row and checking its text,
WALK_ROW_US = 12.0
#: the GIN index, per match of a word,
GIN_MATCH_US = 0.15
#: and per match of a prefix (the posting lists of every word it covers are merged).
GIN_PREFIX_MATCH_US = 0.4
#: PostgreSQL: a query the planner expects to match at most this many rows reads them all
#: (each costs a heap fetch, ~25 us from the OS cache)
PLAIN_MATCHES = 300
#: PostgreSQL: the first window of ids is sized to hold this many times --limit matches
WINDOW_MATCHES = 4

# nicks are compared with lower(nick) on both engines, which folds ASCII only on SQLite
_CHANNEL_PREFIXES = "#&+!"

_COLUMNS = "e.id, e.channel_id, e.kind, e.nick, e.text, e.target, e.userhost"


class SearchError(Exception):
    """A search that cannot run (unreadable database, bad option); one line for the user."""


def nick_key(nick: str) -> str:
    """What ``lower(nick)`` gives in SQL for ``nick`` (ASCII folding, as SQLite does)."""
    return nick.translate(ASCII_LOWER)


def channel_kinds() -> tuple[str, ...]:
    """The searchable kinds (:data:`logbot.events.CHANNEL_KINDS`), in the contract's order."""
    # imported here: logbot.events needs dataclasses, which a search without --kind skips
    from logbot.events import CHANNEL_KINDS, Kind

    return tuple(k.value for k in Kind if k in CHANNEL_KINDS)


def parse_kinds(values: Iterable[str]) -> tuple[str, ...]:
    """``--kind message,action --kind join`` -> the kinds, checked against
    :func:`channel_kinds`."""
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            kind = part.strip().lower()
            if not kind:
                continue
            kinds = channel_kinds()
            if kind not in kinds:
                raise SearchError(f"unknown kind {part.strip()!r}: choose from {', '.join(kinds)}")
            if kind not in out:
                out.append(kind)
    return tuple(out)


class Filters(NamedTuple):
    """What every search and export may narrow by; empty means no restriction."""

    network: str | None = None
    channels: tuple[str, ...] = ()
    nicks: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    def id_range(self) -> tuple[int | None, int | None]:
        """``(low, high)`` event ids: ``low <= id < high``; ``None`` is unbounded."""

        def key(when: datetime) -> int:
            return epoch_micros(when) * KEY_SPREAD

        low = key(self.since) if self.since is not None else None
        high = key(self.until) if self.until is not None else None
        return low, high


class Channel(NamedTuple):
    id: int
    network: str
    name: str
    name_key: str


class Window(NamedTuple):
    """A hit with the events around it in its channel (``--context``)."""

    hit: Record
    before: tuple[Record, ...]
    after: tuple[Record, ...]
    #: id of the event just before ``before[0]`` (or the hit) in the channel, if any
    prev_id: int | None


def group_windows(windows: Sequence[Window]) -> list[list[tuple[Record, bool]]]:
    """Merge context windows that overlap or touch in the same channel, like ``grep -C``.

    ``windows`` come in output order (hits oldest first); each group lists its events in
    time order with ``True`` for hits. A window joins its channel's latest group when it
    shares an event with it or starts right after it (its ``prev_id`` is the group's last
    event); otherwise it starts a new group. Groups keep the order of their first hit.
    """
    groups: list[list[tuple[Record, bool]]] = []
    latest: dict[str, int] = {}  # channel identity -> index of its latest group
    for w in windows:
        chan = f"{w.hit.network}\x00{w.hit.channel}"
        items = [(r, False) for r in w.before] + [(w.hit, True)] + [(r, False) for r in w.after]
        at = latest.get(chan)
        if at is not None:
            group = groups[at]
            last_id = group[-1][0].id
            first_id = items[0][0].id
            if first_id <= last_id or w.prev_id == last_id:
                seen = {r.id: i for i, (r, _) in enumerate(group)}
                for rec, is_hit in items:
                    i = seen.get(rec.id)
                    if i is None:
                        if rec.id > group[-1][0].id:
                            group.append((rec, is_hit))
                    elif is_hit:
                        group[i] = (rec, True)
                continue
        latest[chan] = len(groups)
        groups.append(items)
    return groups


# --- opening a database -----------------------------------------------------------------

_SQLITE_URL = re.compile(r"sqlite(?:\+\w+)?:///(?P<path>[^?]*)(?:\?.*)?")


def _check_revision(revision: str | None, where: str) -> list[str]:
    """Refuse a database this code cannot read; remarks for one it can but should upgrade.

    A newer revision (written by a newer logbot) may have changed anything: an error. An
    older one is read as it is (every query names its tables, columns and indexes, and
    PostgreSQL's full-text expression is read from the index itself), with a note.
    """
    if revision is None:
        raise SearchError(f"{where} is not a logbot database (no schema version)")
    known, head = known_revisions()
    if not known:
        return []
    if revision not in known:
        raise SearchError(
            f"{where} has schema revision {revision}, newer than this logbot knows "
            f"(up to {head}): upgrade logbot"
        )
    if head is not None and revision != head:
        return [
            f"{where} has the older schema revision {revision} (newest: {head}); "
            f"`logbot db upgrade --db {where}` brings it up to date"
        ]
    return []


def open_reader(target: str | None) -> Reader:
    """A read-only reader for ``target`` (None: the default SQLite file; a path; a URL)."""
    if target is None:
        return SqliteReader(default_db_path())
    if not is_url(target):
        return SqliteReader(Path(target).expanduser())
    m = _SQLITE_URL.fullmatch(target)
    if m is not None and m.group("path") not in ("", ":memory:"):
        return SqliteReader(Path(m.group("path")).expanduser())
    if target.startswith("sqlite:"):
        raise SearchError(f"an in-memory database has nothing to search: {target}")
    return PostgresReader(target)


# --- the readers ------------------------------------------------------------------------


class Reader:
    """Searches one database. SQL is written once with ``?`` placeholders; the subclasses
    say how to run it and how full-text matching is spelled."""

    description: str
    _channels: dict[int, Channel]
    #: one-line remarks about the database for stderr (an older schema)
    notes: list[str]
    #: SQLite walks one index per channel / nick / kind and merges (its planner would
    #: sort); PostgreSQL's planner handles IN lists and its statistics choose the plan
    _walk_drivers = True
    #: a prefix query may check the newest events itself first (_walk_dense_prefix), for
    #: at most this many of them
    _walk_dense = False
    _dense_walk_max = DENSE_WALK_MAX
    _dense_walk_first = DENSE_WALK_FIRST

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # engine-specific ------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        raise NotImplementedError

    def _no_index(self, column: str) -> str:
        """``column`` spelled so the planner will not pick its index for this condition."""
        return column

    def _match_condition(self, query: Query, params: list[Any]) -> str:
        """A condition on alias ``e`` true for the events matching ``query``."""
        raise NotImplementedError

    def _search_index_first(
        self,
        query: Query,
        filters: Filters,
        channel_ids: list[int] | None,
        limit: int | None,
        rank: bool,
    ) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _search_index_first_budget(
        self,
        query: Query,
        filters: Filters,
        channel_ids: list[int] | None,
        limit: int | None,
        budget: int,
    ) -> list[tuple[Any, ...]] | None:
        """Index-first, walking at most ``budget`` matches; None if that was not enough."""
        return None

    def _count_match(self, query: Query, filters: Filters, channel_ids: list[int] | None) -> int:
        where, params = self._where(filters, channel_ids)
        where.append(self._match_condition(query, params))
        return int(self._rows(_select("count(*)", where), params)[0][0])

    # shared -----------------------------------------------------------------------------

    def _record(self, row: tuple[Any, ...]) -> Record:
        chan = self._channels.get(row[1])
        network, name = (chan.network, chan.name) if chan else ("", f"?{row[1]}")
        return Record(
            row[0], network, name, row[2], row[3], row[4] or "", row[5] or "", row[6] or ""
        )

    def resolve(self, filters: Filters) -> tuple[list[int] | None, list[str]]:
        """Channel ids the filters allow (None: all) and the channel names that matched none."""
        if filters.network is None and not filters.channels:
            return None, []
        chans = list(self._channels.values())
        if filters.network is not None:
            net = filters.network.lower()
            chans = [c for c in chans if c.network.lower() == net]
        if not filters.channels:
            return [c.id for c in chans], []
        chosen: list[int] = []
        missing: list[str] = []
        for wanted in filters.channels:
            keys = {channel_key(wanted)}
            if wanted and wanted[0] not in _CHANNEL_PREFIXES:
                # `--channel x` for #x: an unquoted # starts a comment in the shell
                keys.add(channel_key("#" + wanted))
            found = [c.id for c in chans if c.name_key in keys or channel_key(c.name) in keys]
            if not found:
                missing.append(wanted)
            chosen.extend(i for i in found if i not in chosen)
        return chosen, missing

    def _where(
        self,
        filters: Filters,
        channel_ids: list[int] | None,
        *,
        skip: str = "",
        id_column: str = "e.id",
        below: int | None = None,
    ) -> tuple[list[str], list[Any]]:
        """Conditions on alias ``e`` for the filters; ``skip`` names one a driver handles.

        The time range applies to ``id_column`` (the full-text index's rowid, to let the
        index seek to it); ``below`` lowers its upper end to that id (a walk's next page).
        """
        where: list[str] = []
        params: list[Any] = []
        low, high = filters.id_range()
        if below is not None:
            high = below if high is None else min(high, below)
        if low is not None:
            where.append(f"{id_column} >= ?")
            params.append(low)
        if high is not None:
            where.append(f"{id_column} < ?")
            params.append(high)
        if channel_ids is not None and skip != "channel":
            where.append(f"{self._no_index('e.channel_id')} IN ({_marks(channel_ids)})")
            params.extend(channel_ids)
        if filters.nicks and skip != "nick":
            where.append(f"lower(e.nick) IN ({_marks(filters.nicks)})")
            params.extend(nick_key(n) for n in filters.nicks)
        if filters.kinds and skip != "kind":
            where.append(f"{self._no_index('e.kind')} IN ({_marks(filters.kinds)})")
            params.extend(filters.kinds)
        return where, params

    def _drivers(
        self, filters: Filters, channel_ids: list[int] | None
    ) -> tuple[str, list[tuple[str, Any]]] | None:
        """The index to walk for filter-first plans: one condition per channel / nick / kind."""
        if not self._walk_drivers:
            return None
        if channel_ids is not None:
            return "channel", [("e.channel_id = ?", c) for c in channel_ids]
        if filters.nicks:
            return "nick", [("lower(e.nick) = ?", nick_key(n)) for n in set(filters.nicks)]
        if filters.kinds:
            return "kind", [("e.kind = ?", k) for k in filters.kinds]
        return None

    def _driven_sql(
        self,
        filters: Filters,
        channel_ids: list[int] | None,
        query: Query | None,
        order: str,
        limit: int | None,
        columns: str = _COLUMNS,
        *,
        below: int | None = None,
        extra: str = "",
    ) -> list[tuple[str, list[Any]]]:
        """One statement per driver (or one for all) selecting the filtered events in order."""
        drivers = self._drivers(filters, channel_ids)
        if drivers is None:
            skip, conds = "", [("", None)]
        else:
            skip, conds = drivers
        out = []
        for cond, value in conds:
            where, params = self._where(filters, channel_ids, skip=skip, below=below)
            if cond:
                where.insert(0, cond)
                params.insert(0, value)
            if extra:
                where.append(extra)
            if query is not None:
                where.append(self._match_condition(query, params))
            sql = _select(columns, where) + f" ORDER BY e.id {order}" + _limit(limit)
            out.append((sql, params))
        return out

    def _filtered_size(self, filters: Filters, channel_ids: list[int] | None, cap: int) -> int:
        """How many events the filters keep in the time range, counting no further than cap."""
        total = 0
        for sql, params in self._driven_sql(filters, channel_ids, None, "DESC", None, "1"):
            rows = self._rows(f"SELECT count(*) FROM ({sql} LIMIT {cap - total + 1}) AS c", params)
            total += int(rows[0][0])
            if total > cap:
                break
        return total

    def _newest(
        self,
        filters: Filters,
        channel_ids: list[int] | None,
        query: Query | None,
        limit: int | None,
        *,
        below: int | None = None,
        extra: str = "",
        columns: str = _COLUMNS,
    ) -> list[tuple[Any, ...]]:
        lists = [
            self._rows(sql, params)
            for sql, params in self._driven_sql(
                filters, channel_ids, query, "DESC", limit, columns, below=below, extra=extra
            )
        ]
        if len(lists) == 1:
            return lists[0]
        merged = list(heapq.merge(*lists, key=lambda r: r[0], reverse=True))
        return merged if limit is None else merged[:limit]

    def search(
        self, query: Query | None, filters: Filters, limit: int | None, *, rank: bool = False
    ) -> list[Record]:
        """The newest ``limit`` events matching, newest first (best first with ``rank``)."""
        channel_ids, _ = self.resolve(filters)
        if channel_ids == []:
            return []
        if query is None:
            rows = self._newest(filters, channel_ids, None, limit)
        elif (
            not rank
            and self._drivers(filters, channel_ids) is not None
            and (kept := self._filtered_size(filters, channel_ids, FILTER_FIRST_MAX))
            <= FILTER_FIRST_MAX
        ):
            # Few events pass the filters, but the query may still be common among them:
            # walk the index first for as long as that is cheaper than asking the index
            # about each filtered event, then do that instead.
            budget = max(SCAN_BUDGET_MIN, kept * SCANS_PER_PROBE)
            found = self._search_index_first_budget(query, filters, channel_ids, limit, budget)
            rows = found if found is not None else self._newest(filters, channel_ids, query, limit)
        else:
            walked = None
            if not rank and limit and self._may_walk(query):
                walked = self._walk_dense_prefix(query, filters, channel_ids, limit)
            if walked is not None:
                rows = walked
            else:
                rows = self._search_index_first(query, filters, channel_ids, limit, rank)
        return [self._record(r) for r in rows]

    def _walk_dense_prefix(
        self, query: Query, filters: Filters, channel_ids: list[int] | None, limit: int
    ) -> list[tuple[Any, ...]] | None:
        """The newest ``limit`` matches, found by checking the newest events here; None as
        soon as the matches are too sparse for that to pay (see DENSE_WALK_MAX)."""
        found: list[int] = []
        seen = 0
        below: int | None = None
        chunk = first = self._dense_walk_first
        could_match = _prefilter(query)
        most = self._dense_walk_max
        while True:
            # ids and texts only: most of what is read is looked at and dropped
            rows = self._newest(
                filters,
                channel_ids,
                None,
                chunk,
                below=below,
                extra="e.text <> ''",
                columns="e.id, e.text",
            )
            found.extend(self._confirm(query, [r for r in rows if could_match(r[1])]))
            if len(found) >= limit or len(rows) < chunk:
                # enough, or every event the filters allow was checked
                return self._by_ids(found[:limit])
            seen += len(rows)
            below = rows[-1][0]
            # the events it would take to find the rest at the density seen so far
            needed = seen + (limit - len(found)) * seen / max(len(found), 0.5)
            if needed > most:
                return None
            # a quarter more than that estimate: reading past the last match costs too
            chunk = int(min(max((needed - seen) * 1.25, first), most - seen))

    def _by_ids(self, ids: list[int]) -> list[tuple[Any, ...]]:
        """The events with ``ids``, newest first."""
        if not ids:
            return []
        sql = f"SELECT {_COLUMNS} FROM events AS e WHERE e.id IN ({_marks(ids)})"
        return self._rows(sql + " ORDER BY e.id DESC", ids)

    def _may_walk(self, query: Query) -> bool:
        """Whether a search for ``query`` should try :meth:`_walk_dense_prefix` first."""
        return self._walk_dense and any(p.prefix for p in query.positive())

    def _confirm(self, query: Query, rows: list[tuple[int, str]]) -> list[int]:
        """The ids of the ``(id, text)`` rows whose text matches ``query``, in order (the
        Python matcher decides exactly as FTS5 does)."""
        return [r[0] for r in rows if matches(query, r[1])]

    def count(self, query: Query | None, filters: Filters) -> int:
        """How many events match (``--count``)."""
        channel_ids, _ = self.resolve(filters)
        if channel_ids == []:
            return 0
        if query is None:
            where, params = self._where(filters, channel_ids)
            return int(self._rows(_select("count(*)", where), params)[0][0])
        return self._count_match(query, filters, channel_ids)

    def window(self, hit: Record, n: int) -> Window:
        """``hit`` with ``n`` events before and after it in its channel."""
        channel_id = self._channel_ids[(hit.network, hit.channel)]
        before = self._rows(
            f"SELECT {_COLUMNS} FROM events AS e WHERE e.channel_id = ? AND e.id < ? "
            f"ORDER BY e.id DESC LIMIT {n + 1}",
            [channel_id, hit.id],
        )
        after = self._rows(
            f"SELECT {_COLUMNS} FROM events AS e WHERE e.channel_id = ? AND e.id > ? "
            f"ORDER BY e.id ASC LIMIT {n}",
            [channel_id, hit.id],
        )
        prev_id = before[n][0] if len(before) > n else None
        return Window(
            hit,
            tuple(self._record(r) for r in reversed(before[:n])),
            tuple(self._record(r) for r in after),
            prev_id,
        )

    @property
    def _channel_ids(self) -> dict[tuple[str, str], int]:
        return {(c.network, c.name): c.id for c in self._channels.values()}

    def export(self, filters: Filters) -> Iterator[Record]:
        """Every event passing the filters, oldest first, streamed (constant memory)."""
        channel_ids, _ = self.resolve(filters)
        if channel_ids == []:
            return
        streams = [
            self._stream(sql, params)
            for sql, params in self._driven_sql(filters, channel_ids, None, "ASC", None)
        ]
        rows = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda r: r[0])
        for row in rows:
            yield self._record(row)


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _limit(limit: int | None) -> str:
    return "" if limit is None else f" LIMIT {int(limit)}"


def _select(columns: str, where: list[str]) -> str:
    sql = f"SELECT {columns} FROM events AS e"
    return sql + (" WHERE " + " AND ".join(where) if where else "")


class SqliteReader(Reader):
    """A SQLite file opened read-only with the standard library."""

    _walk_dense = True

    def __init__(self, path: Path) -> None:
        self.path = path.absolute()
        self.description = str(self.path)
        if self.path.is_dir():
            raise SearchError(f"{self.path} is a directory, not a database file")
        if not self.path.exists():
            raise SearchError(f"no database at {self.path}")
        try:
            self._conn = sqlite3.connect(self.path.as_uri() + "?mode=ro", uri=True)
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
            self.notes = _check_revision(revision, self.description)
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
        except sqlite3.Error as exc:
            self._conn.close()
            raise SearchError(f"cannot read {self.path}: {error_line(exc)}") from None
        except SearchError:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise SearchError(f"cannot read {self.path}: {error_line(exc)}") from None

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        try:
            cursor = self._conn.cursor()
            cursor.arraysize = 1000
            cursor.execute(sql, params)
            while rows := cursor.fetchmany():
                yield from rows
        except sqlite3.Error as exc:
            raise SearchError(f"cannot read {self.path}: {error_line(exc)}") from None

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
        joins, join_params = self._probes(filters, channel_ids, "f.rowid")
        ranges, range_params = self._rowid_range(filters, "f.rowid")
        score = f"bm25({FTS_TABLE})" if rank else "0"
        walk = f"SELECT f.rowid AS id, {score} AS score FROM {FTS_TABLE} AS f {joins} "
        walk += f"WHERE {FTS_TABLE} MATCH ?" + ranges
        walk += f" ORDER BY {'score, ' if rank else ''}f.rowid DESC" + _limit(limit)
        # only the hits' rows are read, once the index has chosen them; the index is walked
        # in rowid (time) order, so no match is ever sorted by time
        sql = f"SELECT {_COLUMNS} FROM ({walk}) AS s CROSS JOIN events AS e ON e.id = s.id"
        sql += f" ORDER BY {'s.score, ' if rank else ''}s.id DESC"
        return self._rows(sql, [*join_params, to_fts5(query), *range_params])

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
        sql = f"SELECT {_COLUMNS} FROM ({chosen}) AS s CROSS JOIN events AS e ON e.id = s.id"
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


def _prefilter(query: Query) -> Callable[[str], bool]:
    """A quick test that is false only for texts that cannot match ``query``.

    A matching token starts with the query's (folded) word. Folding lower-cases and drops
    the combining marks of the canonical decomposition, so an ASCII word occurs in the
    lower-cased text, or, for a text that is not ASCII, in its decomposition with every
    non-ASCII character left out. A query word that is not ASCII lets every non-ASCII
    text through: :func:`logbot.query.matches` decides.
    """
    # phrases keep the words as typed: fold them as the matcher does
    clauses = [[tuple(fold(t) for t in p.tokens) for p in clause] for clause in query.clauses]
    ascii_words = all(t.isascii() for clause in clauses for tokens in clause for t in tokens)

    def folded(text: str) -> str | None:
        """The text to look for words in; None: cannot tell, let it through."""
        low = text.lower()
        if low.isascii():
            return low
        if not ascii_words:
            return None
        return unicodedata.normalize("NFD", low).encode("ascii", "ignore").decode("ascii")

    if len(clauses) == 1 and len(clauses[0]) == 1 and len(clauses[0][0]) == 1:
        # one word (the usual prefix query): called for every event walked
        token = clauses[0][0][0]

        def could_match_word(text: str) -> bool:
            if token in text.lower():
                return True
            haystack = folded(text)
            return haystack is None or token in haystack

        return could_match_word

    def could_match(text: str) -> bool:
        haystack = folded(text)
        if haystack is None:
            return True
        return all(
            any(all(t in haystack for t in tokens) for tokens in clause) for clause in clauses
        )

    return could_match


def _walk_is_cheaper(query: Query, estimate: float, total: float, limit: int) -> bool:
    """PostgreSQL: whether the newest ``limit`` of ``estimate`` matches among ``total`` rows
    are found sooner by walking the primary key than through the GIN index."""
    walk = WALK_ROW_US * limit * total / max(estimate, 1.0)
    prefix = any(p.prefix for p in query.positive())
    gin = estimate * (GIN_PREFIX_MATCH_US if prefix else GIN_MATCH_US)
    return walk < gin


class PostgresReader(Reader):
    """A PostgreSQL database through SQLAlchemy (psycopg 3), in read-only transactions.

    Full-text conditions repeat the GIN index's own expression, read from the catalog, so
    the planner can use the index whatever expression the schema chose.
    """

    _walk_drivers = False
    _walk_dense = True
    _dense_walk_max = PG_DENSE_WALK_MAX
    _dense_walk_first = PG_DENSE_WALK_FIRST
    _total: float | None = None
    _bounds: tuple[int | None, int | None] | None = None

    def _may_walk(self, query: Query) -> bool:
        # The Python matcher decides ASCII lines as PostgreSQL does, but a non-ASCII query
        # word may fold differently there (unaccent makes "straße" "strasse", and an
        # ASCII line could then match): such queries stay with the index.
        words = [t for p in (*query.positive(), *query.excluded) for t in p.tokens]
        return super()._may_walk(query) and all(w.isascii() for w in words)

    def _confirm(self, query: Query, rows: list[tuple[int, str]]) -> list[int]:
        """ASCII lines are decided here; the database decides the others (its own folding)."""
        ask = [r[0] for r in rows if not r[1].isascii()]
        yes: set[int] = set()
        if ask:
            params: list[Any] = [*ask]
            where = [f"e.id IN ({_marks(ask)})", self._match_condition(query, params)]
            yes = {r[0] for r in self._rows(_select("e.id", where), params)}
        return [r[0] for r in rows if (r[0] in yes if not r[1].isascii() else matches(query, r[1]))]

    def __init__(self, url: str) -> None:
        # psycopg directly, not SQLAlchemy: importing SQLAlchemy and its dialect costs
        # ~0.2 s, which a one-shot search feels; psycopg is imported here, never for SQLite
        kwargs, self.description = pg_connect_args(url)
        try:
            import psycopg
        except ImportError:
            raise SearchError(
                f"the PostgreSQL driver psycopg is not installed; {PG_INSTALL_HINT}"
            ) from None
        self._errors = psycopg.Error
        try:
            self._conn = psycopg.connect(**kwargs)
        except psycopg.Error as exc:
            raise SearchError(f"cannot open {self.description}: {error_line(exc)}") from None
        try:
            self._conn.read_only = True
            with self._conn.cursor() as cur:
                # latency, not throughput: starting parallel workers costs ~10 ms, and a
                # bitmap that spills from work_mem turns lossy and rechecks every row
                cur.execute("SET max_parallel_workers_per_gather = 0")
                cur.execute("SET work_mem = '64MB'")
                # psycopg prepares a statement run five times; PostgreSQL may then plan it
                # once for any value, and a plan for "any word, any nick" is a disaster
                # for most of them: every search is planned with its own values
                cur.execute("SET plan_cache_mode = force_custom_plan")
                cur.execute(
                    "SELECT to_regclass('alembic_version') IS NOT NULL, "
                    "pg_get_indexdef(to_regclass(%(index)s))",
                    {"index": PG_FTS_INDEX},
                )
                found = cur.fetchone()
                assert found is not None
                revision = None
                if found[0]:
                    cur.execute("SELECT version_num FROM alembic_version")
                    row = cur.fetchone()
                    revision = None if row is None else row[0]
                self.notes = _check_revision(revision, self.description)
                self._tsvector = _index_expression(found[1], self.description)
                self._tsconfig = PG_TS_CONFIG
                cur.execute("SELECT id, network, name, name_key FROM channels")
                self._channels = {r[0]: Channel(*r) for r in cur.fetchall()}
        except psycopg.Error as exc:
            self.close()
            raise SearchError(f"cannot read {self.description}: {error_line(exc)}") from None
        except SearchError:
            self.close()
            raise

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()

    def _sql(self, sql: str) -> str:
        # psycopg's placeholders are %s and a literal % is %%; the index expression goes in
        # last, as it may hold any character (a '?' among them)
        sql = sql.replace("%", "%%").replace("?", "%s")
        return sql.replace(_TSVECTOR, self._tsvector.replace("%", "%%"))

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            with self._conn.cursor() as cur:
                # params always given (even empty): psycopg then reads %% as %
                cur.execute(self._sql(sql), tuple(params))
                return [tuple(r) for r in cur.fetchall()] if cur.description else []
        except self._errors as exc:
            raise SearchError(f"cannot read {self.description}: {error_line(exc)}") from None

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        try:
            # a server-side cursor: an export of millions of rows in constant memory
            with self._conn.cursor(name="logbot_stream") as cur:
                cur.itersize = 2000
                cur.execute(self._sql(sql), tuple(params))
                for row in cur:
                    yield tuple(row)
        except self._errors as exc:
            raise SearchError(f"cannot read {self.description}: {error_line(exc)}") from None

    def _tsquery(self, query: Query, params: list[Any]) -> str:
        params.append(to_tsquery(query))
        return f"to_tsquery('{self._tsconfig}'::regconfig, ?)"

    def _match_condition(self, query: Query, params: list[Any]) -> str:
        return f"{_TSVECTOR} @@ {self._tsquery(query, params)}"

    def _search_index_first(
        self,
        query: Query,
        filters: Filters,
        channel_ids: list[int] | None,
        limit: int | None,
        rank: bool,
    ) -> list[tuple[Any, ...]]:
        where, params = self._where(filters, channel_ids)
        if rank or limit is None:
            where.append(self._match_condition(query, params))
            order = "e.id DESC"
            if rank:
                order = f"ts_rank({_TSVECTOR}, {self._tsquery(query, params)}) DESC, e.id DESC"
            return self._rows(
                _select(_COLUMNS, where) + f" ORDER BY {order}" + _limit(limit), params
            )
        return self._newest_windows(query, where, params, filters, limit)

    def _newest_windows(
        self, query: Query, where: list[str], params: list[Any], filters: Filters, limit: int
    ) -> list[tuple[Any, ...]]:
        """The newest ``limit`` matches, looking at the newest stretch of ids first.

        A GIN index yields its matches in no useful order: "newest 50" would mean reading
        every match (a heap fetch each) and sorting. So the plan is chosen here, from the
        planner's estimate (for a phrase, PostgreSQL multiplies the frequencies of its words
        as if they were independent and can be off a hundredfold, so a phrase is looked up
        by its least frequent word, see :meth:`_driver`):

        - few matches: read them all through the GIN index;
        - a large share of the table: walk the primary key backwards, checking each row;
        - otherwise: ask about a window of the newest ids sized to hold a few times
          ``limit`` matches, widened fourfold until enough are found. The GIN bitmap is
          ANDed with the primary key's range; a phrase is checked on those rows only
          (spelled so the planner cannot fold it into the index condition, which would
          bring back the bad estimate).
        """
        driver = self._driver(query)
        exact = [*where]
        check_params = [*params]
        exact.append(self._match_condition(query, check_params))
        if driver is None:
            gin, gin_params = exact, check_params
            check: list[str] = []
            extra: list[Any] = []
        else:
            gin_params = [*params, driver]
            gin = [*where, f"{_TSVECTOR} @@ to_tsquery('{self._tsconfig}'::regconfig, ?)"]
            extra = []
            check = [f"({_TSVECTOR} || ''::tsvector) @@ {self._tsquery(query, extra)}"]
        estimate, total = self._estimate(gin, gin_params)
        if estimate <= PLAIN_MATCHES:
            with self._planner(_BITMAPS_ONLY):
                return self._rows(
                    _select(_COLUMNS, [*gin, *check]) + " ORDER BY e.id DESC" + _limit(limit),
                    [*gin_params, *extra],
                )
        if total and _walk_is_cheaper(query, estimate, total, limit):
            with self._planner({"enable_bitmapscan": "off"}):
                return self._rows(
                    _select(_COLUMNS, exact) + " ORDER BY e.id DESC" + _limit(limit),
                    check_params,
                )
        low, high = filters.id_range()
        first, last = self._id_bounds()
        if first is None or last is None:
            return []
        low = first if low is None else max(low, first)
        high = last + 1 if high is None else min(high, last + 1)
        share = min(1.0, WINDOW_MATCHES * limit / max(estimate, 1.0))
        span = max(int((high - low) * share), 1)
        out: list[tuple[Any, ...]] = []
        top = high
        with self._planner(_BITMAPS_ONLY):
            while top > low and len(out) < limit:
                bottom = max(low, top - span)
                rows = self._rows(
                    _select(_COLUMNS, [*gin, "e.id >= ?", "e.id < ?", *check])
                    + " ORDER BY e.id DESC"
                    + _limit(limit - len(out)),
                    [*gin_params, bottom, top, *extra],
                )
                out.extend(rows)
                top = bottom
                span *= 4
        return out

    def _driver(self, query: Query) -> str | None:
        """A tsquery for the GIN index when ``query`` has a phrase (None: no phrase, the
        query itself is what the index answers, exactly and with a fair estimate).

        Each phrase stands for its least frequent word; the phrase itself is then checked
        on the rows that index condition yields.
        """
        if all(len(p.tokens) == 1 for p in (*query.positive(), *query.excluded)):
            return None
        clauses = []
        for clause in query.clauses:
            alternatives = []
            for phrase in clause:
                if len(phrase.tokens) == 1:
                    alternatives.append(phrase)
                    continue
                best, best_rows = phrase, float("inf")
                for i, token in enumerate(phrase.tokens):
                    prefix = phrase.prefix and i == len(phrase.tokens) - 1
                    single = Phrase((token,), prefix)
                    rows, _ = self._estimate(
                        [f"{_TSVECTOR} @@ to_tsquery('{self._tsconfig}'::regconfig, ?)"],
                        [to_tsquery(Query(((single,),)))],
                    )
                    if rows < best_rows:
                        best, best_rows = single, rows
                alternatives.append(best)
            clauses.append(tuple(alternatives))
        return to_tsquery(Query(tuple(clauses)))

    def _estimate(self, where: list[str], params: list[Any]) -> tuple[float, float]:
        """The planner's estimate of the matches, and of the rows in the table."""
        import json

        plan = self._rows("EXPLAIN (FORMAT JSON) " + _select("1", where), params)[0][0]
        node = plan[0]["Plan"] if isinstance(plan, list) else json.loads(plan)[0]["Plan"]
        if self._total is None:
            self._total = float(
                self._rows(
                    "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'events'::regclass", []
                )[0][0]
            )
        return float(node.get("Plan Rows", 0)), self._total

    def _id_bounds(self) -> tuple[int | None, int | None]:
        if self._bounds is None:
            row = self._rows("SELECT min(id), max(id) FROM events", [])[0]
            self._bounds = (row[0], row[1])
        return self._bounds

    @contextlib.contextmanager
    def _planner(self, settings: dict[str, str]) -> Iterator[None]:
        """Planner settings for the statements inside (the plan choice is ours)."""
        for name, value in settings.items():
            self._conn.execute(f"SET {name} = {value}")
        try:
            yield
        finally:
            for name in settings:
                self._conn.execute(f"RESET {name}")


# Only bitmap scans, so the full-text condition is answered by the GIN index; and the
# planner told what a tsvector costs: its default prices to_tsvector (with unaccent) at
# ~0.25 units a row, some fifty times too cheap, and then prefers to recompute it for
# every row another index yields (a whole nick's or channel's events) over the GIN index.
_BITMAPS_ONLY = {"enable_indexscan": "off", "enable_seqscan": "off", "cpu_operator_cost": "0.05"}


#: stands for the index's tsvector expression in SQL until it is sent
_TSVECTOR = "\x00tsvector\x00"


def pg_connect_args(url: str) -> tuple[dict[str, Any], str]:
    """psycopg keyword arguments for a SQLAlchemy-style PostgreSQL URL, and the URL as
    shown to users (password hidden).

    ``postgresql[+driver]://user:password@host:port/dbname?key=value``: the driver part is
    not used (searches read with psycopg 3); query keys are passed to libpq as they are
    (``sslmode=require``, ``host=/run/postgresql`` for a socket...).
    """
    from urllib.parse import parse_qsl, unquote, urlsplit

    shown = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise SearchError(f"not a database URL or file path: {shown!r}") from None
    backend = parts.scheme.partition("+")[0]
    if backend not in ("postgresql", "postgres"):
        raise SearchError(
            f"unknown database type {parts.scheme!r} in {shown} "
            "(use a SQLite file path or a postgresql+psycopg:// URL)"
        )
    kwargs: dict[str, Any] = dict(parse_qsl(parts.query))
    if parts.username:
        kwargs["user"] = unquote(parts.username)
    if parts.password is not None:
        kwargs["password"] = unquote(parts.password)
    if parts.hostname:
        kwargs["host"] = parts.hostname
    if port is not None:
        kwargs["port"] = port
    if parts.path.strip("/"):
        kwargs["dbname"] = unquote(parts.path.lstrip("/"))
    kwargs.setdefault("application_name", "logbot")
    kwargs.setdefault("connect_timeout", PG_CONNECT_TIMEOUT)
    return kwargs, shown


def _index_expression(indexdef: str | None, where: str) -> str:
    """The indexed tsvector expression of ``CREATE INDEX ... USING gin (<expr>)``, over ``e``."""
    if not indexdef:
        raise SearchError(f"{where} has no full-text index: run `logbot db upgrade --db {where}`")
    m = re.search(r"USING gin \((?P<expr>.*)\)\s*$", indexdef)
    if m is None or "text" not in m.group("expr"):
        raise SearchError(f"{where}: cannot read the full-text index definition")
    # qualify the column for our alias; the expression is otherwise used verbatim so the
    # planner recognises the index
    # the column, not a ::text cast nor part of a name or a string literal
    return re.sub(r"(?<![\w.':])text(?![\w'])", "e.text", m.group("expr"))


# --- one search, from options to results ----------------------------------------------


class SearchRequest(NamedTuple):
    """Everything ``logbot search`` was asked, as typed (strings are parsed here)."""

    query: str | None = None
    db: str | None = None
    network: str | None = None
    channels: tuple[str, ...] = ()
    nicks: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    limit: int | None = 50
    context: int = 0
    count_only: bool = False
    rank: bool = False
    now: datetime | None = None
    tz: tzinfo | None = None


class Outcome:
    """What a search found: groups of (event, is_hit) in output order, or a count."""

    __slots__ = ("count", "groups", "notes", "query")

    def __init__(self, query: Query | None) -> None:
        self.query = query
        self.groups: list[list[tuple[Record, bool]]] = []
        self.count: int | None = None
        #: one-line remarks for stderr (e.g. a channel that does not exist)
        self.notes: list[str] = []

    @property
    def found(self) -> bool:
        if self.count is not None:
            return self.count > 0
        return any(self.groups)


def build_filters(req: SearchRequest) -> Filters:
    """The request's filters with WHEN strings parsed (TimeParseError / SearchError)."""
    now = req.now or datetime.now(UTC)
    since = parse_when(req.since, now, req.tz) if req.since is not None else None
    until = parse_when(req.until, now, req.tz) if req.until is not None else None
    if since is not None and until is not None and since >= until:
        raise SearchError(f"--since ({req.since}) is not before --until ({req.until})")
    return Filters(
        network=req.network,
        channels=tuple(req.channels),
        nicks=tuple(n for n in req.nicks if n),
        kinds=parse_kinds(req.kinds),
        since=since,
        until=until,
    )


def run_search(req: SearchRequest) -> Outcome:
    """Run ``logbot search``; raises SearchError, QueryError or TimeParseError (exit 2)."""
    query = parse(req.query) if req.query is not None else None
    if req.rank and query is None:
        raise SearchError("--rank orders matches by relevance: it needs a QUERY")
    filters = build_filters(req)
    with open_reader(req.db) as reader:
        _, missing = reader.resolve(filters)
        outcome = Outcome(query)
        outcome.notes.extend(reader.notes)
        for name in missing:
            where = f" on network {filters.network}" if filters.network else ""
            outcome.notes.append(f"no channel {name}{where} in {reader.description}")
        if req.count_only:
            outcome.count = reader.count(query, filters)
            return outcome
        hits = reader.search(query, filters, req.limit, rank=req.rank)
        if not req.rank:
            hits.reverse()
        if req.context <= 0:
            outcome.groups = [[(h, True) for h in hits]] if hits else []
            return outcome
        windows = [reader.window(h, req.context) for h in hits]
        if req.rank:
            outcome.groups = [
                [(r, False) for r in w.before] + [(w.hit, True)] + [(r, False) for r in w.after]
                for w in windows
            ]
        else:
            outcome.groups = group_windows(windows)
        return outcome


USER_ERRORS = (SearchError, QueryError, TimeParseError)
"""Exceptions whose message is the whole story for the user (exit status 2)."""
