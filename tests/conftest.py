"""Fixtures shared by the whole suite.

PostgreSQL: tests marked ``postgres`` use a throwaway database created on the server named by
``LOGBOT_TEST_PG_URL`` (default: the local trust-auth server, database ``test``). Where that
server is unreachable they skip, except when ``CI=true``: then they fail, because CI promises
the server and a silent skip would hide a broken storage layer.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

PG_ADMIN_URL = os.environ.get(
    "LOGBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """Every twisted.logger line emitted during the test, formatted."""
    from twisted.logger import LogEvent, formatEvent, globalLogPublisher

    lines: list[str] = []

    def observer(event: LogEvent) -> None:
        lines.append(formatEvent(event))

    globalLogPublisher.addObserver(observer)
    yield lines
    globalLogPublisher.removeObserver(observer)


@contextlib.contextmanager
def pg_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server of ``server_url``, dropped afterwards; its URL."""
    import sqlalchemy as sa

    server = sa.make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def require_pg_server() -> None:
    """Skip when the PostgreSQL server does not answer; with CI=true, fail instead."""
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL at {PG_ADMIN_URL} is unreachable in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is unreachable: {exc}")
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A URL of a fresh database on the PostgreSQL server, dropped after the session."""
    require_pg_server()
    with pg_database(PG_ADMIN_URL, "logbot_test") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_target(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """A ``--db`` value for an empty database: a SQLite file, then the real PostgreSQL.

    The PostgreSQL database is the session's; its ``public`` schema is emptied after each
    test, so every test starts from nothing on both engines.
    """
    import pathlib

    import sqlalchemy as sa

    if request.param == "sqlite":
        assert isinstance(tmp_path, pathlib.Path)
        yield str(tmp_path / "logbot.sqlite")
        return
    url: str = request.getfixturevalue("pg_server_url")
    yield url
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture
def engine(db_target: str) -> Iterator[Any]:
    """An engine on ``db_target``'s database, created at the newest schema.

    (tests/test_migrations.py has its own: an engine on the database still empty.)
    """
    from logbot.storage import migrate
    from logbot.storage.engine import make_engine

    eng = make_engine(db_target)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def fts_documents(conn: Any) -> int:
    """How many texts the SQLite FTS5 index holds (each insert counts, so a text indexed
    twice counts twice): the document count of its averages record, which every table
    keeps (the per-row ``events_fts_docsize`` only when created before ``columnsize=0``)."""
    block = conn.exec_driver_sql("SELECT block FROM events_fts_data WHERE id = 1").scalar()
    if block is None:
        return 0
    # an SQLite varint: 7 bits a byte, high bit set on all but the last (9th: 8 bits)
    value = 0
    for i, byte in enumerate(bytes(block)[:9]):
        if i == 8:
            return (value << 8) | byte
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value
    return value
