"""The real bot survives what servers and operators do: restarts, silence, logrotate, SIGTERM."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.conftest import (
    FakeIRCServer,
    IRCClient,
    LogBot,
    Ngircd,
    log_line,
    read_lines,
    wait_for,
)

BOT_START = 30.0  # interpreter start, imports, connect and join on a slow CI machine
JOINED = log_line("[I have joined #x]")


def start_in_channel(logbot: Callable[..., LogBot], watcher: IRCClient, *args: str) -> LogBot:
    """Start the bot and return once ``watcher`` (already in #x) sees it join."""
    bot = logbot(*args)
    watcher.expect("JOIN", nick="logbot", timeout=BOT_START)
    return bot


def test_after_a_server_restart_the_bot_is_back_logging_within_a_minute(
    ngircd: Ngircd, logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """ngircd stopped, then started on the same port: the bot reconnects, rejoins and logs."""
    alice = irc_client("alice")
    alice.join("#x")
    bot = start_in_channel(logbot, alice)
    alice.privmsg("#x", "before the restart")
    bot.wait_for_log(log_line("<alice> before the restart"))
    ngircd.stop()
    bot.wait_for_log("[disconnected at")
    started = time.monotonic()
    ngircd.start()
    bot.wait_for_log(JOINED, timeout=60, count=2)
    assert time.monotonic() - started < 60
    alice = irc_client("alice")
    alice.join("#x")
    alice.privmsg("#x", "after the restart")
    bot.wait_for_log(log_line("<alice> after the restart"))
    lines = bot.log_lines()
    assert sum("[connected at" in line for line in lines) == 2


def test_a_server_that_stops_answering_pings_is_dropped_and_reconnected(
    fake_irc: FakeIRCServer, logbot: Callable[..., LogBot]
) -> None:
    """A silent connection is aborted after --ping-timeout; the bot connects again and rejoins."""
    bot = logbot("--ping-interval", "1", "--ping-timeout", "2", server=fake_irc)
    (first,) = fake_irc.wait_connections(1, timeout=BOT_START)
    wait_for(lambda: first.joined == ["#x"], BOT_START, "the bot to join #x")
    fake_irc.go_silent()
    silent_from = len(first.lines)
    wait_for(first.closed.is_set, 15, "the bot to drop the silent connection")
    assert any(line.startswith("PING") for line in first.lines[silent_from:])
    connections = fake_irc.wait_connections(2, timeout=15)
    wait_for(lambda: connections[1].joined == ["#x"], 15, "the bot to rejoin #x")
    bot.wait_for_log(JOINED, count=2)
    bot.wait_for_log("[disconnected at")
    assert "no reply to PING" in bot.stderr()  # the journal says why


def test_sighup_after_a_rename_writes_to_a_fresh_file(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """logrotate renames the file and sends SIGHUP: new lines go to a new file at the old path."""
    alice = irc_client("alice")
    alice.join("#x")
    bot = start_in_channel(logbot, alice)
    assert bot.log_path is not None
    alice.privmsg("#x", "before rotation")
    bot.wait_for_log(log_line("<alice> before rotation"))
    rotated = bot.log_path.with_name("log.txt.1")
    bot.log_path.rename(rotated)
    bot.send_signal(signal.SIGHUP)
    wait_for(bot.log_path.exists, 10, "the bot to reopen its log file")
    alice.privmsg("#x", "after rotation")
    bot.wait_for_log(log_line("<alice> after rotation"))
    assert bot.running
    new, old = "\n".join(bot.log_lines()), "\n".join(read_lines(rotated))
    assert "before rotation" in old
    assert "after rotation" not in old
    assert "before rotation" not in new


def test_sigterm_quits_exits_0_and_every_line_is_on_disk(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """SIGTERM right after a burst: QUIT is sent, the exit status is 0, nothing received is lost."""
    alice = irc_client("alice")
    alice.join("#x")
    bot = start_in_channel(logbot, alice)
    for n in range(300):
        alice.privmsg("#x", f"burst line {n}")
    alice.privmsg("#x", "logbot: got all that?")
    # the answer proves the bot has read every line before it
    alice.expect("PRIVMSG", nick="logbot", text="alice: I am a log bot", timeout=15)
    assert bot.terminate() == 0
    quit_ = alice.expect("QUIT", nick="logbot", timeout=5)
    assert quit_.text  # a reason is given
    lines = read_lines(Path(str(bot.log_path)))
    for n in range(300):
        assert any(log_line(f"<alice> burst line {n}").search(line) for line in lines), n
    assert any(log_line("<logbot> alice: I am a log bot").search(line) for line in lines)
    assert "[disconnected at" in lines[-1]
