"""A file that holds logged lines is named durably: the directory entry is synced too.

fsync of a file keeps its bytes; only fsync of its directory keeps the name that finds it
after a power loss. Every sync is recorded here (by the path the descriptor is open on) to
see that each new log, spool segment or directory is named durably before it is counted on.
"""

from __future__ import annotations

import errno
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from twisted.internet import task

from logbot import durable
from logbot.backends.spool import Spool
from logbot.backends.textdaily import DailyTextBackend
from logbot.backends.textfile import FLUSH_INTERVAL, TextFileBackend
from logbot.events import Event, Kind

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
ROW = (1, "n", "#k", "message", "a", "a line", None, None, False, None)


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths synced (fsync or fdatasync) from now on, in order."""
    seen: list[str] = []
    real_fsync, real_fdatasync = os.fsync, os.fdatasync

    def record(real: object) -> object:
        def sync(fd: int) -> None:
            seen.append(os.readlink(f"/proc/self/fd/{fd}"))
            real(fd)  # type: ignore[operator]

        return sync

    monkeypatch.setattr(os, "fsync", record(real_fsync))
    monkeypatch.setattr(os, "fdatasync", record(real_fdatasync))
    return seen


def _event(channel: str = "#k") -> Event:
    return Event(time=T0, network="n", channel=channel, kind=Kind.MESSAGE, nick="a", text="t")


def test_makedirs_names_the_parents_of_each_directory_it_created(tmp_path: Path) -> None:
    leaf = tmp_path / "a" / "b" / "c"
    assert durable.makedirs(leaf) == [str(tmp_path), str(tmp_path / "a"), str(tmp_path / "a/b")]
    assert leaf.is_dir()
    assert durable.makedirs(leaf) == []


def test_a_new_spool_segment_is_named_durably_before_append_returns(
    tmp_path: Path, synced: list[str]
) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append([ROW])
    (segment,) = (tmp_path / "spool").glob("*.jsonl")
    assert str(tmp_path) in synced  # the new spool directory's own entry
    assert str(tmp_path / "spool") in synced
    assert str(segment) in synced
    synced.clear()
    spool.append([ROW])  # the same segment: its name is already durable
    assert synced == [str(segment)]


def test_rows_the_database_refused_are_synced_and_named_durably(
    tmp_path: Path, synced: list[str]
) -> None:
    spool = Spool(tmp_path / "spool")
    spool.reject([ROW])
    assert synced[-2:] == [str(spool.rejected_path), str(tmp_path / "spool")]
    synced.clear()
    spool.reject([ROW])
    assert synced == [str(spool.rejected_path)]


def test_a_new_text_log_is_named_durably_at_its_first_sync(
    tmp_path: Path, synced: list[str]
) -> None:
    clock = task.Clock()
    backend = TextFileBackend(str(tmp_path / "logs" / "log.txt"), clock)
    backend.write(_event())
    clock.advance(FLUSH_INTERVAL)
    assert synced == [str(tmp_path / "logs" / "log.txt"), str(tmp_path), str(tmp_path / "logs")]
    synced.clear()
    backend.write(_event())
    clock.advance(FLUSH_INTERVAL)
    assert synced == [str(tmp_path / "logs" / "log.txt")]
    backend.close()


def test_an_existing_text_log_needs_no_directory_sync(tmp_path: Path, synced: list[str]) -> None:
    (tmp_path / "log.txt").write_text("older lines\n")
    clock = task.Clock()
    backend = TextFileBackend(str(tmp_path / "log.txt"), clock)
    backend.write(_event())
    clock.advance(FLUSH_INTERVAL)
    assert synced == [str(tmp_path / "log.txt")]
    backend.close()


def test_a_text_log_closed_before_its_first_sync_is_named_durably(
    tmp_path: Path, synced: list[str]
) -> None:
    backend = TextFileBackend(str(tmp_path / "log.txt"), task.Clock())
    backend.write(_event())
    backend.close()
    assert synced == [str(tmp_path / "log.txt"), str(tmp_path)]


def test_each_new_days_file_and_directory_of_a_log_dir_is_named_durably(
    tmp_path: Path, synced: list[str]
) -> None:
    clock = task.Clock()
    backend = DailyTextBackend(str(tmp_path / "logs"), clock)
    assert synced == [str(tmp_path)]
    synced.clear()
    backend.write(_event("#one"))
    clock.advance(FLUSH_INTERVAL)
    (day_file,) = (tmp_path / "logs").rglob("*.log")
    directories = [p for p in synced if os.path.isdir(p)]
    assert str(day_file) in synced
    # every directory between the log dir and the file, and the file's own
    logs = tmp_path / "logs"
    below = [p for p in reversed(day_file.parents) if p == logs or logs in p.parents]
    assert directories == [str(p) for p in below]
    backend.close()


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOTSUP])
def test_a_file_system_that_cannot_sync_directories_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def refuse(_fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", refuse)
    durable.sync_directory(tmp_path)


def test_a_disk_error_while_syncing_a_directory_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(_fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="Input/output error"):
        durable.sync_directory(tmp_path)
