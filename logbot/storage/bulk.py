"""Loading a large archive into an empty database: the indexes are built once, at the end.

Keeping every index current row by row is most of the cost of an import: the full-text
index merges its segments again and again, and ``lower(nick)`` inserts land all over its
B-tree. Into an *empty* database, ``logbot import`` instead drops the secondary indexes
and the full-text index, appends the rows, then builds each index in one pass (sorted
builds, one full-text merge), about twice as fast in all.

API:

- :func:`begin` ``(engine) -> bool``: when the ``events`` table is empty, drop the
  secondary indexes and (SQLite) the FTS5 table and its triggers, or (PostgreSQL) the GIN
  index, and return True; otherwise change nothing and return False.
- :func:`finish` ``(engine)``: build everything :func:`begin` dropped, in one transaction;
  the SQLite full-text index is rebuilt from the rows (also right when something recreated
  it meanwhile).
- :func:`missing` ``(conn)``: the names of the index objects that are not there. Nothing
  marks a load in progress but the missing objects themselves, so an import killed half
  way is finished by the next :func:`logbot.storage.migrate.upgrade` (the bot's start,
  ``logbot db upgrade``, the next import), which calls :func:`repair`.

While a load runs, searches are slow (no index) and on SQLite refuse to run (no
full-text table); a bot writing to the same SQLite file meanwhile spools its events and
stores them once the load has finished.
"""

from __future__ import annotations

import sqlalchemy as sa

from logbot.storage import fts, schema

__all__ = ["begin", "finish", "missing", "repair"]

#: PostgreSQL: memory for each index build (sorts in memory instead of on disk)
PG_BUILD_MEMORY = "512MB"


def _secondary() -> list[sa.Index]:
    return sorted(schema.events.indexes, key=lambda ix: str(ix.name))


def _fts_name(dialect: str) -> str:
    return fts.FTS_TABLE if dialect == "sqlite" else fts.PG_FTS_INDEX


def missing(conn: sa.Connection) -> list[str]:
    """Index objects of the schema that the database lacks (names; empty when complete)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        present = set(
            conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type IN ('index', 'table') "
                "AND tbl_name IN ('events', :fts)",
                {"fts": fts.FTS_TABLE},
            ).scalars()
        )
    else:
        present = set(
            conn.execute(
                sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'events'")
            ).scalars()
        )
    wanted = [str(ix.name) for ix in _secondary()] + [_fts_name(dialect)]
    return [name for name in wanted if name not in present]


def _is_empty(conn: sa.Connection) -> bool:
    return conn.execute(sa.select(schema.events.c.id).limit(1)).first() is None


def begin(engine: sa.Engine) -> bool:
    """Prepare an empty database for a bulk load (see the module doc)."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # the write lock first, so no other writer adds a row between look and drop
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        if not _is_empty(conn):
            return False
        for index in _secondary():
            # by name: reflecting lower(nick) to check first is not supported
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")
        if conn.dialect.name == "sqlite":
            fts.drop_fts(conn)
        else:
            # the text search configuration stays: only the index goes
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {fts.PG_FTS_INDEX}")
    return True


def _build(conn: sa.Connection, *, rebuild_fts: bool) -> None:
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{PG_BUILD_MEMORY}'")
    absent = set(missing(conn))
    fts_name = _fts_name(dialect)
    if dialect == "sqlite":
        if fts_name in absent or rebuild_fts:
            fts.create_fts(conn)
            fts.rebuild_fts(conn)
    elif fts_name in absent:
        conn.exec_driver_sql(fts.pg_index_ddl())
    for index in _secondary():
        if str(index.name) in absent:
            index.create(conn)


def finish(engine: sa.Engine) -> None:
    """Build the indexes :func:`begin` dropped (one transaction)."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        _build(conn, rebuild_fts=True)


def repair(conn: sa.Connection) -> None:
    """Build whatever index objects are missing (after an interrupted load), in ``conn``."""
    _build(conn, rebuild_fts=False)
