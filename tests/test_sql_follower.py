"""Two batches in flight (the SQL backend's follower, used on PostgreSQL): a batch started
behind a running one commits only after it, and never when it failed, so that rows become
visible in key order and nothing is lost or stored twice whatever the first batch does.

The writer-level tests run real threads on SQLite and the real PostgreSQL; the backend's
run through a pool the test steps by hand, with ``task.Clock`` for time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.python.failure import Failure

from logbot.backends import sql
from logbot.backends.base import BackendOptions
from logbot.events import Event, Kind
from logbot.storage import writer as writer_module
from logbot.storage.rows import KeyAllocator, Row, event_row, storable_time
from logbot.storage.writer import CommitGate, EventWriter, WriteFailed, WriteResult
from tests.test_sql_backend import (
    T0,
    ClockReactor,
    InlinePool,
    ManualPool,
    Rig,
    SwitchableWriter,
    _drain,
    _fired,
)

#: ample for a thread on the 2-core machine to reach a point it only has to get to
DEADLINE = 30.0


def _rows(n: int) -> list[Row]:
    keys = KeyAllocator()
    rows = []
    for i in range(n):
        e = Event(time=T0, network="net", channel="#c", kind=Kind.MESSAGE, nick="a", text=f"t{i}")
        rows.append(event_row(e, keys.key_for(storable_time(e))))
    return rows


def _count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one())


class _SeenGate(CommitGate):
    """A gate that tells when a writer has started waiting at it."""

    def __init__(self) -> None:
        super().__init__()
        self.waited = threading.Event()

    def wait(self, timeout: float) -> bool | None:
        self.waited.set()
        return super().wait(timeout)


def _write_in_thread(
    writer: EventWriter, rows: list[Row], gate: CommitGate
) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(writer.write(rows, after=gate))
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_batch_behind_a_gate_is_stored_but_invisible_until_the_batch_before_commits(
    engine: sa.Engine,
) -> None:
    writer = EventWriter(engine, upgrade=False)
    gate = _SeenGate()
    thread, out = _write_in_thread(writer, _rows(5), gate)
    assert gate.waited.wait(DEADLINE)
    assert _count(engine) == 0
    gate.open(True)
    thread.join(DEADLINE)
    assert isinstance(out[0], WriteResult)
    assert out[0].inserted == 5
    assert _count(engine) == 5
    writer.close()


def test_a_batch_behind_a_failed_batch_stores_nothing_and_can_be_written_again(
    engine: sa.Engine,
) -> None:
    writer = EventWriter(engine, upgrade=False)
    gate = _SeenGate()
    rows = _rows(5)
    thread, out = _write_in_thread(writer, rows, gate)
    assert gate.waited.wait(DEADLINE)
    gate.open(False)
    thread.join(DEADLINE)
    assert isinstance(out[0], WriteFailed)
    assert out[0].transient
    assert "earlier batch" in str(out[0])
    assert _count(engine) == 0
    # the same connection takes the rows afterwards, as the retry does
    assert writer.write(rows).inserted == 5
    assert _count(engine) == 5
    writer.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_target", ["postgresql"], indirect=True)
def test_a_reader_following_new_rows_by_key_misses_none_of_two_batches_in_flight(
    engine: sa.Engine,
) -> None:
    """The reason for the gate: the web archive's live page asks for rows after the last
    id it has. Two batches in flight on two connections, the older one held back: the
    newer commits only behind it, so a reader polling by key sees both."""
    rows = _rows(400)
    older, newer = rows[:200], rows[200:]
    hold, older_ended, newer_ended = CommitGate(), _SeenGate(), CommitGate()
    seen: list[int] = []
    stop = threading.Event()

    def follow() -> None:
        last = -1
        with engine.connect() as conn:
            while True:
                done = stop.is_set()  # one more poll after the writers are through
                got = conn.execute(
                    sa.text("SELECT id FROM events WHERE id > :last ORDER BY id"),
                    {"last": last},
                ).scalars()
                conn.rollback()
                for key in got:
                    seen.append(int(key))
                    last = int(key)
                if done:
                    return

    def write(writer: EventWriter, batch: list[Row], after: CommitGate, ended: CommitGate) -> None:
        try:
            writer.write(batch, after=after)
        except WriteFailed:
            ended.open(False)
            raise
        ended.open(True)

    first, second = EventWriter(engine, upgrade=False), EventWriter(engine, upgrade=False)
    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    a = threading.Thread(target=write, args=(first, older, hold, older_ended), daemon=True)
    a.start()
    b = threading.Thread(target=write, args=(second, newer, older_ended, newer_ended), daemon=True)
    b.start()
    # the newer batch waits at the older one's gate (or, were there none, shows up)
    for _ in range(int(DEADLINE / 0.01)):
        if older_ended.waited.wait(0.01) or seen:
            break
    hold.open(True)
    a.join(DEADLINE)
    b.join(DEADLINE)
    stop.set()
    reader.join(DEADLINE)
    assert seen == sorted(r[0] for r in rows)
    first.close()
    second.close()


@pytest.mark.postgres
@pytest.mark.parametrize("db_target", ["postgresql"], indirect=True)
def test_a_batch_that_must_wait_for_its_follower_is_not_stuck_behind_it(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait the database cannot see: the older batch finds one of its keys taken by
    another event, moves that row to the next key, which the follower has inserted and
    holds while it waits for the older batch. The follower gives up after GATE_TIMEOUT
    (rolling back), the older batch commits, and the follower's rows are written again."""
    monkeypatch.setattr(writer_module, "GATE_TIMEOUT", 0.5)
    rows = _rows(4)
    older, newer = rows[:2], rows[2:]
    another = Event(time=T0, network="net", channel="#c", kind=Kind.MESSAGE, nick="b", text="x")
    EventWriter(engine, upgrade=False).write([event_row(another, older[1][0])])
    # a statement_timeout as the bot's writers have: were the wait a deadlock after all,
    # the server would end it and the test would fail instead of hanging
    first, second = (EventWriter(engine, upgrade=False, statement_timeout=10.0) for _ in "12")
    older_ended = _SeenGate()
    follower, follower_out = _write_in_thread(second, newer, older_ended)
    assert older_ended.waited.wait(DEADLINE)
    leader_out: list[Any] = []

    def lead() -> None:  # as the backend runs it: the gate opens when the write ends
        try:
            leader_out.append(first.write(older))
        except WriteFailed as exc:
            leader_out.append(exc)
        older_ended.open(isinstance(leader_out[0], WriteResult))

    leader = threading.Thread(target=lead, daemon=True)
    leader.start()
    leader.join(DEADLINE)
    assert not leader.is_alive(), "the older batch is stuck behind its follower"
    follower.join(DEADLINE)
    assert isinstance(follower_out[0], WriteFailed)
    assert follower_out[0].transient
    assert isinstance(leader_out[0], WriteResult)
    assert (leader_out[0].inserted, leader_out[0].rekeyed) == (2, 1)
    again = second.write(newer)
    assert again.inserted == 2
    with engine.connect() as conn:
        texts = conn.execute(sa.text("SELECT text FROM events ORDER BY id")).scalars().all()
    assert sorted(texts) == sorted(["x", *(r[5] for r in rows)])
    first.close()
    second.close()


# -- the backend ------------------------------------------------------------------------


class SteppedPool(ManualPool):
    """Runs each call's function when the test says, and hands its result to the reactor
    side only when the test says (so a later job's thread can be back first); ``run_next``
    still does both at once."""

    def __init__(self) -> None:
        super().__init__()
        self.ended: list[tuple[Callable[[bool, Any], None], bool, Any]] = []

    def run(self) -> None:
        on_result, f, a = self.queue.pop(0)
        try:
            self.ended.append((on_result, True, f(*a)))
        except BaseException:
            self.ended.append((on_result, False, Failure()))

    def deliver(self, index: int = 0) -> None:
        on_result, ok, result = self.ended.pop(index)
        on_result(ok, result)


def _rig(engine: sa.Engine, tmp_path: Path, pool: SteppedPool, **kw: Any) -> Rig:
    second = SwitchableWriter(EventWriter(engine, upgrade=False))
    r = Rig(engine, tmp_path / "spool", pool=pool, max_memory_rows=1200, second_writer=second, **kw)
    r.second = second  # type: ignore[attr-defined]
    return r


def _texts(r: Rig) -> list[str]:
    return [t for _, t in r.stored()]


def test_a_memory_bound_behind_the_writer_starts_a_follower_instead_of_pausing_irc(
    engine: sa.Engine, tmp_path: Path
) -> None:
    pool = SteppedPool()
    r = _rig(engine, tmp_path, pool)
    pressure: list[bool] = []
    r.backend.set_pressure_handler(pressure.append)
    events = r.write(1000)  # the running job
    events += r.write(1199)
    assert len(pool.queue) == 1
    events += r.write(1)  # a whole memory bound waits: it leaves on the other connection
    assert len(pool.queue) == 2
    assert pressure == []
    flushed = r.backend.flush()
    pool.run()  # the first batch commits
    pool.run()  # the follower commits behind it
    pool.deliver(1)  # and its thread is back first
    assert not _fired(flushed)
    assert r.backend.pending == 2200
    pool.deliver(0)
    assert _fired(flushed)
    assert r.backend.pending == 0
    assert r.backend.committed == 2200
    assert r.backend.state is sql.State.IDLE
    assert _texts(r) == [e.text for e in events]
    assert r.writer.calls == [1000]
    assert r.second.calls == [1200]  # type: ignore[attr-defined]


def test_batches_keep_alternating_connections_while_the_writer_stays_behind(
    engine: sa.Engine, tmp_path: Path
) -> None:
    pool = SteppedPool()
    r = _rig(engine, tmp_path, pool)
    events = r.write(1000 + 1200)  # a job and its follower
    pool.run()
    pool.deliver()  # the first commits: the follower is now the running job
    events += r.write(1200)  # ...and a new follower goes behind it, on the first connection
    assert len(pool.queue) == 2
    _drain(r, pool)
    assert _texts(r) == [e.text for e in events]
    assert r.writer.calls == [1000, 1200]
    assert r.second.calls == [1200]  # type: ignore[attr-defined]


@pytest.mark.parametrize("order", ["first's result first", "follower's result first"])
def test_a_follower_behind_a_failed_batch_commits_nothing_and_every_event_is_kept(
    engine: sa.Engine, tmp_path: Path, order: str
) -> None:
    pool = SteppedPool()
    r = _rig(engine, tmp_path, pool)
    events = r.write(2200)
    r.writer.down = True
    pool.run()  # the first batch fails...
    pool.run()  # ...so its follower rolls back
    assert _count(engine) == 0
    if order == "first's result first":
        pool.deliver(0)
        pool.deliver(0)
    else:
        pool.deliver(1)
        pool.deliver(0)
    assert r.backend.state is sql.State.WAITING
    assert r.backend.pending + r.spooled_rows() == 2200
    r.writer.down = False
    _drain(r, pool)
    assert _texts(r) == [e.text for e in events]
    assert r.backend.pending == 0
    assert _fired(r.backend.flush())


@pytest.mark.parametrize("ending", ["commits late", "fails"])
def test_a_stalled_batch_takes_its_follower_into_the_spool_and_each_event_is_stored_once(
    engine: sa.Engine, tmp_path: Path, ending: str
) -> None:
    pool = SteppedPool()
    r = _rig(engine, tmp_path, pool, commit_timeout=20.0)
    events = r.write(2200)
    assert len(pool.queue) == 2
    r.clock.advance(20.5)  # the first batch has not answered
    assert r.backend.state is sql.State.STALLED
    assert r.backend.pending == 0
    assert r.spooled_rows() == 2200
    r.writer.down = ending == "fails"
    pool.run()
    pool.run()
    r.writer.down = False
    pool.deliver(1)
    pool.deliver(0)
    _drain(r, pool)
    assert _texts(r) == [e.text for e in events]
    assert list(r.spool.directory.glob("*.jsonl")) == []


def test_close_waits_for_a_follower_too(engine: sa.Engine, tmp_path: Path) -> None:
    pool = SteppedPool()
    r = _rig(engine, tmp_path, pool)
    events = r.write(2200)
    closed = r.backend.close()
    pool.run()
    pool.deliver()
    assert not _fired(closed)
    _drain(r, pool)
    assert _fired(closed)
    assert _texts(r) == [e.text for e in events]


def test_only_postgresql_backends_get_a_second_connection(db_target: str, tmp_path: Path) -> None:
    backend = sql.create(
        db_target,
        BackendOptions(reactor=ClockReactor(), pool=InlinePool()),  # type: ignore[arg-type]
        spool_dir=tmp_path / "spool",
    )
    try:
        assert (backend._lanes is not None) == db_target.startswith("postgresql")
    finally:
        assert _fired(backend.close())
