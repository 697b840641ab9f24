"""`logbot html --jobs N`: the same site from N processes, stopped with the run."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from logbot.events import Event, Kind
from logbot.web import export, jobs
from logbot.web.export import MANIFEST, write_site
from logbot.web.site import Archive
from tests.web_data import events, fill


def _many_days(days: int = 12, per_day: int = 5) -> list[Event]:
    start = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    return [
        Event(start + timedelta(days=d, minutes=m), "libera", "#x", Kind.MESSAGE, "zed", f"{d}/{m}")
        for d in range(days)
        for m in range(per_day)
    ]


def _tree(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` (the manifest without the time it was written)."""
    files = {}
    for path in sorted(out.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name == MANIFEST:
                manifest = json.loads(data)
                del manifest["written"]
                data = json.dumps(manifest).encode()
            files[str(path.relative_to(out))] = data
    return files


def test_two_processes_write_the_tree_one_writes(
    db_target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tasks of a few events: a channel's days are spread over both processes
    monkeypatch.setattr(export, "CHUNK_EVENTS", 7)
    fill(db_target, [*events(), *_many_days()])
    one, two = tmp_path / "one", tmp_path / "two"
    first = write_site(db_target, one, jobs=1)
    assert first == write_site(db_target, two, jobs=2)
    assert first.days_written == 17
    assert _tree(one) == _tree(two)
    # a rerun: the same days kept, then the same days rewritten after new lines
    assert write_site(db_target, two, jobs=2).days_written == 0
    later = datetime(2026, 10, 5, 23, 0, tzinfo=UTC)
    fill(db_target, [Event(later, "libera", "#x", Kind.MESSAGE, "amy", "late")])
    again = write_site(db_target, one, jobs=1)
    assert again == write_site(db_target, two, jobs=2)
    assert again.days_written == 1
    assert _tree(one) == _tree(two)


def test_spawned_workers_write_the_same_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "a.sqlite")
    fill(db, [*events(), *_many_days()])
    write_site(db, tmp_path / "one", jobs=1)
    monkeypatch.setattr(export, "CHUNK_EVENTS", 7)
    # nothing a worker needs may come from a fork
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    write_site(db, tmp_path / "two", jobs=2)
    assert _tree(tmp_path / "one") == _tree(tmp_path / "two")


def test_a_task_holds_one_day_of_events_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "a.sqlite")
    fill(db, _many_days(days=6, per_day=4))
    pulled: list[int] = []
    at_write: list[tuple[str, int]] = []
    read = Archive.__init__

    def counting_archive(self: Any, *args: Any, **kwargs: Any) -> None:
        read(self, *args, **kwargs)
        for name in ("range_rows", "channel_rows"):
            rows_of = getattr(self.browser, name)

            def counted(*a: Any, rows_of: Any = rows_of) -> Iterator[Any]:
                # a row at a time, to see when each is asked for
                for part in rows_of(*a):
                    for row in part:
                        pulled.append(row[0])
                        yield [row]

            setattr(self.browser, name, counted)

    real_write = export._write

    def noting_write(path: Path | str, data: bytes, **kwargs: Any) -> None:
        at_write.append((Path(path).name, len(pulled)))
        real_write(path, data, **kwargs)

    monkeypatch.setattr(Archive, "__init__", counting_archive)
    monkeypatch.setattr(export, "_write", noting_write)
    write_site(db, tmp_path / "out", jobs=1)
    days = [n for n in at_write if n[0].startswith("2026-")]
    assert len(days) == 6
    for i, (_, seen) in enumerate(days):
        # the day's 4 events, and the next day's first (which ends the day), no more
        assert seen <= 4 * (i + 1) + 1


def test_an_error_in_a_worker_is_the_same_one_line_error(tmp_path: Path) -> None:
    db = str(tmp_path / "a.sqlite")
    fill(db, [*events(), *_many_days()])
    results = []
    for n in (1, 2):
        out = tmp_path / f"s{n}"
        # a day page cannot replace a directory of that name
        (out / "libera" / "#x" / "2026-10-03.html").mkdir(parents=True)
        cmd = [sys.executable, "-m", "logbot", "html", "--db", db, "--out", str(out)]
        done = subprocess.run(
            [*cmd, "--jobs", str(n)], capture_output=True, text=True, timeout=120, check=False
        )
        results.append((done.returncode, done.stderr.replace(f"/s{n}/", "/s/")))
    assert results[0] == results[1]
    code, stderr = results[0]
    assert code == 2
    assert stderr.count("\n") == 1
    assert "Is a directory" in stderr
    assert "Traceback" not in stderr


def _exit_now(code: int) -> None:
    os._exit(code)


def test_a_worker_that_dies_ends_the_run() -> None:
    with pytest.raises(jobs.WorkerDied, match="status 3"):
        list(jobs.run(2, int, (), _exit_now, [3, 3, 3]))


def _children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(c) for c in text.split()}


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


_SLEEPERS = (
    "import time; from logbot.web import jobs; list(jobs.run(2, int, (), time.sleep, [60, 60]))"
)


def _wait_for(check: Any, what: str, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"no {what} within {seconds} s")


@pytest.mark.parametrize(
    ("how", "status"),
    # an uncaught KeyboardInterrupt ends Python by SIGINT (logbot's click says "Aborted!", 1)
    [("term", -signal.SIGTERM), ("ctrl-c", -signal.SIGINT), ("kill", -signal.SIGKILL)],
)
def test_stopping_the_run_stops_the_workers(how: str, status: int) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLEEPERS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        workers = _wait_for(lambda: len(found := _children(proc.pid)) >= 2 and found, "workers")
        if how == "term":
            proc.send_signal(signal.SIGTERM)
        elif how == "ctrl-c":
            # a terminal sends it to the whole process group
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.kill()
        assert proc.wait(30) == status
        _wait_for(lambda: all(_gone(w) for w in workers), "end of the workers")
        if how == "ctrl-c":
            stderr = proc.stderr.read().decode() if proc.stderr else ""
            # one KeyboardInterrupt, the parent's: the workers ignore Ctrl-C
            assert stderr.count("KeyboardInterrupt") == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_no_tasks_start_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []
    monkeypatch.setattr(multiprocessing.context.ForkProcess, "start", started.append)
    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", started.append)
    assert list(jobs.run(2, int, (), abs, [])) == []
    assert started == []
    monkeypatch.undo()
    assert sorted(jobs.run(2, int, (), abs, [-1, 2, -3])) == [1, 2, 3]
