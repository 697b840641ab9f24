"""``logbot forget`` is seen at once by the web archive (also by pages and counts it had
cached, and by a browser's ETag) and by a rerun of ``logbot html``, on SQLite and on the
real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from logbot.cli import main
from logbot.web.export import write_site
from logbot.web.site import Archive, Page
from tests.web_data import NOW, fill

DAY = ["libera", "#x", "2026-11-28"]


def forget(target: str, *args: str) -> None:
    result = CliRunner().invoke(main, ["forget", "--db", target, "--yes", *args])
    assert result.exit_code == 0, result.output


def get(archive: Archive, segments: list[str], headers: dict[str, str] | None = None) -> Page:
    return archive.handle(segments, {}, headers or {})


def test_a_forget_is_gone_from_pages_the_web_had_cached(db_target: str) -> None:
    fill(db_target)
    archive = Archive(db_target, clock=lambda: NOW)
    try:
        before = get(archive, DAY)
        assert "late evening deploy" in before.body.decode()
        assert before.etag is not None
        assert get(archive, DAY, {"if-none-match": before.etag}).status == 304
        calendar = get(archive, ["libera", "#y", ""]).body.decode()
        assert 'title="1 events"' in calendar or 'title="1 event"' in calendar
        assert get(archive, ["libera", "#y", "2026-11-26"]).status == 200
        assert "2026-11-28" in get(archive, ["libera", "#x", ""]).body.decode()

        forget(db_target, "--nick", "bob", "--channel", "#x")
        forget(db_target, "--channel", "#y")

        after = get(archive, DAY)
        assert after.status == 200
        body = after.body.decode()
        assert "late evening deploy" not in body
        assert "same second" not in body
        assert "hello world" in body
        assert after.etag != before.etag
        # the browser's copy is not fresh any more
        assert get(archive, DAY, {"if-none-match": before.etag}).status == 200
        assert get(archive, ["libera", "#y", "2026-11-26"]).status == 404
        assert "2026-11-26" not in get(archive, ["libera", "#y", ""]).body.decode()
        # a whole closed day between two others: the channel's oldest line is the same,
        # yet the calendar's cached count of that day is dropped
        forget(db_target, "--channel", "#x", "--since", "2026-11-28", "--until", "2026-11-29")
        assert get(archive, DAY).status == 404
        assert "2026-11-28" not in get(archive, ["libera", "#x", ""]).body.decode()
    finally:
        archive.close()


def test_a_rerun_of_html_rewrites_the_days_a_forget_touched(db_target: str, tmp_path: Path) -> None:
    fill(db_target)
    out = tmp_path / "site"
    write_site(db_target, out)
    day = out / "libera" / "#x" / "2026-11-28.html"
    gone_day = out / "libera" / "#y" / "2026-11-26.html"
    assert "late evening deploy" in day.read_text()
    assert gone_day.exists()

    forget(db_target, "--nick", "bob", "--channel", "#x", "--since", "2026-11-28")
    forget(db_target, "--channel", "#y")
    done = write_site(db_target, out)

    assert "late evening deploy" not in day.read_text()
    assert "hello world" in day.read_text()
    assert not gone_day.exists()
    assert "2026-11-26" not in (out / "libera" / "#y" / "index.html").read_text()
    # bob's line of the 27th was before --since: that day is as it was
    assert "morning alice" in (out / "libera" / "#x" / "2026-11-27.html").read_text()
    assert done.days_kept >= 1
