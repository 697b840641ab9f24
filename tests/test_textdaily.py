"""Per-day text logs (``log_dir``): one file per network, channel and local day.

A task.Clock drives midnight; local time is a POSIX TZ string (Berlin's rules, DST
included) so no tzdata is needed. Files are read back and compared line by line.
"""

from __future__ import annotations

import gzip
import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import task

from logbot.backends.base import BackendOptions, load_backend
from logbot.backends.textdaily import (
    DailyTextBackend,
    _next_midnight,
    compress_file,
    day_path,
    path_component,
)
from logbot.config import build_settings
from logbot.events import Event, Kind
from logbot.service import backend_routes

BERLIN = "CET-1CEST,M3.5.0,M10.5.0/3"


@pytest.fixture(autouse=True)
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", BERLIN)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ev(when: datetime, text: str = "hi", kind: Kind = Kind.MESSAGE, **kw: Any) -> Event:
    fields: dict[str, Any] = {"network": "net", "channel": "#x", "nick": "alice"}
    fields.update(kw)
    return Event(time=when, kind=kind, text=text, **fields)


def make(tmp_path: Path, now: datetime, **kw: Any) -> tuple[DailyTextBackend, task.Clock]:
    clock = task.Clock()
    clock.advance(now.timestamp())
    return DailyTextBackend(str(tmp_path / "logs"), clock, **kw), clock


def lines(tmp_path: Path, day: str, network: str = "net", channel: str = "#x") -> list[str]:
    return Path(day_path(str(tmp_path / "logs"), network, channel, day)).read_text().splitlines()


def test_each_event_goes_to_the_file_of_its_local_day_across_midnight_and_dst(
    tmp_path: Path,
) -> None:
    """Local midnight (CET, then the 23-hour DST day) decides the file; no date lines."""
    backend, _clock = make(tmp_path, utc(2026, 3, 28, 22, 0))
    for when, text in [
        (utc(2026, 3, 28, 22, 59, 59), "last of the 28th"),
        (utc(2026, 3, 28, 23, 0, 0), "first of the 29th"),
        (utc(2026, 3, 29, 1, 0, 0), "03:00 CEST"),
        (utc(2026, 3, 29, 21, 59, 59), "last of the 29th"),
        (utc(2026, 3, 29, 22, 0, 0), "first of the 30th"),
    ]:
        backend.write(ev(when, text))
    backend.flush()
    assert lines(tmp_path, "2026-03-28") == ["[23:59:59] <alice> last of the 28th"]
    assert lines(tmp_path, "2026-03-29") == [
        "[00:00:00] <alice> first of the 29th",
        "[03:00:00] <alice> 03:00 CEST",
        "[23:59:59] <alice> last of the 29th",
    ]
    assert lines(tmp_path, "2026-03-30") == ["[00:00:00] <alice> first of the 30th"]
    backend.close()


def test_next_midnight_knows_the_23_and_25_hour_days() -> None:
    """The rollover timer fires at local midnight, DST or not."""
    assert _next_midnight(utc(2026, 3, 28, 23, 30).timestamp()) == utc(2026, 3, 29, 22).timestamp()
    assert (
        _next_midnight(utc(2026, 10, 24, 22, 30).timestamp()) == utc(2026, 10, 25, 23).timestamp()
    )


def test_midnight_closes_the_files_of_other_days(tmp_path: Path) -> None:
    """At local midnight yesterday's file is flushed and closed; today's opens on demand."""
    backend, clock = make(tmp_path, utc(2026, 11, 28, 22, 0))
    backend.write(ev(utc(2026, 11, 28, 22, 59, 59), "before"))
    clock.advance(utc(2026, 11, 28, 23, 0, 1).timestamp() - clock.seconds())
    assert lines(tmp_path, "2026-11-28") == ["[23:59:59] <alice> before"]
    assert backend._open == {}
    backend.write(ev(utc(2026, 11, 28, 23, 0, 1), "after"))
    backend.flush()
    assert lines(tmp_path, "2026-11-29") == ["[00:00:01] <alice> after"]
    backend.close()


def test_session_markers_go_to_each_channel_of_the_network(tmp_path: Path) -> None:
    """[disconnected at ...] is written in the day's file of every channel the run wrote."""
    backend, _ = make(tmp_path, utc(2026, 11, 28, 12))
    when = utc(2026, 11, 28, 12, 0, 5)
    backend.write(ev(when, channel="#x"))
    backend.write(ev(when, channel="#Y"))
    backend.write(ev(when, channel="#z", network="other"))
    backend.write(ev(when, "", Kind.DISCONNECTED, channel="", nick=""))
    backend.flush()
    marker = "[13:00:05] [disconnected at Sat Nov 28 13:00:05 2026]"
    assert lines(tmp_path, "2026-11-28", channel="#x")[-1] == marker
    assert lines(tmp_path, "2026-11-28", channel="#y")[-1] == marker
    assert lines(tmp_path, "2026-11-28", "other", "#z") == ["[13:00:05] <alice> hi"]
    backend.close()


def test_paths_are_safe_and_channels_folded(tmp_path: Path) -> None:
    """'/' and '..' cannot leave the directory; #Foo and #foo are one channel's files."""
    assert path_component("../a/b") == "..%2Fa%2Fb"
    assert path_component("..") == "%2E%2E"
    assert path_component("50%") == "50%25"
    backend, _ = make(tmp_path, utc(2026, 11, 28, 12))
    backend.write(ev(utc(2026, 11, 28, 12), "a", channel="#Foo"))
    backend.write(ev(utc(2026, 11, 28, 12), "b", channel="#foo"))
    backend.write(ev(utc(2026, 11, 28, 12), "c", network=".."))
    backend.flush()
    assert lines(tmp_path, "2026-11-28", channel="#foo") == [
        "[13:00:00] <alice> a",
        "[13:00:00] <alice> b",
    ]
    assert (tmp_path / "logs" / "%2E%2E" / "#x" / "2026-11-28.log").exists()
    backend.close()


def test_files_are_private_by_default(tmp_path: Path) -> None:
    """New day files are 0600 (file_mode), their directories 0700."""
    backend, _ = make(tmp_path, utc(2026, 11, 28, 12))
    backend.write(ev(utc(2026, 11, 28, 12)))
    backend.flush()
    path = Path(day_path(str(tmp_path / "logs"), "net", "#x", "2026-11-28"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    backend.close()


def test_reopen_after_rotation_writes_a_new_file(tmp_path: Path) -> None:
    """SIGHUP: lines before it stay in the moved file, later ones go to a new one."""
    backend, _ = make(tmp_path, utc(2026, 11, 28, 12))
    backend.write(ev(utc(2026, 11, 28, 12), "old"))
    path = Path(day_path(str(tmp_path / "logs"), "net", "#x", "2026-11-28"))
    backend.flush()
    path.rename(str(path) + ".1")
    backend.reopen()
    backend.write(ev(utc(2026, 11, 28, 12, 0, 1), "new"))
    backend.close()
    assert Path(str(path) + ".1").read_text() == "[13:00:00] <alice> old\n"
    assert path.read_text() == "[13:00:01] <alice> new\n"


def test_closed_days_are_gzipped_n_days_later_never_the_open_day(tmp_path: Path) -> None:
    """compress_after_days = 2: days up to two ago become .log.gz; later ones stay .log."""
    logs = tmp_path / "logs" / "net" / "#x"
    logs.mkdir(parents=True)
    for day in ("2026-11-20", "2026-11-26", "2026-11-27"):
        (logs / f"{day}.log").write_text(f"[12:00:00] <alice> {day}\n")
    backend, _ = make(tmp_path, utc(2026, 11, 28, 12), compress_after_days=2)
    backend.write(ev(utc(2026, 11, 28, 12)))
    backend.flush()
    assert sorted(p.name for p in logs.iterdir()) == [
        "2026-11-20.log.gz",
        "2026-11-26.log.gz",
        "2026-11-27.log",
        "2026-11-28.log",
    ]
    with gzip.open(logs / "2026-11-26.log.gz", "rt") as f:
        assert f.read() == "[12:00:00] <alice> 2026-11-26\n"
    backend.close()


def test_a_late_line_of_a_compressed_day_is_appended_as_a_gzip_member(tmp_path: Path) -> None:
    """Nothing is lost: a .log that reappears next to its .log.gz joins it as a member."""
    day = tmp_path / "2026-11-20.log"
    day.write_text("one\n")
    compress_file(str(day))
    day.write_text("two\n")
    compress_file(str(day))
    assert not day.exists()
    assert not (tmp_path / "2026-11-20.log.gz.tmp").exists()
    with gzip.open(tmp_path / "2026-11-20.log.gz", "rt") as f:
        assert f.read() == "one\ntwo\n"


def test_events_of_a_day_being_compressed_wait_for_the_job(tmp_path: Path) -> None:
    """While the pool compresses old days, a late event of such a day is held, then written."""
    jobs: list[Any] = []

    class Pool:
        def callInThread(self, f: Any) -> None:
            jobs.append(f)

    clock = task.Clock()
    clock.advance(utc(2026, 11, 28, 12).timestamp())
    clock.callFromThread = lambda f, *a: f(*a)  # type: ignore[attr-defined]
    logs = tmp_path / "logs" / "net" / "#x"
    logs.mkdir(parents=True)
    (logs / "2026-11-20.log").write_text("[12:00:00] <alice> early\n")
    backend = DailyTextBackend(str(tmp_path / "logs"), clock, pool=Pool(), compress_after_days=1)
    backend.write(ev(utc(2026, 11, 20, 12, 0, 1), "late"))
    assert not (logs / "2026-11-20.log.gz").exists()
    (job,) = jobs
    job()
    backend.flush()
    with gzip.open(logs / "2026-11-20.log.gz", "rt") as f:
        assert f.read() == "[12:00:00] <alice> early\n"
    assert (logs / "2026-11-20.log").read_text() == "[13:00:01] <alice> late\n"
    backend.close()


def test_log_dir_and_compress_after_days_are_settings_routed_to_the_daily_backend(
    tmp_path: Path,
) -> None:
    """log_dir is a path key (per network or top level); compress_after_days a top one."""
    config = tmp_path / "logbot.toml"
    config.write_text(
        'server = "irc.test"\nchannels = ["#x"]\nlog_dir = "logs"\ncompress_after_days = 7\n'
    )
    settings = build_settings({}, str(config), {})
    assert settings.compress_after_days == 7
    (route,) = backend_routes(settings)
    assert (route.kind, route.target) == ("daily", str(tmp_path / "logs"))
    backend = load_backend("daily")(
        str(tmp_path / "logs"),
        BackendOptions(reactor=task.Clock(), compress_after_days=settings.compress_after_days),
    )
    assert isinstance(backend, DailyTextBackend)
    assert backend.compress_after_days == 7
    backend.close()
