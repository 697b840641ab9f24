"""The real bot against ngircd (no chathistory): a disconnect and a stop are recorded as gaps."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import IRCClient, LogBot, Ngircd, log_line, logbot_env, wait_for

BOT_START = 30.0
JOINED = log_line("[I have joined #x]")


def gaps(db: Path, workdir: Path) -> list[dict[str, object]]:
    """What `logbot gaps --format json` prints (empty while there are none)."""
    result = subprocess.run(
        [sys.executable, "-m", "logbot", "gaps", "--db", str(db), "--format", "json"],
        capture_output=True,
        text=True,
        env=logbot_env(workdir),
        timeout=60,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_server_restart_and_a_bot_restart_leave_gaps_that_logbot_gaps_lists(
    ngircd: Ngircd,
    logbot: Callable[..., LogBot],
    irc_client: Callable[..., IRCClient],
    tmp_path: Path,
) -> None:
    """ngircd restarts during traffic: one closed "disconnected" gap; a SIGTERM then leaves
    an open "bot stopped" gap that the next run's join closes."""
    db = tmp_path / "gaps.sqlite"
    alice = irc_client("alice")
    alice.join("#x")
    bot = logbot("--db", str(db))
    alice.expect("JOIN", nick="logbot", timeout=BOT_START)
    alice.privmsg("#x", "before the restart")
    bot.wait_for_log(log_line("<alice> before the restart"))
    ngircd.stop()
    bot.wait_for_log("[disconnected at")
    ngircd.start()
    bot.wait_for_log(JOINED, timeout=60, count=2)

    def closed() -> list[dict[str, object]]:
        found = gaps(db, tmp_path)
        return found if found and all(g["end"] for g in found) else []

    [gap] = wait_for(closed, 15, "the disconnect gap to be closed")
    assert (gap["network"], gap["channel"], gap["reason"]) == ("LogbotTest", "#x", "disconnected")
    assert str(gap["start"]) < str(gap["end"])

    assert bot.terminate() == 0
    stopped = [g for g in gaps(db, tmp_path) if g["reason"] == "bot stopped"]
    assert len(stopped) == 1
    assert stopped[0]["end"] is None

    again = logbot("--db", str(db))
    wait_for(lambda: again.running and closed(), BOT_START, "the stop gap to be closed")
    assert [g["reason"] for g in gaps(db, tmp_path)] == ["disconnected", "bot stopped"]
