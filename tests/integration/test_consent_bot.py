"""The real bot against ngircd: a [nolog] line is in no file the bot writes, text or SQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import IRCClient, LogBot, wait_for
from tests.integration.test_sql_logging import rows, start_in_channel

SECRET = "zanzibar-quokka"


def test_a_nolog_line_is_in_no_file_of_the_bot(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient], tmp_path: Path
) -> None:
    """Default prefixes: [nolog] and [off] lines are in neither the text log nor SQLite."""
    db = tmp_path / "logbot0" / "chan.sqlite"
    alice = irc_client("alice")
    alice.join("#x")
    bot = start_in_channel(logbot, alice, "--db", str(db))
    alice.privmsg("#x", f"[nolog] {SECRET} one")
    alice.action("#x", f"[off] {SECRET} two")
    alice.privmsg("#x", "after the secrets")
    alice.sync()
    wait_for(
        lambda: any(r[2] == "after the secrets" for r in rows(db)), 10, "the later line stored"
    )
    assert bot.terminate() == 0
    assert "<alice> after the secrets" in (tmp_path / "logbot0" / "log.txt").read_text()
    holding = [
        str(p)
        for p in (tmp_path / "logbot0").rglob("*")
        if p.is_file() and SECRET.encode() in p.read_bytes()
    ]
    assert holding == []
