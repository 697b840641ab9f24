"""The real bot's manners on a real ngircd: whispers, mentions and a taken nick."""

from __future__ import annotations

from collections.abc import Callable

from tests.integration.conftest import IRCClient, LogBot, log_line

WHISPER_REPLY = "It isn't nice to whisper! Play nice with the group."
BOT_START = 30.0  # interpreter start, imports, connect and join on a slow CI machine


def start_in_channel(logbot: Callable[..., LogBot], watcher: IRCClient, **kw: object) -> LogBot:
    """Start the bot and return once ``watcher`` (already in #x) sees it join."""
    bot = logbot(**kw)
    watcher.expect("JOIN", where=lambda m: m.nick.startswith("logbot"), timeout=BOT_START)
    return bot


def test_a_whisper_gets_the_reply_once_a_minute_and_never_reaches_the_log(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """A private message is answered with ircLogBot's line, once per minute, and not logged."""
    alice = irc_client("alice")
    alice.join("#x")
    bot = start_in_channel(logbot, alice)
    alice.privmsg("logbot", "psst, the password is hunter2")
    reply = alice.expect("PRIVMSG", nick="logbot", target="alice", timeout=15)
    assert reply.text == WHISPER_REPLY
    alice.privmsg("logbot", "another secret")
    alice.privmsg("#x", "back in public")
    # the channel line is logged only after both whispers were read: the log is up to date
    bot.wait_for_log(log_line("<alice> back in public"))
    text = "\n".join(bot.log_lines())
    assert "hunter2" not in text
    assert "another secret" not in text
    assert WHISPER_REPLY not in text
    alice.privmsg("#x", "logbot: still there?")  # its answer is queued after any whisper reply
    alice.expect("PRIVMSG", nick="logbot", target="#x", timeout=15)
    assert [m.text for m in alice.history if m.nick == "logbot" and m.target == "alice"] == [
        WHISPER_REPLY
    ]


def test_a_mention_is_answered_in_the_channel_and_the_answer_is_logged(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """`logbot: ...` and `logbot, ...` get `SENDER: I am a log bot`, logged like any line."""
    alice, bob = irc_client("alice"), irc_client("bob")
    alice.join("#x")
    bob.join("#x")
    bot = start_in_channel(logbot, alice)
    alice.privmsg("#x", "logbot: are you recording?")
    assert bob.expect("PRIVMSG", nick="logbot", target="#x", timeout=15).text == (
        "alice: I am a log bot"
    )
    bob.privmsg("#x", "logbot, you too?")
    alice.expect("PRIVMSG", nick="logbot", target="#x", text="bob: I am a log bot", timeout=15)
    bot.wait_for_log(log_line("<logbot> bob: I am a log bot"))
    lines = bot.log_lines()
    for body in (
        "<alice> logbot: are you recording?",
        "<logbot> alice: I am a log bot",
        "<bob> logbot, you too?",
    ):
        assert any(log_line(body).search(line) for line in lines), body


def test_a_taken_nick_gets_a_caret(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """With `logbot` taken the bot joins as `logbot^`, and logs its join as usual."""
    squatter = irc_client("logbot")
    squatter.join("#x")
    bot = logbot()
    joined = squatter.expect("JOIN", target="#x", timeout=BOT_START)
    assert joined.nick == "logbot^"
    bot.wait_for_log(log_line("[I have joined #x]"))
    squatter.privmsg("#x", "who is the real logbot?")
    bot.wait_for_log(log_line("<logbot> who is the real logbot?"))


def test_a_nick_taken_twice_gets_two_carets(
    logbot: Callable[..., LogBot], irc_client: Callable[..., IRCClient]
) -> None:
    """While `logbot^` is taken too, the bot adds another `^`."""
    squatter = irc_client("logbot")
    irc_client("logbot^")
    squatter.join("#x")
    logbot()
    assert squatter.expect("JOIN", target="#x", timeout=BOT_START).nick == "logbot^^"
