"""What the SQL backend keeps when the bot is stopped (SIGTERM) or killed (kill -9)."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import IRCClient, LogBot, wait_for
from tests.integration.test_sql_logging import rows, start_in_channel


def texts(db: Path) -> list[str]:
    return [str(r[0]) for r in rows(db, "SELECT text FROM events WHERE kind = 'message'")]


def test_sigterm_right_after_a_burst_commits_all_of_it(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient], tmp_path: Path
) -> None:
    """2,000 lines, then SIGTERM at once: the bot exits 0 with all 2,000 in the database."""
    db = tmp_path / "burst.sqlite"
    alice = irc_client("alice")
    alice.join("#x")
    bot = start_in_channel(logbot, alice, "--db", str(db), file=None)
    sent = [f"burst line {i}" for i in range(2000)]
    for text in sent:
        alice.privmsg("#x", text)
    alice.sync()  # ngircd has handled (and relayed to the bot) every line
    assert bot.terminate(timeout=30) == 0
    assert sorted(texts(db)) == sorted(sent)
    assert len(texts(db)) == 2000


def test_kill_9_loses_at_most_the_batch_window_and_the_database_opens_cleanly(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient], tmp_path: Path
) -> None:
    """kill -9 mid-stream: lines read a second before are all there; a restart writes on."""
    db = tmp_path / "crash.sqlite"
    alice = irc_client("alice")
    alice.join("#x")
    bot = start_in_channel(logbot, alice, "--db", str(db), file=None)
    sent: list[str] = []

    def say(text: str) -> None:
        alice.privmsg("#x", text)
        sent.append(text)
        time.sleep(0.005)  # a steady stream, not a wait for anything

    for i in range(100):
        say(f"stream line {i}")
    # the bot answers a mention only after it has read every line before it
    alice.privmsg("#x", "logbot: are you there?")
    alice.expect("PRIVMSG", where=lambda m: m.nick.startswith("logbot"), timeout=20)
    acked = time.monotonic()
    i = 100
    while time.monotonic() - acked < 1.0:
        say(f"stream line {i}")
        i += 1
    bot.send_signal(signal.SIGKILL)
    bot.wait_exit(10)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.execute("INSERT INTO events_fts(events_fts) VALUES ('integrity-check')")
    finally:
        conn.close()
    stored = set(texts(db))
    # everything the bot had read a second before the kill is committed...
    assert [t for t in sent[:100] if t not in stored] == []
    # ...and what is missing is only the tail: no hole before it
    kept = [t for t in sent if t in stored]
    assert kept == sent[: len(kept)], "a line is missing before the lost tail"
    # a restart opens the same database and goes on writing
    alice.sync()
    again = start_in_channel(logbot, alice, "--db", str(db), file=None)
    alice.privmsg("#x", "after the crash")
    wait_for(lambda: "after the crash" in texts(db), 10, "a write after the restart")
    assert again.running
