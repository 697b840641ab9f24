"""The running bot's retention: an hourly prune in a thread, started only when configured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from logbot.config import build_settings
from logbot.retention import FIRST_DELAY, INTERVAL, RetentionRunner, retention_configured
from tests.test_forget import _line, _retention_config, exported, hourly, load
from tests.test_sql_backend import ClockReactor, InlinePool


class PoolReactor(ClockReactor):
    def __init__(self) -> None:
        super().__init__()
        self.pool = InlinePool()

    def getThreadPool(self) -> Any:
        return self.pool


def test_the_bot_prunes_a_minute_after_start_then_every_hour(tmp_path: Path) -> None:
    target = str(tmp_path / "db.sqlite")
    old = datetime.now(UTC) - timedelta(days=30)
    load(
        target, [*hourly(old, old + timedelta(hours=3), "#x"), _line(datetime.now(UTC), "b", "new")]
    )
    settings = build_settings({}, str(_retention_config(tmp_path, target)), {})
    reactor = PoolReactor()
    runner = RetentionRunner(settings, reactor)
    runner.start()
    reactor.advance(FIRST_DELAY - 1)
    assert len(exported(target)) == 4
    reactor.advance(1)
    assert [e["text"] for e in exported(target)] == ["new"]
    load(target, hourly(old, old + timedelta(hours=2), "#y"))
    reactor.advance(INTERVAL)
    assert [e["text"] for e in exported(target)] == ["new"]
    runner.stop()
    assert reactor.getDelayedCalls() == []


def test_retention_is_configured_only_when_some_level_sets_it(tmp_path: Path) -> None:
    config = tmp_path / "a.toml"
    config.write_text('server = "h"\nchannels = ["#x"]\n')
    assert not retention_configured(build_settings({}, str(config), {}))
    config.write_text('server = "h"\nchannels = [{ name = "#x", retention_days = 2 }]\n')
    assert retention_configured(build_settings({}, str(config), {}))
