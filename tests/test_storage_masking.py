"""A database password never shows: in log lines, target.txt, config check, db upgrade."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from logbot.backends import sql
from logbot.backends.base import BackendOptions
from logbot.cli import main
from logbot.storage.engine import display_target, make_engine, mask_target

SECRET = "hunter2"

# every way a password rides in a URL: the user part, unencoded '@' in it, the query
URLS = [
    f"postgresql://bot:{SECRET}@127.0.0.1:1/logs",
    f"postgresql://bot:{SECRET}@{SECRET}@127.0.0.1:1/logs",
    f"postgresql://bot@127.0.0.1:1/logs?password={SECRET}",
    f"postgresql://bot@127.0.0.1:1/logs?sslmode=disable&PassWord={SECRET}&x=1",
]


@pytest.mark.parametrize("url", URLS)
def test_mask_target_hides_every_password(url: str) -> None:
    """The password and anything that could be part of it are replaced by ***."""
    shown = mask_target(url)
    assert SECRET not in shown
    assert "***" in shown
    assert "127.0.0.1:1/logs" in shown


def test_mask_target_keeps_what_has_no_password() -> None:
    """Paths and password-free URLs are shown as they are."""
    assert mask_target("/var/lib/logbot/a@b.sqlite") == "/var/lib/logbot/a@b.sqlite"
    url = "postgresql+psycopg://bot@db.example/logs?sslmode=require"
    assert mask_target(url) == url


@pytest.mark.parametrize("url", URLS)
def test_display_target_of_an_engine_hides_the_password(url: str) -> None:
    """What every log line and message names the database by."""
    engine = make_engine(url)
    try:
        assert SECRET not in display_target(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("url", URLS)
def test_log_lines_and_target_txt_hide_the_password(
    url: str, tmp_path: Path, logged: list[str]
) -> None:
    """An unreachable database at start: the warning and the spool's target.txt are masked."""
    from logbot.events import Event, Kind
    from tests.test_sql_backend import T0, ClockReactor, InlinePool

    backend = sql.create(
        url, BackendOptions(reactor=ClockReactor()), pool=InlinePool(), spool_dir=tmp_path
    )
    backend.write(Event(time=T0, network="n", channel="#x", kind=Kind.MESSAGE, nick="a", text="t"))
    backend._reactor.advance(0.25)
    backend.close()
    note = (tmp_path / "target.txt").read_text()
    assert "127.0.0.1:1/logs" in note
    assert SECRET not in note
    assert any("cannot reach the database" in line for line in logged)
    assert not [line for line in logged if SECRET in line]


@pytest.mark.parametrize("url", URLS)
def test_config_check_hides_the_password(url: str, tmp_path: Path) -> None:
    """``logbot config check`` names the database without its password."""
    config = tmp_path / "logbot.toml"
    config.write_text(f'server = "h"\nchannels = ["#x"]\ndb = "{url}"\n')
    config.chmod(0o600)
    result = CliRunner().invoke(main, ["config", "check", str(config)])
    assert "127.0.0.1:1/logs" in result.output, result.output
    assert SECRET not in result.output


@pytest.mark.parametrize("url", URLS)
def test_db_upgrade_output_hides_the_password(url: str) -> None:
    """``logbot db upgrade`` of an unreachable database: the error line is masked."""
    result = CliRunner().invoke(main, ["db", "upgrade", "--db", url])
    assert result.exit_code != 0
    assert "127.0.0.1:1" in result.output, result.output
    assert SECRET not in result.output


def test_an_unencoded_at_sign_belongs_to_the_password() -> None:
    """``user:p@ss@host`` connects to ``host`` with the password ``p@ss``."""
    engine = make_engine("postgresql://bot:p@ss:w@db.example:5433/logs")
    try:
        assert (engine.url.username, engine.url.password) == ("bot", "p@ss:w")
        assert (engine.url.host, engine.url.port, engine.url.database) == (
            "db.example",
            5433,
            "logs",
        )
    finally:
        engine.dispose()
