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

A SQLite bulk load into a new file is faster still (bench/README.md, "Import speed"):

- :meth:`NewFile.open` ``(engine, make_engine)``: when the database file does not exist
  yet, the load goes into a temporary file beside it (``.<name>.import-<pid>``) without
  a durable journal (``journal_mode = TRUNCATE``, ``synchronous = OFF``: no WAL written
  and copied back, no fsync); :meth:`NewFile.commit` turns it into WAL mode, syncs it
  and links it into place once the load has finished. A load that fails leaves no file
  behind: there was nothing to lose.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from logbot import durable
from logbot.storage import fts, schema

__all__ = ["NewFile", "begin", "finish", "missing", "repair"]

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


# -- SQLite: a load into a new file ----------------------------------------------------


def _temp_path(path: str) -> str:
    """A hidden file beside ``path`` (same directory, so same file system for a link)."""
    folder, name = os.path.split(os.path.abspath(path))
    return os.path.join(folder, f".{name}.import-{os.getpid()}")


def _unlink_all(path: str) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)


class NewFile:
    """A bulk load into a SQLite file that does not exist yet, in a temporary file first.

    :meth:`open` returns None for anything else (PostgreSQL, an existing file, memory).
    """

    def __init__(self, engine: sa.Engine, final: str, temp: str) -> None:
        #: the engine on the temporary file: the import writes through it
        self.engine = engine
        self.final = final
        self.temp = temp

    @classmethod
    def open(cls, engine: sa.Engine, make: Callable[[str], sa.Engine]) -> NewFile | None:
        """For ``engine`` on a SQLite file not there yet: a NewFile with an engine made
        by ``make(url)`` on a temporary file beside it (``engine`` is disposed)."""
        url = engine.url
        path = url.database
        if url.get_backend_name() != "sqlite" or not path or path == ":memory:":
            return None
        if path.startswith("file:") or os.path.lexists(path):
            return None
        temp = _temp_path(path)
        _unlink_all(temp)  # left by a killed import of this very pid number
        engine.dispose()
        new = make(url.set(database=temp).render_as_string(hide_password=False))
        sa.event.listen(new, "connect", _no_journal)
        return cls(new, path, temp)

    def commit(self) -> None:
        """Put the loaded file in place (WAL mode, synced); fails if the path was taken."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode = WAL")
        self.engine.dispose()  # closing the last connection checkpoints and drops the WAL
        fd = os.open(self.temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        # a link, not a rename: a file someone created at the path meanwhile is kept
        try:
            os.link(self.temp, self.final)
        except FileExistsError:
            raise
        except OSError:
            # a file system without hard links: look, then rename (a narrow race)
            if os.path.lexists(self.final):
                raise FileExistsError(self.final) from None
            os.rename(self.temp, self.final)
        _unlink_all(self.temp)
        durable.sync_directory(os.path.dirname(os.path.abspath(self.final)))

    def discard(self) -> None:
        """Drop the temporary file (the load failed or was interrupted)."""
        self.engine.dispose()
        _unlink_all(self.temp)


#: the temporary file's journal: a rollback journal (a batch whose keys collide is rolled
#: back and written again, so not OFF), kept on disk (MEMORY would add its pages and the
#: statement journals to the import's RSS), never synced
NEW_FILE_JOURNAL = "TRUNCATE"


def _no_journal(dbapi_conn: Any, _record: object) -> None:
    # after the engine's own pragmas: a crash loses only a file never put in place
    dbapi_conn.execute(f"PRAGMA journal_mode = {NEW_FILE_JOURNAL}")
    dbapi_conn.execute("PRAGMA synchronous = OFF")
