"""A day with more events than DAY_PART_EVENTS is shown in parts: the pages, their links,
what links to a line in one, and the bound on what one request reads."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from logbot.events import Event, Kind
from logbot.storage.browse import Browser
from logbot.web import common
from logbot.web.export import write_site
from logbot.web.site import Archive
from tests.test_web import Response

# the fixture, on this module's db
from tests.test_web import get as get
from tests.web_data import NOW, fill

#: events a part, for these tests
SIZE = 10
#: the closed day: 25 events, every third a join (positions 1, 4, 7, ...)
BIG = "2026-11-28"
BIG_EVENTS = 25


def _day(start: datetime, n: int, word: str) -> list[Event]:
    out = []
    for i in range(1, n + 1):
        when = start + timedelta(minutes=i)
        if i % 3 == 1:
            out.append(Event(when, "libera", "#big", Kind.JOIN, f"joiner{i}", userhost="u@h"))
        else:
            out.append(Event(when, "libera", "#big", Kind.MESSAGE, "bob", f"{word}{i} said"))
    return out


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("parts") / "logbot.sqlite"
    events = [
        *_day(datetime(2026, 11, 28, 1, 0, tzinfo=UTC), BIG_EVENTS, "needle"),
        # today (tests.web_data.NOW, the tests' clock, is 2026-11-29 12:00 UTC): 23 events so far
        *_day(datetime(2026, 11, 29, 9, 0, tzinfo=UTC), 23, "live"),
        # a day that fits in one part exactly
        *_day(datetime(2026, 11, 27, 1, 0, tzinfo=UTC), SIZE, "small"),
    ]
    fill(str(path), events)
    return str(path)


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "DAY_PART_EVENTS", SIZE)


def _texts(body: str) -> list[str]:
    """The messages and joins of a page, in order."""
    return re.findall(r"(needle\d+|live\d+|small\d+|joiner\d+)", body)


def _expected(first: int, last: int, word: str = "needle") -> list[str]:
    return [f"joiner{i}" if i % 3 == 1 else f"{word}{i}" for i in range(first, last + 1)]


def test_a_day_within_the_bound_looks_and_links_as_before(get: Callable[..., Response]) -> None:
    r = get("/libera/%23big/2026-11-27")
    assert r.status == 200
    assert _texts(r.body) == _expected(1, SIZE, "small")
    assert "part" not in r.body.replace("parts, quits", "")
    assert "link" not in r.headers
    assert get("/libera/%23big/2026-11-27?part=1").body == r.body
    assert get("/libera/%23big/2026-11-27?part=2").status == 404


def test_a_big_day_is_cut_by_position_among_all_its_events(get: Callable[..., Response]) -> None:
    first = get(f"/libera/%23big/{BIG}")
    assert _texts(first.body) == _expected(1, 10)
    assert "Part 1 of 3: lines 1 to 10 of 25" in first.body
    assert _texts(get(f"/libera/%23big/{BIG}?part=1").body) == _expected(1, 10)
    second = get(f"/libera/%23big/{BIG}?part=2")
    assert _texts(second.body) == _expected(11, 20)
    assert "Part 2 of 3: lines 11 to 20 of 25" in second.body
    last = get(f"/libera/%23big/{BIG}?part=3")
    assert _texts(last.body) == _expected(21, 25)
    assert "lines 21 to 25 of 25" in last.body
    # time links stay fragments, which resolve against the part's own address
    eid = re.findall(r'<li id="e(\d+)"', second.body)[0]
    assert f'href="#e{eid}"' in second.body


def test_parts_link_to_each_other_keeping_zone_and_toggle(get: Callable[..., Response]) -> None:
    r = get(f"/libera/%23big/{BIG}?part=2&hide=1&tz=Europe/Paris")
    base = f"/libera/%23big/{BIG}"
    prev = f"{base}?tz=Europe%2FParis&amp;hide=1"
    nxt = f"{base}?tz=Europe%2FParis&amp;hide=1&amp;part=3"
    assert f'<a href="{prev}" rel="nofollow">← part 1</a>' in r.body
    assert f'<a href="{nxt}" rel="nofollow">part 3 →</a>' in r.body
    assert r.headers["link"] == (
        f'<{html.unescape(prev)}>; rel="prev", <{html.unescape(nxt)}>; rel="next"'
    )
    # the toggle and the text and JSON links stay on this part
    assert f'href="{base}?tz=Europe%2FParis&amp;part=2" rel="nofollow" class="toggle"' in r.body
    assert f'href="{base}.txt?tz=Europe%2FParis&amp;part=2"' in r.body
    assert get(f"{base}?part=1").headers["link"] == f'<{base}?part=2>; rel="next"'
    assert get(f"{base}?part=3").headers["link"] == f'<{base}?part=2>; rel="prev"'


def test_the_toggle_hides_inside_a_part_without_moving_it(get: Callable[..., Response]) -> None:
    r = get(f"/libera/%23big/{BIG}?part=2&hide=1")
    shown = [t for t in _expected(11, 20) if not t.startswith("joiner")]
    assert _texts(r.body) == shown
    assert "Part 2 of 3: lines 11 to 20 of 25" in r.body


@pytest.mark.parametrize(
    ("part", "status", "says"),
    [
        ("0", 400, "is not a part of a day"),
        ("two", 400, "is not a part of a day"),
        ("-1", 400, "is not a part of a day"),
        pytest.param("9" * 5000, 400, "is not a part of a day", id="5000-digits"),
        ("4", 404, "is shown in 3 parts of up to 10 lines: there is no part 4."),
    ],
)
def test_a_bad_part_is_one_sentence(
    get: Callable[..., Response], part: str, status: int, says: str
) -> None:
    for ext in ("", ".txt", ".json"):
        r = get(f"/libera/%23big/{BIG}{ext}?part={part}")
        assert r.status == status
        assert says in html.unescape(r.body)


def test_text_and_json_are_cut_in_the_same_parts(get: Callable[..., Response]) -> None:
    text = get(f"/libera/%23big/{BIG}.txt?part=2")
    assert _texts(text.body) == _expected(11, 20)
    assert text.headers["link"] == (
        f'</libera/%23big/{BIG}.txt>; rel="prev", </libera/%23big/{BIG}.txt?part=3>; rel="next"'
    )
    lines = [
        json.loads(line)
        for line in get(f"/libera/%23big/{BIG}.json?part=3").body.split("\n")
        if line
    ]
    assert [ln.get("text") or ln["nick"] for ln in lines] == [
        t if t.startswith("joiner") else f"{t} said" for t in _expected(21, 25)
    ]
    assert _texts(get(f"/libera/%23big/{BIG}.txt").body) == _expected(1, 10)


def test_search_hits_and_at_land_on_their_part(get: Callable[..., Response]) -> None:
    r = get("/search?q=needle15")
    (href,) = re.findall(r'href="(/libera/%23big/[^"]+)"', r.body)
    assert re.fullmatch(rf"/libera/%23big/{BIG}\?part=2#e\d+", href)
    anchor = href.split("#")[1]
    assert f'id="{anchor}"' in get(f"/libera/%23big/{BIG}?part=2").body
    (href,) = re.findall(r'href="(/libera/%23big/[^"]+)"', get("/search?q=needle3").body)
    assert re.fullmatch(rf"/libera/%23big/{BIG}#e\d+", href)
    # many hits of one day, over all its parts: each on its own part
    hits = re.findall(
        rf'href="/libera/%23big/{BIG}(?:\?part=(\d))?#e\d+".*?needle(\d+)',
        get("/search?q=said&channel=%23big&since=2026-11-28&until=2026-11-29").body,
    )
    assert len(hits) == 16  # the messages; every third event is a join
    for part, number in hits:
        assert int(part or 1) == (int(number) - 1) // SIZE + 1
    # the 25th event: 01:25 UTC, the last part
    at = get("/libera/%23big/at?time=2026-11-28T01:25:00Z")
    assert re.fullmatch(rf"/libera/%23big/{BIG}\?part=3#e\d+", at.headers["location"])
    at = get("/libera/%23big/at?time=2026-11-28T01:25:00Z&tz=Europe/Paris")
    assert re.fullmatch(
        rf"/libera/%23big/{BIG}\?tz=Europe%2FParis&part=3#e\d+", at.headers["location"]
    )


def test_only_the_last_part_of_today_is_live(get: Callable[..., Response]) -> None:
    assert "data-after" not in get("/libera/%23big/2026-11-29").body
    assert "data-after" not in get("/libera/%23big/2026-11-29?part=2").body
    last = get("/libera/%23big/2026-11-29?part=3")
    after = re.search(r'data-after="(\d+)"', last.body)
    assert after is not None
    assert _texts(last.body) == _expected(21, 23, "live")
    quiet = get(f"/libera/%23big/2026-11-29?part=3&after={after.group(1)}")
    assert quiet.body.strip() == ""
    assert "x-next-part" not in quiet.headers


def test_a_poll_returns_at_most_the_rest_of_its_part(get: Callable[..., Response]) -> None:
    # a page of part 1 opened while it was the last, polling from its start
    r = get("/libera/%23big/2026-11-29?after=0&hide=1")
    assert _texts(r.body) == [t for t in _expected(1, 10, "live") if not t.startswith("joiner")]
    assert r.headers["x-next-part"] == "/libera/%23big/2026-11-29?hide=1&part=2"
    ids = re.findall(r'<li id="e(\d+)"', r.body)
    assert r.headers["x-last-id"] == ids[-1]
    r = get("/libera/%23big/2026-11-29?after=0&part=2")
    assert _texts(r.body) == _expected(11, 20, "live")


@pytest.fixture
def rows_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The events the browser reads, counted per query (every read of events goes
    through Browser._parts or Browser._rows)."""
    counts: list[int] = []
    parts, rows = Browser._parts, Browser._rows

    def counted_parts(self: Browser, *a: Any, **k: Any) -> Iterator[list[Any]]:
        for part in parts(self, *a, **k):
            counts[-1] += len(part)
            yield part

    def counted_rows(self: Browser, *a: Any, **k: Any) -> list[Any]:
        out = rows(self, *a, **k)
        counts[-1] += len(out)
        return out

    monkeypatch.setattr(Browser, "_parts", counted_parts)
    monkeypatch.setattr(Browser, "_rows", counted_rows)
    return counts


def test_no_request_reads_more_than_a_part_of_a_big_day(
    get: Callable[..., Response], rows_read: list[int]
) -> None:
    paths = [
        f"/libera/%23big/{BIG}{ext}{query}"
        for ext in ("", ".txt", ".json")
        for query in ("", "?part=2", "?part=3", "?hide=1&part=2", "?tz=Asia/Tokyo")
    ]
    paths += [
        "/libera/%23big/2026-11-29?after=0",
        "/libera/%23big/2026-11-29?after=0&part=3",
        "/libera/%23big/2026-11-29?part=3",
        "/search?q=needle15",
        "/search?q=said",
        "/libera/%23big/at?time=2026-11-28T01:25:00Z",
    ]
    for path in paths:
        rows_read.append(0)
        assert get(path).status in (200, 302), path
        # a part's events, and one row of counts or stamps beside them
        assert rows_read[-1] <= SIZE + 1, path
    assert max(rows_read) >= SIZE  # the count saw the parts' reads


def test_logbot_html_writes_a_big_day_in_parts_linked_both_ways(
    db: str, tmp_path: Path, get: Callable[..., Response]
) -> None:
    out = tmp_path / "site"
    write_site(db, out)
    folder = out / "libera" / "#big"
    pages = {
        p: (folder / p).read_text("utf-8")
        for p in (f"{BIG}.html", f"{BIG}.p2.html", f"{BIG}.p3.html")
    }
    assert not (folder / f"{BIG}.p4.html").exists()
    assert not (folder / "2026-11-27.p2.html").exists()  # one part: as before
    assert _texts(pages[f"{BIG}.html"]) == _expected(1, 10)
    assert _texts(pages[f"{BIG}.p2.html"]) == _expected(11, 20)
    assert _texts(pages[f"{BIG}.p3.html"]) == _expected(21, 25)
    second = pages[f"{BIG}.p2.html"]
    assert f'<a href="../../libera/%23big/{BIG}.html" rel="nofollow">← part 1</a>' in second
    assert f'<a href="../../libera/%23big/{BIG}.p3.html" rel="nofollow">part 3 →</a>' in second
    assert "Part 2 of 3: lines 11 to 20 of 25" in second
    # the same lines as the server's part (both in UTC)
    served = get(f"/libera/%23big/{BIG}?part=2").body
    assert re.findall(r'<li id="(e\d+)"', second) == re.findall(r'<li id="(e\d+)"', served)


def test_a_rerun_adds_and_removes_parts_as_a_day_grows_and_shrinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "a.sqlite")
    fill(db, _day(datetime(2026, 11, 28, 1, 0, tzinfo=UTC), SIZE, "needle"))
    out = tmp_path / "site"
    folder = out / "libera" / "#big"
    write_site(db, out)
    assert [p.name for p in folder.glob(f"{BIG}*")] == [f"{BIG}.html"]
    fill(db, _day(datetime(2026, 11, 28, 2, 0, tzinfo=UTC), 2 * SIZE, "more"))
    assert write_site(db, out).days_written == 1
    assert sorted(p.name for p in folder.glob(f"{BIG}*")) == [
        f"{BIG}.html",
        f"{BIG}.p2.html",
        f"{BIG}.p3.html",
    ]
    assert "part 2 →" in (folder / f"{BIG}.html").read_text("utf-8")
    # bigger parts now: the day fits in one again, and its other parts go
    monkeypatch.setattr(common, "DAY_PART_EVENTS", 100)
    assert write_site(db, out).days_written == 1
    assert [p.name for p in folder.glob(f"{BIG}*")] == [f"{BIG}.html"]
    assert "part 2" not in (folder / f"{BIG}.html").read_text("utf-8")


def test_parts_are_the_same_on_sqlite_and_postgresql(db_target: str) -> None:
    fill(db_target, _day(datetime(2026, 11, 28, 1, 0, tzinfo=UTC), BIG_EVENTS, "needle"))
    archive = Archive(db_target, clock=lambda: NOW)
    try:
        page = archive.handle(["libera", "#big", BIG], {"part": "2", "hide": "1"}, {})
        shown = [t for t in _expected(11, 20) if not t.startswith("joiner")]
        assert _texts(page.body.decode()) == shown
        text = archive.handle(["libera", "#big", f"{BIG}.txt"], {"part": "3"}, {})
        assert _texts(text.body.decode()) == _expected(21, 25)
        hits = archive.handle(["search"], {"q": "needle15"}, {}).body.decode()
        assert re.search(rf'href="/libera/%23big/{BIG}\?part=2#e\d+"', hits)
        at = archive.handle(["libera", "#big", "at"], {"time": "2026-11-28T01:03:00Z"}, {})
        assert re.fullmatch(rf"/libera/%23big/{BIG}#e\d+", at.location or "")
    finally:
        archive.close()
