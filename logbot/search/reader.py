"""The shared planner: one :class:`Reader` writes the SQL for every engine and chooses how
to find the newest matches; :mod:`logbot.search.sqlite` and :mod:`logbot.search.postgres`
say how to run it and how full-text matching is spelled.

Speed comes from the schema's time keys: ``events.id`` orders events by time, and the
SQLite full-text index's rowid *is* that id. The newest matches are found by walking the
index backwards and stopping at ``--limit``, never by sorting every match by a time
column, and ``--since``/``--until`` are id ranges. With filters, a search runs:

- *index first* when the filters keep many events: walk the full-text matches newest first
  and keep those that pass the filters;
- when they keep few (counted with a cap, through the ``(channel_id, id)``,
  ``(lower(nick), id)`` and ``(kind, id)`` indexes; SQLite only, where the reader walks
  them itself): the same walk, but only for as long as it is cheaper than the
  alternative, then *filter first*: walk those events newest first and ask the index
  about each;
- a prefix query (``deplo*``) may first check the newest events itself
  (:meth:`Reader._walk_dense_prefix`) while its matches are dense there.
"""

from __future__ import annotations

import contextlib
import heapq
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from logbot.casemap import ASCII_LOWER, CHANNEL_PREFIXES
from logbot.query import Query, fold, matches
from logbot.render import Record
from logbot.search.request import Filters, SearchTimeout, Window
from logbot.storage.names import channel_key

__all__ = [
    "DENSE_WALK_FIRST",
    "DENSE_WALK_MAX",
    "FILTER_FIRST_MAX",
    "SCANS_PER_PROBE",
    "SCAN_BUDGET_MIN",
    "Channel",
    "Reader",
    "nick_key",
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

#: what a reader selects of an event: :meth:`Reader._record` reads it in this order
_COLUMNS = "e.id, e.channel_id, e.kind, e.nick, e.text, e.target, e.userhost"
#: ... and the server's msgid, on a database that stores it (schema 0003 and later)
_COLUMNS_MSGID = _COLUMNS + ", e.msgid"


class Channel(NamedTuple):
    """A row of ``channels``."""

    id: int
    network: str
    name: str
    name_key: str


def nick_key(nick: str) -> str:
    """What ``lower(nick)`` gives in SQL for ``nick`` (ASCII folding, as SQLite does)."""
    return nick.translate(ASCII_LOWER)


class Reader:
    """Searches one database. SQL is written once with ``?`` placeholders; the subclasses
    say how to run it and how full-text matching is spelled."""

    description: str
    _channels: dict[int, Channel]
    #: one-line remarks about the database for stderr (an older schema)
    notes: list[str]
    #: the columns read for a record: :data:`_COLUMNS`, plus msgid where it is stored
    _columns: str = _COLUMNS
    #: SQLite walks one index per channel / nick / kind and merges (its planner would
    #: sort); PostgreSQL's planner handles IN lists and its statistics choose the plan
    _walk_drivers = True
    #: a prefix query may check the newest events itself first (_walk_dense_prefix), for
    #: at most this many of them
    _walk_dense = False
    _dense_walk_max = DENSE_WALK_MAX
    _dense_walk_first = DENSE_WALK_FIRST

    #: when the statements run under :meth:`time_limit` must stop (time.monotonic)
    _deadline: float | None = None
    _limit_seconds = 0.0

    def close(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        """Bound the time of every statement run inside, together, to ``seconds``.

        Past it, the running statement is stopped by the database (SQLite's progress
        handler, PostgreSQL's ``statement_timeout``) and :class:`SearchTimeout` is raised;
        the reader stays usable afterwards. Not reentrant.
        """
        self._limit_seconds = seconds
        self._deadline = time.monotonic() + seconds
        self._arm_limit()
        try:
            yield
        finally:
            self._deadline = None
            self._disarm_limit()

    def _remaining(self) -> float | None:
        """Seconds left under :meth:`time_limit` (None: no limit); SearchTimeout at none."""
        if self._deadline is None:
            return None
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise SearchTimeout(self._limit_seconds)
        return left

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # engine-specific ------------------------------------------------------------------

    def _arm_limit(self) -> None:
        """Start enforcing ``self._deadline`` on the statements that follow."""
        raise NotImplementedError

    def _disarm_limit(self) -> None:
        """Stop enforcing it (also after a statement was stopped)."""
        raise NotImplementedError

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
            row[0],
            network,
            name,
            row[2],
            row[3],
            row[4] or "",
            row[5] or "",
            row[6] or "",
            (row[7] or "") if len(row) > 7 else "",
        )

    def resolve(self, filters: Filters) -> tuple[list[int] | None, list[str]]:
        """Channel ids the filters allow (None: all) and the channel names that matched none."""
        if filters.network is None and not filters.channels and filters.only is None:
            return None, []
        chans = list(self._channels.values())
        if filters.only is not None:
            chans = [c for c in chans if (c.network, c.name) in filters.only]
        if filters.network is not None:
            net = filters.network.lower()
            chans = [c for c in chans if c.network.lower() == net]
        if not filters.channels:
            return [c.id for c in chans], []
        chosen: list[int] = []
        missing: list[str] = []
        for wanted in filters.channels:
            keys = {channel_key(wanted)}
            if wanted and wanted[0] not in CHANNEL_PREFIXES:
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
        columns: str | None = None,
        *,
        below: int | None = None,
        extra: str = "",
    ) -> list[tuple[str, list[Any]]]:
        """One statement per driver (or one for all) selecting the filtered events in order."""
        columns = columns or self._columns
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
        columns: str | None = None,
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
            if self._check_filtered_here(query):
                rows = self._by_ids(self._checked_newest(query, filters, channel_ids, limit))
            else:
                # Few events pass the filters, but the query may still be common among
                # them: walk the index first for as long as that is cheaper than asking
                # the index about each filtered event, then do that instead.
                budget = max(SCAN_BUDGET_MIN, kept * SCANS_PER_PROBE)
                found = self._search_index_first_budget(query, filters, channel_ids, limit, budget)
                rows = (
                    found if found is not None else self._newest(filters, channel_ids, query, limit)
                )
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
            rows = self._checked_chunk(
                query, could_match, filters, channel_ids, chunk, below, found
            )
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

    def _checked_chunk(
        self,
        query: Query,
        could_match: Callable[[str], bool],
        filters: Filters,
        channel_ids: list[int] | None,
        chunk: int,
        below: int | None,
        found: list[int],
    ) -> list[tuple[Any, ...]]:
        """The next ``chunk`` events the filters keep, newest first below ``below``; the
        ids of those matching ``query`` are added to ``found``."""
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
        return rows

    def _by_ids(self, ids: list[int]) -> list[tuple[Any, ...]]:
        """The events with ``ids``, newest first."""
        if not ids:
            return []
        sql = f"SELECT {self._columns} FROM events AS e WHERE e.id IN ({_marks(ids)})"
        return self._rows(sql + " ORDER BY e.id DESC", ids)

    def _check_filtered_here(self, query: Query) -> bool:
        """Whether the few events the filters keep are better checked against ``query``
        here (:meth:`_checked_newest`) than asked of the full-text index."""
        return False

    def _checked_newest(
        self, query: Query, filters: Filters, channel_ids: list[int] | None, limit: int | None
    ) -> list[int]:
        """The ids of the newest ``limit`` events the filters keep whose text matches
        ``query``, newest first, each text checked here (the filters keep at most
        :data:`FILTER_FIRST_MAX` events): read a few first, more while matches lack."""
        could_match = _prefilter(query)
        found: list[int] = []
        below: int | None = None
        chunk = DENSE_WALK_FIRST
        while True:
            rows = self._checked_chunk(
                query, could_match, filters, channel_ids, chunk, below, found
            )
            if (limit is not None and len(found) >= limit) or len(rows) < chunk:
                return found[:limit]
            below = rows[-1][0]
            chunk = min(chunk * 4, FILTER_FIRST_MAX)

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
            f"SELECT {self._columns} FROM events AS e WHERE e.channel_id = ? AND e.id < ? "
            f"ORDER BY e.id DESC LIMIT {n + 1}",
            [channel_id, hit.id],
        )
        after = self._rows(
            f"SELECT {self._columns} FROM events AS e WHERE e.channel_id = ? AND e.id > ? "
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
