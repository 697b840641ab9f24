"""The engine factory: paths, URLs, SQLite pragmas, and one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from logbot.storage.engine import StorageError, display_target, make_engine, storage_errors
from logbot.storage.messages import error_line
from logbot.storage.names import default_db_path


def _use(engine: sa.Engine) -> None:
    """Connect and read the schema (SQLite reads the file header then), as a writer would."""
    with storage_errors(engine), engine.connect() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM sqlite_master")


def test_default_path_follows_xdg_data_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no --db the archive lives at $XDG_DATA_HOME/logbot/logbot.sqlite."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_db_path() == tmp_path / "data" / "logbot" / "logbot.sqlite"


def test_none_opens_the_default_file_and_creates_its_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """make_engine(None) is a SQLite engine on the default path, parent directory made."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    engine = make_engine(None)
    try:
        _use(engine)
        assert engine.dialect.name == "sqlite"
        assert Path(display_target(engine)) == tmp_path / "data" / "logbot" / "logbot.sqlite"
        assert (tmp_path / "data" / "logbot" / "logbot.sqlite").exists()
    finally:
        engine.dispose()


def test_a_plain_path_is_a_sqlite_file_with_wal_and_normal_sync(tmp_path: Path) -> None:
    """A path gets WAL, synchronous=NORMAL and a busy timeout so readers and the writer mix."""
    engine = make_engine(str(tmp_path / "sub" / "x.sqlite"))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        engine.dispose()


def test_sqlite_url_is_taken_as_is(tmp_path: Path) -> None:
    """A sqlite:/// URL names the same kind of file as a path does."""
    engine = make_engine(f"sqlite:///{tmp_path}/u.sqlite")
    try:
        _use(engine)
        assert display_target(engine) == f"{tmp_path}/u.sqlite"
    finally:
        engine.dispose()


def test_postgres_short_scheme_means_psycopg3() -> None:
    """postgresql:// and postgres:// use psycopg 3, the driver the postgres extra installs."""
    for url in ("postgresql://u@127.0.0.1/d", "postgres://u@127.0.0.1/d"):
        engine = make_engine(url)
        assert engine.url.drivername == "postgresql+psycopg"
        engine.dispose()


def test_must_exist_refuses_a_missing_file(tmp_path: Path) -> None:
    """A reader asking for an existing archive gets a one-line error, not an empty file."""
    with pytest.raises(StorageError, match="no database at"):
        make_engine(str(tmp_path / "missing.sqlite"), must_exist=True)
    assert not (tmp_path / "missing.sqlite").exists()


def test_a_directory_is_not_a_database(tmp_path: Path) -> None:
    """Naming a directory says so."""
    with pytest.raises(StorageError, match="is a directory"):
        make_engine(str(tmp_path))


def test_bad_url_is_one_line_and_hides_the_password() -> None:
    """An unparsable URL is reported without echoing its password."""
    with pytest.raises(StorageError) as info:
        make_engine("postgresql+psycopg://bob:s3cret@host:port/db")
    message = str(info.value)
    assert "not a database URL" in message
    assert "s3cret" not in message
    assert "\n" not in message


def test_unknown_database_type() -> None:
    """A URL scheme SQLAlchemy does not know is named in the error."""
    with pytest.raises(StorageError, match="unknown database type 'nosuchdb'"):
        make_engine("nosuchdb://x/y")


def test_missing_postgres_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without psycopg the error says pip install 'logbot[postgres]'."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StorageError, match=r"pip install 'logbot\[postgres\]'"):
        make_engine("postgresql+psycopg://u@127.0.0.1/d")


def test_unreachable_server_is_one_line() -> None:
    """A server that refuses connections gives one line naming the database, no traceback."""
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing")
    try:
        with pytest.raises(StorageError) as info:
            _use(engine)
    finally:
        engine.dispose()
    message = str(info.value)
    assert "127.0.0.1:1" in message
    assert "refused" in message
    assert "\n" not in message


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    """A text file given as --db is reported as not a database."""
    bogus = tmp_path / "notes.txt"
    bogus.write_text("just some notes\n" * 200)
    engine = make_engine(str(bogus))
    try:
        with pytest.raises(StorageError, match="not a database"):
            _use(engine)
    finally:
        engine.dispose()


def test_error_line_keeps_only_the_driver_message(tmp_path: Path) -> None:
    """SQLAlchemy's SQL echo and documentation link are not part of the message."""
    engine = make_engine(str(tmp_path / "d.sqlite"))
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as info:
            conn.exec_driver_sql("SELECT * FROM no_such_table")
    finally:
        engine.dispose()
    assert error_line(info.value) == "no such table: no_such_table"
