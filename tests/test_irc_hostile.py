"""A hostile or odd server or user (issue #11): each case is one a real server or user can
produce, and none may confuse the bot about where it is, leak a secret, or loop it.

Wire lines in, exact lines out, on ``StringTransport`` and ``task.Clock`` (``Bot``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from logbot.config import ChannelConfig, ConfigError, Secret, build_settings
from logbot.events import Kind
from tests.test_irc_cap import plain_payload, sasl_bot, server_time_bot
from tests.test_irc_protocol import SERVER, Bot, ev

# -- a second welcome ---------------------------------------------------------------------


def test_a_second_welcome_neither_renames_nor_signs_on_again() -> None:
    """001 counts once per connection: a stray one changes no nick and joins nothing."""
    bot = Bot()
    bot.ready()
    bot.feed(f":{SERVER} 001 evil :Welcome again")
    bot.clock.advance(60)
    assert bot.sent() == []
    assert bot.proto.nickname == "logbot"
    bot.feed(":evil!e@h PART #x :a part that is not the bot's")
    bot.feed(":alice!a@h PRIVMSG #x :still here")
    assert [e.text for e in bot.take_events() if e.kind is Kind.MESSAGE] == ["still here"]
    assert bot.proto._roster.is_joined("#x")


@pytest.mark.parametrize("line", [f":{SERVER} 432", f":{SERVER} 731", f":{SERVER} 432 logbot"])
def test_a_numeric_without_its_parameters_costs_no_traceback(line: str, logged: list[str]) -> None:
    """Short numerics are ignored like any malformed line: no 'error handling' traceback."""
    bot = Bot()
    bot.ready()
    bot.feed(line, ":alice!a@h PRIVMSG #x :after")
    assert [e.text for e in bot.take_events()] == ["after"]
    assert not any("error handling" in entry for entry in logged)


def test_a_stray_sasl_success_or_password_refusal_after_welcome_changes_nothing() -> None:
    """903 outside a SASL exchange authenticates nothing; a late 464 is not why we part."""
    bot = Bot()
    bot.ready()
    bot.feed(f":{SERVER} 903 logbot :SASL authentication successful")
    bot.feed(f":{SERVER} 464 logbot :Password incorrect")
    assert not bot.proto.authenticated
    bot.proto.connectionLost(None)
    assert bot.events[-1].kind is Kind.DISCONNECTED
    assert bot.events[-1].text == "connection lost"


# -- CHANTYPES ---------------------------------------------------------------------------


@pytest.mark.parametrize("chantypes", ["CHANTYPES=", "CHANTYPES=&"])
def test_a_later_chantypes_does_not_turn_the_bots_channels_into_whispers(chantypes: str) -> None:
    """A channel the bot is in, or configured for, stays a channel whatever 005 says."""
    bot = Bot(channels=(ChannelConfig("#x"), ChannelConfig("#later")))
    bot.ready()
    bot.feed(f":{SERVER} 005 logbot {chantypes} :are supported by this server")
    bot.feed(":alice!a@h PRIVMSG #x :hello", ":alice!a@h NOTICE #x :note")
    assert [(e.kind, e.channel, e.text) for e in bot.take_events()] == [
        (Kind.MESSAGE, "#x", "hello"),
        (Kind.NOTICE, "#x", "note"),
    ]
    bot.feed(":logbot!l@h JOIN #later", ":bob!b@h PRIVMSG #later :hi")
    assert [(e.kind, e.channel) for e in bot.take_events()] == [
        (Kind.GAP_END, "#later"),
        (Kind.JOIN, "#later"),
        (Kind.MESSAGE, "#later"),
    ]
    bot.clock.advance(60)
    assert bot.sent() == []  # no whisper reply went anywhere


# -- channels the bot is not in -------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        ":mallory!m@h JOIN +o",
        ":mallory!m@h JOIN *",
        ":mallory!m@h JOIN #elsewhere",
        ":mallory!m@h PART 0 :bye",
        ":mallory!m@h PART #elsewhere",
        ":mallory!m@h KICK * bob :out",
        ":mallory!m@h TOPIC * :a topic",
        ":mallory!m@h TOPIC #elsewhere :a topic",
        ":mallory!m@h MODE +o +v bob",
        ":mallory!m@h MODE #elsewhere +v bob",
        f":{SERVER} 332 logbot * :a topic",
        f":{SERVER} 332 logbot #elsewhere :a topic",
        ":mallory!m@h PRIVMSG #elsewhere :hi",
        ":mallory!m@h NOTICE #elsewhere :hi",
        ":logbot!l@h JOIN 0",
        ":logbot!l@h JOIN *",
    ],
)
def test_no_event_is_recorded_for_a_channel_the_bot_is_not_in(line: str) -> None:
    """Only the channels the bot is in have a history (its own JOIN: real channel names)."""
    bot = Bot()
    bot.ready()
    bot.feed(line, f":{SERVER} 333 logbot * setter 1", f":{SERVER} 366 logbot * :End")
    assert bot.take_events() == []
    assert bot.sent() == []


# -- server-time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stamp",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2001-01-01T00:00:00Z",  # representable, but years from the receive time
        "2025-11-30T19:35:23Z",  # just over a day ahead
    ],
)
def test_an_impossible_or_implausible_server_time_falls_back_to_the_receive_time(
    stamp: str, logged: list[str]
) -> None:
    """The event is kept, stamped with the receive time; no traceback, a debug line."""
    bot = server_time_bot()
    bot.feed(f"@time={stamp} :alice!a@h PRIVMSG #x :hi")
    assert bot.take_events() == [ev(Kind.MESSAGE, "#x", "alice", bot.now, text="hi")]
    assert not any("Traceback" in line for line in logged)
    assert any(f"server-time {stamp!r} is not plausible" in line for line in logged)


def test_a_server_time_within_a_day_is_believed() -> None:
    """An hour of skew is a real server's clock (or a replay), not an attack."""
    bot = server_time_bot()
    earlier = bot.now - timedelta(hours=23)
    stamp = earlier.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    bot.feed(f"@time={stamp} :alice!a@h PRIVMSG #x :hi")
    (event,) = bot.take_events()
    assert (event.time, event.received) == (earlier, bot.now)


# -- mention replies -----------------------------------------------------------------------


def test_mention_replies_are_limited_per_sender() -> None:
    """One reply a minute per sender, however often it asks."""
    bot = Bot()
    bot.ready()
    for _ in range(5):
        bot.feed(":alice!a@h PRIVMSG #x :logbot: hi")
    bot.clock.advance(30)
    assert bot.sent() == ["PRIVMSG #x :alice: I am a log bot"]
    bot.clock.advance(31)
    bot.feed(":alice!a@h PRIVMSG #x :logbot: again")
    bot.clock.advance(1)
    assert bot.sent() == ["PRIVMSG #x :alice: I am a log bot"]


def test_mention_replies_have_a_global_cap() -> None:
    """At most whisper_global_max mention replies a minute in all."""
    bot = Bot()
    bot.ready()
    for i in range(30):
        bot.feed(f":u{i}!u@h PRIVMSG #x :logbot: hi")
    bot.clock.pump([1.0] * 59)
    assert len(bot.sent()) == bot.proto.whisper_global_max


def test_a_sender_that_keeps_triggering_replies_is_no_longer_answered() -> None:
    """After mention_loop_max replies within the window, silence until the window is over."""
    bot = Bot()
    bot.ready()
    answered = 0
    for _ in range(20):
        bot.feed(":chatty!c@h PRIVMSG #x :logbot: are you there")
        bot.clock.advance(61)
        answered += len(bot.sent())
    assert answered == bot.proto.mention_loop_max
    bot.clock.advance(bot.proto.mention_loop_window)
    bot.feed(":chatty!c@h PRIVMSG #x :logbot: and now")
    bot.clock.advance(1)
    replies = [line for line in bot.sent() if line.startswith("PRIVMSG")]  # not the keepalive
    assert replies == ["PRIVMSG #x :chatty: I am a log bot"]


def test_another_bots_answer_is_not_answered() -> None:
    """Two log bots answering each other stop at once: an answer is never answered."""
    bot = Bot()
    bot.ready()
    bot.feed(":otherbot!o@h PRIVMSG #x :logbot: I am a log bot")
    bot.feed(":otherbot!o@h PRIVMSG logbot :It isn't nice to whisper! Play nice with the group.")
    bot.clock.advance(60)
    assert bot.sent() == []
    assert [e.text for e in bot.take_events()] == ["logbot: I am a log bot"]


def test_a_notice_is_never_answered() -> None:
    """NOTICE mentioning the bot, in a channel or in private: recorded or not, never answered."""
    bot = Bot()
    bot.ready()
    bot.feed(":alice!a@h NOTICE #x :logbot: hi", ":alice!a@h NOTICE logbot :hi")
    bot.clock.advance(60)
    assert bot.sent() == []
    assert [e.kind for e in bot.take_events()] == [Kind.NOTICE]


# -- secrets without TLS -------------------------------------------------------------------


def test_no_server_password_over_plain_tcp(logged: list[str]) -> None:
    """Without TLS (and allow_plaintext_secrets) PASS is not sent; one WARN line says why."""
    bot = Bot(password=Secret("hunter2"))
    assert bot.sent() == ["CAP LS 302", "NICK logbot", "USER logbot 0 * :logbot"]
    warned = [line for line in logged if "not sending the server password (PASS)" in line]
    assert len(warned) == 1
    assert "allow_plaintext_secrets" in warned[0]
    assert not any("hunter2" in line for line in logged)


def test_no_nickserv_identify_over_plain_tcp(logged: list[str]) -> None:
    """No SASL on the server and no TLS: the password is not sent to NickServ in clear."""
    bot = sasl_bot(allow_plaintext_secrets=False)
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :server-time", f":{SERVER} CAP * ACK :server-time")
    bot.feed(f":{SERVER} 001 logbot :Welcome")
    assert bot.sent() == ["CAP REQ :server-time", "CAP END", "JOIN #x"]
    warned = [line for line in logged if "not identifying to NickServ" in line]
    assert len(warned) == 1
    assert "allow_plaintext_secrets" in warned[0]
    assert not any("s3cret" in line for line in logged)


def test_no_sasl_plain_over_plain_tcp(logged: list[str]) -> None:
    """SASL offered but no TLS: PLAIN is not tried (base64 hides nothing); one WARN says why."""
    bot = sasl_bot(allow_plaintext_secrets=False)
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :sasl=PLAIN server-time")
    assert bot.sent() == ["CAP REQ :server-time"]
    bot.feed(f":{SERVER} CAP * ACK :server-time", f":{SERVER} 001 logbot :Welcome")
    assert bot.sent() == ["CAP END", "JOIN #x"]
    warned = [line for line in logged if "not authenticating with SASL PLAIN" in line]
    assert len(warned) == 1
    assert "allow_plaintext_secrets" in warned[0]
    assert not any("IDENTIFY" in line for line in logged)
    assert not any("s3cret" in line or plain_payload("acct", "s3cret") in line for line in logged)


def test_sasl_required_without_tls_refuses_instead_of_sending_plain(logged: list[str]) -> None:
    """sasl_required and no TLS: the bot quits with a clear reason and never joins."""
    bot = sasl_bot(allow_plaintext_secrets=False, sasl_required=True)
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :sasl=PLAIN server-time")
    lines = bot.sent()
    assert len(lines) == 1
    assert lines[0].startswith("QUIT :not authenticating with SASL PLAIN")
    assert "sasl_required is set" in lines[0]
    assert bot.transport.disconnecting
    assert not any(line.startswith(("AUTHENTICATE", "JOIN")) for line in lines)


def test_sasl_plain_goes_over_tls() -> None:
    """With TLS (and no allow_plaintext_secrets) SASL PLAIN is asked for as before."""
    bot = sasl_bot(allow_plaintext_secrets=False, tls=True)
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :sasl=PLAIN", f":{SERVER} CAP * ACK :sasl", "AUTHENTICATE +")
    assert bot.sent() == [
        "CAP REQ :sasl",
        "AUTHENTICATE PLAIN",
        f"AUTHENTICATE {plain_payload('acct', 's3cret')}",
    ]


def test_secrets_go_over_tls() -> None:
    """With TLS the server password is sent, as a trailing parameter."""
    bot = Bot(password=Secret("pass word"), tls=True)
    assert bot.sent()[:2] == ["CAP LS 302", "PASS :pass word"]


# -- decoding ------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["base64", "rot13", "hex"])
def test_a_codec_that_is_not_a_text_codec_costs_nothing(codec: str, logged: list[str]) -> None:
    """A non-text fallback codec is replaced by latin-1 (one warning); no line is lost."""
    bot = Bot(fallback_encoding=codec)
    bot.ready()
    bot.feed(b":alice!a@h PRIVMSG #x :caf\xe9", ":alice!a@h PRIVMSG #x :next")
    assert [e.text for e in bot.take_events()] == ["café", "next"]
    assert not bot.transport.disconnecting
    assert any("is not a text encoding; using latin-1" in line for line in logged)


def test_a_fallback_that_fails_on_a_line_falls_back_to_latin1() -> None:
    """Even a codec that raises on one line (here: made to) costs that line nothing."""
    bot = Bot()
    bot.ready()
    bot.proto._fallback = "base64"  # slipped past every check
    bot.feed(b":alice!a@h PRIVMSG #x :caf\xe9", ":alice!a@h PRIVMSG #x :next")
    assert [e.text for e in bot.take_events()] == ["café", "next"]


def test_allow_plaintext_secrets_is_a_bool_key_per_network_or_top_level(tmp_path: Path) -> None:
    """Default false; a top-level value is every network's default; a table's own wins."""
    config = tmp_path / "logbot.toml"
    config.write_text(
        "allow_plaintext_secrets = true\n"
        '[[network]]\nname = "a"\nserver = "a.test"\nchannels = ["#x"]\n'
        '[[network]]\nname = "b"\nserver = "b.test"\nchannels = ["#x"]\n'
        "allow_plaintext_secrets = false\n"
    )
    a, b = build_settings({}, str(config), {}).networks
    assert (a.allow_plaintext_secrets, b.allow_plaintext_secrets) == (True, False)
    config.write_text('server = "a.test"\nchannels = ["#x"]\n')
    (network,) = build_settings({}, str(config), {}).networks
    assert network.allow_plaintext_secrets is False
    config.write_text('server = "a.test"\nchannels = ["#x"]\nallow_plaintext_secrets = "yes"\n')
    with pytest.raises(ConfigError, match="allow_plaintext_secrets"):
        build_settings({}, str(config), {})
