"""The SQL backend: batching, flush and close, the spool while the database is away, keys.

No thread and no sleep: the writer runs through a synchronous (or hand-driven) pool and
time moves with ``task.Clock``. The tests that store rows run on SQLite and on the real
PostgreSQL (``db_target``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import defer, task
from twisted.logger import LogEvent, formatEvent, globalLogPublisher
from twisted.python.failure import Failure

from logbot.backends import sql
from logbot.backends.base import Backend, BackendOptions
from logbot.backends.spool import Spool
from logbot.events import FACT_CRAWLER_INDEX, Event, Kind
from logbot.storage import fts, migrate
from logbot.storage.engine import make_engine
from logbot.storage.rows import Row
from logbot.storage.schema import KEY_SPREAD, key_time, time_key
from logbot.storage.writer import CommitGate, EventWriter, WriteFailed, WriteResult

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


class ClockReactor(task.Clock):
    """A Clock that also takes the reactor calls deferToThreadPool and create() make."""

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None:
        f(*args, **kw)

    def callWhenRunning(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None:
        f(*args, **kw)


class InlinePool:
    """A thread pool that runs each call at once, in the calling thread."""

    started = True

    def callInThreadWithCallback(
        self, on_result: Callable[[bool, Any], None], f: Callable[..., Any], *a: Any, **kw: Any
    ) -> None:
        try:
            result = f(*a, **kw)
        except BaseException:
            on_result(False, Failure())
        else:
            on_result(True, result)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class ManualPool(InlinePool):
    """A thread pool whose calls wait until the test runs them."""

    def __init__(self) -> None:
        self.queue: list[tuple[Any, Callable[..., Any], tuple[Any, ...]]] = []

    def callInThreadWithCallback(
        self, on_result: Callable[[bool, Any], None], f: Callable[..., Any], *a: Any, **kw: Any
    ) -> None:
        self.queue.append((on_result, f, a))

    def run_next(self) -> None:
        on_result, f, a = self.queue.pop(0)
        InlinePool.callInThreadWithCallback(self, on_result, f, *a)


class SwitchableWriter:
    """A real EventWriter in front of which the database can be 'down'."""

    def __init__(self, real: EventWriter) -> None:
        self.real = real
        self.engine = real.engine
        self.down = False
        self.calls: list[int] = []

    def write(
        self, rows: list[Row], *, salvage: bool = False, after: CommitGate | None = None
    ) -> WriteResult:
        self.calls.append(len(rows))
        if self.down:
            raise WriteFailed("connection refused", transient=True)
        return self.real.write(rows, salvage=salvage, after=after)

    def store_facts(self, facts: dict[tuple[str, str], str]) -> None:
        if self.down:
            raise WriteFailed("connection refused", transient=True)
        self.real.store_facts(facts)

    def close(self) -> None:
        self.real.close()


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """Every log line emitted by logbot.backends.sql during the test."""
    lines: list[str] = []

    def observer(event: LogEvent) -> None:
        if event.get("log_namespace") == "logbot.backends.sql":
            lines.append(formatEvent(event))

    globalLogPublisher.addObserver(observer)
    yield lines
    globalLogPublisher.removeObserver(observer)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = make_engine(str(tmp_path / "unit.sqlite"))
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


class Rig:
    """A backend over a real database, a clock, a pool and a spool directory."""

    def __init__(self, engine: sa.Engine, spool_dir: Path, pool: Any = None, **kw: Any) -> None:
        self.engine = engine
        self.clock = ClockReactor()
        self.pool = pool if pool is not None else InlinePool()
        self.writer = SwitchableWriter(EventWriter(engine, upgrade=False))
        self.spool = Spool(spool_dir, "test-db")
        self.backend = sql.SQLBackend(
            self.writer,  # type: ignore[arg-type]
            BackendOptions(reactor=self.clock),
            pool=self.pool,
            spool=self.spool,
            name="test-db",
            **kw,
        )
        self.n = 0

    def event(self, text: str | None = None, **kw: Any) -> Event:
        self.n += 1
        fields: dict[str, Any] = {
            "time": T0 + timedelta(milliseconds=self.n),
            "network": "net",
            "channel": "#chan",
            "kind": Kind.MESSAGE,
            "nick": "alice",
            "text": text if text is not None else f"line {self.n}",
        }
        fields.update(kw)
        return Event(**fields)

    def write(self, count: int, **kw: Any) -> list[Event]:
        events = [self.event(**kw) for _ in range(count)]
        for e in events:
            self.backend.write(e)
        return events

    def stored(self) -> list[tuple[int, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, text FROM events ORDER BY id"))
            return [(int(r[0]), r[1]) for r in rows]

    def spooled_rows(self) -> int:
        return sum(len(p.read_text().splitlines()) for p in self.spool.directory.glob("*.jsonl"))


@pytest.fixture
def rig(engine: sa.Engine, tmp_path: Path) -> Iterator[Rig]:
    r = Rig(engine, tmp_path / "spool")
    yield r
    if r.backend._loop.running:
        r.backend._loop.stop()


def _fired(d: defer.Deferred[Any]) -> bool:
    results: list[object] = []
    d.addBoth(results.append)
    return bool(results)


def test_backend_satisfies_the_protocol(rig: Rig) -> None:
    """SQLBackend is a Backend."""
    assert isinstance(rig.backend, Backend)


def test_a_full_batch_is_committed_at_once(rig: Rig) -> None:
    """999 events wait; the 1,000th sends the batch without waiting for the clock."""
    rig.write(999)
    assert rig.stored() == []
    rig.write(1)
    assert len(rig.stored()) == 1000
    assert rig.writer.calls == [1000]


def test_a_partial_batch_is_committed_within_250_ms(rig: Rig) -> None:
    """A few events are committed at the next tick, 250 ms later at most."""
    rig.write(5)
    rig.clock.advance(0.24)
    assert rig.stored() == []
    rig.clock.advance(0.01)
    assert [t for _, t in rig.stored()] == [f"line {i}" for i in range(1, 6)]


def test_session_markers_are_not_stored(rig: Rig) -> None:
    """connected/disconnected events are for the text log only."""
    rig.backend.write(rig.event(kind=Kind.CONNECTED, channel="", text=""))
    rig.backend.write(rig.event(kind=Kind.DISCONNECTED, channel="", text="bye"))
    rig.write(1)
    rig.clock.advance(0.25)
    assert len(rig.stored()) == 1


def _facts(rig: Rig) -> list[tuple[str, str, str]]:
    with rig.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT network, name, value FROM network_facts ORDER BY 1"))
        return [(r[0], r[1], r[2]) for r in rows]


def test_network_facts_are_kept_latest_per_network(rig: Rig, logged: list[str]) -> None:
    """A FACT event is stored in network_facts (the newest value wins, an empty one removes
    it), also after an outage, and never as an event."""

    def fact(network: str, value: str) -> Event:
        return rig.event(kind=Kind.FACT, channel="", nick="", network=network, text=value,
                         target=FACT_CRAWLER_INDEX)  # fmt: skip

    rig.backend.write(fact("a", "deny"))
    rig.backend.write(fact("b", "allow"))
    rig.clock.advance(0.25)
    assert _facts(rig) == [("a", "crawler-index", "deny"), ("b", "crawler-index", "allow")]
    rig.writer.down = True
    rig.backend.write(fact("a", ""))
    rig.backend.write(fact("b", "deny"))
    assert _facts(rig) == [("a", "crawler-index", "deny"), ("b", "crawler-index", "allow")]
    assert any("network facts not stored yet (connection refused)" in line for line in logged)
    rig.writer.down = False
    for _ in range(4):
        rig.clock.advance(0.25)
    assert _facts(rig) == [("b", "crawler-index", "deny")]
    assert rig.stored() == []


def test_every_field_is_stored(rig: Rig) -> None:
    """A stored row holds the event's time (to the microsecond), kind, nick and all extras."""
    when = datetime(2026, 5, 2, 3, 4, 5, 678901, tzinfo=UTC)
    rig.backend.write(
        Event(
            time=when,
            network="net",
            channel="#Chan",
            kind=Kind.KICK,
            nick="op",
            text="bye",
            target="bob",
            userhost="op@host",
            own=True,
            received=when + timedelta(seconds=1),
        )
    )
    rig.clock.advance(0.25)
    with rig.engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT e.id, c.network, c.name, c.name_key, e.kind, e.nick, e.text, e.target, "
                "e.userhost, e.own, e.received_us FROM events e JOIN channels c "
                "ON c.id = e.channel_id"
            )
        ).one()
    assert key_time(row[0]) == when
    assert tuple(row[1:9]) == ("net", "#Chan", "#chan", "kick", "op", "bye", "bob", "op@host")
    assert bool(row[9]) is True
    assert row[10] == (int(when.timestamp()) + 1) * 1_000_000 + 678901


def test_flush_fires_when_everything_is_committed(rig: Rig) -> None:
    """flush() commits what waits and fires only then; with nothing waiting it fires at once."""
    assert _fired(rig.backend.flush())
    rig.write(3)
    d = rig.backend.flush()
    assert _fired(d)
    assert len(rig.stored()) == 3


def test_flush_waits_for_a_running_write(engine: sa.Engine, tmp_path: Path) -> None:
    """A flush issued while the writer is busy fires after the events behind it are in."""
    pool = ManualPool()
    r = Rig(engine, tmp_path / "spool", pool=pool)
    r.write(1000)
    r.write(10)
    d = r.backend.flush()
    assert not _fired(d)
    pool.run_next()
    assert not _fired(d)
    pool.run_next()
    assert _fired(d)
    assert len(r.stored()) == 1010
    r.backend._loop.stop()


def test_events_arriving_during_a_write_go_in_one_transaction(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Group commit: while a batch is written, everything that arrives waits for the next one."""
    pool = ManualPool()
    r = Rig(engine, tmp_path / "spool", pool=pool)
    r.write(1000)
    r.write(2500)
    assert len(pool.queue) == 1
    pool.run_next()
    assert len(pool.queue) == 1
    pool.run_next()
    assert r.writer.calls == [1000, 2500]
    assert len(r.stored()) == 3500
    r.backend._loop.stop()


def test_close_flushes_and_ignores_later_writes(rig: Rig, logged: list[str]) -> None:
    """close() commits every accepted event, then fires; a write after close is dropped."""
    rig.write(7)
    d = rig.backend.close()
    assert _fired(d)
    assert len(rig.stored()) == 7
    rig.write(1)
    rig.clock.advance(1)
    assert len(rig.stored()) == 7
    assert any("after close" in line for line in logged)


def test_outage_spools_then_replays_in_order_exactly_once(rig: Rig, logged: list[str]) -> None:
    """Down: events go to the spool each tick; back: spool first, then newer, each once."""
    rig.writer.down = True
    first = rig.write(5)
    rig.clock.advance(0.25)  # the write fails: down
    assert rig.backend.pending == 0
    assert rig.spooled_rows() == 5
    second = rig.write(3)
    rig.clock.advance(0.25)  # a tick while down: spool, no write attempt
    assert rig.spooled_rows() == 8
    for _ in range(4):  # retries keep failing, with growing delays
        rig.clock.advance(sql.RETRY_MAX)
    rig.writer.down = False
    third = rig.write(2)
    rig.clock.advance(sql.RETRY_MAX)
    rig.clock.advance(0.25)
    stored = rig.stored()
    assert [t for _, t in stored] == [e.text for e in first + second + third]
    assert len({k for k, _ in stored}) == 10
    assert list(rig.spool.directory.glob("*.jsonl")) == []
    assert sum("unavailable" in line for line in logged) == 1
    assert sum("is back" in line for line in logged) == 1


def test_flush_while_down_spools_and_fires(rig: Rig) -> None:
    """With the database away, flush() makes events durable in the spool and fires."""
    rig.writer.down = True
    rig.write(2)
    rig.clock.advance(0.25)
    rig.write(3)
    assert _fired(rig.backend.flush())
    assert rig.spooled_rows() == 5
    assert rig.stored() == []


def test_close_while_down_leaves_everything_in_the_spool(rig: Rig) -> None:
    """Shutdown during an outage: every event is in the spool, close() still fires."""
    rig.writer.down = True
    rig.write(4)
    rig.clock.advance(0.25)
    rig.write(2)
    assert _fired(rig.backend.close())
    assert rig.spooled_rows() == 6


def test_close_gives_up_on_a_hung_database_after_the_timeout(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A write that never returns: after the close timeout the events are spooled instead."""
    pool = ManualPool()
    r = Rig(engine, tmp_path / "spool", pool=pool, close_timeout=30.0, commit_timeout=60.0)
    r.write(1000)  # now stuck in the pool
    r.write(5)
    d = r.backend.close()
    r.clock.advance(29)
    assert not _fired(d)
    r.clock.advance(1)
    assert _fired(d)
    assert r.spooled_rows() == 1005


def test_spool_left_by_a_crash_is_replayed_exactly_once(engine: sa.Engine, tmp_path: Path) -> None:
    """A spool segment whose first rows were already committed: replay stores each row once."""
    first = Rig(engine, tmp_path / "spool")
    events = first.write(6)
    first.backend.flush()
    first.backend._loop.stop()
    stored = first.stored()
    assert len(stored) == 6
    # what a crash between commit and unlink leaves: the same rows still in a segment,
    # plus rows that never reached the database
    with engine.connect() as conn:
        ids = [int(i) for i in conn.execute(sa.text("SELECT id FROM events ORDER BY id")).scalars()]
    first_rows = [
        [ids[i], "net", "#chan", "message", "alice", e.text, None, None, False, None]
        for i, e in enumerate(events)
    ]
    later = time_key(T0 + timedelta(seconds=10))
    new_rows = [
        [later + i, "net", "#chan", "message", "bob", f"late {i}", None, None, False, None]
        for i in range(3)
    ]
    spool_dir = tmp_path / "spool2"
    spool_dir.mkdir()
    segment = spool_dir / "00000000000000000001-1-000000.jsonl"
    segment.write_text("".join(json.dumps(r) + "\n" for r in first_rows + new_rows))
    # and a torn last line, as a kill -9 in the middle of an append leaves it
    with segment.open("a") as f:
        f.write('[1, "net", "#ch')
    second = Rig(engine, spool_dir)
    second.clock.advance(0.25)
    texts = [t for _, t in second.stored()]
    assert texts == [e.text for e in events] + [f"late {i}" for i in range(3)]
    assert second.backend.duplicates == 6
    assert not segment.exists()
    second.backend._loop.stop()


def test_create_replays_a_leftover_spool_on_start(tmp_path: Path) -> None:
    """create() finds the spool of its database and writes it before anything new."""
    db = str(tmp_path / "start.sqlite")
    options = BackendOptions(reactor=ClockReactor())
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    key = time_key(T0)
    (spool_dir / "00000000000000000001-1-000000.jsonl").write_text(
        json.dumps([key, "net", "#x", "message", "carol", "from before", None, None, False, None])
        + "\n"
    )
    backend = sql.create(db, options, pool=InlinePool(), spool_dir=spool_dir)
    backend.write(
        Event(
            time=T0 + timedelta(seconds=1),
            network="net",
            channel="#x",
            kind=Kind.MESSAGE,
            nick="dave",
            text="after",
        )
    )
    assert _fired(backend.close())
    engine = make_engine(db)
    with engine.connect() as conn:
        texts = list(conn.execute(sa.text("SELECT text FROM events ORDER BY id")).scalars())
    engine.dispose()
    assert texts == ["from before", "after"]


def test_gap_events_and_msgids_go_through_the_spool_into_their_tables(tmp_path: Path) -> None:
    """A spool of today's rows (msgid, backfilled, gap markers) replays into events and gaps."""
    db = str(tmp_path / "gaps.sqlite")
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    rows = [
        [time_key(T0), "net", "#x", "message", "carol", "hi", None, None, False, None, "m1", True],
        [
            time_key(T0),
            "net",
            "#x",
            "gap_start",
            "",
            "disconnected",
            None,
            None,
            False,
            None,
            None,
            False,
        ],
    ]
    (spool_dir / "00000000000000000001-1-000000.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows)
    )
    backend = sql.create(
        db, BackendOptions(reactor=ClockReactor()), pool=InlinePool(), spool_dir=spool_dir
    )
    backend.write(Event(T0 + timedelta(seconds=5), "net", "#x", Kind.GAP_END, ""))
    assert _fired(backend.close())
    engine = make_engine(db)
    with engine.connect() as conn:
        stored = list(conn.execute(sa.text("SELECT text, msgid, backfilled FROM events")))
        gaps = list(conn.execute(sa.text("SELECT start_us, end_us, reason FROM gaps")))
    engine.dispose()
    assert [tuple(r) for r in stored] == [("hi", "m1", 1)]
    start = time_key(T0) // KEY_SPREAD
    assert [tuple(r) for r in gaps] == [(start, start + 5_000_000, "disconnected")]


def test_the_backend_says_where_a_channel_stopped_without_blocking(tmp_path: Path) -> None:
    """last_event_before runs on the writer's pool and answers None for an unknown channel."""
    db = str(tmp_path / "resume.sqlite")
    backend = sql.create(db, BackendOptions(reactor=ClockReactor()), pool=InlinePool())
    backend.write(Event(T0, "net", "#x", Kind.MESSAGE, "al", "hi"))
    backend.write(Event(T0 + timedelta(seconds=9), "net", "#x", Kind.MESSAGE, "al", "later"))
    assert _fired(backend.flush())
    answers: list[object] = []
    backend.last_event_before("net", "#X", T0 + timedelta(seconds=5)).addCallback(answers.append)
    backend.last_event_before("net", "#y", T0 + timedelta(seconds=5)).addCallback(answers.append)
    backend.last_event_before("net", "#x", T0).addCallback(answers.append)
    assert answers == [T0, None, None]
    assert _fired(backend.close())


def test_create_when_the_database_is_unreachable_holds_events(
    tmp_path: Path, logged: list[str]
) -> None:
    """An unreachable server at start is not fatal: events are spooled and retried."""
    clock = ClockReactor()
    backend = sql.create(
        "postgresql+psycopg://postgres@127.0.0.1:1/nothing",
        BackendOptions(reactor=clock),
        pool=InlinePool(),
        spool_dir=tmp_path / "spool",
    )
    backend.write(
        Event(time=T0, network="n", channel="#x", kind=Kind.MESSAGE, nick="a", text="kept")
    )
    clock.advance(0.25)
    assert backend.pending == 0
    assert any("cannot reach the database" in line for line in logged)
    lines = [
        json.loads(x)
        for p in (tmp_path / "spool").glob("*.jsonl")
        for x in p.read_text().splitlines()
    ]
    assert [r[5] for r in lines] == ["kept"]
    assert _fired(backend.close())


def test_create_refuses_a_database_from_a_newer_logbot(tmp_path: Path) -> None:
    """A schema newer than this code is a startup error, not something to spool around."""
    db = str(tmp_path / "new.sqlite")
    engine = make_engine(db)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'zzzz'"))
    engine.dispose()
    with pytest.raises(migrate.SchemaError, match="newer than this logbot"):
        sql.create(
            db,
            BackendOptions(reactor=ClockReactor()),
            pool=InlinePool(),
            spool_dir=tmp_path / "spool",
        )


def test_events_in_the_same_microsecond_get_different_keys(rig: Rig) -> None:
    """Many events with one timestamp (server-time has milliseconds) are all stored, in order."""
    for i in range(1500):
        rig.backend.write(rig.event(text=f"same {i}", time=T0))
    rig.clock.advance(0.25)
    stored = rig.stored()
    assert [t for _, t in stored] == [f"same {i}" for i in range(1500)]
    assert len({k for k, _ in stored}) == 1500


def test_a_taken_key_is_moved_and_an_identical_event_is_skipped(rig: Rig) -> None:
    """A key holding another event (another bot) re-keys ours; the very same event is skipped."""
    key = time_key(T0)
    other = ("net", "#chan", "message", "bob", "another bot's line")
    with rig.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO channels (id, network, name, name_key) "
                "VALUES (7, 'net', '#chan', '#chan')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO events (id, channel_id, kind, nick, text) "
                "VALUES (:k, 7, 'message', 'bob', :t)"
            ),
            {"k": key, "t": other[4]},
        )
        conn.execute(
            sa.text(
                "INSERT INTO events (id, channel_id, kind, nick, text) "
                "VALUES (:k, 7, 'message', 'alice', 'seen')"
            ),
            {"k": key + 2},
        )
    rig.backend.write(rig.event(text="ours", time=T0))
    rig.backend.write(rig.event(text="seen", time=T0 + timedelta(microseconds=0)))
    rig.clock.advance(0.25)
    stored = rig.stored()
    assert [t for _, t in stored] == ["another bot's line", "ours", "seen"]
    assert stored[1][0] == key + 1
    assert rig.backend.rekeyed == 1
    # "seen" got key+1 locally, met "ours" there, walked on and found itself at key+2:
    # the same event (a replay), stored once
    assert rig.backend.duplicates == 1


def test_a_row_the_database_refuses_is_cleaned_and_stored(rig: Rig) -> None:
    """Text the driver cannot encode (a lone surrogate) is repaired, not lost, nor blocking."""
    rig.backend.write(rig.event(text="bad \udcff byte"))
    rig.write(2)
    rig.clock.advance(0.25)
    texts = [t for _, t in rig.stored()]
    assert texts[0] == "bad ? byte"
    assert len(texts) == 3


def test_words_are_found_through_the_full_text_index(rig: Rig) -> None:
    """Stored text is searchable at once, case and diacritics folded, on both engines."""
    rig.backend.write(rig.event(text="Déjà vu at the CAFÉ"))
    rig.backend.write(rig.event(kind=Kind.JOIN, text=""))
    rig.clock.advance(0.25)
    with rig.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            sql_text = f"SELECT rowid FROM {fts.FTS_TABLE} WHERE {fts.FTS_TABLE} MATCH :q"
        else:
            sql_text = f"SELECT id FROM events WHERE {fts.pg_tsvector()} @@ {fts.pg_tsquery()}"
        for word in ("cafe", "deja", "café"):
            query = fts.pg_query_text(word) if conn.dialect.name == "postgresql" else word
            assert len(conn.execute(sa.text(sql_text), {"query": query, "q": word}).all()) == 1


def test_overflow_while_busy_spills_and_flush_waits_for_the_replay(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A writer that cannot keep up: memory overflows to the spool; flush() waits for commit."""
    pool = ManualPool()
    r = Rig(engine, tmp_path / "spool", pool=pool, max_memory_rows=1200)
    r.write(1000)  # one job, stuck until the test runs it
    r.write(1300)  # more than memory holds: the first 1,200 go to the spool
    assert r.spooled_rows() == 1200
    assert r.backend.pending == 1100
    d = r.backend.flush()
    pool.run_next()
    pool.run_next()  # the replay of the spool
    assert not _fired(d)  # spooled is not committed while the database is up
    pool.run_next()  # the last 100, from memory
    assert _fired(d)
    texts = [t for _, t in r.stored()]
    assert texts == [f"line {i}" for i in range(1, 2301)]
    assert list(r.spool.directory.glob("*.jsonl")) == []
    r.backend._loop.stop()


def test_events_arriving_while_closing_are_committed_too(engine: sa.Engine, tmp_path: Path) -> None:
    """Lines read during the QUIT exchange, after close() began, are not left behind."""
    pool = ManualPool()
    r = Rig(engine, tmp_path / "spool", pool=pool)
    r.write(3)
    d = r.backend.close()
    r.write(2)  # still arriving while the first flush runs
    pool.run_next()
    assert not _fired(d)
    pool.run_next()
    pool.run_next()  # the writer's close
    assert _fired(d)
    assert len(r.stored()) == 5


def test_a_writer_behind_pauses_reading_instead_of_spooling(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """While the database is up, a full buffer asks the service to pause IRC, not the spool."""
    r, pool, pressure = _writer_behind(engine, tmp_path)
    assert pressure == [True]
    assert r.spooled_rows() == 0
    pool.run_next()  # the writer is free again and takes the backlog: reading resumes
    assert pressure == [True, False]
    _drain(r, pool)
    assert [t for _, t in r.stored()] == [f"line {i}" for i in range(1, 2301)]
    r.backend._loop.stop()


def test_a_pause_that_lasts_falls_back_to_the_spool_and_reads_again(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A writer stuck past MAX_PRESSURE_SECONDS: the spool takes over and reading resumes."""
    r, pool, pressure = _writer_behind(engine, tmp_path)
    assert pressure == [True]
    r.clock.advance(sql.MAX_PRESSURE_SECONDS + sql.BATCH_INTERVAL)
    assert pressure == [True, False]
    assert r.spooled_rows() == 1300
    r.write(1300)  # still stuck: the spool, not another pause (it already lasted too long)
    assert pressure == [True, False]
    assert r.spooled_rows() == 2500
    _drain(r, pool)
    assert [t for _, t in r.stored()] == [f"line {i}" for i in range(1, 3601)]
    r.backend._loop.stop()


def test_twice_the_bound_in_memory_spills_even_while_paused(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Lines already read when the pause began may overfill memory; twice the bound spills."""
    pool = ManualPool()
    r = Rig(engine, tmp_path / "spool", pool=pool, max_memory_rows=1000)
    r.backend.set_pressure_handler(lambda pressed: None)  # a pause that has no effect
    r.write(1000)  # the first job
    r.write(2000)
    assert r.spooled_rows() == 2000
    _drain(r, pool)
    assert [t for _, t in r.stored()] == [f"line {i}" for i in range(1, 3001)]
    r.backend._loop.stop()


def test_database_down_releases_the_pause(engine: sa.Engine, tmp_path: Path) -> None:
    """When the database fails, IRC reads again and the spool holds the events."""
    r, pool, pressure = _writer_behind(engine, tmp_path)
    r.writer.down = True
    pool.run_next()  # the stuck job fails: the database is away
    assert pressure == [True, False]
    assert r.spooled_rows() == 2300
    r.backend._loop.stop()
    if r.backend._retry is not None:
        r.backend._retry.cancel()


def _writer_behind(engine: sa.Engine, tmp_path: Path) -> tuple[Rig, ManualPool, list[bool]]:
    """A stuck first job (1,000 events) and 1,300 more: past the 1,200-event memory bound."""
    pool = ManualPool()
    r = Rig(engine, tmp_path / "spool", pool=pool, max_memory_rows=1200)
    pressure: list[bool] = []
    r.backend.set_pressure_handler(pressure.append)
    r.write(1000)  # one job, stuck until the test runs it
    r.write(1300)
    return r, pool, pressure


def _drain(r: Rig, pool: ManualPool) -> None:
    """Run the writer and the ticks until nothing waits (memory, spool or job)."""
    for _ in range(100):
        if pool.queue:
            pool.run_next()
        elif r.backend.pending or list(r.spool.directory.glob("*.jsonl")):
            r.clock.advance(sql.BATCH_INTERVAL)
        else:
            return
    raise AssertionError("the backend did not drain")


# -- the writer's state ---------------------------------------------------------------


def test_the_writer_states_and_their_transitions_are_listed() -> None:
    """Every move the writer may make, in one table (anything else is logged as a bug)."""
    S = sql.State
    assert {s: set(t) for s, t in sql.TRANSITIONS.items()} == {
        S.IDLE: {S.WRITING, S.GAVE_UP, S.CLOSED},
        S.WRITING: {S.IDLE, S.WRITING, S.WAITING, S.STALLED, S.GAVE_UP, S.CLOSED},
        S.WAITING: {S.RETRYING, S.WAITING, S.GAVE_UP, S.CLOSED},
        S.RETRYING: {S.IDLE, S.RETRYING, S.WAITING, S.STALLED, S.GAVE_UP, S.CLOSED},
        S.STALLED: {S.IDLE, S.WAITING, S.GAVE_UP, S.CLOSED},
        S.GAVE_UP: {S.CLOSED},
        S.CLOSED: set(),
    }


def _record_states(backend: sql.SQLBackend) -> list[sql.State]:
    seen = [backend.state]
    real = backend._to

    def to(new: sql.State) -> None:
        assert new in sql.TRANSITIONS[backend.state], (backend.state, new)
        real(new)
        seen.append(new)

    backend._to = to  # type: ignore[method-assign]
    return seen


def test_an_outage_walks_the_listed_states(rig: Rig) -> None:
    """Up, down, retrying, back up, closed: only listed transitions, in this order."""
    S = sql.State
    seen = _record_states(rig.backend)
    rig.write(2)
    rig.clock.advance(0.25)
    rig.writer.down = True
    rig.write(2)
    rig.clock.advance(0.25)
    rig.clock.advance(sql.RETRY_FIRST)  # the retry fails too
    rig.writer.down = False
    rig.clock.advance(sql.RETRY_FIRST * sql.RETRY_FACTOR)
    assert _fired(rig.backend.close())
    assert seen == [
        S.IDLE,
        S.WRITING,
        S.IDLE,
        S.WRITING,
        S.WAITING,
        S.RETRYING,
        S.WAITING,
        S.RETRYING,
        S.IDLE,
        S.CLOSED,
    ]
    assert len(rig.stored()) == 4


def test_unreachable_at_start_keeps_retrying_until_events_come(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A first retry with nothing to write waits again: later events reach the database."""
    r = Rig(engine, tmp_path / "spool", up=False)
    r.clock.advance(sql.RETRY_MAX * 3)  # several retries, nothing to write yet
    assert r.backend.state is sql.State.WAITING
    events = r.write(3)
    r.clock.advance(0.25)  # spooled: the database is still believed down
    r.clock.advance(sql.RETRY_MAX)
    assert [t for _, t in r.stored()] == [e.text for e in events]
    assert r.backend.state is sql.State.IDLE
    assert _fired(r.backend.close())


def test_a_close_that_gives_up_ends_closed(engine: sa.Engine, tmp_path: Path) -> None:
    """A hung write at close: WRITING -> GAVE_UP -> CLOSED, the events in the spool."""
    S = sql.State
    r = Rig(engine, tmp_path / "spool", pool=ManualPool(), commit_timeout=60.0)
    seen = _record_states(r.backend)
    r.write(2)
    r.clock.advance(0.25)
    closed = r.backend.close()
    r.clock.advance(sql.CLOSE_TIMEOUT)
    assert _fired(closed)
    assert seen == [S.IDLE, S.WRITING, S.GAVE_UP, S.CLOSED]
    assert r.spooled_rows() == 2


def test_create_runs_the_writer_on_the_pool_of_the_options(tmp_path: Path) -> None:
    """One pool for every backend: create() uses BackendOptions.pool and does not stop it."""
    clock = ClockReactor()
    pool = InlinePool()
    backend = sql.create(
        str(tmp_path / "db.sqlite"),
        BackendOptions(reactor=clock, pool=pool),  # type: ignore[arg-type]
        spool_dir=tmp_path / "spool",
    )
    assert backend._pool is pool
    assert backend._own_pool is False
    backend.write(Event(time=T0, network="n", channel="#x", kind=Kind.MESSAGE, nick="a", text="x"))
    assert _fired(backend.close())
    assert backend.committed == 1


# -- a database recreated under the bot --------------------------------------------------


def _drop_every_table(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        names = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'events_fts_%'"
            )
        ]
        for name in names:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}"')


def test_tables_dropped_under_a_running_backend_are_created_again(
    sqlite_engine: sa.Engine, tmp_path: Path, logged: list[str]
) -> None:
    """A database emptied under the bot: the schema is created again once, nothing lost."""
    r = Rig(sqlite_engine, tmp_path / "spool")
    before = r.write(3)
    r.clock.advance(0.25)
    assert len(r.stored()) == 3
    _drop_every_table(sqlite_engine)
    after = r.write(2, channel="#chan")
    r.clock.advance(0.25)
    assert [t for _, t in r.stored()] == [e.text for e in after]
    with sqlite_engine.connect() as conn:
        channel = (
            conn.exec_driver_sql(
                "SELECT c.name FROM events e JOIN channels c ON c.id = e.channel_id"
            )
            .scalars()
            .all()
        )
    assert channel == ["#chan", "#chan"]
    assert r.backend.state is sql.State.IDLE
    assert [line for line in logged if "tables" in line] == [
        "test-db: the database's tables were gone; created them again (events written "
        "before are not in this database any more)"
    ]
    assert not [line for line in logged if "unavailable" in line]
    del before


def test_tables_that_cannot_be_created_again_spool_with_one_error(
    sqlite_engine: sa.Engine, tmp_path: Path, logged: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If re-creating fails, events go to the spool and one ERROR says why, not a retry loop."""
    r = Rig(sqlite_engine, tmp_path / "spool")
    r.write(1)
    r.clock.advance(0.25)
    _drop_every_table(sqlite_engine)

    def refuse(engine: sa.Engine) -> None:
        raise migrate.StorageError("database test-db: attempt to write a readonly database")

    monkeypatch.setattr(migrate, "upgrade", refuse)
    r.write(2)
    for _ in range(10):
        r.clock.advance(sql.RETRY_MAX)
    r.write(1)
    r.clock.advance(sql.RETRY_MAX)
    assert r.backend.pending == 0
    assert r.spooled_rows() == 3
    errors = [line for line in logged if "tables" in line]
    assert len(errors) == 1
    assert "readonly" in errors[0]


# -- a spool directory shared by two writers ----------------------------------------------


def test_a_shared_spool_never_replays_a_segment_another_writer_holds(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Two bots on one database share a spool: neither replays the other's open segment."""
    a = Rig(engine, tmp_path / "spool")
    b = Rig(engine, tmp_path / "spool")
    b.n = 1_000  # distinct times: distinct events
    a.writer.down = True
    first = a.write(5)
    a.clock.advance(0.25)  # A is down: its events are in its open segment
    assert a.spooled_rows() == 5
    b.write(1)
    b.clock.advance(0.25)  # B is up and replays what it finds... but not A's open segment
    assert len(list((tmp_path / "spool").glob("*.jsonl"))) == 1
    second = a.write(3)
    a.clock.advance(0.25)
    a.writer.down = False
    a.clock.advance(sql.RETRY_MAX)
    a.clock.advance(0.25)
    texts = [t for _, t in a.stored()]
    assert [t for t in texts if t in {e.text for e in first + second}] == [
        e.text for e in first + second
    ]
    assert list((tmp_path / "spool").glob("*.jsonl")) == []
    assert _fired(a.backend.flush())


def test_segments_of_a_crashed_writer_are_replayed_by_another(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A segment nobody holds open any more (its process died) is replayed."""
    dead = Spool(tmp_path / "spool", "test-db")
    dead.append(
        [(time_key(T0, 0), "net", "#chan", "message", "a", "orphan", None, None, False, None)]
    )
    dead.seal()  # what the kernel does for a process that dies: the lock goes with it
    r = Rig(engine, tmp_path / "spool")
    r.clock.advance(0.25)
    assert [t for _, t in r.stored()] == ["orphan"]


def test_two_spools_in_one_process_lock_each_other_out(tmp_path: Path) -> None:
    """One bot naming one database two ways holds two spools: the lock works within a process."""
    one = Spool(tmp_path / "spool", "db")
    two = Spool(tmp_path / "spool", "db")
    one.append([(1, "n", "#c", "message", "a", "x", None, None, False, None)])
    assert two.sealed() == []
    one.seal()
    assert len(two.sealed()) == 1


# -- a write that does not return ------------------------------------------------------------


@pytest.mark.parametrize("ending", ["commits late", "fails"])
def test_a_stuck_write_spools_its_events_and_each_is_stored_once(
    engine: sa.Engine, tmp_path: Path, logged: list[str], ending: str
) -> None:
    """Past the commit timeout the stuck batch and newer events go to the spool; whether the
    stuck commit later succeeds or fails, every event ends up stored exactly once."""
    S = sql.State
    pool = ManualPool()
    r = Rig(engine, tmp_path / "spool", pool=pool, commit_timeout=20.0)
    seen = _record_states(r.backend)
    stuck = r.write(3)
    r.clock.advance(0.25)  # the job starts... and hangs
    r.clock.advance(19.5)
    assert r.backend.pending == 3
    r.clock.advance(0.5)
    assert r.backend.state is S.STALLED
    assert r.backend.pending == 0
    assert r.spooled_rows() == 3
    assert _fired(r.backend.flush())
    later = r.write(2)
    r.clock.advance(0.25)  # stalled: new events go to the spool too
    assert r.spooled_rows() == 5
    if ending == "fails":
        r.writer.down = True
        pool.run_next()
        r.writer.down = False
    else:
        pool.run_next()  # the stuck commit returns after all
    for _ in range(4):
        r.clock.advance(sql.RETRY_MAX)
        while pool.queue:
            pool.run_next()
    assert [t for _, t in r.stored()] == [e.text for e in stuck + later]
    assert list(r.spool.directory.glob("*.jsonl")) == []
    assert _fired(r.backend.flush())
    assert sum("has not answered" in line for line in logged) == 1
    assert S.STALLED in seen
    r.backend.close()
    while pool.queue:
        pool.run_next()


def test_another_processes_open_segment_waits_until_that_process_is_gone(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A live process's open segment is left alone; once the process dies, it is replayed."""
    import subprocess
    import sys
    import time as _time

    spool_dir = tmp_path / "spool"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from pathlib import Path\n"
            "from logbot.backends.spool import Spool\n"
            f"s = Spool(Path({str(spool_dir)!r}), 'db')\n"
            f"s.append([({time_key(T0, 7)}, 'net', '#chan', 'message', 'a', 'from the other',"
            " None, None, False, None)])\n"
            "print('appended', flush=True)\n"
            "sys.stdin.read()\n",  # hold the segment open until told to die
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "appended\n"
        r = Rig(engine, spool_dir)
        r.write(1)
        r.clock.advance(0.25)
        assert [t for _, t in r.stored()] == ["line 1"]
        assert len(list(spool_dir.glob("*.jsonl"))) == 1  # the other's, untouched
    finally:
        child.kill()  # no seal: the kernel releases the lock
        child.wait(timeout=30)
    r.write(1)
    deadline = _time.monotonic() + 30
    while list(spool_dir.glob("*.jsonl")) or r.backend.pending:
        assert _time.monotonic() < deadline, "the orphan segment was never replayed"
        r.clock.advance(0.25)
    assert sorted(t for _, t in r.stored()) == ["from the other", "line 1", "line 2"]
