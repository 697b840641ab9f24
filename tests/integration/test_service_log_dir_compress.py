"""``compress_after_days``: the real bot gzips the closed days a previous run left in --log-dir."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from tests.integration.conftest import IRCClient, LogBot, log_line, wait_for, wait_for_line

BOT_START = 30.0  # interpreter start and imports on a slow CI machine


def test_a_later_run_gzips_the_days_an_earlier_run_wrote_and_keeps_logging_today(
    tmp_path: Path, logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """Run 1 logs a day; three days on (its file renamed to that date: the bot's clock is
    the machine's), run 2 with compress_after_days = 2 turns it into .log.gz holding
    exactly run 1's bytes, and still writes today's file as plain text."""
    logs = tmp_path / "logs"
    alice = irc_client("alice")
    alice.join("#x")
    first = logbot("--log-dir", str(logs), "--network", "testnet", file=None)
    alice.expect("JOIN", nick="logbot", timeout=BOT_START)
    for n in range(3):
        alice.privmsg("#x", f"line {n} of an old day, ünïcode ✓")
    channel = logs / "testnet" / "#x"
    today = channel / f"{time.strftime('%Y-%m-%d')}.log"
    wait_for_line(today, log_line("<alice> line 2 of an old day, ünïcode ✓"), 10)
    assert first.terminate() == 0
    original = today.read_bytes()
    old_day = (date.today() - timedelta(days=3)).isoformat()
    today.rename(channel / f"{old_day}.log")

    config = tmp_path / "logbot.toml"
    config.write_text("compress_after_days = 2\n", encoding="utf-8")
    second = logbot(
        "--config", str(config), "--log-dir", str(logs), "--network", "testnet", file=None
    )
    gz = channel / f"{old_day}.log.gz"
    wait_for(gz.exists, BOT_START, "the old day's .log.gz")
    wait_for(lambda: not (channel / f"{old_day}.log").exists(), 10, "the old .log removed")
    with gzip.open(gz, "rb") as f:
        assert f.read() == original
    assert not list(channel.glob("*.tmp"))

    alice.expect("JOIN", nick="logbot", timeout=BOT_START)
    alice.privmsg("#x", "today stays plain text")
    wait_for_line(today, log_line("<alice> today stays plain text"), 10)
    assert second.terminate() == 0
    assert sorted(p.name for p in channel.iterdir()) == [f"{old_day}.log.gz", today.name]
