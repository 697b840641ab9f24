"""`logbot html`: the pages as files, rewritten only where a day changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from logbot.events import Event, Kind
from logbot.web import export
from logbot.web.export import MANIFEST, write_site
from tests.web_data import fill


def _later(day: int, text: str) -> Event:
    return Event(
        datetime(2026, 11, day, 8, 0, tzinfo=UTC), "libera", "#x", Kind.MESSAGE, "zed", text
    )


def test_writes_index_calendars_and_days_with_relative_links(tmp_path: Path) -> None:
    db = str(tmp_path / "a.sqlite")
    fill(db)
    out = tmp_path / "site"
    done = write_site(db, out)
    assert done.channels == 3
    assert done.days_written == 5
    day = (out / "libera" / "#x" / "2026-11-28.html").read_text("utf-8")
    assert 'href="../../libera/%23x/2026-11-29.html"' in day
    assert 'href="../../static/logbot.css"' in day
    assert "&lt;script&gt;" in day
    assert "<script" not in day
    assert (out / "static" / "logbot.css").exists()
    assert 'href="libera/%23x/index.html"' in (out / "index.html").read_text("utf-8")
    cal = (out / "libera" / "#x" / "index.html").read_text("utf-8")
    assert 'href="../../libera/%23x/2026-11-28.html"' in cal
    # the static day has no .txt/.json beside it (the live server has them)
    assert not list(out.glob("*/*/*.json"))
    assert "Also as" not in day


def test_a_rerun_rewrites_only_the_days_that_changed(tmp_path: Path) -> None:
    db = str(tmp_path / "a.sqlite")
    fill(db)
    out = tmp_path / "site"
    write_site(db, out)
    again = write_site(db, out)
    assert (again.days_written, again.days_kept) == (0, 5)
    old_27 = (out / "libera" / "#x" / "2026-11-27.html").stat().st_mtime_ns
    fill(db, [_later(29, "more today"), _later(30, "a new day")])
    third = write_site(db, out)
    # the 29th got a line, the 30th is new: two days (the 29th's "next" link changed too)
    assert (third.days_written, third.days_kept) == (2, 4)
    assert (out / "libera" / "#x" / "2026-11-27.html").stat().st_mtime_ns == old_27
    assert "a new day" in (out / "libera" / "#x" / "2026-11-30.html").read_text("utf-8")
    assert "2026-11-30.html" in (out / "libera" / "#x" / "2026-11-29.html").read_text("utf-8")
    assert "2026-11-30" in (out / "libera" / "#x" / "index.html").read_text("utf-8")
    assert json.loads((out / MANIFEST).read_text())["days"]


def test_only_a_page_that_replaces_one_goes_through_a_temporary_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "a.sqlite")
    fill(db)
    out = tmp_path / "site"
    renamed: list[str] = []
    replace = os.replace

    def noting_replace(src: str, dst: str | Path) -> None:
        renamed.append(Path(dst).name)
        replace(src, dst)

    monkeypatch.setattr(os, "replace", noting_replace)
    write_site(db, out)
    # a new site: its day pages replace nothing (the calendars, index and manifest do
    # go through a temporary name)
    assert not [name for name in renamed if name.startswith("2026-")]
    fill(db, [_later(29, "more today")])
    write_site(db, out)
    assert [name for name in renamed if name.startswith("2026-")] == ["2026-11-29.html"]
    assert not list(out.rglob("*.tmp"))


def test_a_run_stopped_before_its_manifest_leaves_no_half_page_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages of days no manifest knows are written under their own names: a run that
    stops (killed, disk full) before the manifest is written has them all written again."""
    db = str(tmp_path / "a.sqlite")
    fill(db)
    out = tmp_path / "site"
    write = export._write

    def stopping(path: Path | str, data: bytes, **kwargs: Any) -> None:
        if Path(path).name == MANIFEST:
            raise OSError("stopped")
        write(path, data, **kwargs)

    monkeypatch.setattr(export, "_write", stopping)
    with pytest.raises(OSError, match="stopped"):
        write_site(db, out)
    monkeypatch.undo()
    page = out / "libera" / "#x" / "2026-11-28.html"
    whole = page.read_bytes()
    page.write_bytes(whole[: len(whole) // 2])  # as a run killed while writing it leaves it
    assert write_site(db, out).days_written == 5
    assert page.read_bytes() == whole


def test_only_the_channels_given_are_written(tmp_path: Path) -> None:
    db = str(tmp_path / "a.sqlite")
    fill(db)
    out = tmp_path / "site"
    write_site(db, out, channels=["#x"])
    assert not (out / "libera" / "#secret").exists()
    assert "secret" not in (out / "index.html").read_text("utf-8")


def test_html_command_reports_and_refuses_a_missing_database(tmp_path: Path) -> None:
    db = str(tmp_path / "a.sqlite")
    fill(db)
    cmd = [sys.executable, "-m", "logbot", "html", "--db", db, "--out", str(tmp_path / "s")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "3 channels, 5 days written, 0 unchanged" in done.stderr
    cmd[5] = str(tmp_path / "missing.sqlite")
    gone = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert gone.returncode == 2
    assert gone.stderr.count("\n") == 1
    assert "Traceback" not in gone.stderr


def test_web_command_refuses_a_bad_listen_address() -> None:
    cmd = [sys.executable, "-m", "logbot", "web", "--listen", "nope"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr == 'Error: --listen must be HOST:PORT (a port from 1 to 65535), got "nope"\n'


def test_several_processes_write_the_same_site(tmp_path: Path) -> None:
    db = str(tmp_path / "a.sqlite")
    fill(db)
    one, two = tmp_path / "one", tmp_path / "two"
    write_site(db, one, jobs=1)
    done = write_site(db, two, jobs=2)
    assert (done.channels, done.days_written) == (3, 5)
    pages = sorted(p.relative_to(one) for p in one.rglob("*.html"))
    assert pages == sorted(p.relative_to(two) for p in two.rglob("*.html"))
    for page in pages:
        assert (one / page).read_bytes() == (two / page).read_bytes()
    again = write_site(db, two, jobs=2)
    assert (again.days_written, again.days_kept) == (0, 5)


def test_static_pages_follow_the_index_setting(tmp_path: Path) -> None:
    db = str(tmp_path / "a.sqlite")
    fill(db)
    out = tmp_path / "site"
    write_site(db, out, index_channels=["#y"])
    assert "noindex" not in (out / "libera" / "#y" / "2026-11-26.html").read_text("utf-8")
    assert "noindex" in (out / "libera" / "#x" / "2026-11-28.html").read_text("utf-8")
    # a changed setting rewrites every day
    assert write_site(db, out).days_written == 5


def _template_pages(db: str, out: Path, title: str = "IRC logs") -> dict[Path, bytes]:
    """Every static day page as the day template renders it, one call per page."""
    from logbot.web.common import Links, disk_name
    from logbot.web.site import Archive

    archive = Archive(db, title=title)
    pages = {}
    try:
        for chan in archive.channels(fresh=True):
            folder = out / disk_name(chan.network) / disk_name(chan.name)
            for page in sorted(folder.glob("????-??-??.html")):
                day = datetime.fromisoformat(page.stem).date()
                pages[page] = archive.day_html(
                    chan, day, Links(static=True, depth=2), UTC, "UTC", sources=False
                )
    finally:
        archive.close()
    return pages


def test_every_static_day_page_is_what_the_template_renders(db_target: str, tmp_path: Path) -> None:
    """The pages built from a channel's skeleton equal the template's, byte for byte
    (first and last days, days with both neighbours, and a name holding a sentinel), on
    SQLite and PostgreSQL."""
    db = db_target
    fill(db)
    for title in ("IRC logs", "logs since 1111-11-11"):
        out = tmp_path / title
        write_site(db, out, title=title)
        expected = _template_pages(db, out, title)
        assert len(expected) == 5
        for page, body in expected.items():
            assert page.read_bytes() == body, page


def test_static_day_pages_with_gaps_are_what_the_template_renders(tmp_path: Path) -> None:
    """The skeleton path places each gap as the template does (issue #12's "not logged")."""
    from tests.test_web_gaps import gap_events

    db = str(tmp_path / "gaps.sqlite")
    fill(db, gap_events())
    out = tmp_path / "site"
    write_site(db, out)
    expected = _template_pages(db, out)
    assert len(expected) == 2
    for page, body in expected.items():
        assert page.read_bytes() == body, page
    day = (out / "libera" / "#x" / "2026-11-28.html").read_text("utf-8")
    assert '<li class="gap">not logged since 23:00:00 (bot stopped)</li>' in day
