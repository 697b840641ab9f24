"""Gaps on the day pages: "not logged from ... to ..." among the lines, live and static."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import pytest
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from logbot.events import GAP_DISCONNECTED, GAP_STOPPED, Event, Kind
from logbot.web.export import write_site
from logbot.web.server import ArchiveResource
from logbot.web.site import Archive
from tests.test_web import Response, _now
from tests.web_data import NOW, fill

NET, X = "libera", "#x"


def _t(day: int, h: int, m: int, s: int = 0) -> datetime:
    return datetime(2026, 11, day, h, m, s, tzinfo=UTC)


def _say(when: datetime, text: str) -> Event:
    return Event(when, NET, X, Kind.MESSAGE, "alice", text)


def _gap(start: datetime, end: datetime | None, why: str) -> list[Event]:
    marks = [Event(start, NET, X, Kind.GAP_START, "", why)]
    if end is not None:
        marks.append(Event(end, NET, X, Kind.GAP_END, ""))
    return marks


def gap_events() -> list[Event]:
    """The 28th: a hole from the 27th into it, one at noon, one open since 23:00."""
    return [
        _say(_t(27, 9, 0), "on the 27th"),
        *_gap(_t(27, 23, 50), _t(28, 0, 10), "kicked"),
        _say(_t(28, 11, 59), "before noon"),
        *_gap(_t(28, 12, 0), _t(28, 12, 5), GAP_DISCONNECTED),
        _say(_t(28, 12, 6), "after the hole"),
        _say(_t(28, 22, 0), "last words"),
        *_gap(_t(28, 23, 0), None, GAP_STOPPED),
    ]


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "gaps.sqlite")
    fill(path, gap_events())
    return path


def fetch(db: str, path: str, **query: str) -> Response:
    archive = Archive(db, clock=lambda: NOW)
    try:
        request = DummyRequest([unquote(s).encode() for s in path[1:].split("/")])
        request.uri = path.encode()
        for k, v in query.items():
            request.args[k.encode()] = [v.encode()]
        result = ArchiveResource(archive, _now).render(request)
        if result is not NOT_DONE_YET:
            request.write(result)
            request.finish()
        return Response(request)
    finally:
        archive.close()


def _items(body: str) -> list[str]:
    """The day's list items in order: gap texts, and the text of each line's message."""
    import re

    out = []
    for li in re.findall(r"<li [^>]*>.*?</li>", body):
        if 'class="gap"' in li:
            out.append(re.sub(r"<[^>]+>", "", li))
        else:
            out.append(re.sub(r"<[^>]+>", "", li).split("&gt; ", 1)[-1])
    return out


def test_the_day_page_shows_each_gap_where_it_happened(db: str) -> None:
    """A hole from the day before (with its date), one between two lines, an open one."""
    r = fetch(db, "/libera/%23x/2026-11-28")
    assert r.status == 200
    assert _items(r.body) == [
        "not logged from 2026-11-27 23:50:00 to 00:10:00 (kicked)",
        "before noon",
        "not logged from 12:00:00 to 12:05:00 (disconnected)",
        "after the hole",
        "last words",
        "not logged since 23:00:00 (bot stopped)",
    ]
    assert '<li class="gap">not logged from 12:00:00 to 12:05:00 (disconnected)</li>' in r.body


def test_gap_times_are_in_the_pages_time_zone(db: str) -> None:
    r = fetch(db, "/libera/%23x/2026-11-28", tz="Asia/Tokyo")
    # the Tokyo 28th is 15:00 UTC on the 27th to 15:00 UTC on the 28th
    assert _items(r.body) == [
        "not logged from 08:50:00 to 09:10:00 (kicked)",
        "before noon",
        "not logged from 21:00:00 to 21:05:00 (disconnected)",
        "after the hole",
    ]


def test_the_previous_day_shows_only_the_gap_that_reaches_into_it(db: str) -> None:
    assert _items(fetch(db, "/libera/%23x/2026-11-27").body) == [
        "on the 27th",
        "not logged from 23:50:00 to 2026-11-28 00:10:00 (kicked)",
    ]


def test_a_gap_reason_is_escaped(tmp_path: Path) -> None:
    path = str(tmp_path / "hostile.sqlite")
    fill(path, [_say(_t(28, 9, 0), "hi"), *_gap(_t(28, 10, 0), _t(28, 10, 1), "<b>x</b>")])
    body = fetch(path, "/libera/%23x/2026-11-28").body
    assert "(&lt;b&gt;x&lt;/b&gt;)</li>" in body
    assert "<b>x</b>" not in body


def test_a_closed_days_validator_changes_when_its_gaps_do(db: str) -> None:
    """A backfill can close a hole without adding a line: the cached page must not stay."""
    before = fetch(db, "/libera/%23x/2026-11-28").headers["etag"]
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM gaps WHERE reason = 'disconnected'")
    after = fetch(db, "/libera/%23x/2026-11-28")
    assert after.headers["etag"] != before
    assert "(disconnected)" not in after.body


def test_a_database_from_before_gaps_shows_the_day_without_any(db: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE gaps")
    r = fetch(db, "/libera/%23x/2026-11-28")
    assert r.status == 200
    assert _items(r.body) == ["before noon", "after the hole", "last words"]


def test_text_and_json_days_are_only_the_lines(db: str) -> None:
    assert "not logged" not in fetch(db, "/libera/%23x/2026-11-28.txt").body


def test_static_day_pages_show_the_gaps_and_are_rewritten_when_one_closes(
    db: str, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    write_site(db, out)
    page = out / "libera" / "#x" / "2026-11-28.html"
    assert _items(page.read_text("utf-8"))[2:4] == [
        "not logged from 12:00:00 to 12:05:00 (disconnected)",
        "after the hole",
    ]
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM gaps WHERE reason = 'disconnected'")
    again = write_site(db, out)
    assert again.days_written == 1
    assert "(disconnected)" not in page.read_text("utf-8")
