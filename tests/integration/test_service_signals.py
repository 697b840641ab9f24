"""Signals reaching the real process at awkward moments."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import IRCClient, LogBot, wait_for

BOT_START = 30.0  # interpreter start and imports on a slow CI machine


def _has_open(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.path.realpath(fd) == str(path) for fd in fds.iterdir())
    except OSError:
        return False


def test_sighup_while_the_database_is_being_prepared_does_not_kill_the_bot(
    tmp_path: Path, logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """logrotate's SIGHUP while the start-up waits on the database: the bot still joins."""
    db = (tmp_path / "busy.sqlite").resolve()
    holder = sqlite3.connect(db, isolation_level=None)
    # the schema lock the bot's migration needs: it waits (SQLite's busy timeout) meanwhile
    holder.execute("BEGIN IMMEDIATE")
    alice = irc_client("alice")
    alice.join("#x")
    bot = logbot("--db", str(db))
    try:
        wait_for(lambda: _has_open(bot.pid, db) or not bot.running, BOT_START, "the db opened")
        assert bot.running, bot.stderr()
        bot.send_signal(signal.SIGHUP)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    alice.expect("JOIN", nick="logbot", timeout=BOT_START)
    assert bot.running, bot.stderr()
