"""The real bot against ngircd stores every channel event in SQL, where search finds it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from tests.integration.conftest import IRCClient, LogBot, logbot_env, wait_for

BOT_START = 30.0


def rows(
    db: Path, sql: str = "SELECT kind, nick, text, target FROM events ORDER BY id"
) -> list[tuple[object, ...]]:
    """The stored rows (empty while the database or its tables do not exist yet)."""
    if not db.exists():
        return []
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql)]
    except sa.exc.OperationalError:
        return []
    finally:
        engine.dispose()


def start_in_channel(
    logbot: Callable[..., LogBot], watcher: IRCClient, *args: str, **kw: object
) -> LogBot:
    bot = logbot(*args, **kw)
    watcher.expect("JOIN", where=lambda m: m.nick.startswith("logbot"), timeout=BOT_START)
    return bot


def test_every_kind_is_stored_with_db(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient], tmp_path: Path
) -> None:
    """With --db the bot stores messages, actions, notices, joins, parts, topics, kicks, nicks."""
    db = tmp_path / "chan.sqlite"
    alice = irc_client("alice")
    alice.join("#x")
    start_in_channel(logbot, alice, "--db", str(db), file=None)
    bob = irc_client("bob")
    bob.join("#x")
    alice.privmsg("#x", "hello Wörld")
    alice.action("#x", "waves")
    alice.notice("#x", "heads up")
    alice.topic("#x", "release friday")
    alice.sync()
    bob.part("#x", "lunch")
    bob.join("#x")
    bob.change_nick("bob2")
    bob.sync()
    alice.send("KICK #x bob2 :enough")
    alice.sync()
    expected = [
        ("join", "bob", "", None),
        ("message", "alice", "hello Wörld", None),
        ("action", "alice", "waves", None),
        ("notice", "alice", "heads up", None),
        ("topic", "alice", "release friday", None),
        ("part", "bob", "lunch", None),
        ("join", "bob", "", None),
        ("nick", "bob", "", "bob2"),
        ("kick", "alice", "enough", "bob2"),
    ]

    def stored() -> list[tuple[object, ...]]:
        got = [r for r in rows(db) if r[1] != "logbot"]
        return got if len(got) >= len(expected) else []

    assert wait_for(stored, 10, "every event in the database") == expected


def test_default_database_is_found_by_search(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient], tmp_path: Path
) -> None:
    """With neither --file nor --db, events land in the per-user SQLite file search reads."""
    alice = irc_client("alice")
    alice.join("#x")
    start_in_channel(logbot, alice, file=None)
    alice.privmsg("#x", "the quokka is out")
    alice.sync()
    workdir = tmp_path / "logbot0"  # the fixture's first bot
    db = workdir / "xdg-data" / "logbot" / "logbot.sqlite"
    wait_for(lambda: any(r[2] == "the quokka is out" for r in rows(db)), 10, "the default db")
    env = logbot_env(workdir)
    result = subprocess.run(
        [sys.executable, "-m", "logbot", "search", "quokka"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "<alice> the quokka is out" in result.stdout
