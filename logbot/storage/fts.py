"""The full-text index, one per dialect: DDL, names, and what a search must write to use it.

SQLite: an FTS5 *external content* table ``events_fts`` over ``events.text``
(``content_rowid`` = ``events.id``, tokenizer ``unicode61 remove_diacritics 2``: case and
diacritics folded, every script split on Unicode word boundaries). It holds exactly the
events whose ``text`` is not empty (joins and most quits have none and are never found by
words anyway). There is deliberately **no insert trigger**: a per-row trigger halves the
write rate, so writers feed the index themselves, in bulk, in the same transaction as the
rows (see :mod:`logbot.storage.inserts`, the one place that inserts events).
Delete and update triggers do exist, so removing or editing rows by hand keeps the index
consistent. A search joins the index to the table on ``events_fts.rowid = events.id``::

    SELECT e.id, ... FROM events_fts JOIN events AS e ON e.id = events_fts.rowid
    WHERE events_fts MATCH :query            -- FTS5 syntax: words, "a phrase", prefix*
    ORDER BY events_fts.rowid DESC LIMIT :n   -- newest first, no sort: rowid is time
    -- ranked: ORDER BY bm25(events_fts)      -- (smaller is better)

PostgreSQL: a GIN index ``ix_events_text_fts`` on
``to_tsvector('logbot_text', translate(text, <ASCII punctuation>, <spaces>))``.
``logbot_text`` is a text search configuration copied from ``simple`` (no stemming, no
stop words: every language works) that also folds diacritics through the ``unaccent``
extension when the database allows creating it (trusted since PostgreSQL 13; without it
the configuration is plain ``simple``). ``translate`` turns ASCII punctuation into spaces
first, so text is cut into the same tokens as SQLite's ``unicode61`` cuts it: PostgreSQL's
own parser would keep ``example.com``, ``alice@example.org``, ``v1.2.3`` or ``1.5`` whole,
and a search for ``example`` or ``"example com"`` would miss them. A search must use the
*same expression* to hit the index (:data:`PG_TSVECTOR`, :func:`pg_tsvector`; or read it
back with ``pg_get_indexdef``)::

    WHERE <pg_tsvector("e.text")> @@ to_tsquery('logbot_text'::regconfig, :query)
    -- ranked: ORDER BY ts_rank(<pg_tsvector("e.text")>, <the tsquery>) DESC

:func:`pg_tsquery` spells the query side.
"""

from __future__ import annotations

import string

import sqlalchemy as sa

from logbot.storage.names import FTS_COLUMN, FTS_TABLE, PG_FTS_INDEX, PG_TS_CONFIG

__all__ = [
    "FTS_COLUMN",
    "FTS_OBJECT_NAMES",
    "FTS_TABLE",
    "PG_FTS_INDEX",
    "PG_SEPARATORS",
    "PG_TSVECTOR",
    "PG_TS_CONFIG",
    "PG_UNACCENT_TOKEN_TYPES",
    "SQLITE_AUTOMERGE",
    "SQLITE_DELETE_TRIGGER",
    "SQLITE_FTS_PREFIX",
    "SQLITE_TOKENIZE",
    "SQLITE_UPDATE_TRIGGER",
    "create_fts",
    "drop_fts",
    "is_fts_object",
    "pg_config_ddl",
    "pg_index_ddl",
    "pg_tsquery",
    "pg_tsvector",
    "rebuild_fts",
    "sqlite_ddl",
]

#: SQLite FTS5 tokenizer arguments
SQLITE_TOKENIZE = "unicode61 remove_diacritics 2"
#: SQLite: FTS5 shadow tables (``events_fts_data``...) and triggers all start with this
SQLITE_FTS_PREFIX = FTS_TABLE
#: SQLite triggers keeping the index right when rows are deleted or their text changes
SQLITE_DELETE_TRIGGER = "events_fts_ad"
SQLITE_UPDATE_TRIGGER = "events_fts_au"
#: SQLite FTS5 ``automerge``: merge 16 segments of a level at a time instead of 4. Merging
#: is most of the cost of a bulk insert; this makes inserts about 1.5x faster at the
#: price of more (still few: log16 of the row count per level) segments for a query.
SQLITE_AUTOMERGE = 16

#: PostgreSQL: the characters turned into spaces before tokenizing (every ASCII
#: punctuation character: unicode61 treats them all as separators)
PG_SEPARATORS = string.punctuation
# the same set as an E'' literal: escapes keep % (a driver placeholder), ' and \ out of
# the SQL text
_PG_SEPARATORS_SQL = (
    "E'" + "".join(f"\\x{ord(c):02x}" if c in "%'\\" else c for c in PG_SEPARATORS) + "'"
)
_PG_SPACES_SQL = "'" + " " * len(PG_SEPARATORS) + "'"


def pg_tsvector(column: str = f"events.{FTS_COLUMN}") -> str:
    """The indexed tsvector expression over ``column`` (qualify it when you alias tables)."""
    return (
        f"to_tsvector('{PG_TS_CONFIG}'::regconfig, "
        f"translate({column}, {_PG_SEPARATORS_SQL}, {_PG_SPACES_SQL}))"
    )


#: PostgreSQL: the indexed expression, for ``events`` columns unqualified
PG_TSVECTOR = pg_tsvector(FTS_COLUMN)
#: PostgreSQL: token types whose words may carry diacritics (ASCII-only types need none)
PG_UNACCENT_TOKEN_TYPES = ("word", "hword", "hword_part", "numword", "numhword", "hword_numpart")

#: names of every full-text object, for tools comparing schema and metadata
FTS_OBJECT_NAMES = frozenset(
    {FTS_TABLE, SQLITE_DELETE_TRIGGER, SQLITE_UPDATE_TRIGGER, PG_FTS_INDEX, PG_TS_CONFIG}
)


def is_fts_object(name: str | None) -> bool:
    """True for the full-text table, its FTS5 shadow tables, triggers and the GIN index."""
    return name is not None and (name in FTS_OBJECT_NAMES or name.startswith(SQLITE_FTS_PREFIX))


def pg_tsquery(param: str = ":query", *, function: str = "websearch_to_tsquery") -> str:
    """A tsquery in the index's configuration from a bound parameter."""
    return f"{function}('{PG_TS_CONFIG}'::regconfig, {param})"


def sqlite_ddl() -> list[str]:
    """Statements creating the SQLite full-text objects (idempotent)."""
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
        f"{FTS_COLUMN}, content='events', content_rowid='id', tokenize='{SQLITE_TOKENIZE}')",
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('automerge', {SQLITE_AUTOMERGE})",
        f"CREATE TRIGGER IF NOT EXISTS {SQLITE_DELETE_TRIGGER} AFTER DELETE ON events "
        f"WHEN old.text <> '' BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {FTS_COLUMN}) "
        f"VALUES ('delete', old.id, old.text); END",
        f"CREATE TRIGGER IF NOT EXISTS {SQLITE_UPDATE_TRIGGER} AFTER UPDATE OF text ON events "
        f"BEGIN "
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, {FTS_COLUMN}) "
        f"SELECT 'delete', old.id, old.text WHERE old.text <> ''; "
        f"INSERT INTO {FTS_TABLE}(rowid, {FTS_COLUMN}) "
        f"SELECT new.id, new.text WHERE new.text <> ''; END",
    ]


def pg_config_ddl(unaccent: bool) -> list[str]:
    """Statements creating the text search configuration (with or without unaccent)."""
    stmts = [
        f"DO $$ BEGIN CREATE TEXT SEARCH CONFIGURATION public.{PG_TS_CONFIG} "
        f"(COPY = pg_catalog.simple); EXCEPTION WHEN unique_violation THEN NULL; END $$",
    ]
    if unaccent:
        stmts.append(
            f"ALTER TEXT SEARCH CONFIGURATION public.{PG_TS_CONFIG} ALTER MAPPING FOR "
            f"{', '.join(PG_UNACCENT_TOKEN_TYPES)} WITH unaccent, simple"
        )
    return stmts


def pg_index_ddl() -> str:
    """The GIN index statement (idempotent)."""
    return f"CREATE INDEX IF NOT EXISTS {PG_FTS_INDEX} ON events USING gin ({PG_TSVECTOR})"


def _pg_try_unaccent(conn: sa.Connection) -> bool:
    """Create the unaccent extension if allowed; False (and no harm) when it is not."""
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
    except sa.exc.DBAPIError:
        return False
    return True


def create_fts(conn: sa.Connection) -> None:
    """Create the full-text objects for ``conn``'s dialect, after the tables exist."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        for stmt in sqlite_ddl():
            conn.exec_driver_sql(stmt)
    elif dialect == "postgresql":
        for stmt in pg_config_ddl(_pg_try_unaccent(conn)):
            conn.exec_driver_sql(stmt)
        conn.exec_driver_sql(pg_index_ddl())
    else:
        raise NotImplementedError(f"no full-text index for the {dialect} dialect")


def drop_fts(conn: sa.Connection) -> None:
    """Remove the full-text objects (the extension stays: others may use it)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {SQLITE_UPDATE_TRIGGER}")
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {SQLITE_DELETE_TRIGGER}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {PG_FTS_INDEX}")
        conn.exec_driver_sql(f"DROP TEXT SEARCH CONFIGURATION IF EXISTS public.{PG_TS_CONFIG}")


def rebuild_fts(conn: sa.Connection) -> None:
    """Rebuild the index from the table (repair after rows were inserted without it)."""
    if conn.dialect.name == "sqlite":
        # 'rebuild' would index empty texts too; keep the invariant: non-empty text only
        conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")
        conn.exec_driver_sql(
            f"INSERT INTO {FTS_TABLE}(rowid, {FTS_COLUMN}) "
            f"SELECT id, text FROM events WHERE text <> ''"
        )
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"REINDEX INDEX {PG_FTS_INDEX}")
