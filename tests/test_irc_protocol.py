"""The IRC protocol: raw wire bytes in, exact bytes out and exact Event records.

No reactor, no socket, no sleep: a ``StringTransport`` stands for the connection and a
``task.Clock`` for time. ``Bot`` below is the harness the other ``test_irc_*`` files share.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from twisted.internet import task
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from logbot.events import (
    FACT_CRAWLER_INDEX,
    GAP_DISCONNECTED,
    GAP_END_FIRST_JOIN,
    GAP_KICKED,
    Event,
    Kind,
)
from logbot.irc.factory import LogBotFactory
from logbot.irc.protocol import MENTION_REPLY, WHISPER_REPLY, LogBotProtocol
from logbot.irc.wire import MAX_LINE_BYTES
from logbot.settings import ChannelConfig, NetworkConfig, Secret

T0 = 1_764_358_522.0  # 2025-11-28 19:35:22 UTC
SERVER = "irc.example.net"


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Bot:
    """A protocol built by a real ``LogBotFactory``, connected to a ``StringTransport``."""

    def __init__(self, **settings: Any) -> None:
        settings.setdefault("channels", (ChannelConfig("#x"),))
        settings.setdefault("name", "testnet")
        # keepalive tests set these; elsewhere a PING must not show up among the lines sent
        settings.setdefault("ping_interval", 3600.0)
        settings.setdefault("ping_timeout", 7200.0)
        self.network = NetworkConfig(server=SERVER, **settings)
        self.clock = task.Clock()
        self.clock.advance(T0)
        self.events: list[Event] = []
        self.factory = LogBotFactory(self.network, self.events.append, self.clock)
        self.proto: LogBotProtocol = self.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)

    @property
    def now(self) -> datetime:
        return at(self.clock.seconds())

    def feed(self, *lines: str | bytes) -> None:
        """Hand each line to ``dataReceived`` as the server would send it (CRLF-terminated)."""
        for line in lines:
            data = line.encode() if isinstance(line, str) else line
            self.proto.dataReceived(data + b"\r\n")

    def sent(self) -> list[str]:
        """The lines written since the last call."""
        data = self.transport.value()
        self.transport.clear()
        assert data == b"" or data.endswith(b"\r\n"), data
        return [line.decode() for line in data.split(b"\r\n")[:-1]]

    def take_events(self) -> list[Event]:
        taken = list(self.events)
        self.events.clear()
        return taken

    def sign_on(self, nick: str = "logbot") -> None:
        """A pre-IRCv3 server: refuses CAP, welcomes, ends the MOTD; outputs discarded."""
        self.feed(
            f":{SERVER} 421 * CAP :Unknown command",
            f":{SERVER} 001 {nick} :Welcome to the network {nick}",
            f":{SERVER} 005 {nick} CHANTYPES=# PREFIX=(ov)@+ CASEMAPPING=rfc1459 "
            ":are supported by this server",
            f":{SERVER} 376 {nick} :End of MOTD",
        )
        self.sent()

    def join(self, channel: str = "#x", names: str = "logbot", nick: str = "logbot") -> None:
        self.feed(
            f":{nick}!~logbot@bot.host JOIN {channel}",
            f":{SERVER} 353 {nick} = {channel} :{names}",
            f":{SERVER} 366 {nick} {channel} :End of /NAMES list.",
        )

    def ready(self, *channels: str, names: str = "logbot alice bob") -> None:
        """Signed on and in ``channels`` (default #x), with their events discarded.

        Ten seconds then pass, so the output token bucket is full again.
        """
        self.sign_on()
        for channel in channels or ("#x",):
            self.join(channel, names)
        self.clock.advance(10)
        self.sent()
        self.take_events()


def ev(kind: Kind, channel: str, nick: str, when: datetime, **fields: Any) -> Event:
    return Event(time=when, network="testnet", channel=channel, kind=kind, nick=nick, **fields)


# -- registration ---------------------------------------------------------------------


def test_connect_asks_for_capabilities_then_registers() -> None:
    """On connect the bot sends CAP LS 302, NICK and USER, in that order."""
    bot = Bot(username="lb", realname="The Log Bot")
    assert bot.sent() == ["CAP LS 302", "NICK logbot", "USER lb 0 * :The Log Bot"]


def test_server_password_is_sent_before_nick() -> None:
    """A configured server password goes out as PASS (trailing, spaces kept) before NICK."""
    bot = Bot(password=Secret("hunter2 two"), allow_plaintext_secrets=True)
    assert bot.sent() == [
        "CAP LS 302",
        "PASS :hunter2 two",
        "NICK logbot",
        "USER logbot 0 * :logbot",
    ]


def test_server_without_cap_registers_and_joins_every_channel_with_keys() -> None:
    """A server that rejects CAP gets no CAP END; on welcome every channel is joined, keys first."""
    bot = Bot(channels=(ChannelConfig("#x"), ChannelConfig("#private", "key123")))
    bot.sent()
    bot.feed(f":{SERVER} 421 * CAP :Unknown command")
    assert bot.sent() == []
    bot.feed(f":{SERVER} 001 logbot :Welcome")
    assert bot.sent() == ["JOIN #private,#x key123"]


def test_session_marker_and_own_join_are_recorded() -> None:
    """End of MOTD records the connected marker; the bot's own JOIN is recorded with own=True.

    The join first says the channel is logged again (gap_end), the first time in this run.
    """
    bot = Bot()
    bot.sign_on()
    assert bot.take_events() == [
        ev(Kind.CONNECTED, "", "logbot", bot.now),
        ev(Kind.FACT, "", "", bot.now, target=FACT_CRAWLER_INDEX),
    ]
    bot.feed(":logbot!~logbot@bot.host JOIN :#x")
    assert bot.take_events() == [
        ev(Kind.GAP_END, "#x", "", bot.now, text=GAP_END_FIRST_JOIN),
        ev(Kind.JOIN, "#x", "logbot", bot.now, userhost="~logbot@bot.host", own=True),
    ]


@pytest.mark.parametrize(
    ("token", "index"),
    [
        ("CRAWLER=index:deny,cooldown:31536000", "deny"),
        ("CRAWLER=cooldown:60,INDEX:Allow", "allow"),
        # a token without a value is ignored (the proposal says so), as is an unknown one
        ("CRAWLER", ""),
        ("CRAWLER=index:maybe", ""),
        ("MODES=4", ""),
    ],
)
def test_the_crawler_preference_is_recorded_once_per_connection(token: str, index: str) -> None:
    """ISUPPORT CRAWLER's index key becomes one FACT event when the connection is ready."""
    bot = Bot()
    bot.feed(
        f":{SERVER} 421 * CAP :Unknown command",
        f":{SERVER} 001 logbot :Welcome",
        f":{SERVER} 005 logbot {token} :are supported by this server",
        f":{SERVER} 376 logbot :End of MOTD",
        f":{SERVER} 376 logbot :End of MOTD",
    )
    facts = [e for e in bot.take_events() if e.kind is Kind.FACT]
    assert facts == [
        Event(bot.now, "testnet", "", Kind.FACT, "", text=index, target=FACT_CRAWLER_INDEX)
    ]


def test_disconnect_records_the_marker_with_the_reason() -> None:
    """Losing the connection records a disconnected marker carrying the reason.

    Each joined channel's gap starts when the server was last heard from.
    """
    bot = Bot()
    bot.ready()
    heard = bot.now - timedelta(seconds=10)  # ready() waits 10 s after the last line
    bot.clock.advance(5)
    bot.proto.connectionLost(Failure(ConnectionDone()))
    assert bot.take_events() == [
        ev(Kind.GAP_START, "#x", "", heard, text=GAP_DISCONNECTED),
        ev(Kind.DISCONNECTED, "", "logbot", bot.now, text="Connection was closed cleanly."),
    ]


def test_no_session_markers_for_a_connection_that_never_signed_on() -> None:
    """A connection lost during registration records nothing."""
    bot = Bot()
    bot.proto.connectionLost(Failure(ConnectionDone()))
    assert bot.events == []


# -- every kind of event ------------------------------------------------------------------


def test_channel_message_is_recorded() -> None:
    """A PRIVMSG to a channel becomes a message event with the clock's time."""
    bot = Bot()
    bot.ready()
    bot.clock.advance(1.5)
    bot.feed(":alice!~a@host.example PRIVMSG #x :hello world")
    assert bot.take_events() == [ev(Kind.MESSAGE, "#x", "alice", bot.now, text="hello world")]


def test_action_is_recorded() -> None:
    """A CTCP ACTION to a channel becomes an action event with the text after ACTION."""
    bot = Bot()
    bot.ready()
    bot.feed(":alice!~a@h PRIVMSG #x :\x01ACTION waves\x01")
    assert bot.take_events() == [ev(Kind.ACTION, "#x", "alice", bot.now, text="waves")]


def test_channel_notice_is_recorded_private_notice_is_not() -> None:
    """A NOTICE to a channel is recorded; a NOTICE to the bot is not."""
    bot = Bot()
    bot.ready()
    bot.feed(":alice!~a@h NOTICE #x :heads up", ":NickServ!s@services NOTICE logbot :registered")
    assert bot.take_events() == [ev(Kind.NOTICE, "#x", "alice", bot.now, text="heads up")]


def test_other_ctcp_to_a_channel_is_neither_recorded_nor_answered() -> None:
    """A CTCP VERSION sent to a channel is not conversation: no event, no reply."""
    bot = Bot()
    bot.ready()
    bot.feed(":alice!~a@h PRIVMSG #x :\x01VERSION\x01")
    assert bot.take_events() == []
    assert bot.sent() == []


def test_join_part_kick_topic_mode_are_recorded() -> None:
    """JOIN, PART (with reason), KICK, TOPIC and MODE each become one event."""
    bot = Bot()
    bot.ready()
    bot.feed(
        ":carol!~c@c.host JOIN #x",
        ":carol!~c@c.host PART #x :bye now",
        ":alice!~a@a.host KICK #x bob :spamming",
        ":alice!~a@a.host TOPIC #x :new topic here",
        ":alice!~a@a.host MODE #x +o-v carol bob",
        f":{SERVER} MODE #x +n",
    )
    t = bot.now
    assert bot.take_events() == [
        ev(Kind.JOIN, "#x", "carol", t, userhost="~c@c.host"),
        ev(Kind.PART, "#x", "carol", t, text="bye now", userhost="~c@c.host"),
        ev(Kind.KICK, "#x", "alice", t, target="bob", text="spamming"),
        ev(Kind.TOPIC, "#x", "alice", t, text="new topic here"),
        ev(Kind.MODE, "#x", "alice", t, text="+o-v carol bob"),
        ev(Kind.MODE, "#x", SERVER, t, text="+n"),
    ]


def test_user_mode_of_the_bot_is_not_a_channel_event() -> None:
    """A MODE on the bot's own nick is not recorded."""
    bot = Bot()
    bot.ready()
    bot.feed(":logbot MODE logbot :+iw")
    assert bot.take_events() == []


def test_topic_on_join_is_recorded_with_its_setter() -> None:
    """RPL_TOPIC (332) and RPL_TOPICWHOTIME (333) on join make one topic event."""
    bot = Bot()
    bot.sign_on()
    bot.take_events()
    bot.feed(
        ":logbot!~l@h JOIN #x",
        f":{SERVER} 332 logbot #x :Welcome to #x",
        f":{SERVER} 333 logbot #x alice!~a@a.host 1700000000",
        f":{SERVER} 353 logbot = #x :logbot @alice",
        f":{SERVER} 366 logbot #x :End of /NAMES list.",
    )
    assert bot.take_events()[1:] == [
        ev(Kind.JOIN, "#x", "logbot", bot.now, userhost="~l@h", own=True),
        ev(Kind.TOPIC, "#x", "alice", bot.now, text="Welcome to #x"),
    ]


def test_topic_on_join_without_setter_is_recorded_at_end_of_names() -> None:
    """A 332 with no 333 is still recorded, once, when NAMES ends."""
    bot = Bot()
    bot.sign_on()
    bot.take_events()
    bot.feed(":logbot!~l@h JOIN #x", f":{SERVER} 332 logbot #x :Topic only")
    assert [e.kind for e in bot.events] == [Kind.GAP_END, Kind.JOIN]
    bot.feed(f":{SERVER} 366 logbot #x :End of /NAMES list.")
    assert bot.take_events()[2:] == [ev(Kind.TOPIC, "#x", "", bot.now, text="Topic only")]


def test_channel_name_is_recorded_as_spelled_on_join() -> None:
    """Messages to #X and #x are both recorded under the name the bot joined."""
    bot = Bot(channels=(ChannelConfig("#Chan"),))
    bot.ready("#Chan")
    bot.feed(":alice!a@h PRIVMSG #chan :one", ":alice!a@h PRIVMSG #CHAN :two")
    assert [e.channel for e in bot.take_events()] == ["#Chan", "#Chan"]


def test_statusmsg_target_is_recorded_in_its_channel() -> None:
    """A message to @#x (the channel's ops) is recorded in #x."""
    bot = Bot()
    bot.ready()
    bot.feed(f":{SERVER} 005 logbot STATUSMSG=@+ :are supported", ":alice!a@h PRIVMSG @#x :ops")
    assert bot.take_events() == [ev(Kind.MESSAGE, "#x", "alice", bot.now, text="ops")]


# -- roster: QUIT and NICK in every shared channel ------------------------------------------------


def test_quit_is_recorded_once_in_every_channel_the_user_shared() -> None:
    """A QUIT becomes one event per channel the user was in with the bot, no others."""
    bot = Bot(channels=(ChannelConfig("#a"), ChannelConfig("#b"), ChannelConfig("#c")))
    bot.sign_on()
    bot.join("#a", "logbot @+alice bob")
    bot.join("#b", "logbot +alice")
    bot.join("#c", "logbot bob")
    bot.take_events()
    bot.feed(":alice!~a@a.host QUIT :Quit: gone")
    t = bot.now
    assert bot.take_events() == [
        ev(Kind.QUIT, "#a", "alice", t, text="Quit: gone", userhost="~a@a.host"),
        ev(Kind.QUIT, "#b", "alice", t, text="Quit: gone", userhost="~a@a.host"),
    ]
    bot.feed(":alice!~a@a.host QUIT :again")
    assert bot.take_events() == []


def test_nick_change_is_recorded_in_every_shared_channel_and_followed() -> None:
    """A NICK is recorded in each shared channel; the new nick's QUIT is then found."""
    bot = Bot(channels=(ChannelConfig("#a"), ChannelConfig("#b")))
    bot.sign_on()
    bot.join("#a", "logbot bob")
    bot.join("#b", "logbot")
    bot.feed(":carol!c@h JOIN #b")
    bot.take_events()
    bot.feed(":carol!c@h NICK :bob2", ":bob!b@h NICK bobby")
    t = bot.now
    assert bot.take_events() == [
        ev(Kind.NICK, "#b", "carol", t, target="bob2"),
        ev(Kind.NICK, "#a", "bob", t, target="bobby"),
    ]
    bot.feed(":bob2!c@h QUIT :x")
    assert [(e.kind, e.channel, e.nick) for e in bot.take_events()] == [(Kind.QUIT, "#b", "bob2")]


def test_parted_and_kicked_users_leave_the_roster() -> None:
    """After a PART or KICK the user's QUIT is no longer recorded in that channel."""
    bot = Bot()
    bot.ready(names="logbot alice bob")
    bot.feed(":alice!a@h PART #x", ":op!o@h KICK #x bob :out")
    bot.take_events()
    bot.feed(":alice!a@h QUIT :q", ":bob!b@h QUIT :q")
    assert bot.take_events() == []


def test_casemapping_rfc1459_matches_brackets() -> None:
    """Under rfc1459, {bob} quitting is the [bob] seen in NAMES."""
    bot = Bot()
    bot.ready(names="logbot [bob]")
    bot.feed(":{BOB}!b@h QUIT :q")
    assert [(e.channel, e.nick) for e in bot.take_events()] == [("#x", "{BOB}")]


def test_casemapping_ascii_from_isupport_keeps_brackets_distinct() -> None:
    """With CASEMAPPING=ascii, {bob} is not [bob]."""
    bot = Bot()
    bot.sign_on()
    bot.feed(f":{SERVER} 005 logbot CASEMAPPING=ascii :are supported")
    bot.join("#x", "logbot [bob]")
    bot.take_events()
    bot.feed(":{bob}!b@h QUIT :q")
    assert bot.take_events() == []
    bot.feed(":[BOB]!b@h QUIT :q")
    assert len(bot.take_events()) == 1


def test_own_nick_change_is_recorded_and_followed() -> None:
    """The bot's own NICK is recorded (own=True) and mentions then use the new nick."""
    bot = Bot()
    bot.ready()
    bot.feed(":logbot!l@h NICK :newbot")
    assert bot.take_events() == [ev(Kind.NICK, "#x", "logbot", bot.now, target="newbot", own=True)]
    assert bot.proto.nickname == "newbot"


# -- nick collision ----------------------------------------------------------------------


def test_nick_collision_appends_caret_again_while_taken() -> None:
    """433 at registration makes the bot try nick^, then nick^^ while that is taken."""
    bot = Bot()
    bot.sent()
    bot.feed(f":{SERVER} 433 * logbot :Nickname is already in use")
    assert bot.sent() == ["NICK logbot^"]
    bot.feed(f":{SERVER} 433 * logbot^ :Nickname is already in use")
    assert bot.sent() == ["NICK logbot^^"]
    bot.feed(f":{SERVER} 421 * CAP :Unknown", f":{SERVER} 001 logbot^^ :Welcome")
    assert bot.proto.nickname == "logbot^^"


def test_too_long_collided_nick_makes_room_for_the_caret() -> None:
    """If nick^ breaks the length limit (432), the caret replaces the last letter."""
    bot = Bot()
    bot.sent()
    bot.feed(f":{SERVER} 433 * logbot :in use", f":{SERVER} 432 * logbot^ :Erroneous Nickname")
    assert bot.sent() == ["NICK logbot^", "NICK logbo^"]


def test_invalid_configured_nick_ends_the_connection_clearly(logged: list[str]) -> None:
    """A configured nick the server refuses (432) ends the attempt with a clear log line."""
    bot = Bot()
    bot.sent()
    bot.feed(f":{SERVER} 432 * logbot :Erroneous Nickname")
    assert bot.transport.disconnecting
    assert any("refuses the nick 'logbot'" in line for line in logged)


# -- whisper and mention ---------------------------------------------------------------------


def test_whisper_is_answered_once_a_minute_per_sender_and_never_recorded() -> None:
    """A private message gets the whisper reply, at most once a minute per sender; no event."""
    bot = Bot()
    bot.ready()
    bot.feed(":alice!a@h PRIVMSG logbot :psst")
    assert bot.sent() == [f"PRIVMSG alice :{WHISPER_REPLY}"]
    bot.clock.advance(59)
    bot.feed(":alice!a@h PRIVMSG logbot :psst again", ":ALICE!a@h PRIVMSG logbot :and again")
    assert bot.sent() == []
    bot.feed(":bob!b@h PRIVMSG logbot :hi")
    assert bot.sent() == [f"PRIVMSG bob :{WHISPER_REPLY}"]
    bot.clock.advance(1)
    bot.feed(":alice!a@h PRIVMSG logbot :now?")
    assert bot.sent() == [f"PRIVMSG alice :{WHISPER_REPLY}"]
    assert bot.events == []


def test_whisper_replies_have_a_global_cap() -> None:
    """A whisper flood from many senders gets at most whisper_global_max replies a minute."""
    bot = Bot()
    bot.ready()
    cap = LogBotProtocol.whisper_global_max
    for i in range(cap + 20):
        bot.feed(f":user{i}!u@h PRIVMSG logbot :hi")
    bot.clock.pump([1.0] * 60)  # let the output bucket drain everything queued
    replies = [line for line in bot.sent() if line.endswith(WHISPER_REPLY)]
    assert len(replies) == cap
    assert bot.events == []


def test_private_action_is_a_whisper() -> None:
    """A CTCP ACTION sent privately is answered like a whisper and not recorded."""
    bot = Bot()
    bot.ready()
    bot.feed(":alice!a@h PRIVMSG logbot :\x01ACTION pokes\x01")
    assert bot.sent() == [f"PRIVMSG alice :{WHISPER_REPLY}"]
    assert bot.events == []


def test_ctcp_version_is_answered_by_notice() -> None:
    """A private CTCP VERSION is answered with a NOTICE, not with the whisper reply."""
    bot = Bot()
    bot.ready()
    bot.feed(":alice!a@h PRIVMSG logbot :\x01VERSION\x01")
    (line,) = bot.sent()
    assert line.startswith("NOTICE alice :\x01VERSION logbot ")
    assert bot.events == []


def test_server_and_self_private_messages_are_not_answered() -> None:
    """A PRIVMSG from a server name or from the bot itself gets no whisper reply."""
    bot = Bot()
    bot.ready()
    bot.feed(f":{SERVER} PRIVMSG logbot :notice-ish", ":logbot!l@h PRIVMSG logbot :echo")
    assert bot.sent() == []


@pytest.mark.parametrize("text", ["logbot: hi there", "logbot, are you a bot?", "LOGBOT: yo"])
def test_mention_is_answered_in_the_channel_and_the_answer_recorded(text: str) -> None:
    """'NICK: ...' or 'NICK, ...' in a channel gets 'SENDER: I am a log bot', recorded own=True."""
    bot = Bot()
    bot.ready()
    bot.feed(f":alice!a@h PRIVMSG #x :{text}")
    reply = MENTION_REPLY.format(nick="alice")
    assert reply == "alice: I am a log bot"
    assert bot.sent() == [f"PRIVMSG #x :{reply}"]
    assert bot.take_events() == [
        ev(Kind.MESSAGE, "#x", "alice", bot.now, text=text),
        ev(Kind.MESSAGE, "#x", "logbot", bot.now, text=reply, own=True),
    ]


@pytest.mark.parametrize("text", ["logbotx: hi", "logbot hi", "hey logbot: x", "logbot"])
def test_not_a_mention(text: str) -> None:
    """Only the bot's exact nick followed by ':' or ',' at the start is a mention."""
    bot = Bot()
    bot.ready()
    bot.feed(f":alice!a@h PRIVMSG #x :{text}")
    assert bot.sent() == []


def test_mention_uses_the_current_nick() -> None:
    """Running as logbot^, 'logbot^: hi' is a mention and 'logbot: hi' is not."""
    bot = Bot()
    bot.sent()
    bot.feed(f":{SERVER} 433 * logbot :in use")
    bot.sign_on(nick="logbot^")
    bot.join("#x", "logbot^ alice", nick="logbot^")
    bot.clock.advance(10)  # registration spent the output bucket
    bot.sent()
    bot.feed(":alice!a@h PRIVMSG #x :logbot: hi")
    assert [line for line in bot.sent() if line.startswith("PRIVMSG")] == []
    bot.feed(":alice!a@h PRIVMSG #x :logbot^: hi")
    assert bot.sent() == ["PRIVMSG #x :alice: I am a log bot"]


# -- decoding and robustness --------------------------------------------------------------------


def test_cp1251_line_is_decoded_with_the_fallback_and_costs_no_disconnect() -> None:
    """Bytes that are not UTF-8 are decoded with the fallback encoding (latin-1 by default)."""
    bot = Bot()
    bot.ready()
    cp1251 = "привет".encode("cp1251")
    bot.feed(b":alice!a@h PRIVMSG #x :" + cp1251)
    assert bot.take_events() == [
        ev(Kind.MESSAGE, "#x", "alice", bot.now, text=cp1251.decode("latin-1"))
    ]
    assert not bot.transport.disconnecting


def test_configured_fallback_encoding_is_used() -> None:
    """With fallback_encoding cp1251 the same bytes read as Cyrillic; UTF-8 still wins first."""
    bot = Bot(fallback_encoding="cp1251")
    bot.ready()
    bot.feed(
        b":alice!a@h PRIVMSG #x :" + "привет".encode("cp1251"),
        b":alice!a@h PRIVMSG #x :" + "привет".encode(),
    )
    assert [e.text for e in bot.take_events()] == ["привет", "привет"]


def test_bytes_the_fallback_cannot_decode_become_replacement_characters() -> None:
    """0x98 is undefined in cp1251: it reads as U+FFFD and the rest of the line is kept."""
    bot = Bot(fallback_encoding="cp1251")
    bot.ready()
    bot.feed(b":alice!a@h PRIVMSG #x :\x98" + "ж".encode("cp1251"))
    assert [e.text for e in bot.take_events()] == ["\ufffdж"]


def test_unknown_fallback_encoding_falls_back_to_latin1(logged: list[str]) -> None:
    """An unknown fallback encoding is reported once and latin-1 is used."""
    bot = Bot(fallback_encoding="no-such-codec")
    bot.ready()
    bot.feed(b":alice!a@h PRIVMSG #x :caf\xe9")
    assert [e.text for e in bot.take_events()] == ["café"]
    assert any("unknown fallback encoding 'no-such-codec'" in line for line in logged)


@pytest.mark.parametrize(
    "junk",
    [
        b":onlyaprefix",
        b"@tags-only",
        b"@a=b :prefix",
        b":prefix :trailing only",
        b" ",
        b"\x00\xff\xfe",
        b"PRIVMSG",
        b":x!y@z PRIVMSG #x",
        b":x!y@z JOIN",
        b":x!y@z KICK #x",
        b":x!y@z NICK",
        b":x!y@z MODE #x",
        b":srv 353 logbot",
        b":srv 332 logbot #x",
        b":srv 001",
        b":x!y@z PRIVMSG #x :\x01",
        b":x!y@z PRIVMSG logbot :\x01",
        b":x!y@z NOTICE #x :",
    ],
)
def test_malformed_lines_never_raise_or_disconnect(junk: bytes) -> None:
    """Odd lines are ignored: nothing raises out of dataReceived and the connection stays."""
    bot = Bot()
    bot.ready()
    bot.feed(junk)
    bot.feed(":alice!a@h PRIVMSG #x :still here")
    assert bot.take_events()[-1].text == "still here"
    assert not bot.transport.disconnecting


def test_overlong_line_is_dropped_and_the_next_line_handled(logged: list[str]) -> None:
    """A line longer than the limit, arriving in pieces, is dropped; the connection lives on."""
    bot = Bot()
    bot.ready()
    bot.proto.dataReceived(b":alice!a@h PRIVMSG #x :" + b"A" * MAX_LINE_BYTES)
    bot.proto.dataReceived(b"B" * 50_000)
    bot.proto.dataReceived(b"C" * 10 + b"\r\n:alice!a@h PRIVMSG #x :after\r\n")
    assert [e.text for e in bot.take_events()] == ["after"]
    assert not bot.transport.disconnecting
    assert sum("longer than" in line for line in logged) == 1


def test_lines_split_across_reads_and_bare_lf_are_reassembled() -> None:
    """Lines arrive in arbitrary pieces, with CRLF or LF endings, and are handled whole."""
    bot = Bot()
    bot.ready()
    stream = b":a!a@h PRIVMSG #x :one\r\n:b!b@h PRIVMSG #x :two\n:c!c@h PRIVMSG #x :three\r\n"
    for i in range(len(stream)):
        bot.proto.dataReceived(stream[i : i + 1])
    assert [(e.nick, e.text) for e in bot.take_events()] == [
        ("a", "one"),
        ("b", "two"),
        ("c", "three"),
    ]


def test_message_tags_are_stripped_before_parsing() -> None:
    """IRCv3 tags on a line do not disturb parsing (without server-time the clock is used)."""
    bot = Bot()
    bot.ready()
    bot.feed("@time=2020-01-01T00:00:00.000Z;account=al\\sice :alice!a@h PRIVMSG #x :tagged")
    assert bot.take_events() == [ev(Kind.MESSAGE, "#x", "alice", bot.now, text="tagged")]


def test_a_failing_sink_does_not_cost_the_connection(logged: list[str]) -> None:
    """An exception while handling one line is logged, and the next lines are still handled."""
    bot = Bot()
    bot.ready()
    calls: list[Event] = []

    def flaky(event: Event) -> None:
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("sink broke")

    # both ways out: through the consent filter, and the hot path's way past it
    bot.proto._sink = bot.proto._downstream = flaky
    bot.feed(":a!a@h PRIVMSG #x :one", ":a!a@h PRIVMSG #x :two")
    assert [e.text for e in calls] == ["one", "two"]
    assert not bot.transport.disconnecting
    assert any("error handling PRIVMSG line" in line for line in logged)


# -- keepalive -----------------------------------------------------------------------------------


def test_keepalive_pings_and_a_silent_server_is_dropped() -> None:
    """A PING goes out every ping_interval; no data within ping_timeout aborts the connection."""
    bot = Bot(ping_interval=60, ping_timeout=120)
    bot.sign_on()
    bot.join()
    bot.clock.advance(59)
    assert bot.sent() == []
    bot.clock.advance(1)
    assert bot.sent() == ["PING :logbot"]
    bot.clock.advance(60)
    assert bot.sent() == ["PING :logbot"]
    assert not bot.transport.disconnecting
    bot.clock.advance(60)
    assert bot.transport.disconnecting
    assert bot.transport.disconnected
    bot.proto.connectionLost(Failure(ConnectionDone()))
    assert bot.take_events()[-1] == ev(
        Kind.DISCONNECTED, "", "logbot", bot.now, text="no reply to PING within 120 s"
    )


def test_any_line_after_a_ping_counts_as_life() -> None:
    """Any data from the server (a PONG or anything else) keeps the connection."""
    bot = Bot(ping_interval=60, ping_timeout=30)
    bot.sign_on()
    bot.join()
    bot.clock.advance(60)
    for _ in range(5):
        assert bot.sent() == ["PING :logbot"]
        bot.clock.advance(10)
        bot.feed(f":{SERVER} PONG {SERVER} :logbot")
        bot.clock.advance(50)
    bot.clock.advance(29)
    bot.feed(":alice!a@h PRIVMSG #x :still talking")
    bot.clock.advance(31)
    assert not bot.transport.disconnecting


def test_server_ping_is_answered() -> None:
    """PING from the server is answered with PONG carrying the same token."""
    bot = Bot()
    bot.ready()
    bot.feed("PING :irc.example.net 12345")
    assert bot.sent() == ["PONG :irc.example.net 12345"]


def test_a_server_that_never_welcomes_is_dropped() -> None:
    """Without a welcome within ping_timeout of connecting, the connection is aborted."""
    bot = Bot(ping_timeout=45)
    bot.clock.advance(44)
    assert not bot.transport.disconnecting
    bot.clock.advance(1)
    assert bot.transport.disconnected


# -- kicks and refused joins -------------------------------------------------------------------


def test_kicked_bot_rejoins_after_a_short_delay(logged: list[str]) -> None:
    """A kick of the bot is recorded, logged, and followed by a JOIN after kick_rejoin_delay."""
    bot = Bot(channels=(ChannelConfig("#x", "sekrit"),))
    bot.ready()
    bot.feed(":op!o@h KICK #x logbot :behave")
    assert bot.take_events() == [
        ev(Kind.KICK, "#x", "op", bot.now, target="logbot", text="behave"),
        ev(Kind.GAP_START, "#x", "", bot.now, text=GAP_KICKED),
    ]
    bot.clock.advance(LogBotProtocol.kick_rejoin_delay - 0.1)
    assert bot.sent() == []
    bot.clock.advance(0.1)
    assert bot.sent() == ["JOIN #x sekrit"]
    assert any("kicked from #x by op (behave); rejoining in 5 s" in line for line in logged)


def test_refused_join_is_logged_and_retried_with_growing_delay(logged: list[str]) -> None:
    """474 (banned) is logged clearly; the JOIN is retried after 30 s, then 60 s, not at once."""
    bot = Bot()
    bot.sign_on()
    bot.feed(f":{SERVER} 474 logbot #x :Cannot join channel (+b)")
    assert bot.sent() == []
    assert any(
        "cannot join #x: banned (+b) (474: Cannot join channel (+b)); retrying in 30 s" in line
        for line in logged
    )
    bot.clock.advance(30)
    assert bot.sent() == ["JOIN #x"]
    bot.feed(f":{SERVER} 474 logbot #x :Cannot join channel (+b)")
    bot.clock.advance(59)
    assert bot.sent() == []
    bot.clock.advance(1)
    assert bot.sent() == ["JOIN #x"]
    bot.join("#x")
    assert bot.proto._roster.is_joined("#x")


@pytest.mark.parametrize("numeric", ["471", "473", "475", "403", "477"])
def test_each_join_failure_is_retried_later(numeric: str) -> None:
    """Full, invite-only, bad key, no such channel, registered-only: all retried later."""
    bot = Bot()
    bot.sign_on()
    bot.feed(f":{SERVER} {numeric} logbot #x :Cannot join channel")
    bot.clock.advance(LogBotProtocol.join_retry_initial)
    assert bot.sent() == ["JOIN #x"]


def test_join_failure_for_an_unconfigured_channel_is_ignored() -> None:
    """A refusal for a channel the bot was never asked to join schedules nothing."""
    bot = Bot()
    bot.ready()
    bot.feed(f":{SERVER} 403 logbot #elsewhere :No such channel")
    bot.clock.advance(3600)
    assert [line for line in bot.sent() if line.startswith("JOIN")] == []


# -- logging ------------------------------------------------------------------------


def test_connection_events_are_logged_and_the_password_never_is(logged: list[str]) -> None:
    """Connected, signed on and joined each get one log line; no secret appears in any."""
    bot = Bot(password=Secret("hunter2"), name="libera")
    bot.sign_on()
    bot.join()
    text = "\n".join(logged)
    assert "libera: connected to irc.example.net:6667; registering as logbot" in text
    assert "libera: signed on to irc.example.net as logbot" in text
    assert "libera: joined #x" in text
    assert "hunter2" not in text
