"""Consent: nolog prefixes, opted-out nicks and announcements, from wire bytes to storage.

Protocol tests use the ``Bot`` harness (StringTransport, task.Clock, exact events); the
storage tests put the real text and SQL backends (and the SQL spool) behind a protocol
and then look for the secret words in every byte under the test's directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from twisted.internet.testing import StringTransport

from logbot.backends.base import FanOut
from logbot.backends.textfile import TextFileBackend
from logbot.events import Event, Kind
from logbot.irc.consent import ANNOUNCE_QUIET
from logbot.irc.factory import LogBotFactory
from logbot.settings import ChannelConfig
from tests.test_irc_protocol import SERVER, Bot, ev
from tests.test_sql_backend import Rig

SECRET = "zanzibar-quokka"


def said(events: list[Event]) -> list[tuple[str, str, str]]:
    return [(e.kind.value, e.nick, e.text) for e in events]


def test_nolog_prefixes_drop_messages_and_actions_but_not_others() -> None:
    """[nolog] and [off] lines (any case, after spaces) are dropped; other lines pass."""
    bot = Bot()
    bot.ready()
    bot.feed(
        ":alice!a@h PRIVMSG #x :[nolog] secret one",
        ":alice!a@h PRIVMSG #x :  [OFF] secret two",
        ":alice!a@h PRIVMSG #x :\x01ACTION [nolog] secret three\x01",
        ":alice!a@h NOTICE #x :[off] secret four",
        ":alice!a@h PRIVMSG #x :not [nolog] at the start",
        ":alice!a@h PRIVMSG #x :[nolo] almost",
    )
    assert said(bot.take_events()) == [
        ("message", "alice", "not [nolog] at the start"),
        ("message", "alice", "[nolo] almost"),
    ]


def test_an_empty_action_is_kept_and_a_nolog_line_after_it_is_not() -> None:
    """An ACTION without words is recorded (empty text) like any line that cannot start
    with a prefix; the nolog lines around it are still judged, each on its own."""
    bot = Bot()
    bot.ready()
    bot.feed(
        ":alice!a@h PRIVMSG #x :[off] secret one",
        ":alice!a@h PRIVMSG #x :\x01ACTION\x01",
        ":alice!a@h PRIVMSG #x :\x01ACTION [nolog] secret two\x01",
        ":alice!a@h PRIVMSG #x :hi",
    )
    assert said(bot.take_events()) == [("action", "alice", ""), ("message", "alice", "hi")]


def test_a_channel_table_replaces_the_networks_prefixes() -> None:
    """#y's own prefixes apply in #y only; an empty list there logs everything."""
    bot = Bot(
        channels=(ChannelConfig("#x"), ChannelConfig("#y", nolog_prefixes=("!q",))),
        nolog_prefixes=("[nolog]",),
    )
    bot.ready("#x", "#y")
    bot.feed(
        ":alice!a@h PRIVMSG #x :[nolog] gone",
        ":alice!a@h PRIVMSG #x :!q kept in x",
        ":alice!a@h PRIVMSG #y :[nolog] kept in y",
        ":alice!a@h PRIVMSG #y :!q gone",
    )
    assert [(e.channel, e.text) for e in bot.take_events()] == [
        ("#x", "!q kept in x"),
        ("#y", "[nolog] kept in y"),
    ]


def test_the_bots_own_replies_are_logged_even_with_a_prefix() -> None:
    """A mention inside a nolog line is not logged; the bot's answer to it is."""
    bot = Bot()
    bot.ready()
    bot.feed(":alice!a@h PRIVMSG #x :logbot: [nolog] hi")
    bot.feed(":alice!a@h PRIVMSG #x :[nolog] logbot: hi")
    assert said(bot.take_events()) == [
        ("message", "alice", "logbot: [nolog] hi"),
        ("message", "logbot", "alice: I am a log bot"),
    ]


def test_opted_out_nicks_say_nothing_and_come_and_go_without_userhost() -> None:
    """Messages, actions, notices gone; join, part, nick, quit kept without userhost or reason."""
    bot = Bot(optout_nicks=("Sec[ret]",))
    bot.ready(names="logbot alice")
    t = bot.now
    bot.feed(
        ":SEC{RET}!s@secret.host JOIN #x",  # rfc1459: {} are the lower case of []
        ":sec{ret}!s@secret.host PRIVMSG #x :hello",
        ":Sec[ret]!s@secret.host PRIVMSG #x :\x01ACTION waves\x01",
        ":Sec[ret]!s@secret.host NOTICE #x :notice",
        ":Sec[ret]!s@secret.host PART #x :my private reason",
        ":Sec[ret]!s@secret.host JOIN #x",
        ":Sec[ret]!s@secret.host QUIT :quit reason",
        ":alice!a@alice.host PRIVMSG #x :still here",
    )
    assert bot.take_events() == [
        ev(Kind.JOIN, "#x", "SEC{RET}", t),
        ev(Kind.PART, "#x", "Sec[ret]", t),
        ev(Kind.JOIN, "#x", "Sec[ret]", t),
        ev(Kind.QUIT, "#x", "Sec[ret]", t),
        ev(Kind.MESSAGE, "#x", "alice", t, text="still here"),
    ]


def test_a_nick_change_into_or_out_of_an_opted_out_nick_is_followed() -> None:
    """alice -> secret is not logged after the change; secret -> other stays opted out."""
    bot = Bot(channels=(ChannelConfig("#x", optout_nicks=("secret",)),))
    bot.ready(names="logbot alice")
    bot.feed(
        ":alice!a@h PRIVMSG #x :before",
        ":alice!a@h NICK secret",
        ":secret!a@h PRIVMSG #x :as secret",
        ":secret!a@h NICK incognito",
        ":incognito!a@h PRIVMSG #x :hidden too",
        ":incognito!a@h NICK masked",
        ":incognito!c@carol.host JOIN #x",
        ":incognito!c@carol.host PRIVMSG #x :carol under a nick someone opted out used",
        ":masked!a@h PART #x",
        ":masked!a@h JOIN #x",
        ":masked!a@h PRIVMSG #x :a new person by that nick",
    )
    assert said(bot.take_events()) == [
        ("message", "alice", "before"),
        ("nick", "alice", ""),
        ("nick", "secret", ""),
        ("nick", "incognito", ""),
        ("join", "incognito", ""),
        ("message", "incognito", "carol under a nick someone opted out used"),
        ("part", "masked", ""),
        ("join", "masked", ""),
        ("message", "masked", "a new person by that nick"),
    ]


def test_announce_is_said_once_after_joining_and_not_on_a_quick_rejoin() -> None:
    """The announcement goes out after the JOIN, is logged as the bot's, and waits an hour."""
    bot = Bot(channels=(ChannelConfig("#x", announce="This channel is logged"),))
    bot.sign_on()
    bot.sent()
    bot.join("#x")
    assert bot.sent() == ["PRIVMSG #x :This channel is logged"]
    assert ("message", "logbot", "This channel is logged") in said(bot.take_events())
    bot.feed(":op!o@h KICK #x logbot :out")
    bot.clock.advance(10)
    bot.sent()
    bot.join("#x")
    assert bot.sent() == []
    bot.clock.advance(ANNOUNCE_QUIET)
    bot.feed(":op!o@h KICK #x logbot :out")
    bot.clock.advance(10)
    bot.sent()
    bot.join("#x")
    assert bot.sent() == ["PRIVMSG #x :This channel is logged"]


def test_announce_memory_outlives_a_reconnect() -> None:
    """A new connection within the hour does not announce again."""
    bot = Bot(channels=(ChannelConfig("#x", announce="logged"),))
    bot.sign_on()
    bot.join("#x")
    assert bot.sent() == ["PRIVMSG #x :logged"]
    proto = bot.factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    for line in (
        f":{SERVER} 001 logbot :Welcome",
        f":{SERVER} 376 logbot :End of MOTD",
        ":logbot!~l@h JOIN #x",
    ):
        proto.dataReceived(line.encode() + b"\r\n")
    bot.clock.advance(10)
    assert b"PRIVMSG #x" not in transport.value()


def test_an_announcement_the_full_reply_queue_dropped_is_said_on_the_next_join() -> None:
    bot = Bot(channels=(ChannelConfig("#x", announce="logged"),))
    """A join whose announcement found the reply queue full does not count as said."""
    bot.sign_on()
    bot.proto._outbox.max_replies = 0
    bot.join("#x")
    assert bot.sent() == []
    bot.proto._outbox.max_replies = 10
    bot.feed(":op!o@h KICK #x logbot :out")
    bot.clock.advance(10)
    bot.sent()
    bot.join("#x")
    assert bot.sent() == ["PRIVMSG #x :logged"]


class StoringBot(Bot):
    """The ``Bot`` harness, its events going to real backends instead of a list."""

    def __init__(self, sink: Any, **settings: Any) -> None:
        super().__init__(**settings)
        self.factory = LogBotFactory(self.network, sink, self.clock)
        self.proto = self.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)


def _files_holding(root: Path, word: str) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and word.encode() in path.read_bytes():
            found.append(str(path.relative_to(root)))
    return found


def test_nolog_and_opted_out_lines_reach_no_backend_nor_the_spool(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Text log, SQL (while down: its spool; then the database): the words are nowhere."""
    rig = Rig(engine, tmp_path / "spool")
    text = TextFileBackend(str(tmp_path / "log.txt"), rig.clock)
    sink = FanOut([text, rig.backend])
    bot = StoringBot(sink.write, optout_nicks=("hidden",))
    rig.writer.down = True
    bot.ready(names="logbot alice hidden")
    bot.feed(
        f":alice!a@h PRIVMSG #x :[nolog] {SECRET} one",
        f":alice!a@h PRIVMSG #x :\x01ACTION [off] {SECRET} two\x01",
        f":hidden!h@{SECRET}.host PRIVMSG #x :{SECRET} three",
        f":hidden!h@{SECRET}.host PART #x :{SECRET} four",
        ":alice!a@h PRIVMSG #x :kept line",
    )
    rig.clock.advance(0.25)  # the write fails: everything goes to the spool
    rig.clock.advance(1.0)  # the text log is written
    assert rig.spooled_rows() > 0
    assert "kept line" in (tmp_path / "log.txt").read_text()
    assert _files_holding(tmp_path, SECRET) == []
    rig.writer.down = False
    for _ in range(8):
        rig.clock.advance(30)
    with engine.connect() as conn:
        texts = [r[0] for r in conn.execute(sa.text("SELECT text FROM events ORDER BY id"))]
        hosts = [r[0] for r in conn.execute(sa.text("SELECT userhost FROM events"))]
    assert "kept line" in texts
    assert not any(SECRET in t for t in texts)
    assert not any(SECRET in (h or "") for h in hosts)
    sink.close()
    rig.clock.advance(2)
    if engine.dialect.name == "sqlite":
        # the database file, its WAL, the text log and the spool directory
        assert _files_holding(tmp_path, SECRET) == []
