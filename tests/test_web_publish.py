"""The ``publish`` key on the web archive and ``logbot html``: public is listed (and may be
indexed), unlisted is served but never listed nor indexed, private is never served."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from logbot.cli import main
from logbot.config import build_settings
from logbot.settings import Settings
from logbot.web.export import write_site
from logbot.web.site import Archive
from tests.web_data import NOW, fill

# #x public (the network's default), #y unlisted, #secret private
CONFIG = """
[[network]]
name = "libera"
server = "irc.libera.chat"
channels = ["#x"]
[[network.channel]]
name = "#y"
publish = "unlisted"
[[network.channel]]
name = "#secret"
publish = "private"
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("publish") / "logbot.sqlite"
    fill(str(path))
    return str(path)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("publish-config") / "logbot.toml"
    path.write_text(textwrap.dedent(CONFIG))
    return path


@pytest.fixture(scope="module")
def settings(config: Path) -> Settings:
    return build_settings({}, str(config), {})


def page(db: str, settings: Settings | None, path: str, **options: Any) -> tuple[int, str]:
    """(status, body) of GET ``path`` (with ``?a=b&c=d`` arguments)."""
    raw, _, query = path.partition("?")
    args = dict(p.split("=", 1) for p in query.split("&") if p)
    archive = Archive(db, clock=lambda: NOW, settings=settings, **options)
    try:
        answer = archive.handle(raw[1:].split("/"), args, {})
        return answer.status, answer.body.decode()
    finally:
        archive.close()


def test_the_index_lists_public_channels_only(db: str, settings: Settings) -> None:
    _, body = page(db, settings, "/")
    assert 'href="/libera/%23x/"' in body
    assert "%23y" not in body
    assert "secret" not in body


def test_unlisted_is_served_private_is_404_like_an_unknown_channel(
    db: str, settings: Settings
) -> None:
    assert page(db, settings, "/libera/#y/")[0] == 200
    assert page(db, settings, "/libera/#y/2026-11-26")[0] == 200
    assert page(db, settings, "/libera/#y/2026-11-26.txt")[0] == 200
    for path in (
        "/libera/#secret/",
        "/libera/#secret/2026-11-28",
        "/libera/#secret/2026-11-28.json",
        "/libera/#secret/at?time=2026-11-28T10:00:00Z",
        "/libera/#secret",
    ):
        status, body = page(db, settings, path)
        assert status == 404, path
        assert "secret deploy" not in body
    assert page(db, settings, "/libera/#secret/")[1] == page(db, settings, "/libera/#nope/")[
        1
    ].replace("#nope", "#secret")


def test_without_settings_every_channel_is_public(db: str) -> None:
    _, body = page(db, None, "/")
    assert "%23y" in body
    assert "%23secret" in body
    assert page(db, None, "/libera/#secret/2026-11-28")[0] == 200


def test_a_search_across_channels_shows_public_channels_only(db: str, settings: Settings) -> None:
    _, hits = page(db, settings, "/api/search?q=deploy")
    assert "late evening deploy" in hits
    assert "secret deploy" not in hits
    _, hits = page(db, settings, "/api/search?q=in")
    assert "in y" not in hits
    # the same search without a policy finds them all
    _, hits = page(db, None, "/api/search?q=deploy")
    assert "secret deploy" in hits


def test_a_search_of_an_unlisted_channel_shows_it_a_private_one_never(
    db: str, settings: Settings
) -> None:
    status, hits = page(db, settings, "/api/search?q=in&channel=#y")
    assert status == 200
    assert "in y" in hits
    status, hits = page(db, settings, "/api/search?q=deploy&channel=#secret")
    assert "secret deploy" not in hits
    status, hits = page(db, settings, "/api/search?q=deploy&channel=#secret,#x")
    assert "secret deploy" not in hits
    assert "late evening deploy" in hits
    _, body = page(db, settings, "/search?q=deploy&channel=#secret")
    assert "secret deploy" not in body


def test_unlisted_pages_are_never_indexed_nor_named_in_robots(db: str, settings: Settings) -> None:
    assert page(db, settings, "/robots.txt", noindex=False)[1] == "User-agent: *\nAllow: /\n"
    assert "noindex" not in page(db, settings, "/libera/#x/2026-11-28", noindex=False)[1]
    assert "noindex" in page(db, settings, "/libera/#y/2026-11-26", noindex=False)[1]
    assert "noindex" in page(db, settings, "/libera/#y/", noindex=False)[1]
    robots = page(db, settings, "/robots.txt", index_channels=["#x", "#y", "#secret"])[1]
    assert robots == "User-agent: *\nAllow: /libera/%23x/\nDisallow: /\n"
    assert "noindex" in page(db, settings, "/libera/#y/", index_channels=["#y"])[1]


def test_html_writes_public_and_unlisted_lists_public_and_drops_private(
    db: str, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    write_site(db, out, settings=settings, noindex=False)
    index = (out / "index.html").read_text()
    assert "%23x/index.html" in index
    assert "%23y" not in index
    assert "secret" not in index
    assert (out / "libera" / "#y" / "2026-11-26.html").exists()
    assert "noindex" in (out / "libera" / "#y" / "2026-11-26.html").read_text()
    assert "noindex" not in (out / "libera" / "#x" / "2026-11-28.html").read_text()
    assert not (out / "libera" / "#secret").exists()


def test_html_rerun_removes_a_channel_that_became_private(
    db: str, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    write_site(db, out)
    assert (out / "libera" / "#secret" / "2026-11-28.html").exists()
    write_site(db, out, settings=settings)
    assert not (out / "libera" / "#secret").exists()
    assert "secret" not in (out / "index.html").read_text()


def test_web_and_html_take_a_config_and_refuse_a_bad_one(
    db: str, config: Path, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    result = CliRunner().invoke(
        main, ["html", "--db", db, "--out", str(out), "--config", str(config), "--jobs", "2"]
    )
    assert result.exit_code == 0, result.output
    assert not (out / "libera" / "#secret").exists()
    assert (out / "libera" / "#y" / "index.html").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text('publish = "everyone"\n')
    for command in (["html", "--out", str(out)], ["web"]):
        result = CliRunner().invoke(main, [*command, "--db", db, "--config", str(bad)])
        assert result.exit_code == 2
        assert "publish: must be one of public, unlisted, private" in result.output
        assert "Traceback" not in result.output


def test_a_site_with_nothing_listed_shows_the_search_form_and_finds_nothing(
    db: str, tmp_path: Path
) -> None:
    config = tmp_path / "private.toml"
    config.write_text(
        CONFIG.replace('server = "irc.libera.chat"', 'server = "x"\npublish = "private"')
    )
    settings = build_settings({}, str(config), {})
    status, body = page(db, settings, "/search")
    assert status == 200
    assert "<form" in body
    status, hits = page(db, settings, "/api/search?q=deploy")
    assert status == 200
    assert hits == ""


def test_a_search_page_is_full_when_newer_hits_are_in_channels_it_may_not_show(
    tmp_path: Path,
) -> None:
    # the newest hits are in a private channel and in a same-named channel of a private
    # network: filtered in the query, they cannot use up a page of hits
    from datetime import timedelta

    from logbot.events import Event, Kind
    from logbot.web.searching import PAGE_SIZE

    start = NOW - timedelta(days=1)
    shown = [
        Event(start + timedelta(seconds=i), "libera", "#x", Kind.MESSAGE, "bob", f"deploy {i}")
        for i in range(PAGE_SIZE + 10)
    ]
    hidden = [
        Event(start + timedelta(minutes=10, seconds=i), net, chan, Kind.MESSAGE, "eve", "deploy")
        for net, chan in (("libera", "#secret"), ("oftc", "#x"))
        for i in range(PAGE_SIZE + 10)
    ]
    path = tmp_path / "logbot.sqlite"
    fill(str(path), shown + hidden)
    config = tmp_path / "logbot.toml"
    config.write_text(
        textwrap.dedent(CONFIG)
        + '[[network]]\nname = "oftc"\nserver = "irc.oftc.net"\npublish = "private"\n'
        + 'channels = ["#x"]\n'
    )
    settings = build_settings({}, str(config), {})
    archive = Archive(str(path), clock=lambda: NOW, settings=settings)
    try:
        for args in ({"q": "deploy"}, {"q": "deploy", "channel": "#secret,#x"}):
            answer = archive.handle(["api", "search"], args, {})
            lines = answer.body.decode().splitlines()
            assert len(lines) == PAGE_SIZE, args
            assert all('"network": "libera", "channel": "#x"' in line for line in lines)
            assert answer.headers["X-Next-Before"]
            rest = archive.handle(
                ["api", "search"], {**args, "before": answer.headers["X-Next-Before"]}, {}
            )
            assert len(rest.body.decode().splitlines()) == 10
            assert "X-Next-Before" not in rest.headers
    finally:
        archive.close()
