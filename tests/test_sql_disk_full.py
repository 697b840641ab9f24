"""Database down and the spool's disk full: bounded memory, one line, IRC paused, recovery.

The spool lives on a real 1 MiB tmpfs (mounted here: root only), filled up by a file.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from twisted.logger import LogEvent, formatEvent, globalLogPublisher

from logbot.backends import sql
from logbot.backends.spool import Spool
from logbot.storage import migrate
from logbot.storage.engine import make_engine
from tests.test_sql_backend import Rig

MEMORY = 500


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("this test mounts a tmpfs: run it as root in CI")
        pytest.skip("mounting a tmpfs needs root")
    where = tmp_path / "small"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        # lazy: a spool segment the test left open must not keep the mount busy
        subprocess.run(["umount", "-l", str(where)], check=True)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = make_engine(str(tmp_path / "db.sqlite"))
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def logged() -> Iterator[list[str]]:
    lines: list[str] = []

    def observer(event: LogEvent) -> None:
        if event.get("log_namespace") == "logbot.backends.sql":
            lines.append(f"{event['log_level'].name} {formatEvent(event)}")

    globalLogPublisher.addObserver(observer)
    yield lines
    globalLogPublisher.removeObserver(observer)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"x" * 4096):
            pass
    except OSError:
        pass  # full
    finally:
        os.close(fd)
    return filler


def test_a_full_spool_disk_holds_a_bounded_buffer_pauses_irc_and_logs_once(
    sqlite_engine: sa.Engine, small_disk: Path, logged: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing can be kept: IRC is paused, memory stays bounded, one ERROR, one recovery line."""
    appends: list[int] = []
    real_append = Spool.append

    def counting(self: Spool, rows: list[object]) -> None:
        appends.append(len(rows))
        real_append(self, rows)  # type: ignore[arg-type]

    monkeypatch.setattr(Spool, "append", counting)
    r = Rig(sqlite_engine, small_disk / "spool", max_memory_rows=MEMORY)
    paused: list[bool] = []
    r.backend.set_pressure_handler(paused.append)
    r.writer.down = True
    first = r.write(10)
    r.clock.advance(sql.BATCH_INTERVAL)  # down: the first events reach the spool
    assert r.spooled_rows() == 10
    filler = _fill(small_disk)

    # IRC keeps sending while not paused; a few lines already read arrive after a pause
    sent = list(first)
    for _ in range(60):  # 60 ticks, 15 s
        burst = 50 if not (paused and paused[-1]) else 2
        sent += r.write(burst)
        r.clock.advance(sql.BATCH_INTERVAL)

    assert paused[-1] is True
    assert len(r.backend._buf) <= MEMORY + 200
    errors = [line for line in logged if line.startswith("error")]
    assert len(errors) == 1, errors
    assert "cannot write the spool" in errors[0]
    # backed off: a few attempts, not one per event or tick
    assert len(appends) <= 10

    filler.unlink()  # space again: the spool takes the held events, IRC reads again
    r.clock.advance(sql.RETRY_MAX + sql.BATCH_INTERVAL)
    assert paused[-1] is False
    assert r.backend.pending == 0
    assert [line for line in logged if "spool" in line and line.startswith("info")] != []

    r.writer.down = False  # the database is back: everything arrives once
    for _ in range(8):
        r.clock.advance(sql.RETRY_MAX)
    assert [t for _, t in r.stored()] == [e.text for e in sent]
    r.backend.close()
