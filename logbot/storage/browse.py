"""The reads a browser needs: channels, per-day counts, one day's events, a line near a time.

Everything here reads through a read-only SQLAlchemy engine (SQLite opened ``mode=ro``,
PostgreSQL in read-only transactions), so a web server beside the bot never blocks the
writer. Every query is a range on the ``(channel_id, id)`` index (but ``logbot html``'s
walk of runs of days of every channel, :meth:`Browser.range_rows`, a range of the table
itself): ``events.id`` is a time key (see :mod:`logbot.storage.schema`), so a day is an
id range.

Per-day counts are what a calendar costs. A closed day never changes (except by an import
or ``logbot forget``, which the cache notices through the channel's id bounds changing
only partly, so :meth:`Browser.forget_counts` exists for them), so counts of days that
ended are kept in memory and only days still open are counted again; each count is an
index-only range count of that one day.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy import exc as sa_exc

from logbot.render import Record
from logbot.storage.engine import StorageError, make_engine
from logbot.storage.gaps import Gap, list_gaps
from logbot.storage.names import (
    KEY_SPREAD,
    channel_key,
    default_db_path,
    is_url,
    key_time,
    time_key,
)

__all__ = [
    "UTC_DAY_KEYS",
    "Browser",
    "ChannelInfo",
    "DatabaseGone",
    "DayStamp",
    "EventRow",
]

#: a channel's events as rows in Record's own order (network and name bound as the first
#: two parameters, the channel id as the third), NULLs as "": each row becomes a Record
#: without Python code per row
_RECORDS = (
    "SELECT id, ?, ?, kind, nick, coalesce(text, ''), coalesce(target, ''), "
    "coalesce(userhost, ''), '' FROM events WHERE channel_id = ?"
)
#: an event as ``logbot html`` reads it: ``(id, channel_id, kind, nick, text, target,
#: userhost)``, target and userhost None where the event has none (a plain tuple, as the
#: driver gives it: no object made a row)
EventRow = tuple[int, int, str, str, str, str | None, str | None]
_ROWS = "SELECT id, channel_id, kind, nick, text, target, userhost FROM events"
#: event ids per UTC day: ``id // UTC_DAY_KEYS`` is the day's number since 1970-01-01
#: (ids are never negative: see :data:`logbot.storage.names.EARLIEST`)
UTC_DAY_KEYS = 86_400 * 1_000_000 * KEY_SPREAD
#: channel calendars (per zone) whose closed days' counts are kept in memory
COUNT_CACHE_ENTRIES = 256


class DatabaseGone(Exception):
    """The database cannot be read (missing file, server down); one line for a 503."""


class ChannelInfo(NamedTuple):
    id: int
    network: str
    name: str
    #: the newest event's id, or None for a channel with no events
    last_id: int | None

    @property
    def last_time(self) -> datetime | None:
        return key_time(self.last_id) if self.last_id is not None else None


class DayStamp(NamedTuple):
    """What identifies a day's content: how many events, and the newest one."""

    events: int
    last_id: int | None


def day_bounds(day: date, tz: tzinfo) -> tuple[int, int]:
    """The ``events.id`` range ``[low, high)`` of ``day`` in zone ``tz``."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return time_key(start.astimezone(UTC)), time_key(end.astimezone(UTC))


def local_day(key: int, tz: tzinfo) -> date:
    """The day in ``tz`` on which event ``key`` happened."""
    return key_time(key).astimezone(tz).date()


def _read_only_engine(target: str | None) -> sa.Engine:
    if target is None or not is_url(target) or target.startswith("sqlite:"):
        if target is None:
            path = default_db_path()
        elif target.startswith("sqlite:"):
            path = Path(sa.make_url(target).database or "")
        else:
            path = Path(target)
        path = path.expanduser().absolute()
        if path.is_dir():
            raise StorageError(f"{path} is a directory, not a database file")
        uri = f"{path.as_uri()}?mode=ro"

        def connect() -> sqlite3.Connection:
            if not path.exists():
                raise sqlite3.OperationalError(f"no database at {path}")
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA cache_size = -16384")
            return conn

        return sa.create_engine("sqlite+pysqlite://", creator=connect, pool_size=8)
    engine = make_engine(target)
    if engine.dialect.name == "postgresql":
        sa_event.listen(engine, "connect", _pg_read_only)
    return engine


def _pg_read_only(dbapi_conn: Any, _record: object) -> None:
    # every transaction on this connection is read-only: a web server must never write
    dbapi_conn.read_only = True


class Browser:
    """Read-only access to one archive for pages; thread-safe (one pooled connection per
    call). Raises :class:`DatabaseGone` when the database cannot be read."""

    def __init__(self, target: str | None) -> None:
        self.engine = _read_only_engine(target)
        self._lock = threading.Lock()
        # (channel id, zone) -> (oldest id, first day not closed, counts of closed days);
        # least recently used first, at most COUNT_CACHE_ENTRIES (a reader picks the zone)
        self._closed: OrderedDict[tuple[int, str], tuple[int, date, dict[date, int]]] = (
            OrderedDict()
        )
        # the gaps table exists (once seen it stays: an upgrade only adds it)
        self._has_gaps = False
        #: the ``changes.deletions`` the cached counts were taken at
        self._deletions: int | None = None
        self._has_changes = False

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except (sa_exc.DBAPIError, sqlite3.Error) as exc:
            raise DatabaseGone(_one_line(exc)) from None

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        with self._conn() as conn:
            return list(conn.execute(sa.text(sql), params))

    def _driver_sql(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in the driver's own style."""
        return sql.replace("?", "%s") if self.engine.dialect.name == "postgresql" else sql

    @contextlib.contextmanager
    def _driver_cursor(self, *, stream: bool = False) -> Iterator[Any]:
        """A cursor of the driver itself on a pooled connection, for reads where
        SQLAlchemy's execute and result rows cost more than the reading (its statements
        take :meth:`_driver_sql`); ``stream``: a server-side cursor on PostgreSQL. The
        driver's errors come out as DatabaseGone."""
        with self._conn() as conn:
            raw: Any = conn.connection.driver_connection
            try:
                if stream and self.engine.dialect.name == "postgresql":
                    cursor = raw.cursor(name="logbot_event_rows")
                    cursor.itersize = 5000
                else:
                    cursor = raw.cursor()
                yield cursor
                cursor.close()
            except (sqlite3.Error, self.engine.dialect.loaded_dbapi.Error) as exc:
                raise DatabaseGone(_one_line(exc)) from None

    # --- channels ---------------------------------------------------------------------

    def channels(self) -> list[ChannelInfo]:
        """Every channel, with its newest event's id, ordered by network and name."""
        with self._conn() as conn:
            chans = list(conn.execute(sa.text("SELECT id, network, name FROM channels")))
            out = []
            for cid, network, name in chans:
                last = conn.execute(
                    sa.text("SELECT max(id) FROM events WHERE channel_id = :c"), {"c": cid}
                ).scalar()
                out.append(ChannelInfo(cid, network, name, last))
        out.sort(key=lambda c: (c.network.lower(), channel_key(c.name)))
        return out

    def find_channel(self, network: str, name: str) -> ChannelInfo | None:
        """The channel ``name`` (IRC-casefolded) on ``network``, or None."""
        rows = self._rows(
            "SELECT id, network, name FROM channels WHERE network = :n AND name_key = :k",
            n=network,
            k=channel_key(name),
        )
        if not rows:
            return None
        cid, net, chan = rows[0]
        return ChannelInfo(cid, net, chan, None)

    def network_facts(self, name: str) -> dict[str, str]:
        """Network -> the value of fact ``name`` its servers announced (see
        :data:`logbot.storage.schema.network_facts`); none in a database made before it."""
        with self._conn() as conn:
            if not sa.inspect(conn).has_table("network_facts"):
                return {}
            rows = conn.execute(
                sa.text("SELECT network, value FROM network_facts WHERE name = :n"), {"n": name}
            )
            return {str(network): str(value) for network, value in rows}

    def gaps(
        self, chan: ChannelInfo, since: datetime | None = None, until: datetime | None = None
    ) -> list[Gap]:
        """The channel's gaps overlapping ``[since, until)`` (one query on the gaps index),
        oldest first; none in a database from before gaps were recorded (schema 0003)."""
        with self._conn() as conn:
            if not self._has_gaps:
                if not sa.inspect(conn).has_table("gaps"):
                    return []
                self._has_gaps = True
            return list_gaps(
                conn, networks=[chan.network], channels=[chan.name], since=since, until=until
            )

    def day_gaps(self, chan: ChannelInfo, day: date, tz: tzinfo) -> list[Gap]:
        """The channel's gaps overlapping ``day`` in zone ``tz``."""
        start = datetime(day.year, day.month, day.day, tzinfo=tz)
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
        return self.gaps(chan, start, end)

    # --- days -------------------------------------------------------------------------

    def bounds(self, channel_id: int) -> tuple[int | None, int | None]:
        """The oldest and newest event ids of a channel."""
        rows = self._rows("SELECT min(id), max(id) FROM events WHERE channel_id = :c", c=channel_id)
        return rows[0][0], rows[0][1]

    def day_counts(
        self, channel_id: int, tz: tzinfo, zone_name: str, now: datetime
    ) -> dict[date, int]:
        """Events per day (in ``tz``) of a channel, only days that have any.

        Days that had ended when counted come from memory (as long as the channel's
        oldest event is the same); the others are counted, one index range each,
        skipping empty stretches with a seek to the next event.
        """
        key = (channel_id, zone_name)
        today = now.astimezone(tz).date()
        with self._conn() as conn:
            self.deletions(conn)
            first = conn.execute(
                sa.text("SELECT min(id) FROM events WHERE channel_id = :c"), {"c": channel_id}
            ).scalar()
            if first is None:
                return {}
            with self._lock:
                cached = self._closed.get(key)
                if cached is not None:
                    self._closed.move_to_end(key)
            out: dict[date, int] = {}
            day: date | None = local_day(first, tz)
            if cached is not None and cached[0] == first:
                out.update(cached[2])
                low, _ = day_bounds(cached[1], tz)
                nxt = conn.execute(
                    sa.text("SELECT min(id) FROM events WHERE channel_id = :c AND id >= :lo"),
                    {"c": channel_id, "lo": low},
                ).scalar()
                day = local_day(nxt, tz) if nxt is not None else None
            while day is not None:
                low, high = day_bounds(day, tz)
                n = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM events "
                        "WHERE channel_id = :c AND id >= :lo AND id < :hi"
                    ),
                    {"c": channel_id, "lo": low, "hi": high},
                ).scalar()
                if n:
                    out[day] = int(n)
                nxt = conn.execute(
                    sa.text("SELECT min(id) FROM events WHERE channel_id = :c AND id >= :hi"),
                    {"c": channel_id, "hi": high},
                ).scalar()
                day = local_day(nxt, tz) if nxt is not None else None
        closed = {d: n for d, n in out.items() if d < today}
        with self._lock:
            self._closed[key] = (first, today, closed)
            self._closed.move_to_end(key)
            while len(self._closed) > COUNT_CACHE_ENTRIES:
                self._closed.popitem(last=False)
        return out

    def deletions(self, conn: sa.Connection | None = None) -> int:
        """How many deleting transactions the database has seen (``changes.deletions``;
        0 in a database made before it). Cached counts taken at another value are
        dropped: a forget may have emptied a closed day."""
        if conn is None:
            with self._conn() as own:
                return self.deletions(own)
        if not self._has_changes:
            if not sa.inspect(conn).has_table("changes"):
                return 0
            self._has_changes = True
        value = conn.execute(sa.text("SELECT deletions FROM changes WHERE id = 1")).scalar()
        now = int(value or 0)
        with self._lock:
            if self._deletions != now:
                self._closed.clear()
                self._deletions = now
        return now

    def forget_counts(self) -> None:
        """Drop every cached count (after an import or ``forget`` changed closed days)."""
        with self._lock:
            self._closed.clear()

    def day_stamp(self, channel_id: int, day: date, tz: tzinfo) -> DayStamp:
        low, high = day_bounds(day, tz)
        rows = self._rows(
            "SELECT count(*), max(id) FROM events WHERE channel_id = :c AND id >= :lo AND id < :hi",
            c=channel_id,
            lo=low,
            hi=high,
        )
        return DayStamp(int(rows[0][0]), rows[0][1])

    def day_events(
        self,
        chan: ChannelInfo,
        day: date,
        tz: tzinfo,
        *,
        kinds: tuple[str, ...] = (),
        after: int | None = None,
        start: int | None = None,
        end: int | None = None,
        limit: int | None = None,
    ) -> list[Record]:
        """The day's events oldest first (only ``kinds`` if given; only ids > ``after``,
        ids from ``start`` and before ``end`` (a part of the day: see :meth:`part_bounds`);
        at most ``limit``)."""
        low, high = day_bounds(day, tz)
        if after is not None:
            low = max(low, after + 1)
        if start is not None:
            low = max(low, start)
        if end is not None:
            high = min(high, end)
        sql = _RECORDS + " AND id >= ? AND id < ?"
        params: list[Any] = [chan.network, chan.name, chan.id, low, high]
        if kinds:
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
            params.extend(kinds)
        sql += " ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return list(self._records(sql, params))

    def part_bounds(
        self, channel_id: int, day: date, tz: tzinfo, part: int, size: int
    ) -> tuple[int, int | None]:
        """The ids ``[start, end)`` of ``part`` (1-based) of a day cut in parts of ``size``
        events (by position among all the channel's events of the day in ``tz``); ``end``
        None: the part is the day's last so far. Index-only: ids are read, no event."""
        low, high = day_bounds(day, tz)
        sql = (
            "SELECT id FROM events WHERE channel_id = :c AND id >= :lo AND id < :hi "
            "ORDER BY id LIMIT 1 OFFSET :skip"
        )
        with self._conn() as conn:
            start = low
            if part > 1:
                found = conn.execute(
                    sa.text(sql),
                    {"c": channel_id, "lo": low, "hi": high, "skip": (part - 1) * size},
                ).scalar()
                start = high if found is None else int(found)
            # the next part's first event: from this part's start, ``size`` on
            end = conn.execute(
                sa.text(sql), {"c": channel_id, "lo": start, "hi": high, "skip": size}
            ).scalar()
        return start, None if end is None else int(end)

    def day_parts(
        self, days: Sequence[tuple[str, str, int, Sequence[int]]], size: int
    ) -> list[list[int]]:
        """The part (1-based, parts of ``size`` events by position among the channel's
        events of a day) holding each event of ``days``: ``(network, channel name, the
        day's first possible id, event ids of that day)``, a list of parts per day, in the
        order of its ids. A day whose events up to its newest one asked are fewer than
        ``size`` (most days) costs a count of at most ``size`` index entries; a bigger one
        a count up to its newest event asked, then of the events between each two asked
        (a search's hits of one day are often near each other)."""
        sql = (
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE channel_id = "
            "(SELECT id FROM channels WHERE network = ? AND name = ? LIMIT 1) "
            "AND id >= ? AND id < ?{limit}) AS before_it"
        )
        capped = self._driver_sql(sql.format(limit=" LIMIT ?"))
        full = self._driver_sql(sql.format(limit=""))
        out = []
        # through the driver's cursor: a search page asks for up to 50 days, and
        # SQLAlchemy's execute costs twice the count of a usual day
        with self._driver_cursor() as cursor:

            def count(sql: str, *params: Any) -> int:
                cursor.execute(sql, params)
                return int(cursor.fetchone()[0] or 0)

            for network, name, low, ids in days:
                newest = max(ids)
                if count(capped, network, name, low, newest, size) < size:
                    out.append([1] * len(ids))
                    continue
                # the events before each asked, newest first: each from the next
                at = {newest: count(full, network, name, low, newest)}
                later = newest
                for eid in sorted(set(ids), reverse=True)[1:]:
                    at[eid] = at[later] - count(full, network, name, eid, later)
                    later = eid
                out.append([at[eid] // size + 1 for eid in ids])
        return out

    def utc_days(self, channel_id: int) -> list[tuple[int, int, int, int]]:
        """(UTC day number since 1970-01-01, events, oldest id, newest id) of every day
        of a channel that has events, oldest first: one pass over the channel's index,
        no event read (what ``logbot html`` plans with)."""
        rows = self._rows(
            "SELECT id / :k, count(*), min(id), max(id) FROM events "
            "WHERE channel_id = :c GROUP BY id / :k ORDER BY 1",
            k=UTC_DAY_KEYS,
            c=channel_id,
        )
        return [(int(n), int(count), int(low), int(high)) for n, count, low, high in rows]

    def range_rows(
        self, low: int, high: int, channel_ids: Sequence[int] | None = None
    ) -> Iterator[list[EventRow]]:
        """The events with ids ``low`` to ``high`` (included) of every channel, or of
        ``channel_ids``, oldest first, as :data:`EventRow` tuples in lists of up to
        5,000 (a loop over lists costs less a row than a generator), read in one
        streamed query: a walk of the table itself, which a run of days of many
        channels reads at half the cost of a walk of each channel's index."""
        sql = _ROWS + " WHERE id >= ? AND id <= ?"
        params: list[Any] = [low, high]
        if channel_ids is not None:
            # "+": tested on each row of the walk, not a reason to walk the index instead
            sql += f" AND +channel_id IN ({', '.join('?' * len(channel_ids))})"
            params.extend(channel_ids)
        return self._parts(sql + " ORDER BY id", params, stream=True)

    def channel_rows(self, channel_id: int, low: int, high: int) -> Iterator[list[EventRow]]:
        """:meth:`range_rows` of one channel through its index (cheaper where the
        channel has a small share of the range's events)."""
        sql = _ROWS + " WHERE channel_id = ? AND id >= ? AND id <= ? ORDER BY id"
        return self._parts(sql, [channel_id, low, high], stream=True)

    def _records(self, sql: str, params: list[Any]) -> Iterator[Record]:
        """Records of a query on :data:`_RECORDS`."""
        make = Record._make
        for part in self._parts(sql, params):
            yield from map(make, part)

    def _parts(self, sql: str, params: list[Any], *, stream: bool = False) -> Iterator[list[Any]]:
        """The rows of ``sql`` (``?`` placeholders) in lists, through the driver's cursor
        itself: SQLAlchemy's result rows cost more than the rest of reading a busy day
        (or a channel, for ``logbot html``). ``stream``: a server-side cursor on
        PostgreSQL."""
        sql = self._driver_sql(sql).replace("SELECT id, %s, %s", "SELECT id, %s::text, %s::text")
        with self._driver_cursor(stream=stream) as cursor:
            cursor.execute(sql, params)
            while part := cursor.fetchmany(5000):
                yield part

    def neighbours(self, channel_id: int, day: date, tz: tzinfo) -> tuple[date | None, date | None]:
        """The nearest earlier and later days (in ``tz``) that have events."""
        low, high = day_bounds(day, tz)
        with self._conn() as conn:
            prev = conn.execute(
                sa.text("SELECT max(id) FROM events WHERE channel_id = :c AND id < :lo"),
                {"c": channel_id, "lo": low},
            ).scalar()
            nxt = conn.execute(
                sa.text("SELECT min(id) FROM events WHERE channel_id = :c AND id >= :hi"),
                {"c": channel_id, "hi": high},
            ).scalar()
        return (
            local_day(prev, tz) if prev is not None else None,
            local_day(nxt, tz) if nxt is not None else None,
        )

    def nearest(
        self, channel_id: int, when: datetime, nick: str | None, window: timedelta
    ) -> int | None:
        """The id of the event closest to ``when`` within ``window`` (by ``nick`` if given)."""
        low = time_key((when - window).astimezone(UTC))
        high = time_key((when + window).astimezone(UTC))
        rows = self._rows(
            "SELECT id, nick FROM events WHERE channel_id = :c AND id >= :lo AND id <= :hi",
            c=channel_id,
            lo=low,
            hi=high,
        )
        target = time_key(when.astimezone(UTC))
        folded = nick.lower() if nick else None
        best: int | None = None
        for rid, rnick in rows:
            if folded is not None and rnick.lower() != folded:
                continue
            if best is None or abs(rid - target) < abs(best - target):
                best = rid
        return best


def _one_line(exc: BaseException) -> str:
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__
