"""Logs are private: the text log, the SQLite file (and -wal/-shm) and the spool are 0600.

Logs of channels with a key must not be readable by other users of the machine; a
``file_mode`` in BackendOptions (e.g. 0640 for a group of readers) replaces the default.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from twisted.internet import task

from logbot.backends import sql, textfile
from logbot.backends.base import DEFAULT_FILE_MODE, BackendOptions
from logbot.backends.spool import Spool
from logbot.events import Event, Kind
from logbot.storage.engine import make_engine
from tests.test_sql_backend import ClockReactor, InlinePool

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems have: it lets 0644 through, so only our modes protect."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _event() -> Event:
    return Event(time=T0, network="n", channel="#k", kind=Kind.MESSAGE, nick="a", text="t")


def test_the_default_file_mode_is_private() -> None:
    assert DEFAULT_FILE_MODE == 0o600


@pytest.mark.parametrize("mode", [None, 0o640])
def test_a_new_text_log_gets_the_file_mode(tmp_path: Path, mode: int | None) -> None:
    """The text log is created 0600 (or the mode configured), not 0644."""
    options = BackendOptions(reactor=task.Clock())
    if mode is not None:
        options = BackendOptions(reactor=task.Clock(), file_mode=mode)
    backend = textfile.create(str(tmp_path / "log.txt"), options)
    backend.write(_event())
    backend.close()
    assert _mode(tmp_path / "log.txt") == (mode or 0o600)


@pytest.mark.parametrize("mode", [None, 0o640])
def test_a_new_sqlite_database_and_its_wal_get_the_file_mode(
    tmp_path: Path, mode: int | None
) -> None:
    """The SQLite file and the -wal/-shm files SQLite makes beside it are 0600 (or set)."""
    options = BackendOptions(reactor=ClockReactor())
    if mode is not None:
        options = BackendOptions(reactor=ClockReactor(), file_mode=mode)
    db = tmp_path / "logs.sqlite"
    backend = sql.create(str(db), options, pool=InlinePool(), spool_dir=tmp_path / "spool")
    backend.write(_event())
    backend._reactor.advance(0.25)
    assert backend.committed == 1
    # a reader holds the WAL open, so -wal and -shm are there to look at
    engine = make_engine(str(db))
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT count(*) FROM events"))
        wal = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        assert {p.name: _mode(p) for p in wal} == {p.name: mode or 0o600 for p in wal}
    engine.dispose()
    backend.close()


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    """An operator's chmod is respected: only a new file gets the default."""
    db = tmp_path / "logs.sqlite"
    engine = make_engine(str(db))
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    engine.dispose()
    db.chmod(0o644)
    engine = make_engine(str(db))
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    engine.dispose()
    assert _mode(db) == 0o644


def test_spool_files_and_directory_are_private(tmp_path: Path) -> None:
    """Segments, target.txt and rejected.jsonl hold log lines or a database name: 0600."""
    spool = Spool(tmp_path / "spool", "postgresql://bot@db/logs")
    spool.append([(1, "n", "#k", "message", "a", "secret line", None, None, False, None)])
    spool.seal()
    files = sorted((tmp_path / "spool").iterdir())
    assert {p.name.rsplit(".", 1)[-1]: _mode(p) for p in files} == {"jsonl": 0o600, "txt": 0o600}
    assert _mode(tmp_path / "spool") == 0o700


def test_rejected_rows_are_kept_in_a_private_file(tmp_path: Path) -> None:
    """rejected.jsonl holds refused log lines: 0600 too."""
    backend = sql.create(
        str(tmp_path / "db.sqlite"),
        BackendOptions(reactor=ClockReactor()),
        pool=InlinePool(),
        spool_dir=tmp_path / "spool",
    )
    backend._reject([(1, "n", "#k", "message", "a", "refused", None, None, False, None)])
    backend.close()
    assert _mode(tmp_path / "spool" / "rejected.jsonl") == 0o600
