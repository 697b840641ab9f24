"""The web archive's routes and templates, through twisted.web's DummyRequest (no sockets)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from logbot.setting_keys import parse_listen
from logbot.web.server import ArchiveResource
from logbot.web.site import Archive, Page
from tests.web_data import NOW, fill


def _now(run: Callable[[], Page]) -> Deferred[Page]:
    return succeed(run())


class Response:
    def __init__(self, request: DummyRequest) -> None:
        self.status = request.responseCode or 200
        self.body = b"".join(request.written).decode("utf-8")
        self.headers = {
            k.decode().lower(): v[-1].decode()
            for k, v in request.responseHeaders.getAllRawHeaders()
        }


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("web") / "logbot.sqlite"
    fill(str(path))
    return str(path)


@pytest.fixture
def get(db: str) -> Iterator[Callable[..., Response]]:
    archives: list[Archive] = []

    def fetch(path: str, headers: dict[str, str] | None = None, **options: Any) -> Response:
        archive = Archive(db, clock=lambda: NOW, **options)
        archives.append(archive)
        resource = ArchiveResource(archive, _now)
        raw_path, _, query = path.partition("?")
        from urllib.parse import parse_qs, unquote

        segments = [unquote(s).encode() for s in raw_path[1:].split("/")]
        request = DummyRequest(segments)
        request.uri = path.encode()
        for k, vs in parse_qs(query, keep_blank_values=True).items():
            request.args[k.encode()] = [v.encode() for v in vs]
        for name, value in (headers or {}).items():
            request.requestHeaders.setRawHeaders(name, [value])
        result = resource.render(request)
        if result is not NOT_DONE_YET:
            request.write(result)
            request.finish()
        assert request.finished
        return Response(request)

    yield fetch
    for a in archives:
        a.close()


def test_index_lists_networks_and_channels_with_last_activity(get: Callable[..., Response]) -> None:
    r = get("/")
    assert r.status == 200
    assert "<h2>libera</h2>" in r.body
    assert 'href="/libera/%23x/"' in r.body
    assert "2026-11-29 11:00" in r.body  # #x's last line
    assert 'href="/libera/%23y/"' in r.body


def test_every_answer_carries_the_security_headers(get: Callable[..., Response]) -> None:
    for path in ("/", "/libera/%23x/2026-11-28", "/nope/%23x/", "/search?q=%22"):
        h = get(path).headers
        assert "script-src 'self'" in h["content-security-policy"]
        assert "unsafe-inline" not in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "same-origin"


def test_only_the_channels_given_are_shown(get: Callable[..., Response]) -> None:
    r = get("/", channels=["#x", "#y"])
    assert "%23secret" not in r.body
    assert get("/libera/%23secret/", channels=["#x"]).status == 404
    assert get("/libera/%23secret/2026-11-28", channels=["#x"]).status == 404
    assert get("/libera/%23secret/2026-11-28.json", channels=["#x"]).status == 404
    hits = get("/api/search?q=deploy", channels=["#x"]).body
    assert "secret" not in hits
    assert "late evening deploy" in hits
    assert get("/search?q=deploy&channel=%23secret", channels=["#x"]).status == 404


def test_calendar_counts_events_per_day(get: Callable[..., Response]) -> None:
    r = get("/libera/%23x/")
    assert r.status == 200
    assert "November 2026" in r.body
    assert 'href="/libera/%23x/2026-11-28" rel="nofollow" title="14 events"' in r.body
    assert 'title="2 events"' in r.body
    # a week a row, blank cells before the 1st (a Sunday), a day without events unlinked
    assert "<tr>\n" + "<td></td>" * 6 + '<td class="none">1</td></tr>\n' in r.body
    # another zone moves 23:30 UTC on the 28th to the 29th
    r = get("/libera/%23x/?tz=Asia/Tokyo")
    assert 'href="/libera/%23x/2026-11-29?tz=Asia%2FTokyo"' in r.body


def test_channel_without_slash_redirects_to_its_calendar(get: Callable[..., Response]) -> None:
    r = get("/libera/%23x")
    assert r.status == 301
    assert r.headers["location"] == "/libera/%23x/"


def test_day_page_lines_oldest_first_with_permalinks(get: Callable[..., Response]) -> None:
    r = get("/libera/%23x/2026-11-28")
    assert r.status == 200
    ids = re.findall(r'<li id="(e\d+)"', r.body)
    assert len(ids) == 14
    assert len(set(ids)) == 14
    assert ids == sorted(ids, key=lambda i: int(i[1:]))
    for anchor in ids:
        assert f'href="#{anchor}"' in r.body
    assert "Times in UTC." in r.body
    assert 'rel="prev nofollow" href="/libera/%23x/2026-11-27"' in r.body
    assert 'rel="next nofollow" href="/libera/%23x/2026-11-29"' in r.body
    assert r.body.index("hello world") < r.body.index("same second") < r.body.index("late evening")


def test_day_page_in_the_readers_zone(get: Callable[..., Response]) -> None:
    r = get("/libera/%23x/2026-11-29?tz=Asia/Tokyo")
    assert "Times in Asia/Tokyo." in r.body
    assert ">08:30:00<" in r.body  # 23:30 UTC
    assert "hello world" in r.body  # 05:35 on the 29th in Tokyo
    assert "good morning" not in r.body  # 18:00 on the 27th there
    assert get("/libera/%23x/2026-11-28?tz=Mars/Olympus").status == 400


def test_hide_toggle_hides_joins_parts_quits_and_nicks(get: Callable[..., Response]) -> None:
    full = get("/libera/%23x/2026-11-28")
    assert "has joined" in full.body
    assert "is now known as" in full.body
    assert 'href="/libera/%23x/2026-11-28?hide=1"' in full.body
    hidden = get("/libera/%23x/2026-11-28?hide=1")
    assert "has joined" not in hidden.body
    assert "has left" not in hidden.body
    assert "is now known as" not in hidden.body
    assert "hello world" in hidden.body
    assert 'href="/libera/%23x/2026-11-28"' in hidden.body  # the way back


def test_a_nick_keeps_its_colour_across_a_nick_change(get: Callable[..., Response]) -> None:
    r = get("/libera/%23x/2026-11-28")
    before = re.search(r'nick (n\d+)">alice<', r.body)
    after = re.search(r'nick (n\d+)">alice_<', r.body)
    assert before
    assert after
    assert before.group(1) == after.group(1)


def test_hostile_text_is_escaped_never_markup(get: Callable[..., Response]) -> None:
    r = get("/libera/%23x/2026-11-28")
    assert "<script>document" not in r.body
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in r.body
    assert "<img" not in r.body
    assert 'href="javascript' not in r.body
    assert "<b>mallory" not in r.body
    assert "&lt;b&gt;mallory&lt;/b&gt;" in r.body
    assert "\u202e" not in r.body
    assert "[RLO]" in r.body
    # the only scripts are the site's own files
    assert re.findall(r"<script[^>]*>", r.body) == []


def test_urls_are_links_and_irc_codes_are_rendered(get: Callable[..., Response]) -> None:
    r = get("/libera/%23x/2026-11-28")
    assert (
        '<a href="https://example.com/a_(b)" rel="nofollow ugc noopener">'
        "https://example.com/a_(b)</a>. ok" in r.body
    )
    assert '<span class="b">bold</span> <span class="f4">red</span> plain' in r.body
    assert "\x02" not in r.body
    assert "\x03" not in r.body


def test_text_and_json_beside_the_day(get: Callable[..., Response], db: str) -> None:
    txt = get("/libera/%23x/2026-11-28.txt")
    assert txt.headers["content-type"] == "text/plain; charset=utf-8"
    assert "[20:35:22] <alice> hello world\n" in txt.body
    assert "[20:35:20] --> carol (carol@host) has joined #x\n" in txt.body
    assert "[20:35:22] <alice> hello world\n" in get("/libera/%23x/2026-11-28.txt?tz=UTC").body
    assert (
        "[05:35:22] <alice> hello world\n" in get("/libera/%23x/2026-11-29.txt?tz=Asia/Tokyo").body
    )
    js = get("/libera/%23x/2026-11-28.json")
    lines = [json.loads(line) for line in js.body.splitlines()]
    assert len(lines) == 14
    assert lines[1] == {
        "time": "2026-11-28T20:35:22.000000+00:00",
        "network": "libera",
        "channel": "#x",
        "nick": "alice",
        "kind": "message",
        "text": "hello world",
    }


def test_unknown_network_channel_or_day_is_404_bad_date_400(get: Callable[..., Response]) -> None:
    assert get("/nowhere/%23x/").status == 404
    assert get("/libera/%23nope/2026-11-28").status == 404
    r = get("/libera/%23x/2026-11-20")
    assert r.status == 404
    assert "Nothing was logged in #x on 2026-11-20." in r.body
    r = get("/libera/%23x/2026-02-30")
    assert r.status == 400
    assert "&#39;2026-02-30&#39; is not a date: use YYYY-MM-DD." in r.body
    assert "Traceback" not in r.body
    assert get("/libera/%23x/2026-11-28.exe").status == 404
    assert get("/a/b/c/d").status == 404


def test_closed_day_has_validators_and_answers_304(get: Callable[..., Response]) -> None:
    r = get("/libera/%23x/2026-11-28")
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert modified == "Sat, 28 Nov 2026 23:30:00 GMT"
    again = get("/libera/%23x/2026-11-28", {"If-None-Match": etag})
    assert again.status == 304
    assert again.body == ""
    since = get("/libera/%23x/2026-11-28", {"If-Modified-Since": modified})
    assert since.status == 304
    other = get("/libera/%23x/2026-11-28?hide=1", {"If-None-Match": etag})
    assert other.status == 200  # another variant, another tag


def test_today_is_not_cached_and_polls_for_new_lines(get: Callable[..., Response]) -> None:
    r = get("/libera/%23x/2026-11-29")
    assert "etag" not in r.headers
    assert r.headers["cache-control"] == "no-cache"
    assert 'src="/static/live.js"' in r.body
    last = re.search(r'data-after="(\d+)"', r.body)
    assert last is not None
    newer = get(f"/libera/%23x/2026-11-29?after={int(last.group(1)) - 1}")
    assert "today deploy" in newer.body
    assert "<html" not in newer.body
    assert get(f"/libera/%23x/2026-11-29?after={last.group(1)}").body.strip() == ""


def test_at_redirects_to_the_nearest_matching_line(get: Callable[..., Response]) -> None:
    r = get("/libera/%23x/at?time=2026-11-28T20:35:21Z&nick=bob")
    assert r.status == 302
    assert re.fullmatch(r"/libera/%23x/2026-11-28#e\d+", r.headers["location"])
    page = get("/libera/%23x/2026-11-28").body
    anchor = r.headers["location"].split("#")[1]
    assert re.search(f'id="{anchor}".*same second', page)
    assert get("/libera/%23x/at?time=2026-11-28T10:00:00Z").status == 404
    assert get("/libera/%23x/at?time=yesterday-ish").status == 400


def test_search_page_newest_first_linking_to_permalinks(get: Callable[..., Response]) -> None:
    r = get("/search?q=deploy")
    assert r.status == 200
    hits = re.findall(r'<a class="t" href="([^"]+)"', r.body)
    assert hits[0].startswith("/libera/%23x/2026-11-29#e")
    assert hits[1].startswith("/libera/%23x/2026-11-28#e")
    assert "late evening <mark>deploy</mark>" in r.body
    anchor = hits[1].split("#")[1]
    assert f'id="{anchor}"' in get("/libera/%23x/2026-11-28").body


def test_search_filters_and_bad_queries(get: Callable[..., Response]) -> None:
    r = get("/search?q=deploy&nick=eve")
    assert "secret <mark>deploy</mark>" in r.body
    assert "late evening" not in r.body
    bad = get("/search?q=%22unbalanced")
    assert bad.status == 400
    assert "Traceback" not in bad.body
    assert get("/search?q=x&since=notatime").status == 400
    assert get("/search").status == 200  # the empty form


def test_api_search_answers_json_lines(get: Callable[..., Response]) -> None:
    r = get("/api/search?q=deploy&channel=%23x")
    assert r.headers["content-type"].startswith("application/x-ndjson")
    texts = [json.loads(line)["text"] for line in r.body.splitlines()]
    assert texts == ["today deploy", "late evening deploy"]
    bad = get("/api/search?q=%22x")
    assert bad.status == 400
    assert bad.body.count("\n") == 1


def test_search_pages_older_results(
    get: Callable[..., Response], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("logbot.web.searching.PAGE_SIZE", 2)
    r = get("/search?q=deploy")
    nxt = re.search(r'<p class="more"><a href="([^"]+)"', r.body)
    assert nxt is not None
    r2 = get(html.unescape(nxt.group(1)))
    assert "secret <mark>deploy</mark>" in r2.body
    assert "today" not in r2.body


def test_robots_and_noindex(get: Callable[..., Response]) -> None:
    assert get("/robots.txt").body == "User-agent: *\nDisallow: /\n"
    assert '<meta name="robots" content="noindex, nofollow">' in get("/").body
    assert "noindex" not in get("/", noindex=False).body


def test_static_files_are_served_from_the_package(get: Callable[..., Response]) -> None:
    css = get("/static/logbot.css")
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert "prefers-color-scheme: dark" in css.body
    assert get("/static/nope.css").status == 404


def test_a_database_that_is_gone_is_503(tmp_path: Path) -> None:
    archive = Archive(str(tmp_path / "missing.sqlite"), clock=lambda: NOW)
    page = archive.handle(["libera", "#x", "2026-11-28"], {}, {})
    assert page.status == 503
    assert b"The archive cannot be read right now" in page.body
    assert archive.handle(["api", "search"], {"q": "x"}, {}).status == 503
    archive.close()


def test_a_slow_search_is_cut_off(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the time limit the search stops with one sentence, and the next one runs."""
    monkeypatch.setattr("logbot.search.sqlite.PROGRESS_STEPS", 1)
    archive = Archive(db, clock=lambda: NOW, search_time_limit=0.0)
    page = archive.handle(["search"], {"q": "deploy"}, {})
    assert page.status == 503
    assert b"The search ran longer than 0 s and was stopped: narrow it" in page.body
    archive.search_time_limit = 5.0
    assert b"late evening" in archive.handle(["search"], {"q": "deploy"}, {}).body
    archive.close()


def test_listen_parsing() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:80") == ("::1", 80)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen("8080x")


def test_a_closed_day_is_rendered_once_then_served_from_memory(db: str) -> None:
    archive = Archive(db, clock=lambda: NOW)
    first = archive.handle(["libera", "#x", "2026-11-28"], {}, {})
    calls: list[object] = []
    original = archive.browser.day_events
    archive.browser.day_events = lambda *a, **k: calls.append(a) or original(*a, **k)  # type: ignore[method-assign]
    again = archive.handle(["libera", "#x", "2026-11-28"], {}, {})
    assert again.body == first.body
    assert calls == []
    # another variant is another page; today is never kept
    assert archive.handle(["libera", "#x", "2026-11-28.txt"], {}, {}).body != first.body
    archive.handle(["libera", "#x", "2026-11-29"], {}, {})
    archive.handle(["libera", "#x", "2026-11-29"], {}, {})
    assert len(calls) == 3
    archive.close()


def test_the_same_pages_from_sqlite_and_postgresql(db_target: str) -> None:
    """browse.py's reads and the search page work on both engines, read-only."""
    fill(db_target)
    archive = Archive(db_target, clock=lambda: NOW)
    try:
        day = archive.handle(["libera", "#x", "2026-11-28"], {}, {})
        assert day.status == 200
        assert day.body.count(b'<li id="e') == 14
        cal = archive.handle(["libera", "#x", ""], {"tz": "Asia/Tokyo"}, {})
        assert b'title="2 events"' in cal.body
        at = archive.handle(["libera", "#x", "at"], {"time": "2026-11-28T20:35:21Z"}, {})
        assert at.status == 302
        found = archive.handle(["api", "search"], {"q": "deploy", "channel": "#x"}, {})
        assert found.body.count(b"\n") == 2
        assert archive.handle(["libera", "#x", "2026-11-28.json"], {}, {}).body.count(b"\n") == 14
        assert [c.name for c in archive.channels()] == ["#secret", "#x", "#y"]
    finally:
        archive.close()


def test_calendar_counts_are_cached_for_closed_days_only(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second calendar reads only the days not yet closed; the cache stays bounded."""
    from logbot.storage import browse

    archive = Archive(db, clock=lambda: NOW)
    chan = archive.channel("libera", "#x")
    first = archive.browser.day_counts(chan.id, UTC, "UTC", NOW)
    assert sum(first.values()) == 17
    statements: list[str] = []
    real = archive.browser._conn

    class Spy:
        def __init__(self, conn: Any) -> None:
            self.conn = conn

        def execute(self, stmt: Any, params: Any = None) -> Any:
            statements.append(str(stmt))
            return self.conn.execute(stmt, params)

    import contextlib

    @contextlib.contextmanager
    def spying() -> Iterator[Any]:
        with real() as conn:
            yield Spy(conn)

    monkeypatch.setattr(archive.browser, "_conn", spying)
    assert archive.browser.day_counts(chan.id, UTC, "UTC", NOW) == first
    # the oldest id, then from the first open day (the 29th) on: one count, one seek
    assert sum("count(*)" in s for s in statements) == 1
    monkeypatch.setattr(archive.browser, "_conn", real)
    monkeypatch.setattr(browse, "COUNT_CACHE_ENTRIES", 2)
    for zone in ("Asia/Tokyo", "Europe/Berlin", "America/New_York"):
        archive.browser.day_counts(chan.id, ZoneInfo(zone), zone, NOW)
    assert len(archive.browser._closed) == 2
    archive.close()


def test_every_link_carries_nofollow(get: Callable[..., Response]) -> None:
    for path in ("/", "/libera/%23x/", "/libera/%23x/2026-11-28", "/search?q=deploy", "/nope/x/"):
        for tag in re.findall(r"<a [^>]*>", get(path).body):
            assert "nofollow" in tag, (path, tag)


def test_a_channel_may_be_opened_to_search_engines(get: Callable[..., Response]) -> None:
    robots = get("/robots.txt", index_channels=["#x"]).body
    assert robots == "User-agent: *\nAllow: /libera/%23x/\nDisallow: /\n"
    assert "noindex" not in get("/libera/%23x/2026-11-28", index_channels=["#x"]).body
    assert "noindex" not in get("/libera/%23x/", index_channels=["#x"]).body
    assert "noindex" in get("/libera/%23y/2026-11-26", index_channels=["#x"]).body
    assert "noindex" in get("/", index_channels=["#x"]).body


def test_an_address_in_use_is_one_startup_line() -> None:
    """listen_http turns Twisted's CannotListenError into one line naming the address."""
    from twisted.internet.error import CannotListenError
    from twisted.web.resource import Resource

    from logbot.service import StartupError, listen_http

    class Refusing:
        def listenTCP(self, port: int, factory: object, interface: str = "") -> None:
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))

    with pytest.raises(StartupError) as caught:
        listen_http(Refusing(), "::1", 8080, Resource())
    assert str(caught.value) == "cannot serve web pages on [::1]:8080: Address already in use"


def test_a_network_that_asks_not_to_be_indexed_never_is(db: str, tmp_path: Path) -> None:
    """CRAWLER=index:deny (stored as a network fact) beats --index and --index-channel, on
    the live site, its robots.txt and the static pages; a change is seen by a rerun."""
    import shutil
    import sqlite3

    from logbot.web.export import write_site

    own = str(tmp_path / "deny.sqlite")
    shutil.copy(db, own)

    def say(value: str) -> None:
        with sqlite3.connect(own) as conn:
            conn.execute("DELETE FROM network_facts")
            conn.execute(
                "INSERT INTO network_facts VALUES ('libera', 'crawler-index', ?)", (value,)
            )

    def page(path: list[str], **options: Any) -> str:
        archive = Archive(own, clock=lambda: NOW, **options)
        try:
            return archive.handle(path, {}, {}).body.decode()
        finally:
            archive.close()

    say("allow")
    assert page(["robots.txt"], noindex=False) == "User-agent: *\nAllow: /\n"
    assert "noindex" not in page(["libera", "#x", "2026-11-28"], noindex=False)
    say("deny")
    assert page(["robots.txt"], noindex=False) == "User-agent: *\nDisallow: /libera/\nAllow: /\n"
    assert page(["robots.txt"], index_channels=["#x"]) == "User-agent: *\nDisallow: /\n"
    for options in ({"noindex": False}, {"index_channels": ["#x"]}):
        assert "noindex" in page(["libera", "#x", "2026-11-28"], **options)
        assert "noindex" in page(["libera", "#x", ""], **options)
        assert "noindex" in page([], **options)
    out = tmp_path / "site"
    write_site(own, out, noindex=False)
    day = (out / "libera" / "#x" / "2026-11-28.html").read_text()
    assert '<meta name="robots" content="noindex, nofollow">' in day
    say("allow")
    assert write_site(own, out, noindex=False).days_kept == 0
    assert "noindex" not in (out / "libera" / "#x" / "2026-11-28.html").read_text()
