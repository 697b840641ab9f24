"""Alembic environment for logbot.

Run through :mod:`logbot.storage.migrate` (``logbot db upgrade``, or the bot on start),
which hands over an open connection in ``config.attributes["connection"]``; no
``alembic.ini`` is needed. For writing a new revision from a checkout::

    python -c "from alembic import command; from logbot.storage.migrate import alembic_config; \
command.revision(alembic_config(), message='what changes', rev_id='0002')"

SQLite runs in batch mode (``render_as_batch``): it cannot ALTER most things, so Alembic
copies the table. Copying ``events`` drops its triggers: a revision that batch-alters
``events`` must re-create the full-text triggers afterwards.

The full-text objects (FTS5 table and its shadow tables, triggers, the PostgreSQL GIN
index, its ``text_tsv`` column and the old text search configuration) are not in the
metadata; autogenerate ignores them.
"""

from __future__ import annotations

from typing import Any

from alembic import context

from logbot.storage import fts
from logbot.storage.schema import metadata

config = context.config


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Leave the full-text objects (made by raw DDL) out of schema comparisons."""
    return not fts.is_fts_object(name)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    return not (type_ == "table" and fts.is_fts_object(name))


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=bool(url and url.startswith("sqlite")),
        include_object=include_object,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from logbot.storage.engine import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_object=include_object,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
