"""IRCv3 on the wire: CAP negotiation, SASL, server-time, nick regain, paced output.

Byte for byte, with the ``Bot`` harness of test_irc_protocol (a StringTransport and a
task.Clock; no reactor, no socket, no sleep).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from logbot.events import Kind
from logbot.irc.protocol import LogBotProtocol
from logbot.settings import ChannelConfig, Secret
from tests.test_irc_protocol import SERVER, Bot, ev

REGISTER = ["CAP LS 302", "NICK logbot", "USER logbot 0 * :logbot"]


def sasl_bot(**settings: object) -> Bot:
    """A bot with SASL PLAIN credentials on a plain-TCP double; the exchange tests allow the
    password on it explicitly (the default refusal is tested on its own below)."""
    settings.setdefault("allow_plaintext_secrets", True)
    settings.setdefault("sasl_user", "acct")
    settings.setdefault("sasl_password", Secret("s3cret"))
    return Bot(**settings)


def plain_payload(account: str, password: str) -> str:
    return base64.b64encode(f"{account}\0{account}\0{password}".encode()).decode()


# -- CAP negotiation ---------------------------------------------------------------------------


def test_cap_requests_the_wanted_offered_caps_then_ends() -> None:
    """Of what the server offers, the bot asks for the caps it uses, then sends CAP END."""
    bot = Bot()
    assert bot.sent() == REGISTER
    bot.feed(f":{SERVER} CAP * LS :multi-prefix server-time away-notify vendor/x sasl=PLAIN")
    assert bot.sent() == ["CAP REQ :away-notify multi-prefix server-time"]
    bot.feed(f":{SERVER} CAP * ACK :away-notify multi-prefix server-time")
    assert bot.sent() == ["CAP END"]
    assert bot.proto.caps == {"away-notify", "multi-prefix", "server-time"}
    bot.feed(f":{SERVER} 001 logbot :Welcome")
    assert bot.sent() == ["JOIN #x"]


def test_every_wanted_cap_is_requested_when_offered() -> None:
    """All eight caps the bot can use are asked for in one line when the server has them."""
    bot = Bot()
    bot.sent()
    bot.feed(
        f":{SERVER} CAP * LS :account-tag away-notify cap-notify chghost extended-join "
        "message-tags multi-prefix server-time userhost-in-names"
    )
    assert bot.sent() == [
        "CAP REQ :account-tag away-notify cap-notify chghost extended-join message-tags "
        "multi-prefix server-time"
    ]


def test_cap_ls_continuation_lines_are_collected_before_requesting() -> None:
    """CAP LS 302 continuation lines ('*') are read to the last one before any REQ."""
    bot = Bot()
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS * :multi-prefix account-tag")
    bot.feed(f":{SERVER} CAP * LS * :unknown-one")
    assert bot.sent() == []
    bot.feed(f":{SERVER} CAP * LS :server-time")
    assert bot.sent() == ["CAP REQ :account-tag multi-prefix server-time"]


def test_nak_of_a_batch_asks_for_each_cap_alone() -> None:
    """A NAK refuses the whole line: each cap is asked alone, and CAP END follows the answers."""
    bot = Bot()
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :multi-prefix server-time")
    assert bot.sent() == ["CAP REQ :multi-prefix server-time"]
    bot.feed(f":{SERVER} CAP * NAK :multi-prefix server-time")
    assert bot.sent() == ["CAP REQ :multi-prefix", "CAP REQ :server-time"]
    bot.feed(f":{SERVER} CAP * ACK :multi-prefix")
    assert bot.sent() == []
    bot.feed(f":{SERVER} CAP * NAK :server-time")
    assert bot.sent() == ["CAP END"]
    assert bot.proto.caps == {"multi-prefix"}


def test_nak_of_a_single_cap_goes_on() -> None:
    """A NAK of a one-cap request just ends negotiation."""
    bot = Bot()
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :server-time", f":{SERVER} CAP * NAK :server-time")
    assert bot.sent() == ["CAP REQ :server-time", "CAP END"]
    assert bot.proto.caps == set()


def test_nothing_wanted_offered_ends_at_once() -> None:
    """A server offering nothing the bot uses gets CAP END straight after LS."""
    bot = Bot()
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :")
    assert bot.sent() == ["CAP END"]


def test_server_without_cap_support_is_not_sent_cap_end() -> None:
    """A server that ignores CAP and welcomes directly gets no CAP END; the bot joins."""
    bot = Bot()
    bot.sent()
    bot.feed(f":{SERVER} 001 logbot :Welcome")
    assert bot.sent() == ["JOIN #x"]


def test_cap_new_and_del_after_registration() -> None:
    """CAP NEW offers are requested without a CAP END; CAP DEL drops a cap (and server-time)."""
    bot = Bot()
    bot.sent()
    bot.feed(
        f":{SERVER} CAP * LS :server-time",
        f":{SERVER} CAP * ACK :server-time",
        f":{SERVER} 001 logbot :Welcome",
    )
    bot.sent()
    bot.clock.advance(10)
    bot.feed(f":{SERVER} CAP logbot NEW :chghost vendor/y")
    assert bot.sent() == ["CAP REQ :chghost"]
    bot.feed(f":{SERVER} CAP logbot ACK :chghost")
    assert bot.sent() == []
    assert bot.proto.caps == {"server-time", "chghost"}
    bot.join()
    bot.take_events()
    bot.feed(f":{SERVER} CAP logbot DEL :server-time")
    assert bot.proto.caps == {"chghost"}
    bot.feed("@time=2001-01-01T00:00:00.000Z :alice!a@h PRIVMSG #x :hi")
    assert bot.take_events() == [ev(Kind.MESSAGE, "#x", "alice", bot.now, text="hi")]


# -- server-time -----------------------------------------------------------------------------


def server_time_bot() -> Bot:
    bot = Bot(channels=(ChannelConfig("#x"), ChannelConfig("#y")))
    bot.feed(f":{SERVER} CAP * LS :server-time", f":{SERVER} CAP * ACK :server-time")
    bot.sign_on()
    bot.join("#x", "logbot alice")
    bot.join("#y", "logbot alice")
    bot.take_events()
    return bot


def test_server_time_is_the_event_time_and_receive_time_is_kept() -> None:
    """With server-time, @time= is the event's time and the clock's is in received."""
    bot = server_time_bot()
    bot.feed("@time=2025-11-28T19:30:05.678Z;account=al :alice!a@h PRIVMSG #x :hi")
    (event,) = bot.take_events()
    assert event.time == datetime(2025, 11, 28, 19, 30, 5, 678000, tzinfo=UTC)
    assert event.received == bot.now
    assert (event.channel, event.nick, event.text) == ("#x", "alice", "hi")


def test_server_time_applies_to_every_kind_and_fan_out() -> None:
    """A stamped QUIT is recorded in each shared channel with the server's time."""
    bot = server_time_bot()
    bot.feed("@time=2025-11-28T19:30:05Z :alice!a@h QUIT :bye")
    stamp = datetime(2025, 11, 28, 19, 30, 5, tzinfo=UTC)
    assert [(e.channel, e.time, e.received) for e in bot.take_events()] == [
        ("#x", stamp, bot.now),
        ("#y", stamp, bot.now),
    ]


def test_malformed_or_missing_server_time_falls_back_to_the_clock() -> None:
    """A bad or absent @time leaves the clock's time, with no separate received time."""
    bot = server_time_bot()
    bot.feed("@time=garbage :alice!a@h PRIVMSG #x :a", ":alice!a@h PRIVMSG #x :b")
    assert [(e.time, e.received) for e in bot.take_events()] == [(bot.now, None)] * 2


def test_extended_join_reads_the_channel_from_the_first_param() -> None:
    """With extended-join, JOIN carries account and real name after the channel."""
    bot = Bot()
    bot.ready()
    bot.feed(":carol!c@h JOIN #x carol_acct :Carol Real Name", ":dave!d@h JOIN #x * :Dave")
    assert [(e.kind, e.channel, e.nick) for e in bot.take_events()] == [
        (Kind.JOIN, "#x", "carol"),
        (Kind.JOIN, "#x", "dave"),
    ]
    bot.feed(":carol!c@h QUIT :q")
    assert [e.channel for e in bot.take_events()] == ["#x"]


def test_chghost_away_account_and_tagmsg_are_not_events() -> None:
    """CHGHOST, AWAY, ACCOUNT and TAGMSG change nothing in the log."""
    bot = Bot()
    bot.ready()
    bot.feed(
        ":alice!a@h CHGHOST newuser new.host",
        ":alice!a@h AWAY :lunch",
        ":alice!a@h ACCOUNT alice",
        "@+typing=active :alice!a@h TAGMSG #x",
    )
    assert bot.events == []
    assert bot.sent() == []


# -- SASL --------------------------------------------------------------------------------


def test_sasl_plain_success_byte_for_byte(logged: list[str]) -> None:
    """PLAIN: REQ sasl, AUTHENTICATE PLAIN, the base64 response, 903, CAP END, then join."""
    bot = sasl_bot()
    assert bot.sent() == REGISTER
    bot.feed(f":{SERVER} CAP * LS :sasl=PLAIN,EXTERNAL server-time")
    assert bot.sent() == ["CAP REQ :server-time sasl"]
    bot.feed(f":{SERVER} CAP * ACK :server-time sasl")
    assert bot.sent() == ["AUTHENTICATE PLAIN"]
    bot.feed("AUTHENTICATE +")
    assert bot.sent() == [f"AUTHENTICATE {plain_payload('acct', 's3cret')}"]
    bot.feed(
        f":{SERVER} 900 logbot logbot!l@h acct :You are now logged in as acct",
        f":{SERVER} 903 logbot :SASL authentication successful",
    )
    assert bot.sent() == ["CAP END"]
    assert bot.proto.authenticated
    bot.feed(f":{SERVER} 001 logbot :Welcome")
    assert bot.sent() == ["JOIN #x"]
    assert any("testnet: logged in as acct" in line for line in logged)
    assert not any("s3cret" in line or plain_payload("acct", "s3cret") in line for line in logged)


def test_sasl_user_defaults_to_the_nick() -> None:
    """Without sasl_user, the account in the PLAIN response is the configured nick."""
    bot = Bot(sasl_password=Secret("pw"), allow_plaintext_secrets=True)
    bot.sent()
    bot.feed(
        f":{SERVER} CAP * LS :sasl",
        f":{SERVER} CAP * ACK :sasl",
        "AUTHENTICATE +",
    )
    assert bot.sent()[-1] == f"AUTHENTICATE {plain_payload('logbot', 'pw')}"


def test_sasl_plain_long_response_is_chunked() -> None:
    """A response of exactly 400 base64 bytes is followed by 'AUTHENTICATE +'."""
    bot = sasl_bot(sasl_user="a", sasl_password=Secret("p" * 296))
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :sasl", f":{SERVER} CAP * ACK :sasl", "AUTHENTICATE +")
    first, second = bot.sent()[2:]
    assert len(first) == len("AUTHENTICATE ") + 400
    assert second == "AUTHENTICATE +"


def test_sasl_external_success() -> None:
    """EXTERNAL: AUTHENTICATE EXTERNAL, then '+' (the certificate is the credential)."""
    bot = Bot(sasl_mechanism="external", client_cert="/etc/logbot/cert.pem")
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :sasl=PLAIN,EXTERNAL")
    assert bot.sent() == ["CAP REQ :sasl"]
    bot.feed(f":{SERVER} CAP * ACK :sasl")
    assert bot.sent() == ["AUTHENTICATE EXTERNAL"]
    bot.feed("AUTHENTICATE +")
    assert bot.sent() == ["AUTHENTICATE +"]
    bot.feed(f":{SERVER} 903 logbot :SASL authentication successful")
    assert bot.sent() == ["CAP END"]


@pytest.mark.parametrize("numeric", ["904", "905", "906", "902"])
def test_sasl_failure_without_sasl_required_goes_on(numeric: str, logged: list[str]) -> None:
    """A SASL failure is logged and registration goes on unauthenticated."""
    bot = sasl_bot()
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :sasl", f":{SERVER} CAP * ACK :sasl", "AUTHENTICATE +")
    bot.sent()
    bot.feed(f":{SERVER} {numeric} logbot :SASL authentication failed")
    assert bot.sent() == ["CAP END"]
    bot.feed(f":{SERVER} 001 logbot :Welcome")
    assert bot.sent() == ["JOIN #x"]
    assert any(f"({numeric}: SASL authentication failed); going on" in line for line in logged)


@pytest.mark.parametrize("numeric", ["904", "905", "906", "902"])
def test_sasl_failure_with_sasl_required_quits_without_joining(numeric: str) -> None:
    """With sasl_required, a SASL failure sends QUIT and closes; nothing is ever joined."""
    bot = sasl_bot(sasl_required=True)
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :sasl", f":{SERVER} CAP * ACK :sasl", "AUTHENTICATE +")
    bot.sent()
    bot.feed(f":{SERVER} {numeric} logbot :SASL authentication failed")
    (quit_line,) = bot.sent()
    assert quit_line.startswith("QUIT :SASL PLAIN ")
    assert quit_line.endswith("sasl_required is set, not joining unauthenticated")
    assert bot.transport.disconnecting
    bot.feed(f":{SERVER} 001 logbot :Welcome")
    assert bot.sent() == []


@pytest.mark.parametrize(
    ("offer", "why"),
    [
        ("server-time", "the server does not offer SASL"),
        ("sasl=EXTERNAL", "the server offers SASL EXTERNAL, not PLAIN"),
    ],
)
def test_sasl_required_refuses_a_server_without_the_mechanism(offer: str, why: str) -> None:
    """With sasl_required, a server that cannot do the mechanism gets QUIT, not a join."""
    bot = sasl_bot(sasl_required=True)
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :{offer}")
    assert bot.sent() == [f"QUIT :{why}; sasl_required is set, not joining unauthenticated"]
    assert bot.transport.disconnecting


def test_sasl_required_refuses_a_server_that_rejects_cap() -> None:
    """With sasl_required, a server without IRCv3 (421 CAP) gets QUIT."""
    bot = sasl_bot(sasl_required=True)
    bot.sent()
    bot.feed(f":{SERVER} 421 * CAP :Unknown command")
    assert bot.sent() == [
        "QUIT :the server does not support IRCv3 capabilities; "
        "sasl_required is set, not joining unauthenticated"
    ]


def test_sasl_required_refuses_a_welcome_without_authentication() -> None:
    """With sasl_required, a server that ignores CAP and welcomes gets QUIT, no JOIN."""
    bot = sasl_bot(sasl_required=True)
    bot.sent()
    bot.feed(f":{SERVER} 001 logbot :Welcome")
    lines = bot.sent()
    assert lines[0].startswith("QUIT :")
    assert not any(line.startswith("JOIN") for line in lines)
    assert bot.transport.disconnecting


def test_nickserv_identify_when_the_server_has_no_sasl(logged: list[str]) -> None:
    """Without SASL on offer (and not required), the bot identifies to NickServ on welcome
    (here clear text is allowed; see test_irc_hostile for the default)."""
    bot = sasl_bot(allow_plaintext_secrets=True)
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :server-time")
    assert bot.sent() == ["CAP REQ :server-time"]
    bot.feed(f":{SERVER} CAP * ACK :server-time")
    assert bot.sent() == ["CAP END"]
    bot.feed(f":{SERVER} 001 logbot :Welcome")
    assert bot.sent() == ["PRIVMSG NickServ :IDENTIFY acct s3cret", "JOIN #x"]
    assert bot.events == []
    assert any("will identify to NickServ" in line for line in logged)
    assert not any("s3cret" in line for line in logged)


def test_no_nickserv_identify_after_a_sasl_failure() -> None:
    """A SASL failure (wrong credentials) is not retried through NickServ."""
    bot = sasl_bot()
    bot.sent()
    bot.feed(
        f":{SERVER} CAP * LS :sasl",
        f":{SERVER} CAP * ACK :sasl",
        "AUTHENTICATE +",
        f":{SERVER} 904 logbot :failed",
        f":{SERVER} 001 logbot :Welcome",
    )
    assert not any("NickServ" in line for line in bot.sent())


def test_sasl_required_without_credentials_never_joins() -> None:
    """sasl_required with no SASL settings cannot authenticate: QUIT on welcome."""
    bot = Bot(sasl_required=True)
    bot.sent()
    bot.feed(f":{SERVER} CAP * LS :sasl", f":{SERVER} 001 logbot :Welcome")
    lines = bot.sent()
    assert lines[0] == "CAP END"
    assert lines[1].startswith("QUIT :")
    assert len(lines) == 2


# -- nick regain -------------------------------------------------------------------------------


def collided_bot(isupport: str = "") -> Bot:
    bot = Bot()
    bot.sent()
    bot.feed(f":{SERVER} 433 * logbot :in use", f":{SERVER} 421 * CAP :Unknown")
    if isupport:
        # ISUPPORT arrives after the welcome; regain starts on welcome, so feed it first
        bot.proto.irc_RPL_ISUPPORT(SERVER, ["logbot^", isupport, "are supported"])
    bot.feed(f":{SERVER} 001 logbot^ :Welcome")
    return bot


def test_regain_with_monitor() -> None:
    """With MONITOR, the bot watches its nick and takes it when the holder goes offline."""
    bot = collided_bot("MONITOR=100")
    assert bot.sent() == ["NICK logbot^", "JOIN #x", "MONITOR + logbot"]
    bot.join("#x", "logbot^ logbot", nick="logbot^")
    bot.take_events()
    bot.feed(f":{SERVER} 730 logbot^ :logbot!u@h")
    assert bot.sent() == []
    bot.feed(f":{SERVER} 731 logbot^ :logbot")
    assert bot.sent() == ["NICK logbot"]
    bot.feed(":logbot^!l@h NICK :logbot")
    assert bot.sent() == ["MONITOR - logbot"]
    assert bot.proto.nickname == "logbot"
    assert bot.take_events() == [ev(Kind.NICK, "#x", "logbot^", bot.now, target="logbot", own=True)]


def test_regain_with_a_slow_ison_poll() -> None:
    """Without MONITOR, ISON is asked every regain_poll_interval; an absent nick is taken."""
    bot = collided_bot()
    assert bot.sent() == ["NICK logbot^", "JOIN #x", "ISON logbot"]
    bot.feed(f":{SERVER} 303 logbot^ :logbot")
    assert bot.sent() == []
    bot.clock.advance(LogBotProtocol.regain_poll_interval - 1)
    assert bot.sent() == []
    bot.clock.advance(1)
    assert bot.sent() == ["ISON logbot"]
    bot.feed(f":{SERVER} 303 logbot^ :")
    assert bot.sent() == ["NICK logbot"]
    bot.feed(":logbot^!l@h NICK :logbot")
    bot.clock.advance(10 * LogBotProtocol.regain_poll_interval)
    assert bot.sent() == []


def test_holder_quitting_in_a_shared_channel_triggers_regain() -> None:
    """When the nick's holder quits where the bot sees it, the bot takes the nick at once."""
    bot = collided_bot()
    bot.join("#x", "logbot^ logbot", nick="logbot^")
    bot.clock.advance(10)
    bot.sent()
    bot.feed(":logbot!u@h QUIT :ghost gone")
    assert bot.sent() == ["NICK logbot"]


def test_lost_regain_race_does_not_add_carets() -> None:
    """A 433 for the regain attempt after registration leaves the nick as it is."""
    bot = collided_bot()
    bot.clock.advance(10)
    bot.sent()
    bot.feed(f":{SERVER} 303 logbot^ :", f":{SERVER} 433 logbot^ logbot :in use")
    assert bot.sent() == ["NICK logbot"]
    assert bot.proto.nickname == "logbot^"


def test_monitor_list_full_falls_back_to_ison() -> None:
    """ERR_MONLISTFULL (734) switches to the ISON poll."""
    bot = collided_bot("MONITOR=1")
    bot.sent()
    bot.feed(f":{SERVER} 734 logbot^ 1 logbot :Monitor list is full")
    assert bot.sent() == ["ISON logbot"]


def test_no_regain_when_running_under_the_configured_nick() -> None:
    """Signed on with the configured nick: no MONITOR, no ISON."""
    bot = Bot()
    bot.sent()
    bot.feed(f":{SERVER} 001 logbot :Welcome")
    bot.clock.advance(3 * LogBotProtocol.regain_poll_interval)
    assert bot.sent() == ["JOIN #x"]


# -- paced output ------------------------------------------------------------------------------


def test_replies_are_paced_by_the_token_bucket_and_recorded_when_sent() -> None:
    """A burst of mentions: line_burst replies at once, then one per line_interval."""
    bot = Bot()
    bot.ready()
    for i in range(8):
        bot.feed(f":u{i}!u@h PRIVMSG #x :logbot: hi")
    t0 = bot.now
    sent = bot.sent()
    assert sent == [f"PRIVMSG #x :u{i}: I am a log bot" for i in range(5)]
    own = [e for e in bot.take_events() if e.own]
    assert [e.time for e in own] == [t0] * 5
    bot.clock.advance(LogBotProtocol.line_interval - 0.01)
    assert bot.sent() == []
    bot.clock.advance(0.01)
    assert bot.sent() == ["PRIVMSG #x :u5: I am a log bot"]
    bot.clock.pump([LogBotProtocol.line_interval] * 2)
    assert bot.sent() == ["PRIVMSG #x :u6: I am a log bot", "PRIVMSG #x :u7: I am a log bot"]
    own = [e for e in bot.take_events() if e.own]
    assert [e.text for e in own] == [
        "u5: I am a log bot",
        "u6: I am a log bot",
        "u7: I am a log bot",
    ]
    assert own[-1].time == bot.now


def test_reply_queue_is_bounded() -> None:
    """Beyond max_queued_replies waiting, further replies are dropped, not queued."""
    bot = Bot()
    bot.ready()
    bot.proto._mentions.global_max = 1000  # the queue's bound is under test, not the limit
    for i in range(40):
        bot.feed(f":u{i}!u@h PRIVMSG #x :logbot: hi")
    bot.clock.pump([1.0] * 200)
    expected = LogBotProtocol.line_burst + LogBotProtocol.max_queued_replies
    assert len(bot.sent()) == expected
    assert len([e for e in bot.events if e.own]) == expected


def test_protocol_lines_go_ahead_of_queued_replies() -> None:
    """A PONG waits for a token but goes before any reply already queued."""
    bot = Bot()
    bot.ready()
    for i in range(8):
        bot.feed(f":u{i}!u@h PRIVMSG #x :logbot: hi")
    bot.sent()
    bot.feed("PING :token")
    assert bot.sent() == []
    bot.clock.advance(LogBotProtocol.line_interval)
    assert bot.sent() == ["PONG :token"]
    bot.clock.advance(LogBotProtocol.line_interval)
    assert bot.sent() == ["PRIVMSG #x :u5: I am a log bot"]


def test_join_lines_after_welcome_are_paced_too() -> None:
    """Many channels joined on welcome: a few lines at once, the rest paced."""
    channels = tuple(ChannelConfig(f"#{'c' * 40}{i:03d}") for i in range(80))
    bot = Bot(channels=channels)
    bot.sent()
    bot.feed(f":{SERVER} 421 * CAP :Unknown", f":{SERVER} 001 logbot :Welcome")
    first = bot.sent()
    assert len(first) == LogBotProtocol.line_burst
    bot.clock.pump([LogBotProtocol.line_interval] * 10)
    rest = bot.sent()
    assert all(line.startswith("JOIN ") for line in first + rest)
    assert sum(line.count("#") for line in first + rest) == 80


def test_a_ping_flood_cannot_grow_the_output_queue() -> None:
    """While output waits for tokens, only the newest PONG waits, and duplicates are dropped."""
    bot = collided_bot()
    bot.clock.advance(10)
    bot.sent()
    for i in range(LogBotProtocol.line_burst):
        bot.feed(f"PING :t{i}")
    assert len(bot.sent()) == LogBotProtocol.line_burst
    for i in range(1000):
        bot.feed(f"PING :flood{i}")
        bot.feed(f":{SERVER} 731 logbot^ :logbot")  # "your nick is free", over and over
    assert len(bot.proto._outbox.urgent) == 1
    bot.clock.pump([LogBotProtocol.line_interval] * 5)
    assert bot.sent() == ["PONG :flood999", "NICK logbot"]
