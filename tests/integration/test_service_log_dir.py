"""``--log-dir``: the real bot writes a file per channel and day, and reopens it on SIGHUP."""

from __future__ import annotations

import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import IRCClient, LogBot, log_line, wait_for, wait_for_line

BOT_START = 30.0  # interpreter start and imports on a slow CI machine


def test_log_dir_writes_the_days_file_and_reopens_it_on_sighup(
    tmp_path: Path, logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """A message lands in DIR/testnet/#x/<today>.log (0600); after a move and SIGHUP, a new one."""
    logs = tmp_path / "logs"
    alice = irc_client("alice")
    alice.join("#x")
    bot = logbot("--log-dir", str(logs), "--network", "testnet", file=None)
    alice.expect("JOIN", nick="logbot", timeout=BOT_START)
    alice.privmsg("#x", "hello per day")
    today = time.strftime("%Y-%m-%d")
    path = logs / "testnet" / "#x" / f"{today}.log"
    wait_for(path.exists, 10, "the day's file")
    wait_for_line(path, log_line("<alice> hello per day"), 10)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.rename(path.with_suffix(".log.1"))
    bot.send_signal(signal.SIGHUP)
    wait_for(path.exists, 10, "the reopened file")
    alice.privmsg("#x", "after the move")
    wait_for_line(path, log_line("<alice> after the move"), 10)
    assert "hello per day" not in path.read_text()
    assert bot.terminate() == 0
