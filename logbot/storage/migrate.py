"""Bring a database to the newest schema: create and stamp an empty one, migrate an old one.

API:

- :func:`upgrade` ``(engine)``: the one call the bot (on start) and ``logbot db upgrade``
  make. An empty database (no ``events`` table) is created from
  :data:`logbot.storage.schema.metadata` plus the full-text DDL of
  :mod:`logbot.storage.fts` and stamped with the head revision; an older one is upgraded
  with Alembic; one already at head is left alone. A database stamped with a revision this
  code does not know (written by a newer logbot), or an unversioned one that has an
  ``events`` table, raises :class:`SchemaError`; any other database failure (unreachable,
  locked, not a database) raises :class:`StorageError` (its base class). One line each.
  Safe when several bots start at once: the work runs under an exclusive lock
  (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL).
- :func:`current_revision` ``(engine)`` / :func:`head_revision` ``()``: where a database is,
  where this code is.
- :func:`migrations_dir` ``()``: the Alembic scripts: ``logbot/_migrations`` inside an
  installed wheel, ``migrations/`` in a source checkout. No ``alembic.ini`` is needed.
- :func:`alembic_config` ``(connection=None)``: an Alembic ``Config`` for those scripts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from logbot.storage import bulk, fts, schema, scripts
from logbot.storage.engine import StorageError, display_target, storage_errors

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported only when there is schema work to do: a database already at head
# (every start of the bot but the first) never loads it, which keeps ~11 MB out of the
# bot's memory and ~0.3 s off its start.


class SchemaError(StorageError):
    """The database's schema is not one this code can use (newer, or not logbot's)."""


#: the PostgreSQL advisory lock key serialising schema changes ("logbot" as an integer)
PG_LOCK_KEY = 0x6C6F67626F74


def migrations_dir() -> Path:
    """Where the Alembic scripts are: inside the installed package, else the checkout."""
    where = scripts.find_migrations()
    if where is None:
        packaged, checkout = scripts.candidates()
        raise StorageError(
            f"the database migrations are missing (looked in {packaged} and {checkout}); "
            "reinstall logbot"
        )
    return where


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config for logbot's scripts; ``connection`` is the one ``env.py`` uses."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


#: every revision the shipped scripts define, and the head, without importing Alembic
known_revisions = scripts.known_revisions


def head_revision() -> str:
    """The newest revision this code knows (asked of Alembic itself)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StorageError("the database migrations have no revision; reinstall logbot")
    return head


def _revision_of(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def current_revision(engine: sa.Engine) -> str | None:
    """The revision a database is stamped with (None: empty or never stamped)."""
    with storage_errors(engine), engine.connect() as conn:
        return _revision_of(conn)


@contextlib.contextmanager
def _locked(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction that holds the schema-change lock until commit."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # pysqlite would start a deferred transaction only at the first DML; take the
            # write lock now so two starting bots cannot both decide to create the tables
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


#: Alembic's own version table, as ``alembic stamp`` creates it
_VERSION_TABLE = sa.Table(
    "alembic_version",
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def _create_new(conn: sa.Connection, head: str) -> None:
    """An empty database: the schema from the metadata, stamped with ``head``."""
    schema.metadata.create_all(conn)
    # its one row, as migration 0005 inserts it
    conn.execute(schema.changes.insert().values(id=1, deletions=0))
    fts.create_fts(conn)
    _VERSION_TABLE.create(conn)
    conn.execute(_VERSION_TABLE.insert().values(version_num=head))


def _repair(engine: sa.Engine) -> None:
    """Build index objects an interrupted bulk load left out (see logbot.storage.bulk)."""
    with storage_errors(engine):
        with engine.connect() as conn:
            if not bulk.missing(conn):
                return
        with _locked(engine) as conn:
            bulk.repair(conn)


def upgrade(engine: sa.Engine) -> None:
    """Create or migrate ``engine``'s database to the newest schema (see module doc)."""
    _known, fast_head = known_revisions()
    if fast_head is not None and current_revision(engine) == fast_head:
        _repair(engine)
        return
    with storage_errors(engine), _locked(engine) as conn:
        revision = _revision_of(conn)
        if revision is not None and revision == fast_head:
            return  # another bot starting at the same time did it
        has_events = sa.inspect(conn).has_table(schema.events.name)
        if revision is None and not has_events:
            # a new database needs no migration, so no Alembic (unless the scripts' head
            # cannot be read without it): the bot's first start stays ~10 MB smaller
            _create_new(conn, fast_head or head_revision())
            return
        if revision is None:
            raise SchemaError(
                f"database {display_target(engine)} has an events table but no schema "
                "version: it was not created by logbot"
            )
        from alembic import command
        from alembic.script import ScriptDirectory

        head = head_revision()
        if revision == head:
            return
        try:
            ScriptDirectory.from_config(alembic_config()).get_revision(revision)
        except Exception:
            raise SchemaError(
                f"database {display_target(engine)} has schema revision {revision}, newer "
                f"than this logbot knows (up to {head}): upgrade logbot"
            ) from None
        command.upgrade(alembic_config(conn), "head")
