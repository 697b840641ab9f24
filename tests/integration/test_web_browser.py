"""A real browser (Debian's chromium through selenium and the system chromedriver) reads the
archive `logbot web` serves: permalinks, the join/part toggle, search, and hostile text.

Nothing is downloaded: selenium is pointed at /usr/bin/chromedriver and told to stay offline
(SE_OFFLINE), so Selenium Manager never runs. Without chromium the test skips, except with
CI=true, where it fails (.ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from logbot.events import Event, Kind
from tests.integration.conftest import free_port, wait_for
from tests.web_data import HOSTILE, events, fill

CHROMEDRIVER = "/usr/bin/chromedriver"
IN_CI = os.environ.get("CI", "").lower() == "true"

pytestmark = pytest.mark.integration


def _browser_missing() -> str | None:
    if not (shutil.which("chromium") and os.path.exists(CHROMEDRIVER)):
        return "chromium and chromium-driver are not installed"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    return None


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("browser") / "logbot.sqlite"
    today = datetime.now(UTC).replace(hour=0, minute=0, second=1, microsecond=0)
    fill(str(db), [*events(), Event(today, "libera", "#x", Kind.MESSAGE, "alice", "first today")])
    return db


@pytest.fixture(scope="module")
def site(db_path: Path) -> Iterator[str]:
    """`logbot web` on a free port over the shared test archive; its base URL."""
    yield from _serve(db_path)


def _serve(db: Path, part_events: int | None = None) -> Iterator[str]:
    """`logbot web` on a free port over ``db`` (days in parts of ``part_events``)."""
    port = free_port()
    start = ["-m", "logbot"]
    if part_events is not None:
        start = [
            "-c",
            "import sys; from logbot.web import common; from logbot.cli import main; "
            f"common.DAY_PART_EVENTS = {part_events}; main(sys.argv[1:], prog_name='logbot')",
        ]
    proc = subprocess.Popen(
        [sys.executable, *start, "web", "--db", str(db), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(base + "/robots.txt", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    try:
        wait_for(up, 30, "logbot web to answer")
        yield base
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        assert b"Traceback" not in err, err.decode(errors="replace")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        if IN_CI:
            pytest.fail(f"{missing}: CI must run the browser test")
        pytest.skip(missing)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1200,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _by_css(driver: Any, selector: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def _all_css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def _background(driver: Any, element: Any) -> str:
    return str(
        driver.execute_script("return getComputedStyle(arguments[0]).backgroundColor", element)
    )


def test_a_permalink_lands_on_its_line_highlighted(site: str, browser: Any) -> None:
    browser.get(site + "/libera/%23x/2026-11-28")
    lines = _all_css(browser, "ol.log li")
    assert len(lines) == 14
    plain = _background(browser, lines[3])
    target = lines[3]
    anchor = target.get_attribute("id")
    target.find_element("css selector", "a.t").click()
    wait_for(lambda: browser.current_url.endswith("#" + anchor), 10, "the permalink URL")
    # a fresh load of the permalink: the browser scrolls to it and :target lights it up
    browser.get(browser.current_url)
    line = _by_css(browser, f"#{anchor}")
    assert _background(browser, line) != plain
    assert _background(browser, _all_css(browser, "ol.log li")[0]) == plain


def test_the_toggle_hides_joins_and_parts(site: str, browser: Any) -> None:
    browser.get(site + "/libera/%23x/2026-11-28")
    assert "has joined #x" in _by_css(browser, "ol.log").text
    _by_css(browser, "a.toggle").click()
    wait_for(lambda: "hide=1" in browser.current_url, 10, "the toggled page")
    text = _by_css(browser, "ol.log").text
    assert "has joined" not in text
    assert "has left" not in text
    assert "hello world" in text


def test_a_search_leads_to_the_hit_in_its_day(site: str, browser: Any) -> None:
    browser.get(site + "/search")
    box = _by_css(browser, "form.search input[name=q]")
    box.send_keys("evening deploy")
    box.submit()
    wait_for(lambda: "q=evening" in browser.current_url, 10, "the results page")
    hits = _all_css(browser, "ol.hits li")
    assert len(hits) == 1
    assert "late evening deploy" in hits[0].text
    hits[0].find_element("css selector", "a.t").click()
    wait_for(lambda: "/libera/%23x/2026-11-28#e" in browser.current_url, 10, "the hit's day")
    anchor = browser.current_url.split("#")[1]
    assert "late evening deploy" in _by_css(browser, f"#{anchor}").text


def test_hostile_messages_show_as_text_and_run_nothing(site: str, browser: Any) -> None:
    browser.get(site + "/libera/%23x/2026-11-28")
    title = browser.title
    assert "pwned" not in title
    text = _by_css(browser, "ol.log").text
    assert "<script>document.title='pwned'</script>" in text
    assert "<img src=x onerror=" in text
    assert "javascript:alert(1)" in text
    assert "[RLO]evil[PDF]" in text
    assert HOSTILE[0] in text
    assert _all_css(browser, "ol.log img") == []
    assert [a.get_attribute("href") for a in _all_css(browser, "ol.log a:not(.t)")] == [
        "https://example.com/a_(b)"
    ]
    # no alert is open and nothing changed the title after a moment of running
    browser.execute_script("return 1")
    assert browser.title == title


def test_todays_page_shows_new_lines_as_they_arrive(site: str, browser: Any, db_path: Path) -> None:
    today = datetime.now(UTC)
    browser.get(site + f"/libera/%23x/{today.date().isoformat()}")
    assert "first today" in _by_css(browser, "ol.log").text
    fill(str(db_path), [Event(today, "libera", "#x", Kind.MESSAGE, "bob", "a live line <b>x</b>")])
    wait_for(lambda: "a live line <b>x</b>" in _by_css(browser, "ol.log").text, 30, "the new line")
    assert len(_all_css(browser, "ol.log li")) == 2
    assert _all_css(browser, "ol.log b") == []


@pytest.fixture(scope="module")
def split_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Today of #flood: two lines so far."""
    db = tmp_path_factory.mktemp("split") / "logbot.sqlite"
    fill(str(db), [_flood(i) for i in (1, 2)])
    return db


def _flood(i: int) -> Event:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Event(
        today + timedelta(seconds=i), "libera", "#flood", Kind.MESSAGE, "spam", f"spam {i}"
    )


def test_a_full_live_part_stops_and_points_to_the_next(split_db: Path, browser: Any) -> None:
    """Parts of 3 lines: today's page (one part of 2 lines) takes one new line, then the
    day goes on in part 2, which the page links to instead of growing."""
    for base in _serve(split_db, part_events=3):
        today = datetime.now(UTC).date().isoformat()
        browser.get(base + f"/libera/%23flood/{today}")
        assert _by_css(browser, "ol.log").text.splitlines()[-1].endswith("spam 2")
        fill(str(split_db), [_flood(3), _flood(4)])
        wait_for(lambda: _all_css(browser, "p.live a"), 30, "the link to the next part")
        lines = _by_css(browser, "ol.log").text
        assert "spam 3" in lines
        assert "spam 4" not in lines
        _by_css(browser, "p.live a").click()
        wait_for(lambda: "part=2" in browser.current_url, 10, "the next part")
        assert _by_css(browser, "ol.log").text.endswith("spam 4")
        assert "Part 2 of 2: lines 4 to 4 of 4" in _by_css(browser, "nav.parts").text


def test_screenshots_of_a_day_and_a_search(site: str, browser: Any, tmp_path: Path) -> None:
    """The pages render to pixels (docs/ keeps copies made the same way)."""
    browser.get(site + "/libera/%23x/2026-11-28")
    assert browser.save_screenshot(str(tmp_path / "day.png"))
    assert (tmp_path / "day.png").stat().st_size > 10_000
