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


def test_file_mode_in_the_config_file_reaches_every_new_log(tmp_path: Path) -> None:
    """``file_mode = "0640"`` (top level): the text log and the database are created 0640."""
    from logbot.config import build_settings
    from logbot.service import build_backends

    config = tmp_path / "logbot.toml"
    config.write_text(
        f'server = "h"\nchannels = ["#x"]\nfile_mode = "0640"\n'
        f'file = "{tmp_path / "log.txt"}"\ndb = "{tmp_path / "db.sqlite"}"\n'
    )
    config.chmod(0o600)
    settings = build_settings({}, str(config), {})
    assert settings.file_mode == 0o640

    class Reactor(task.Clock):
        def callWhenRunning(self, f: object, *args: object) -> None:
            pass

    backends, _ = build_backends(settings, Reactor())
    for backend in backends:
        backend.close()
    assert _mode(tmp_path / "log.txt") == 0o640
    # the database file is made when the schema is created at start
    assert _mode(tmp_path / "db.sqlite") == 0o640


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('file_mode = "0755"', 'file_mode: must be octal permissions like "0600" or "0640"'),
        ('file_mode = "0400"', 'file_mode: must be octal permissions like "0600" or "0640"'),
        ('file_mode = "rw-r-----"', "file_mode: must be octal permissions"),
        ('[[network]]\nserver = "h"\nchannels = ["#x"]\nfile_mode = "0640"', "only allowed at"),
    ],
)
def test_a_bad_file_mode_is_one_line_naming_the_key(
    tmp_path: Path, toml: str, message: str
) -> None:
    """Execute bits, no owner read-write, or not octal: a config error, not a surprise."""
    from logbot.config import ConfigError, build_settings

    config = tmp_path / "logbot.toml"
    config.write_text(f'server = "h"\nchannels = ["#x"]\n{toml}\n')
    config.chmod(0o600)
    with pytest.raises(ConfigError, match=message):
        build_settings({}, str(config), {})
