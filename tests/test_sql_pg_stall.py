"""A PostgreSQL connection that dies silently: the writer does not hold events hostage.

A TCP proxy on 127.0.0.1 sits between the backend and the server; freezing it (no byte
forwarded, nothing closed) is what a NAT table that forgot the connection or a failed-over
server looks like from the client. The clock is a ``task.Clock`` (time moves when the test
says); the writer runs on real threads, and the test polls them with deadlines.
"""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from twisted.internet import task

from logbot.backends import sql
from logbot.backends.base import BackendOptions, make_thread_pool, stop_thread_pool
from logbot.events import Event, Kind
from logbot.storage.engine import PG_CONNECTION_SETTINGS
from tests.conftest import PG_ADMIN_URL, pg_database, require_pg_server
from tests.test_sql_backend import T0

pytestmark = pytest.mark.postgres


class FreezableProxy:
    """Forwards TCP to the server until frozen; frozen, it holds every socket open, silent."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.stopped = threading.Event()
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.lock = threading.Lock()
        self._start(self._accept)

    def _start(self, run: Callable[..., None], *args: Any) -> None:
        threading.Thread(target=run, args=args, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.pairs.append((client, upstream))
            self._start(self._pump, client, upstream)
            self._start(self._pump, upstream, client)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self.stopped.is_set():
                if self.frozen.is_set():
                    time.sleep(0.02)
                    continue
                ready, _, _ = select.select([src], [], [], 0.05)
                if not ready or self.frozen.is_set():
                    continue
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, ValueError):
            pass  # cut: the sockets are closed under this thread
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Close every connection: what the TCP timeouts finally do to a dead one."""
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self.stopped.set()
        self.cut()
        self.listener.close()


class ThreadedClock(task.Clock):
    """A Clock whose callFromThread queues calls for the test's thread to run."""

    def __init__(self) -> None:
        super().__init__()
        self.from_threads: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]]] = queue.Queue()

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None:
        self.from_threads.put((lambda: f(*args, **kw), ()))

    def callWhenRunning(self, f: Callable[..., Any], *args: Any) -> None:
        f(*args)

    def run_calls(self) -> None:
        while True:
            try:
                f, _ = self.from_threads.get_nowait()
            except queue.Empty:
                return
            f()


def poll(clock: ThreadedClock, done: Callable[[], bool], what: str, deadline: float = 30.0) -> None:
    """Let the threads work (and the clock tick) until ``done()``, or fail at the deadline."""
    end = time.monotonic() + deadline
    while not done():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        clock.run_calls()
        clock.advance(sql.BATCH_INTERVAL)
        time.sleep(0.02)


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_pg_server()
    with pg_database(PG_ADMIN_URL, "logbot_stall") as url:
        yield url


def _events(start: int, count: int) -> list[Event]:
    return [
        Event(
            time=T0 + timedelta(milliseconds=start + i),
            network="n",
            channel="#x",
            kind=Kind.MESSAGE,
            nick="a",
            text=f"line {start + i}",
        )
        for i in range(count)
    ]


class StallRig:
    """A backend created on real threads, talking to PostgreSQL through a FreezableProxy."""

    def __init__(self, pg_url: str, tmp_path: Path) -> None:
        self.pg_url = pg_url
        self.spool_dir = tmp_path / "spool"
        real = sa.make_url(pg_url)
        self.proxy = FreezableProxy((real.host or "127.0.0.1", real.port or 5432))
        proxied = real.set(host="127.0.0.1", port=self.proxy.port)
        self.clock = ThreadedClock()
        self.pool = make_thread_pool(self.clock)
        self.backend = sql.create(
            proxied.render_as_string(hide_password=False),
            BackendOptions(reactor=self.clock, pool=self.pool),
            spool_dir=self.spool_dir,
        )

    def write(self, events: list[Event]) -> list[Event]:
        for e in events:
            self.backend.write(e)
        return events

    def spooled(self) -> int:
        return sum(len(p.read_text().splitlines()) for p in self.spool_dir.glob("*.jsonl"))

    def cut_and_replay(self) -> list[str]:
        """Unfreeze and cut every connection (what the TCP timeouts finally do to a dead
        one), wait for the spool's replay; the stored texts in key order."""
        self.proxy.frozen.clear()
        self.proxy.cut()
        poll(
            self.clock,
            lambda: (
                self.backend.state is sql.State.IDLE and not list(self.spool_dir.glob("*.jsonl"))
            ),
            "the replay",
        )
        check = sa.create_engine(self.pg_url)
        with check.connect() as c:
            texts = list(c.execute(sa.text("SELECT text FROM events ORDER BY id")).scalars())
        check.dispose()
        return texts

    def close(self) -> None:
        self.proxy.frozen.clear()
        closed = self.backend.close()
        poll(self.clock, lambda: bool(closed.called), "close", deadline=40.0)
        self.proxy.close()
        stop_thread_pool(self.pool)


@pytest.fixture
def stall(pg_url: str, tmp_path: Path) -> Iterator[StallRig]:
    rig = StallRig(pg_url, tmp_path)
    try:
        yield rig
    finally:
        rig.close()


def test_a_silently_dead_connection_spools_after_the_commit_timeout(stall: StallRig) -> None:
    """Frozen mid-write: after COMMIT_TIMEOUT the events are in the spool (not only in
    memory); once the dead connection is cut, everything is stored exactly once."""
    backend, clock, pool = stall.backend, stall.clock, stall.pool
    first = stall.write(_events(0, 2))
    poll(clock, lambda: backend.committed == 2, "the first commit")

    # the writer's connection carries the settings that notice a dead peer
    conn = backend._writer._conn.driver_connection
    params = conn.info.get_parameters()
    for key, value in PG_CONNECTION_SETTINGS.items():
        assert params.get(key) == str(value), key
    with conn.cursor() as cur:
        cur.execute("SELECT setting FROM pg_settings WHERE name = 'statement_timeout'")
        row = cur.fetchone()
    conn.rollback()
    assert row is not None
    assert row[0] == str(int(sql.STATEMENT_TIMEOUT * 1000))

    stall.proxy.frozen.set()
    stuck = stall.write(_events(100, 3))
    clock.advance(sql.BATCH_INTERVAL)  # the batch leaves... into the frozen proxy
    end = time.monotonic() + 10
    while not pool.working:  # a thread has taken the job (it cannot finish: frozen)
        assert time.monotonic() < end, "the writer thread never started"
        time.sleep(0.01)
    clock.run_calls()
    assert backend.state is sql.State.WRITING
    assert backend.pending == 3  # in memory only, for now

    clock.advance(sql.COMMIT_TIMEOUT)
    assert backend.state is sql.State.STALLED
    assert backend.pending == 0
    later = stall.write(_events(200, 2))
    clock.advance(sql.BATCH_INTERVAL)
    assert backend.pending == 0
    assert stall.spooled() == 5

    assert stall.cut_and_replay() == [e.text for e in first + stuck + later]


def test_a_stalled_batch_and_the_follower_behind_it_are_each_stored_once(
    stall: StallRig,
) -> None:
    """A whole memory bound behind a batch frozen mid-write leaves on the second connection
    (reading IRC is not paused) but cannot commit before the frozen batch: both go to the
    spool at the commit timeout, and everything is stored once, in order, afterwards."""
    backend, clock = stall.backend, stall.clock
    pressure: list[bool] = []
    backend.set_pressure_handler(pressure.append)
    first = stall.write(_events(0, 2))
    poll(clock, lambda: backend.committed == 2, "the first commit")

    stall.proxy.frozen.set()
    stuck = stall.write(_events(100, 10))
    clock.advance(sql.BATCH_INTERVAL)  # the batch leaves into the frozen proxy
    behind = stall.write(_events(10_000, sql.MAX_MEMORY_ROWS))
    assert pressure == []  # the follower took them instead
    assert backend.pending == len(stuck) + len(behind)

    clock.advance(sql.COMMIT_TIMEOUT)
    assert backend.state is sql.State.STALLED
    assert backend.pending == 0
    assert stall.spooled() == len(stuck) + len(behind)

    assert stall.cut_and_replay() == [e.text for e in first + stuck + behind]
