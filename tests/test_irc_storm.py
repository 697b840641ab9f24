"""A storm of garbage over one connection, and not one real channel message lost (issue #11).

Tens of thousands of random IRC-shaped lines and raw bytes (never an order to leave: no
ERROR, no KILL, no PART or KICK of the bot, nothing said in the bot's name) arrive with
well-formed channel messages between them, cut into reads at random places as TCP would.
They go through the real protocol (``StringTransport``, one ``task.Clock``) into the real
text-file and SQLite backends in-process; then every well-formed message must be in the
text log and in the database exactly once. The seed is fixed, so a failure replays.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from twisted.internet.testing import StringTransport

from logbot.backends import sql
from logbot.backends.base import BackendOptions, load_backend
from logbot.config import ChannelConfig, NetworkConfig
from logbot.events import Event
from logbot.irc.factory import LogBotFactory
from logbot.irc.wire import MAX_LINE_BYTES
from logbot.storage.engine import make_engine
from tests.test_sql_backend import ClockReactor, InlinePool

SEED = 20251128
GARBAGE = 30_000
MESSAGES = 3_000
SERVER = "irc.storm.test"
ME = "logbot"
CHANNEL = "#storm"
TOKEN = "STORMTOKEN-"

# Nicks the garbage speaks as: none of them folds to the bot's nick under any casemapping.
NICKS = ["alice", "Bob", "c[a]rol", "dave^", "eve|", "mallory", "x", "ServiceBot", "nick_9"]
TARGETS = [CHANNEL, "#STORM", "#Storm", "@#storm", "+#storm", "#other", "&local", "+o", "*"]
TARGETS += ["0", ME, "LogBot", "", "$*", "#", "##", "nick!u@h"]
COMMANDS = ["PRIVMSG", "NOTICE", "JOIN", "PART", "KICK", "MODE", "TOPIC", "NICK", "QUIT"]
COMMANDS += ["PING", "PONG", "CAP", "AUTHENTICATE", "INVITE", "WALLOPS", "AWAY", "CHGHOST"]
COMMANDS += ["ACCOUNT", "BATCH", "TAGMSG", "FAIL", "001", "002", "004", "005", "301"]
COMMANDS += ["303", "324", "332", "333", "353", "366", "372", "376", "401", "403", "421"]
COMMANDS += ["432", "433", "437", "451", "464", "471", "474", "477", "731", "734", "900"]
COMMANDS += ["903", "904", "908", "privmsg", "Z", "999"]
ISUPPORT = ["CHANTYPES=", "CHANTYPES=&", "CHANTYPES=#&", "PREFIX=", "PREFIX=(ov)@+", "PREFIX=("]
ISUPPORT += ["PREFIX=garbage", "CASEMAPPING=ascii", "CASEMAPPING=rfc1459", "CASEMAPPING=x"]
ISUPPORT += ["CASEMAPPING=", "STATUSMSG=@+", "STATUSMSG=", "NETWORK=Evil\\x20Net", "NETWORK=\\xZZ"]
ISUPPORT += ["MONITOR", "MONITOR=1", "-MONITOR", "-CHANTYPES", "=", "==", "\\x", "NICKLEN=abc"]
TIMES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "garbage", "", "2025-11-28"]
WORDS = ["hi", "logbot:", "logbot,", "LOGBOT:", "\x01ACTION", "\x01VERSION\x01", "\x01PING 1"]
WORDS += ["I am a log bot", "ж", "é", "日本", ":", "::", "\x02bold", "#storm", "\\", "@", "=", "*"]


def nick(rng: random.Random) -> str:
    return rng.choice(NICKS)


def word(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(WORDS)
    return "".join(rng.choice("abcdefghij#&+@!:*,. ") for _ in range(rng.randint(0, 12)))


def garbage_line(rng: random.Random) -> bytes:
    """One IRC-shaped line that never tells the bot to leave or speaks as the bot."""
    parts: list[str] = []
    if rng.random() < 0.2:
        tags = [f"time={rng.choice(TIMES)}", "account=x", "+draft/y=a\\sb", "", "=", ";;"]
        parts.append("@" + ";".join(rng.sample(tags, rng.randint(1, 3))))
    roll = rng.random()
    if roll < 0.5:
        parts.append(f":{nick(rng)}!{word(rng) or 'u'}@h.example")
    elif roll < 0.8:
        parts.append(rng.choice([f":{SERVER}", ":", ":srv.example", ":a!b@c!d"]))
    command = rng.choice(COMMANDS)
    parts.append(command)
    if command == "005":
        parts.append(ME)
        parts.extend(rng.sample(ISUPPORT, rng.randint(1, 4)))
        parts.append(":are supported")
    elif command == "CAP":
        parts.append(rng.choice(["*", ME]))
        parts.append(rng.choice(["LS", "ACK", "NAK", "NEW", "DEL", "LIST", "??"]))
        parts.append(":" + rng.choice(["server-time", "sasl", "-server-time", "cap-notify", ""]))
    elif command == "KICK":
        # someone else is kicked, never the bot
        parts.extend((rng.choice(TARGETS) or "*", nick(rng), ":" + word(rng)))
    else:
        for _ in range(rng.randint(0, 4)):
            target = rng.choice(TARGETS) if rng.random() < 0.6 else word(rng)
            parts.append(target.replace(" ", "") or "*")
        if rng.random() < 0.7:
            parts.append(":" + " ".join(word(rng) for _ in range(rng.randint(0, 6))))
    return " ".join(parts).encode()


def raw_garbage(rng: random.Random) -> bytes:
    """Random bytes (any byte, line ends included), sometimes one overlong line."""
    if rng.random() < 0.01:
        return bytes(rng.getrandbits(7) | 0x20 for _ in range(MAX_LINE_BYTES + 100))
    data = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
    # a raw line must not be an order to leave by chance (it cannot be, in practice; but
    # the test's promise is exact)
    return re.sub(rb"(?i)\b(ERROR|KILL|PART|KICK)\b", b"XXXX", data)


def stream(rng: random.Random) -> tuple[bytes, list[tuple[str, str]]]:
    """The whole byte stream, and the (nick, text) of every well-formed message in it."""
    items: list[bytes] = []
    expected: list[tuple[str, str]] = []
    schedule = [True] * MESSAGES + [False] * GARBAGE
    rng.shuffle(schedule)
    for is_message in schedule:
        if is_message:
            n = len(expected)
            speaker = f"speaker{n % 37}"
            text = f"{TOKEN}{n:06d} " + " ".join(
                rng.choice(["a", "bc", "déf", "ж", "x"]) for _ in range(rng.randint(0, 8))
            )
            expected.append((speaker, text.rstrip()))
            items.append(f":{speaker}!s@host.example PRIVMSG {CHANNEL} :{text.rstrip()}".encode())
        elif rng.random() < 0.8:
            items.append(garbage_line(rng))
        else:
            items.append(raw_garbage(rng))
    return b"".join(item + b"\r\n" for item in items), expected


def test_a_storm_of_garbage_loses_no_channel_message(tmp_path: Path, logged: list[str]) -> None:
    """Every well-formed message is stored exactly once, in the text log and in SQLite."""
    rng = random.Random(SEED)
    data, expected = stream(rng)
    clock = ClockReactor()
    clock.advance(1_764_358_522.0)
    options = BackendOptions(reactor=clock)
    text_path = tmp_path / "storm.log"
    db_path = tmp_path / "storm.sqlite"
    text_backend = load_backend("file")(str(text_path), options)
    sql_backend = sql.create(str(db_path), options, pool=InlinePool(), spool_dir=tmp_path / "spool")

    def sink(event: Event) -> None:
        text_backend.write(event)
        sql_backend.write(event)

    network = NetworkConfig(
        server=SERVER,
        name="stormnet",
        nick=ME,
        channels=(ChannelConfig(CHANNEL),),
        ping_interval=3600.0,
        ping_timeout=7200.0,
    )
    factory = LogBotFactory(network, sink, clock)
    proto = factory.buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(
        (
            f":{SERVER} CAP * LS :server-time\r\n:{SERVER} CAP {ME} ACK :server-time\r\n"
            f":{SERVER} 001 {ME} :Welcome\r\n:{SERVER} 005 {ME} CHANTYPES=# :ok\r\n"
            f":{SERVER} 376 {ME} :End\r\n:{ME}!l@h JOIN {CHANNEL}\r\n"
            f":{SERVER} 353 {ME} = {CHANNEL} :{ME} alice\r\n:{SERVER} 366 {ME} {CHANNEL} :End\r\n"
        ).encode()
    )

    at = 0
    while at < len(data):
        size = rng.choice((1, 7, 64, 512, 4096, 20_000))
        proto.dataReceived(data[at : at + size])
        at += size
        clock.advance(0.05)  # the backends' flush timers and the output pacing run too
    clock.advance(5)

    assert not transport.disconnecting
    assert not [line for line in logged if "error handling" in line]  # no traceback at all
    assert proto.nickname == ME
    assert proto._roster.is_joined(CHANNEL)
    assert text_backend.close().called
    assert sql_backend.close().called

    pattern = re.compile(rf"^\[\d\d:\d\d:\d\d\] <(\S+)> ({TOKEN}.*)$")
    in_text = Counter(
        (m.group(1), m.group(2))
        for line in text_path.read_text(encoding="utf-8").splitlines()
        if TOKEN in line and (m := pattern.match(line))
    )
    assert sum(TOKEN in line for line in text_path.read_text(encoding="utf-8").splitlines()) == (
        len(expected)
    )
    assert in_text == Counter(expected)

    engine = make_engine(str(db_path))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT kind, nick, text FROM events WHERE text LIKE :token"),
            {"token": f"%{TOKEN}%"},
        ).all()
    engine.dispose()
    assert {kind for kind, _, _ in rows} == {"message"}
    assert Counter((n, t) for _, n, t in rows) == Counter(expected)
