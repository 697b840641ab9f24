"""Gaps and backfill end to end: a fake server with (and without) chathistory, into SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from twisted.internet import defer, task

from logbot.events import (
    GAP_DISCONNECTED,
    GAP_END_FIRST_JOIN,
    GAP_KICKED,
    GAP_NOT_RUNNING,
    GAP_STOPPED,
    Event,
    Kind,
)
from logbot.irc.factory import LogBotFactory
from logbot.irc.history import (
    GapBook,
    History,
    Resume,
    history_available,
    history_timestamp,
)
from logbot.irc.wire import msgid_of, tag_value, time_and_msgid
from logbot.settings import ChannelConfig, NetworkConfig
from logbot.storage.gaps import Gap, last_event_before, list_gaps
from logbot.storage.rows import KeyAllocator, event_row
from logbot.storage.writer import EventWriter
from tests.chathistory_server import HISTORY_CAPS, FakeHistoryServer, stamp

T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Run:
    """One run of the bot (one factory) against a fake server, its events kept in order."""

    def __init__(
        self, server: FakeHistoryServer, clock: task.Clock, resume: Resume | None = None
    ) -> None:
        network = NetworkConfig(
            server="irc.example",
            name="net",
            channels=(ChannelConfig("#x"),),
            ping_interval=3600.0,
            ping_timeout=7200.0,
        )
        self.events: list[Event] = []
        self.factory = LogBotFactory(network, self.events.append, clock, resume=resume)
        self.server = server

    def connect(self) -> None:
        self.server.connect(self.factory)
        self.server.pump(seconds=5)

    def said(self, *, backfilled: bool | None = None) -> list[str]:
        return [
            e.text
            for e in self.events
            if e.kind is Kind.MESSAGE and (backfilled is None or e.backfilled is backfilled)
        ]

    def gap_events(self) -> list[tuple[Kind, str]]:
        return [(e.kind, e.text) for e in self.events if e.kind.value.startswith("gap_")]


@pytest.fixture
def clock() -> task.Clock:
    c = task.Clock()
    c.advance(T0)
    return c


@pytest.fixture
def db(engine: sa.Engine) -> sa.Engine:
    """The conftest engine at the newest schema: SQLite, and PostgreSQL where there is one."""
    return engine


def store(engine: sa.Engine, events: list[Event]) -> None:
    keys = KeyAllocator()
    writer = EventWriter(engine)
    try:
        writer.write([event_row(e, keys.key_for(e.time)) for e in events if e.channel])
    finally:
        writer.close()


def stored(engine: sa.Engine) -> list[tuple[str, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT text, backfilled FROM events WHERE kind = 'message' ORDER BY id")
        )
        return [(r[0], bool(r[1])) for r in rows]


def gaps(engine: sa.Engine) -> list[Gap]:
    with engine.connect() as conn:
        return list_gaps(conn)


def disconnect_during_traffic(
    run: Run, server: FakeHistoryServer, clock: task.Clock
) -> tuple[datetime, datetime]:
    """alice talks; the link dies after "one"; she says seven more lines; the bot comes back.

    Returns when "one" was said (the last line heard) and when the bot rejoined.
    """
    run.connect()
    one = server.now
    server.say("#x", "alice", "one")
    clock.advance(1)
    server.drop()
    for n in range(2, 9):
        clock.advance(10)
        server.say("#x", "alice", f"line {n}")
    clock.advance(10)
    rejoin = server.now
    run.connect()
    return one, rejoin


@pytest.mark.parametrize("labels", [False, True], ids=["unlabeled", "labeled-response"])
def test_a_disconnect_during_traffic_is_filled_from_chathistory_in_pages(
    clock: task.Clock, db: sa.Engine, labels: bool
) -> None:
    """The missed lines come back in pages within CHATHISTORY=3; the gap is gone afterwards."""
    caps = (*HISTORY_CAPS, "labeled-response") if labels else HISTORY_CAPS
    server = FakeHistoryServer(clock, caps=caps, limit=3)
    run = Run(server, clock)
    one, _ = disconnect_during_traffic(run, server, clock)
    server.pump(seconds=30)

    # the request starts a little before the last line heard: "one" comes again, and
    # storage keeps it once
    assert run.said(backfilled=True) == ["one"] + [f"line {n}" for n in range(2, 9)]
    [live] = [e for e in run.events if e.text == "one" and not e.backfilled]
    assert live.msgid == "m1"  # the live line's IRCv3 msgid is recorded too
    assert all(r.endswith(" 3") for r in server.requests)  # never more than the limit
    assert server.labels == (["lb1", "lb2", "lb3"] if labels else ["", "", ""])
    assert server.requests[0].startswith("CHATHISTORY BETWEEN #x timestamp=")
    assert server.requests[1].startswith("CHATHISTORY BETWEEN #x msgid=")
    assert len(server.requests) == 3  # 8 lines in the window (one was heard): 3 + 3 + 2
    kinds = [k for k, _ in run.gap_events()]
    assert kinds[:3] == [Kind.GAP_END, Kind.GAP_START, Kind.GAP_END]
    assert kinds[3:] == [Kind.GAP_FILLED] * 3
    backfilled = [e for e in run.events if e.backfilled]
    assert all(e.msgid and e.time < run.events[-1].time + timedelta(1) for e in backfilled)
    assert backfilled[-1].time == one + timedelta(seconds=71)  # the server's time

    store(db, run.events)
    assert stored(db) == [("one", False)] + [(f"line {n}", True) for n in range(2, 9)]
    assert gaps(db) == []


def test_live_lines_keep_being_logged_while_history_pages_arrive(
    clock: task.Clock, db: sa.Engine
) -> None:
    """A line said while the bot fetches history is recorded live, at once, and stored once."""
    server = FakeHistoryServer(clock, limit=3)
    run = Run(server, clock)
    heard_live: list[bool] = []

    def bob_speaks(request: int) -> None:
        if request == 2:  # the first page is in, the second asked for
            server.say("#x", "bob", "live meanwhile")
            heard_live.append(run.events[-1].text == "live meanwhile")

    server.before_answer.append(bob_speaks)
    disconnect_during_traffic(run, server, clock)
    server.pump(seconds=30)
    assert heard_live == [True]
    # heard live; the next page (its window reaches the rejoin) repeats it, marked
    assert [e.backfilled for e in run.events if e.text == "live meanwhile"] == [False, True]
    assert len(server.requests) == 4  # 9 lines in the window now: 3 + 3 + 3 + an empty page
    store(db, run.events)
    assert [t for t, _ in stored(db)].count("live meanwhile") == 1
    assert ("live meanwhile", False) in stored(db)
    assert gaps(db) == []


def test_a_kick_is_a_gap_filled_after_the_rejoin(clock: task.Clock, db: sa.Engine) -> None:
    """Kicked: the hole starts at the kick, the rejoin ends it, the history fills it."""
    server = FakeHistoryServer(clock, limit=10)
    run = Run(server, clock)
    run.connect()
    server.send(f"@time={stamp(server.now)} :op!o@h KICK #x logbot :out")
    server.joined.discard("#x")
    clock.advance(1)
    server.say("#x", "alice", "while you were out")
    server.pump(seconds=10)  # the bot rejoins after kick_rejoin_delay
    assert (Kind.GAP_START, GAP_KICKED) in run.gap_events()
    assert run.said(backfilled=True) == ["while you were out"]
    store(db, run.events)
    assert gaps(db) == []
    assert stored(db) == [("while you were out", True)]


def test_old_mentions_in_the_history_get_no_answer(clock: task.Clock) -> None:
    """A "logbot: ..." line from the history is recorded but is not a live mention."""
    server = FakeHistoryServer(clock, limit=10)
    run = Run(server, clock)
    run.connect()
    server.drop()
    clock.advance(5)
    server.say("#x", "alice", "logbot: are you there?")
    clock.advance(5)
    run.connect()
    server.pump(seconds=60)
    assert run.said(backfilled=True) == ["logbot: are you there?"]
    assert not any("I am a log bot" in text for text in run.said())


def test_without_chathistory_the_gap_stays_and_nothing_breaks(
    clock: task.Clock, db: sa.Engine
) -> None:
    """A server without history (ngircd): no CHATHISTORY is sent; the hole is kept as it was."""
    server = FakeHistoryServer(clock, caps=("server-time", "message-tags"))
    run = Run(server, clock)
    one, rejoin = disconnect_during_traffic(run, server, clock)
    server.pump(seconds=30)
    assert server.requests == []
    assert run.said() == ["one"]
    assert run.gap_events() == [
        (Kind.GAP_END, GAP_END_FIRST_JOIN),
        (Kind.GAP_START, GAP_DISCONNECTED),
        (Kind.GAP_END, ""),
    ]
    server.say("#x", "alice", "after")
    store(db, run.events)
    [gap] = gaps(db)
    assert (gap.network, gap.channel, gap.reason) == ("net", "#x", GAP_DISCONNECTED)
    assert (gap.start, gap.end) == (one, rejoin)  # from the last line heard to the rejoin


def test_a_refused_history_request_narrows_the_gap_to_what_was_not_given(
    clock: task.Clock, db: sa.Engine
) -> None:
    """FAIL CHATHISTORY on the second page: the first page is kept, the gap starts after it."""
    server = FakeHistoryServer(clock, limit=3, fail_on=2)
    run = Run(server, clock)
    one, rejoin = disconnect_during_traffic(run, server, clock)
    server.pump(seconds=30)
    assert len(server.requests) == 2
    store(db, run.events)
    texts = [t for t, backfilled in stored(db) if backfilled]
    assert texts == ["line 2", "line 3"]  # the first page: "one" (stored already), 2, 3
    [gap] = gaps(db)
    assert gap.reason == GAP_DISCONNECTED
    # the gap now starts at the last line the server gave
    assert (gap.start, gap.end) == (one + timedelta(seconds=21), rejoin)


def test_a_restart_records_the_time_the_bot_was_not_running(
    clock: task.Clock, db: sa.Engine
) -> None:
    """A clean stop leaves an open "bot stopped" gap that the next run's join closes;
    after a crash (no stop recorded) the gap runs from the channel's last stored event."""
    server = FakeHistoryServer(clock, caps=("server-time",))
    first = Run(server, clock)
    first.connect()
    server.say("#x", "alice", "before the stop")
    clock.advance(1)
    stopped = server.now
    first.factory.quit("bye")
    server.drop()
    store(db, first.events)
    assert [(g.reason, g.start, g.end) for g in gaps(db)] == [(GAP_STOPPED, stopped, None)]

    clock.advance(600)
    second = Run(server, clock)  # a new process: a new factory
    rejoined = server.now
    second.connect()
    last = server.now
    server.say("#x", "alice", "hello again")
    store(db, second.events)
    assert [(g.reason, g.start, g.end) for g in gaps(db)] == [(GAP_STOPPED, stopped, rejoined)]

    # a crash: nothing is recorded as it goes; the next run finds only the last event
    clock.advance(300)
    server.drop()
    clock.advance(300)
    third = Run(server, clock)
    back = server.now
    third.connect()
    store(db, third.events)
    assert [(g.reason, g.start, g.end) for g in gaps(db)][1:] == [(GAP_NOT_RUNNING, last, back)]


def test_after_a_crash_the_next_run_fetches_what_it_missed_from_the_last_stored_event(
    clock: task.Clock, db: sa.Engine
) -> None:
    """The first join of a run asks storage where #x stopped and fills the rest from history."""
    server = FakeHistoryServer(clock, limit=5)
    first = Run(server, clock)
    first.connect()
    server.say("#x", "alice", "last heard")
    store(db, first.events)
    server.drop()  # a crash: the first run records nothing more
    for n in range(1, 8):
        clock.advance(30)
        server.say("#x", "alice", f"missed {n}")
    clock.advance(30)
    asked: list[tuple[str, str]] = []

    def resume(network: str, channel: str, before: datetime) -> defer.Deferred[datetime | None]:
        asked.append((network, channel))
        with db.connect() as conn:
            return defer.succeed(last_event_before(conn, network, channel, before))

    second = Run(server, clock, resume=resume)
    second.connect()
    server.pump(seconds=30)
    assert asked == [("net", "#x")]
    assert second.said(backfilled=True)[-7:] == [f"missed {n}" for n in range(1, 8)]
    store(db, second.events)
    assert gaps(db) == []  # the "not running" gap was recorded, then filled
    assert [t for t, _ in stored(db)] == ["last heard"] + [f"missed {n}" for n in range(1, 8)]


def test_a_first_join_without_history_does_not_ask_storage(clock: task.Clock) -> None:
    """No chathistory: nothing to fetch, so storage is not asked where the record stopped."""
    server = FakeHistoryServer(clock, caps=("server-time",))
    asked: list[str] = []

    def resume(network: str, channel: str, before: datetime) -> defer.Deferred[datetime | None]:
        asked.append(channel)
        return defer.succeed(None)

    Run(server, clock, resume=resume).connect()
    assert asked == []
    assert server.requests == []


# -- the pieces -------------------------------------------------------------------------


def test_history_needs_batch_server_time_and_a_chathistory_cap() -> None:
    """Either spelling of chathistory works; without batch or server-time there is no backfill."""
    assert history_available({"batch", "server-time", "draft/chathistory"})
    assert history_available({"batch", "server-time", "chathistory"})
    assert not history_available({"server-time", "draft/chathistory"})
    assert not history_available({"batch", "draft/chathistory"})
    assert set(HISTORY_CAPS) >= {"batch", "draft/chathistory", "server-time"}


def test_history_timestamps_are_utc_milliseconds_with_a_z() -> None:
    """References are the spec's `timestamp=YYYY-MM-DDThh:mm:ss.sssZ`."""
    when = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert history_timestamp(when) == "2026-05-01T12:00:00.123Z"


def test_a_gap_book_keeps_the_first_start_and_knows_the_first_join() -> None:
    """Kicked then disconnected is one hole from the kick; only the first join is "first"."""
    book = GapBook()
    assert book.start("#x", at(1)) is True
    assert book.start("#x", at(2)) is False
    assert book.end("#x") == (at(1), True)
    assert book.end("#x") == (None, False)


def test_labeled_answers_and_an_empty_ack_close_the_request() -> None:
    """With labeled-response the answer is found by its label; an ACK means no history."""
    sent: list[str] = []
    events: list[Event] = []
    history = History(sent.append, events.append, lambda: "net", lambda: "logbot", str.lower, str)
    history.configure({"batch", "server-time", "draft/chathistory", "labeled-response"})
    history.set_limit("50")
    assert history.fill("#x", at(T0), at(T0 + 60))
    [request] = sent
    assert request.startswith("@label=lb1 CHATHISTORY BETWEEN #x timestamp=")
    assert request.endswith(" 50")
    history.ack("label=lb1")
    assert [(e.kind, e.time, e.received) for e in events] == [
        (Kind.GAP_FILLED, at(T0), at(T0 + 60))
    ]
    history.ack("label=lb1")  # a stray second ACK changes nothing
    assert len(events) == 1


def test_channels_are_filled_one_at_a_time() -> None:
    """A second channel's history is asked for once the first one's fetch has ended."""
    sent: list[str] = []
    events: list[Event] = []
    history = History(sent.append, events.append, lambda: "net", lambda: "logbot", str.lower, str)
    history.configure({"batch", "server-time", "draft/chathistory", "labeled-response"})
    assert history.fill("#x", at(T0), at(T0 + 60))
    assert history.fill("#y", at(T0), at(T0 + 60))
    assert not history.fill("#Y", at(T0 + 1), at(T0 + 60))  # already waiting
    assert [line.split()[3] for line in sent] == ["#x"]
    history.fail("label=lb1", ["CHATHISTORY", "MESSAGE_ERROR", "#x", "no history"])
    assert [line.split()[3] for line in sent] == ["#x", "#y"]
    history.ack("label=lb2")
    assert [(e.channel, e.kind) for e in events] == [("#y", Kind.GAP_FILLED)]


def test_event_playback_lines_become_their_kinds() -> None:
    """Joins, parts, quits, kicks, nick, topic and mode changes from history are recorded."""
    sent: list[str] = []
    events: list[Event] = []
    history = History(sent.append, events.append, lambda: "net", lambda: "logbot", str.lower, str)
    history.configure({"batch", "server-time", "chathistory"})
    history.fill("#x", at(T0), at(T0 + 60))
    history.batch("", ["+b1", "chathistory", "#x"])
    t = "time=2025-11-24T16:00:01.000Z"
    lines = [
        ("JOIN", ["#x"], "bob!b@h"),
        ("NICK", ["rob"], "bob!b@h"),
        ("TOPIC", ["#x", "new topic"], "rob!b@h"),
        ("MODE", ["#x", "+o", "rob"], "op!o@h"),
        ("KICK", ["#x", "eve", "spam"], "op!o@h"),
        ("PART", ["#x", "later"], "rob!b@h"),
        ("QUIT", ["gone"], "dan!d@h"),
        ("PRIVMSG", ["#x", "\x01ACTION waves\x01"], "dan!d@h"),
        ("PRIVMSG", ["#x", "\x01VERSION\x01"], "dan!d@h"),
        ("NOTICE", ["#x", "note"], "srv!s@h"),
    ]
    for i, (command, params, prefix) in enumerate(lines):
        assert history.owns(f"batch=b1;{t};msgid=e{i}")
        history.line(f"batch=b1;{t};msgid=e{i}", prefix, command, params)
    history.batch("", ["-b1"])
    assert [(e.kind, e.nick, e.text, e.target) for e in events if e.backfilled] == [
        (Kind.JOIN, "bob", "", ""),
        (Kind.NICK, "bob", "", "rob"),
        (Kind.TOPIC, "rob", "new topic", ""),
        (Kind.MODE, "op", "+o rob", ""),
        (Kind.KICK, "op", "spam", "eve"),
        (Kind.PART, "rob", "later", ""),
        (Kind.QUIT, "dan", "gone", ""),
        (Kind.ACTION, "dan", "waves", ""),
        (Kind.NOTICE, "srv", "note", ""),
    ]
    assert events[-1].kind is Kind.GAP_FILLED
    assert not history.owns("batch=b1")


@pytest.mark.parametrize(
    ("tags", "msgid"),
    [
        ("time=2025-11-24T16:00:00.000Z;msgid=abc", "abc"),
        ("msgid=abc;time=x", "abc"),
        ("msgid=a\\sb\\:c", "a b;c"),
        ("+draft/xmsgid=no;msgid=yes", "yes"),
        ("+draft/xmsgid=no", ""),
        ("time=x", ""),
    ],
)
def test_the_msgid_tag_is_read_as_the_spec_escapes_it(tags: str, msgid: str) -> None:
    """Only the `msgid` tag itself counts (not one ending in msgid), unescaped."""
    assert msgid_of(tags) == msgid


@pytest.mark.parametrize(
    "tags",
    [
        "time=2025-11-24T16:00:00.000Z;msgid=abc",
        "msgid=abc;time=2025-11-24T16:00:00.000Z",
        "account=x;time=t\\s1;msgid=a\\:b",
        "xtime=no;time=yes;xmsgid=no;msgid=yes",
        "msgid=time=no;time=yes",
        "+draft/xtime=no",
        "time;msgid",
        "time=;msgid=",
        "a=b",
    ],
)
def test_time_and_msgid_read_both_tags_as_tag_value_reads_each(tags: str) -> None:
    """The hot path's one pass over the tags finds what two tag_value calls find."""
    assert time_and_msgid(tags) == (tag_value(tags, "time"), tag_value(tags, "msgid") or "")


def test_gaps_open_and_backfilled_events_are_metrics_read_from_the_gap_book(
    clock: task.Clock,
) -> None:
    """logbot_gaps_open is 1 while #x is not logged and 0 once rejoined; every line the
    history gave back is counted in logbot_backfilled_events."""
    from logbot.metrics import Metrics
    from logbot.service import watch_gaps
    from tests.test_metrics import exposed

    server = FakeHistoryServer(clock, caps=HISTORY_CAPS, limit=3)
    run = Run(server, clock)
    metrics = Metrics(clock)
    watch_gaps(metrics, [run.factory])
    assert 'logbot_backfilled_events_total{network="net"} 0.0' in exposed(metrics)
    run.connect()
    server.say("#x", "alice", "one")
    clock.advance(1)
    server.drop()
    samples = exposed(metrics)
    assert 'logbot_gaps_open{channel="#x",network="net"} 1.0' in samples
    for n in range(2, 9):
        clock.advance(10)
        server.say("#x", "alice", f"line {n}")
    clock.advance(10)
    run.connect()
    server.pump(seconds=30)
    samples = exposed(metrics)
    assert 'logbot_gaps_open{channel="#x",network="net"} 0.0' in samples
    backfilled = len([e for e in run.events if e.backfilled])
    assert backfilled >= 7
    assert f'logbot_backfilled_events_total{{network="net"}} {float(backfilled)}' in samples
