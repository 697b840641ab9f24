"""The harness the bot tests stand on: ngircd, the raw client and the fake server behave."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.integration.conftest import (
    FakeIRCServer,
    IRCClient,
    Ngircd,
    NickInUse,
    parse,
    port_accepts,
)


def test_raw_client_messages_reach_another_client(
    irc_client: Callable[..., IRCClient],
) -> None:
    """Two clients in one channel see each other's messages, actions and nick changes."""
    alice, bob = irc_client("alice"), irc_client("bob")
    alice.join("#x")
    bob.join("#x")
    alice.privmsg("#x", "hello world")
    alice.action("#x", "waves")
    alice.change_nick("alice2")
    assert bob.expect("PRIVMSG", nick="alice").text == "hello world"
    assert bob.expect("PRIVMSG", nick="alice").text == "\x01ACTION waves\x01"
    assert bob.expect("NICK", nick="alice").text == "alice2"


def test_a_taken_nick_is_refused(irc_client: Callable[..., IRCClient]) -> None:
    """Registering a nick that is in use raises NickInUse."""
    irc_client("logbot")
    with pytest.raises(NickInUse):
        irc_client("logbot")


def test_ngircd_restarts_on_the_same_port(
    ngircd: Ngircd, irc_client: Callable[..., IRCClient]
) -> None:
    """After restart() the same port serves again and old connections were closed."""
    port = ngircd.port
    old = irc_client("before")
    ngircd.restart()
    assert ngircd.port == port
    assert ngircd.running
    with pytest.raises(AssertionError, match="closed"):
        old.expect("PRIVMSG", timeout=5)
    irc_client("after").sync()


def test_a_paused_ngircd_accepts_but_does_not_answer(ngircd: Ngircd) -> None:
    """SIGSTOP leaves the port open but silent; SIGCONT brings answers back."""
    client = IRCClient(ngircd.port, "sleeper")
    ngircd.pause()
    assert port_accepts(ngircd.port)
    client.send("PING :anyone")
    with pytest.raises(AssertionError, match="no PONG"):
        client.expect("PONG", timeout=0.5)
    ngircd.resume()
    assert client.expect("PONG").text == "anyone"
    client.close()


def test_fake_server_registers_echoes_joins_and_can_go_silent(fake_irc: FakeIRCServer) -> None:
    """The fake server welcomes a client, echoes its JOIN, and stops answering when told."""
    client = IRCClient(fake_irc.port, "probe")
    client.join("#x")
    client.sync()
    (conn,) = fake_irc.wait_connections(1)
    assert conn.joined == ["#x"]
    fake_irc.go_silent()
    client.send("PING :still there?")
    with pytest.raises(AssertionError):
        client.expect("PONG", timeout=0.5)
    second = IRCClient(fake_irc.port, "probe2")
    second.sync()
    client.close()
    second.close()


def test_parse_handles_prefix_tags_and_trailing() -> None:
    """IRC lines parse into prefix, command and params, with IRCv3 tags ignored."""
    m = parse("@time=2026-11-28T20:35:30.000Z :alice!a@h PRIVMSG #x :hello :world")
    assert (m.nick, m.command, m.params) == ("alice", "PRIVMSG", ["#x", "hello :world"])
    assert parse("PING :token").text == "token"
    assert parse(":srv 366 bot #x :End").params == ["bot", "#x", "End"]
