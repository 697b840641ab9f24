"""The full-text index, one per dialect: DDL, names, and what a search must write to use it.

SQLite: an FTS5 *external content* table ``events_fts`` over ``events.text``
(``content_rowid`` = ``events.id``, tokenizer ``unicode61 remove_diacritics 2``: case and
diacritics folded, every script split on Unicode word boundaries). It holds exactly the
events whose ``text`` is not empty (joins and most quits have none and are never found by
words anyway). There is deliberately **no insert trigger**: a per-row trigger halves the
write rate, so writers feed the index themselves, in bulk, in the same transaction as the
rows (see :mod:`logbot.storage.inserts`, the one place that inserts events).
Delete and update triggers do exist, so removing or editing rows by hand keeps the index
consistent. It is created with ``columnsize=0``: FTS5 then keeps no per-row table of token
counts (``events_fts_docsize``, one more row written for every text, a fifth of the
writer's CPU a row), and ``bm25()`` (ranked search only) counts a hit's tokens from its
text instead. Tables created before keep that table and work as they did: nothing
migrates them (rebuilding the index of a large archive would hold up the bot's start).
A search joins the index to the table on ``events_fts.rowid = events.id``::

    SELECT e.id, ... FROM events_fts JOIN events AS e ON e.id = events_fts.rowid
    WHERE events_fts MATCH :query            -- FTS5 syntax: words, "a phrase", prefix*
    ORDER BY events_fts.rowid DESC LIMIT :n   -- newest first, no sort: rowid is time
    -- ranked: ORDER BY bm25(events_fts)      -- (smaller is better)

PostgreSQL: a GIN index ``ix_events_text_fts`` on the column ``events.text_tsv``, a
``tsvector`` of the text's tokens folded in Python by the very rules above (lower case,
diacritics dropped, cut at every character that is not a letter or digit; see
:mod:`logbot.storage.tsvector`), written by the writer with each row; NULL when the text
has no token. A search casts its query, folded the same way, to ``tsquery`` (no text
search configuration is involved on either side, so nothing on the server re-cuts or
re-folds a token)::

    WHERE e.text_tsv @@ CAST(:query AS tsquery)   -- :query = pg_query_text("...")
    -- ranked: ORDER BY ts_rank(e.text_tsv, <the tsquery>) DESC

Before revision 0006 the index was on the expression
``to_tsvector('logbot_text', translate(text, <ASCII punctuation>, <spaces>))``, computed
by the server for every row (~10 us of its ~27 us a row); ``logbot search`` still reads
such a database, taking the expression from the index definition.
"""

from __future__ import annotations

import sqlalchemy as sa

from logbot.query import parse, to_tsquery
from logbot.storage import tsvector
from logbot.storage.names import (
    FTS_COLUMN,
    FTS_TABLE,
    PG_FTS_COLUMN,
    PG_FTS_INDEX,
    PG_TS_CONFIG,
)

__all__ = [
    "FTS_COLUMN",
    "FTS_OBJECT_NAMES",
    "FTS_TABLE",
    "PG_FTS_COLUMN",
    "PG_FTS_INDEX",
    "SQLITE_AUTOMERGE",
    "SQLITE_DELETE_TRIGGER",
    "SQLITE_FTS_PREFIX",
    "SQLITE_TOKENIZE",
    "SQLITE_UPDATE_TRIGGER",
    "create_fts",
    "drop_fts",
    "is_fts_object",
    "pg_column_ddl",
    "pg_index_ddl",
    "pg_query_text",
    "pg_tsquery",
    "pg_tsvector",
    "rebuild_fts",
    "sqlite_ddl",
]

#: SQLite FTS5 tokenizer arguments
SQLITE_TOKENIZE = "unicode61 remove_diacritics 2"
#: SQLite: the per-row table of token counts that tables created before ``columnsize=0``
#: keep (see :func:`sqlite_ddl`)
SQLITE_DOCSIZE_TABLE = f"{FTS_TABLE}_docsize"
#: SQLite: FTS5 shadow tables (``events_fts_data``...) and triggers all start with this
SQLITE_FTS_PREFIX = FTS_TABLE
#: SQLite triggers keeping the index right when rows are deleted or their text changes
SQLITE_DELETE_TRIGGER = "events_fts_ad"
SQLITE_UPDATE_TRIGGER = "events_fts_au"
#: SQLite FTS5 ``automerge``: merge 16 segments of a level at a time instead of 4. Merging
#: is most of the cost of a bulk insert; this makes inserts about 1.5x faster at the
#: price of more (still few: log16 of the row count per level) segments for a query.
SQLITE_AUTOMERGE = 16


def pg_tsvector(table: str = "events") -> str:
    """The indexed tsvector column of ``table`` (an alias when you alias ``events``)."""
    return f"{table}.{PG_FTS_COLUMN}"


def pg_tsquery(param: str = ":query") -> str:
    """A tsquery from a bound parameter holding :func:`pg_query_text`."""
    return f"CAST({param} AS tsquery)"


def pg_query_text(words: str) -> str:
    """A search query (the ``logbot search`` language) as tsquery text for the index."""
    query = parse(words)
    if query is None:
        raise ValueError("an empty query matches no words")
    return to_tsquery(query, folded=True)


#: names of every full-text object, for tools comparing schema and metadata
FTS_OBJECT_NAMES = frozenset(
    {
        FTS_TABLE,
        SQLITE_DELETE_TRIGGER,
        SQLITE_UPDATE_TRIGGER,
        PG_FTS_INDEX,
        PG_FTS_COLUMN,
        PG_TS_CONFIG,
    }
)


def is_fts_object(name: str | None) -> bool:
    """True for the full-text table, its FTS5 shadow tables, triggers, the GIN index and
    its column."""
    return name is not None and (name in FTS_OBJECT_NAMES or name.startswith(SQLITE_FTS_PREFIX))


def sqlite_ddl() -> list[str]:
    """Statements creating the SQLite full-text objects (idempotent)."""
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
        f"{FTS_COLUMN}, content='events', content_rowid='id', columnsize=0, "
        f"tokenize='{SQLITE_TOKENIZE}')",
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


def pg_column_ddl() -> str:
    """The tsvector column statement (idempotent)."""
    return f"ALTER TABLE events ADD COLUMN IF NOT EXISTS {PG_FTS_COLUMN} tsvector"


def pg_index_ddl() -> str:
    """The GIN index statement (idempotent)."""
    return f"CREATE INDEX IF NOT EXISTS {PG_FTS_INDEX} ON events USING gin ({PG_FTS_COLUMN})"


def create_fts(conn: sa.Connection) -> None:
    """Create the full-text objects for ``conn``'s dialect, after the tables exist."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        for stmt in sqlite_ddl():
            conn.exec_driver_sql(stmt)
    elif dialect == "postgresql":
        conn.exec_driver_sql(pg_column_ddl())
        conn.exec_driver_sql(pg_index_ddl())
    else:
        raise NotImplementedError(f"no full-text index for the {dialect} dialect")


def drop_fts(conn: sa.Connection) -> None:
    """Remove the full-text index (on PostgreSQL its column, which holds data, stays)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {SQLITE_UPDATE_TRIGGER}")
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {SQLITE_DELETE_TRIGGER}")
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {PG_FTS_INDEX}")


def rebuild_fts(conn: sa.Connection) -> None:
    """Rebuild the index from the table (repair after rows were inserted without it; on
    PostgreSQL, rows whose tsvector column is NULL get it)."""
    if conn.dialect.name == "sqlite":
        # 'rebuild' would index empty texts too; keep the invariant: non-empty text only
        conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")
        conn.exec_driver_sql(
            f"INSERT INTO {FTS_TABLE}(rowid, {FTS_COLUMN}) "
            f"SELECT id, text FROM events WHERE text <> ''"
        )
    elif conn.dialect.name == "postgresql":
        tsvector.backfill(conn.connection.driver_connection)
