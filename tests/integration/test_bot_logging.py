"""The real bot against a real ngircd writes ircLogBot's lines for what happens in a channel."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.integration.conftest import IRCClient, LogBot, log_line

STAMP = r"\[\d\d:\d\d:\d\d\] "
ASCTIME = r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}"
CONNECTED = re.compile(rf"^{STAMP}\[connected at {ASCTIME}\]$")
BOT_START = 30.0  # interpreter start, imports, connect and join on a slow CI machine


def assert_in_order(lines: list[str], patterns: list[re.Pattern[str]]) -> None:
    """Each pattern matches a line after the line the previous pattern matched."""
    at = 0
    for pattern in patterns:
        for i in range(at, len(lines)):
            if pattern.search(lines[i]):
                at = i + 1
                break
        else:
            shown = "\n".join(lines)
            raise AssertionError(f"no line matching {pattern.pattern!r} after line {at}:\n{shown}")


def start_in_channel(
    logbot: Callable[..., LogBot], watcher: IRCClient, *args: str, **kw: object
) -> LogBot:
    """Start the bot and return once ``watcher`` (already in the channels) sees it join."""
    bot = logbot(*args, **kw)
    watcher.expect("JOIN", where=lambda m: m.nick.startswith("logbot"), timeout=BOT_START)
    return bot


def test_message_action_nick_change_and_join_are_ircLogBot_lines(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """A session reads exactly like ircLogBot: connected, own join, join, message, action, nick."""
    alice = irc_client("alice")
    alice.join("#x")
    bot = start_in_channel(logbot, alice)
    bob = irc_client("bob")
    bob.join("#x")
    alice.privmsg("#x", "hello world")
    alice.action("#x", "waves")
    alice.sync()  # two clients' lines have no order at the server unless we wait
    bob.change_nick("bob2")
    bot.wait_for_log(log_line("bob is now known as bob2"))
    assert_in_order(
        bot.log_lines(),
        [
            CONNECTED,
            log_line("[I have joined #x]"),
            log_line("--> bob (~bob@127.0.0.1) has joined #x"),
            log_line("<alice> hello world"),
            log_line("* alice waves"),
            log_line("bob is now known as bob2"),
        ],
    )


def test_part_quit_kick_topic_mode_and_notice_are_each_one_line(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """The other channel events are logged in their documented one-line forms."""
    alice = irc_client("alice")
    alice.join("#x")  # first in: channel operator
    bot = start_in_channel(logbot, alice)
    bob, carol = irc_client("bob"), irc_client("carol")
    bob.join("#x")
    carol.join("#x")
    alice.topic("#x", "release friday")
    alice.mode("#x", "+v", "bob")
    alice.notice("#x", "heads up")
    alice.sync()  # two clients' lines have no order at the server unless we wait
    bob.part("#x", "lunch")
    bob.join("#x")
    alice.kick("#x", "bob", "spam")
    alice.sync()
    carol.quit("gone home")
    bot.wait_for_log(re.compile(r"<-- carol .*has quit"))
    assert_in_order(
        bot.log_lines(),
        [
            log_line("-- alice set the topic of #x to: release friday"),
            log_line("-- alice sets mode #x +v bob"),
            log_line("-alice- heads up"),
            log_line("<-- bob (~bob@127.0.0.1) has left #x (lunch)"),
            log_line("<-- alice has kicked bob from #x (spam)"),
            re.compile(rf"^{STAMP}<-- carol \(~carol@127\.0\.0\.1\) has quit \(.*gone home.*\)$"),
        ],
    )


def test_several_channels_name_the_channel_and_a_quit_is_logged_in_each(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """With two channels in one file, lines name their channel; a QUIT is logged in each."""
    carol = irc_client("carol")
    carol.join("#x")
    carol.join("#y")
    bot = start_in_channel(logbot, carol, channels=("#x", "#y"))
    carol.expect("JOIN", nick="logbot", target="#y", timeout=BOT_START)
    carol.privmsg("#y", "over here")
    carol.quit("bye")
    quit_x = bot.wait_for_log(re.compile(rf"^{STAMP}#x <-- carol .*has quit \(.*bye.*\)$"))
    quit_y = bot.wait_for_log(re.compile(rf"^{STAMP}#y <-- carol .*has quit \(.*bye.*\)$"))
    lines = bot.log_lines()
    assert lines.count(quit_x) == 1
    assert lines.count(quit_y) == 1
    assert any(log_line("<carol> over here", channel="#y").search(line) for line in lines)
    assert any(CONNECTED.search(line) for line in lines)  # session markers name no channel
    assert any(log_line("[I have joined #x]", channel="#x").search(line) for line in lines)


def test_a_cp1251_line_is_logged_and_costs_no_disconnect(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """Bytes that are not UTF-8 are decoded with the fallback; the bot stays connected."""
    alice = irc_client("alice")
    alice.join("#x")
    bot = start_in_channel(logbot, alice, "--fallback-encoding", "cp1251")
    alice.send(b"PRIVMSG #x :" + "Привет, мир".encode("cp1251"))
    alice.privmsg("#x", "still here?")
    bot.wait_for_log(log_line("<alice> still here?"))
    lines = bot.log_lines()
    assert any(log_line("<alice> Привет, мир").search(line) for line in lines)
    assert sum(bool(CONNECTED.search(line)) for line in lines) == 1
    assert not [line for line in lines if "[disconnected at" in line]
    alice.sync()
    assert not [m for m in alice.history if m.command == "QUIT" and m.nick == "logbot"]
