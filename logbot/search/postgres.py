"""PostgreSQL: read through psycopg 3 directly, in read-only transactions.

Not through SQLAlchemy (and not through :mod:`logbot.storage.engine`): importing
SQLAlchemy and its dialect costs ~0.2 s, which a one-shot search feels; psycopg itself is
imported only when a PostgreSQL database is opened. The connection URL is the same
SQLAlchemy-style URL the bot takes (:func:`pg_connect_args`).

The GIN index has no order, so :meth:`PostgresReader._newest_windows` chooses from the
planner's estimate between reading every match, walking the primary key backwards, and
asking about ever wider windows of the newest ids.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

from logbot.query import Phrase, Query, matches, to_tsquery
from logbot.search.opening import check_revision
from logbot.search.reader import _COLUMNS_MSGID, Channel, Reader, _limit, _marks, _select
from logbot.search.request import Filters, SearchError, SearchTimeout
from logbot.storage.messages import error_line
from logbot.storage.names import (
    PG_CONNECT_TIMEOUT,
    PG_FTS_COLUMN,
    PG_FTS_INDEX,
    PG_INSTALL_HINT,
    PG_TS_CONFIG,
)

__all__ = ["PostgresReader", "pg_connect_args"]

#: the dense-prefix walk (logbot.search.reader.DENSE_WALK_MAX), longer here: the GIN index
#: answers a prefix in 20-50 ms (its posting lists merged), where a walk reads and checks
#: an event in ~1 us
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


def _walk_is_cheaper(query: Query, estimate: float, total: float, limit: int) -> bool:
    """PostgreSQL: whether the newest ``limit`` of ``estimate`` matches among ``total`` rows
    are found sooner by walking the primary key than through the GIN index."""
    walk = WALK_ROW_US * limit * total / max(estimate, 1.0)
    prefix = any(p.prefix for p in query.positive())
    gin = estimate * (GIN_PREFIX_MATCH_US if prefix else GIN_MATCH_US)
    return walk < gin


class PostgresReader(Reader):
    """A PostgreSQL database through psycopg 3 (not SQLAlchemy), in read-only transactions.

    Full-text conditions repeat the GIN index's own expression, read from the catalog, so
    the planner can use the index whatever expression the schema chose: the tsvector
    column of folded tokens (revision 0006 on: the query is folded here and cast to
    ``tsquery``), or an older database's ``to_tsvector('logbot_text', ...)`` expression
    (the query is folded by ``to_tsquery`` in that configuration).
    """

    _walk_drivers = False
    _walk_dense = True
    _dense_walk_max = PG_DENSE_WALK_MAX
    _dense_walk_first = PG_DENSE_WALK_FIRST
    _total: float | None = None
    _bounds: tuple[int | None, int | None] | None = None
    #: the index is on the column of folded tokens (else on an older expression)
    _folded = False

    def _may_walk(self, query: Query) -> bool:
        # The Python matcher decides ASCII lines as PostgreSQL does, but a non-ASCII query
        # word may fold differently in an index from before revision 0006 (unaccent makes
        # "straße" "strasse", and an ASCII line could then match): such queries stay with
        # the index. Kept for the folded column too, which folds as the matcher does: there
        # it only costs some speed on non-ASCII queries.
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
        # ~0.2 s, which a one-shot search feels; psycopg is imported only on the way to a
        # PostgreSQL database (pg_connect_args checks it is installed)
        kwargs, self.description = pg_connect_args(url)
        import psycopg

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
                self.notes = check_revision(revision, self.description)
                self._tsvector = _index_expression(found[1], self.description)
                self._folded = self._tsvector == f"e.{PG_FTS_COLUMN}"
                cur.execute("SELECT id, network, name, name_key FROM channels")
                self._channels = {r[0]: Channel(*r) for r in cur.fetchall()}
                cur.execute(
                    "SELECT 1 FROM information_schema.columns WHERE table_name = 'events' "
                    "AND column_name = 'msgid' AND table_schema = current_schema()"
                )
                if cur.fetchone() is not None:
                    self._columns = _COLUMNS_MSGID
            # the SETs above outlive a rollback (Reader.time_limit) only once committed
            self._conn.commit()
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

    def _arm_limit(self) -> None:
        # statement_timeout is set before each statement to what is left (see _bound):
        # the server stops the statement itself, with no race against a cancel request
        pass

    def _disarm_limit(self) -> None:
        with contextlib.suppress(self._errors):
            # a stopped statement aborted the transaction (its SETs with it)
            self._conn.rollback()
            self._conn.execute("RESET statement_timeout")

    def _bound(self) -> None:
        left = self._remaining()
        if left is not None:
            self._conn.execute(f"SET statement_timeout = {max(1, int(left * 1000))}")

    def _failed(self, exc: Exception) -> SearchError:
        import psycopg.errors

        if isinstance(exc, psycopg.errors.QueryCanceled) and self._deadline is not None:
            return SearchTimeout(self._limit_seconds)
        return SearchError(f"cannot read {self.description}: {error_line(exc)}")

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            self._bound()
            with self._conn.cursor() as cur:
                # params always given (even empty): psycopg then reads %% as %
                cur.execute(self._sql(sql), tuple(params))
                return [tuple(r) for r in cur.fetchall()] if cur.description else []
        except self._errors as exc:
            raise self._failed(exc) from None

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        try:
            self._bound()
            # a server-side cursor: an export of millions of rows in constant memory
            with self._conn.cursor(name="logbot_stream") as cur:
                cur.itersize = 2000
                cur.execute(self._sql(sql), tuple(params))
                for row in cur:
                    yield tuple(row)
        except self._errors as exc:
            raise self._failed(exc) from None

    def _tsquery(self, query: Query, params: list[Any]) -> str:
        params.append(to_tsquery(query, folded=self._folded))
        return self._tsquery_sql()

    def _tsquery_sql(self) -> str:
        """A tsquery from a parameter holding ``to_tsquery(query, folded=self._folded)``."""
        if self._folded:
            return "CAST(? AS tsquery)"
        return f"to_tsquery('{PG_TS_CONFIG}'::regconfig, ?)"

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
                _select(self._columns, where) + f" ORDER BY {order}" + _limit(limit), params
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
            gin = [*where, f"{_TSVECTOR} @@ {self._tsquery_sql()}"]
            extra = []
            check = [f"({_TSVECTOR} || ''::tsvector) @@ {self._tsquery(query, extra)}"]
        estimate, total = self._estimate(gin, gin_params)
        if estimate <= PLAIN_MATCHES:
            with self._planner(_BITMAPS_ONLY):
                return self._rows(
                    _select(self._columns, [*gin, *check]) + " ORDER BY e.id DESC" + _limit(limit),
                    [*gin_params, *extra],
                )
        if total and _walk_is_cheaper(query, estimate, total, limit):
            with self._planner({"enable_bitmapscan": "off"}):
                return self._rows(
                    _select(self._columns, exact) + " ORDER BY e.id DESC" + _limit(limit),
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
                    _select(self._columns, [*gin, "e.id >= ?", "e.id < ?", *check])
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
                        [f"{_TSVECTOR} @@ {self._tsquery_sql()}"],
                        [to_tsquery(Query(((single,),)), folded=self._folded)],
                    )
                    if rows < best_rows:
                        best, best_rows = single, rows
                alternatives.append(best)
            clauses.append(tuple(alternatives))
        return to_tsquery(Query(tuple(clauses)), folded=self._folded)

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
            # after a stopped statement the transaction is aborted and refuses these; its
            # rollback (Reader.time_limit) undoes the SETs instead
            with contextlib.suppress(self._errors):
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
    not used (searches read with psycopg 3); the rest is a libpq connection URI, parsed by
    libpq itself (:func:`psycopg.conninfo.conninfo_to_dict`): percent-escapes in any part,
    several hosts, and query keys passed to libpq as they are (``sslmode=require``,
    ``host=/run/postgresql`` for a socket...).
    """
    shown = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    scheme, sep, rest = url.partition("://")
    backend = scheme.partition("+")[0]
    if not sep or backend not in ("postgresql", "postgres"):
        raise SearchError(
            f"unknown database type {scheme!r} in {shown} "
            "(use a SQLite file path or a postgresql+psycopg:// URL)"
        )
    try:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        raise SearchError(
            f"the PostgreSQL driver psycopg is not installed; {PG_INSTALL_HINT}"
        ) from None
    try:
        kwargs: dict[str, Any] = conninfo_to_dict(f"{backend}://{rest}")
    except psycopg.Error as exc:
        # libpq's reason may quote the password: given only when the URL has none
        why = f" ({error_line(exc)})" if shown == url else ""
        raise SearchError(f"not a database URL or file path: {shown!r}{why}") from None
    ports = str(kwargs.get("port", ""))
    if not all(p.isdigit() or not p for p in ports.split(",")):
        # libpq only finds out when it connects
        raise SearchError(f"not a database URL or file path: {shown!r} (port {ports!r})")
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
    if m.group("expr") == PG_FTS_COLUMN:
        return f"e.{PG_FTS_COLUMN}"
    # qualify the column for our alias; the expression is otherwise used verbatim so the
    # planner recognises the index
    # the column, not a ::text cast nor part of a name or a string literal
    return re.sub(r"(?<![\w.':])text(?![\w'])", "e.text", m.group("expr"))
