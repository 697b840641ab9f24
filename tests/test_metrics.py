"""/metrics and /healthz over the real protocol and the real SQL backend, without a socket.

Time is a ``task.Clock``, the connection a ``StringTransport``, the writer thread an
inline pool, and the pages are rendered with twisted.web's ``DummyRequest``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import generate_latest
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from logbot.backends import sql
from logbot.backends.base import BackendOptions, FanOut, Observable
from logbot.backends.spoolstat import SpoolUsage
from logbot.irc.factory import LogBotFactory
from logbot.irc.protocol import LogBotProtocol
from logbot.metrics import Metrics, resource_tree
from logbot.settings import ChannelConfig, NetworkConfig
from logbot.storage import migrate
from logbot.storage.engine import make_engine
from logbot.storage.writer import EventWriter
from tests.test_irc_protocol import SERVER, T0
from tests.test_sql_backend import ClockReactor, InlinePool, ManualPool, SwitchableWriter


class Stack:
    """One network (#x, #y configured) -> counting sink -> SQL backend on SQLite -> metrics."""

    def __init__(self, tmp_path: Path, pool: Any = None, **backend: Any) -> None:
        self.clock = ClockReactor()
        self.clock.advance(T0)
        self.engine = make_engine(str(tmp_path / "metrics.sqlite"))
        migrate.upgrade(self.engine)
        self.writer = SwitchableWriter(EventWriter(self.engine, upgrade=False))
        self.pool = pool if pool is not None else InlinePool()
        self.backend = sql.SQLBackend(
            self.writer,  # type: ignore[arg-type]
            BackendOptions(reactor=self.clock),
            pool=self.pool,
            spool=sql.Spool(tmp_path / "spool", "test-db"),
            name="test-db",
            **backend,
        )
        self.metrics = Metrics(self.clock)
        self.metrics.add_backends([self.backend])
        self.stats = self.metrics.add_network(["#x", "#y"])
        network = NetworkConfig(
            server=SERVER,
            channels=(ChannelConfig("#x"), ChannelConfig("#y")),
            name="testnet",
            ping_interval=3600.0,
            ping_timeout=7200.0,
        )
        self.factory = LogBotFactory(
            network, self.stats.counting(FanOut([self.backend]).write), self.clock
        )
        self.stats.view = self.factory
        self.root = resource_tree(self.metrics)
        self.proto: LogBotProtocol | None = None

    def connect(self) -> None:
        self.proto = self.factory.buildProtocol(None)
        self.proto.makeConnection(StringTransport())

    def feed(self, *lines: str) -> None:
        assert self.proto is not None
        self.proto.dataReceived("".join(line + "\r\n" for line in lines).encode())

    def sign_on(self) -> None:
        self.feed(
            f":{SERVER} 421 * CAP :Unknown command",
            f":{SERVER} 001 logbot :Welcome",
            f":{SERVER} 376 logbot :End of MOTD",
        )

    def join(self, channel: str) -> None:
        self.feed(f":logbot!b@h JOIN {channel}", f":{SERVER} 366 logbot {channel} :End")

    def lose_connection(self) -> None:
        assert self.proto is not None
        self.proto.connectionLost(Failure(ConnectionDone()))

    def get(self, path: str) -> tuple[int, str]:
        """(status, body) of GET /PATH, rendered on the reactor thread as the Site would."""
        request = DummyRequest(path.strip("/").encode().split(b"/"))
        resource = getChildForRequest(self.root, request)
        body = resource.render(request)
        return request.responseCode or 200, body.decode()

    def samples(self) -> set[str]:
        status, text = self.get("/metrics")
        assert status == 200
        return {line for line in text.splitlines() if not line.startswith("#")}

    def stop(self) -> None:
        if self.backend._loop.running:
            self.backend._loop.stop()
        self.engine.dispose()


def exposed(metrics: Metrics) -> set[str]:
    """The sample lines of ``metrics`` as /metrics serves them (no comments)."""
    text = generate_latest(metrics.registry).decode()
    return {line for line in text.splitlines() if not line.startswith("#")}


@pytest.fixture
def stack(tmp_path: Path) -> Any:
    s = Stack(tmp_path)
    yield s
    s.stop()


def test_metrics_count_lines_events_and_state_from_the_real_protocol(stack: Stack) -> None:
    """Lines, unparsable lines, events per channel, connection and channel state, queue and
    spool: exact sample lines after a few events went through the protocol into SQLite."""
    stack.connect()
    stack.sign_on()
    stack.join("#x")
    stack.feed(
        ":alice!a@h JOIN #x",
        ":alice!a@h PRIVMSG #x :one",
        ":alice!a@h PRIVMSG #X :two",  # the same channel, spelled as the server pleases
        ":only.a.prefix",  # no command: cannot be parsed
        "",
    )
    stack.clock.advance(0.25)  # the writer's tick: committed
    samples = stack.samples()
    for line in (
        'logbot_lines_received_total{network="testnet"} 9.0',
        'logbot_lines_unparsed_total{network="testnet"} 1.0',
        'logbot_reconnects_total{network="testnet"} 0.0',
        'logbot_connected{network="testnet"} 1.0',
        'logbot_events_total{channel="#x",network="testnet"} 4.0',
        'logbot_events_total{channel="#y",network="testnet"} 0.0',
        'logbot_joined{channel="#x",network="testnet"} 1.0',
        'logbot_joined{channel="#y",network="testnet"} 0.0',
        'logbot_writer_queue_events{backend="test-db"} 0.0',
        'logbot_spool_events{backend="test-db"} 0.0',
        'logbot_spool_bytes{backend="test-db"} 0.0',
        'logbot_database_up{backend="test-db"} 1.0',
        'logbot_commit_seconds_count{backend="test-db"} 1.0',
        "logbot_healthy 0.0",  # not in #y
    ):
        assert line in samples
    assert not any(
        s.startswith('logbot_events_total{channel="#X",network="testnet"}') for s in samples
    )


def test_seconds_since_the_last_event_counts_from_the_start_until_a_first_event(
    stack: Stack,
) -> None:
    """A channel never heard from is as silent as the process is old; an event resets it."""
    stack.connect()
    stack.sign_on()
    stack.clock.advance(100)
    stack.join("#x")
    stack.clock.advance(30)

    def silence(channel: str) -> float:
        prefix = f'logbot_seconds_since_last_event{{channel="{channel}",network="testnet"}} '
        (line,) = [s for s in stack.samples() if s.startswith(prefix)]
        return float(line.removeprefix(prefix))

    assert silence("#x") == pytest.approx(30.0)
    assert silence("#y") == pytest.approx(130.0)


def test_reconnects_are_counted_across_connections(stack: Stack) -> None:
    """Every connection attempt after the first is a reconnect."""
    for _ in range(3):
        stack.factory.startedConnecting(None)  # type: ignore[arg-type]
    assert 'logbot_reconnects_total{network="testnet"} 2.0' in stack.samples()


def test_commit_latency_is_a_histogram_of_each_transaction(tmp_path: Path) -> None:
    """A transaction that takes 0.3 s lands in the 0.5 s bucket, not the 0.25 s one."""
    pool = ManualPool()
    stack = Stack(tmp_path, pool)
    try:
        stack.connect()
        stack.sign_on()
        stack.join("#x")
        stack.clock.advance(0.25)  # the tick starts a write of the JOIN
        stack.clock.advance(0.3)
        while pool.queue:  # the network's facts (stored at sign-on) and the write
            pool.run_next()
        samples = stack.samples()
    finally:
        stack.stop()
    assert 'logbot_commit_seconds_bucket{backend="test-db",le="0.25"} 0.0' in samples
    assert 'logbot_commit_seconds_bucket{backend="test-db",le="0.5"} 1.0' in samples
    assert 'logbot_commit_seconds_count{backend="test-db"} 1.0' in samples


def test_healthz_is_503_until_connected_and_joined_then_200(stack: Stack) -> None:
    """Starting, not connected, not in every channel: 503 with the reason; then 200."""
    assert stack.get("/healthz") == (503, "starting\n")
    stack.metrics.ready = True
    assert stack.get("/healthz") == (503, "testnet: not connected\n")
    stack.connect()
    assert stack.get("/healthz") == (503, "testnet: not connected\n")  # not welcomed yet
    stack.sign_on()
    assert stack.get("/healthz") == (503, "testnet: not in #x, #y\n")
    stack.join("#x")
    stack.join("#y")
    assert stack.get("/healthz") == (200, "ok\n")


def test_healthz_goes_503_when_the_network_is_lost_and_back_to_200(stack: Stack) -> None:
    """A lost connection is 503 at once; signed on and joined again, 200."""
    stack.metrics.ready = True
    stack.connect()
    stack.sign_on()
    stack.join("#x")
    stack.join("#y")
    assert stack.get("/healthz") == (200, "ok\n")
    stack.lose_connection()
    assert stack.get("/healthz") == (503, "testnet: not connected\n")
    assert 'logbot_connected{network="testnet"} 0.0' in stack.samples()
    assert "logbot_healthy 0.0" in stack.samples()
    stack.connect()
    stack.sign_on()
    stack.join("#x")
    stack.join("#y")
    assert stack.get("/healthz") == (200, "ok\n")
    assert "logbot_healthy 1.0" in stack.samples()


def test_healthz_goes_503_while_the_writer_spools_and_back_to_200_once_replayed(
    stack: Stack,
) -> None:
    """Database down: 503 naming it; back but the spool not yet replayed: 503 with the
    count; replayed: 200. The spool's size is on /metrics meanwhile."""
    stack.metrics.ready = True
    stack.connect()
    stack.sign_on()
    stack.join("#x")
    stack.join("#y")
    stack.clock.advance(0.25)
    assert stack.get("/healthz") == (200, "ok\n")

    stack.writer.down = True
    stack.feed(*[f":alice!a@h PRIVMSG #x :line {n}" for n in range(3)])
    stack.clock.advance(0.25)  # the write fails: the events go to the spool
    assert stack.get("/healthz") == (503, "test-db: database unavailable\n")
    samples = stack.samples()
    assert 'logbot_spool_events{backend="test-db"} 3.0' in samples
    assert 'logbot_database_up{backend="test-db"} 0.0' in samples
    spool_bytes = next(s for s in samples if s.startswith("logbot_spool_bytes"))
    assert float(spool_bytes.split()[-1]) > 0

    stack.writer.down = False
    stack.clock.advance(sql.RETRY_MAX)  # the retry replays the spool
    assert stack.get("/healthz") == (200, "ok\n")
    assert 'logbot_spool_events{backend="test-db"} 0.0' in stack.samples()
    with stack.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar() == 5


def test_healthz_goes_503_while_a_busy_writer_spills_to_the_spool_and_back(
    tmp_path: Path,
) -> None:
    """Up but behind: events past the memory bound go to the spool while a slow commit
    runs; /healthz says how many until the writer has caught up."""
    pool = ManualPool()
    stack = Stack(tmp_path, pool, max_memory_rows=4)
    try:
        stack.metrics.ready = True
        stack.connect()
        stack.sign_on()
        stack.join("#x")
        stack.join("#y")
        # a write of the two JOINs and the two gaps they close starts and hangs
        stack.clock.advance(0.25)
        stack.feed(*[f":alice!a@h PRIVMSG #x :line {n}" for n in range(4)])
        assert stack.get("/healthz") == (
            503,
            "test-db: 4 events spooled, not yet in the database\n",
        )
        assert 'logbot_spool_events{backend="test-db"} 4.0' in stack.samples()
        assert 'logbot_writer_queue_events{backend="test-db"} 4.0' in stack.samples()
        while pool.queue:  # the network's facts (stored at sign-on) and the slow commit end
            pool.run_next()
        stack.clock.advance(0.25)  # the next tick seals the spool segment and replays it
        while pool.queue:
            pool.run_next()
        assert stack.get("/healthz") == (200, "ok\n")
        assert 'logbot_writer_queue_events{backend="test-db"} 0.0' in stack.samples()
    finally:
        stack.stop()


def test_spool_left_by_an_earlier_run_is_counted_by_reading_it(tmp_path: Path) -> None:
    """Rows in a segment this process did not write are counted from the file itself."""
    spool = sql.Spool(tmp_path / "spool")
    spool.directory.mkdir()
    segment = spool.directory / "00000000000000000001-1-000000.jsonl"
    segment.write_text("[1]\n[2]\n[3]\n")
    (spool.directory / "rejected.jsonl").write_text("[9]\n")  # waits for no replay
    usage = SpoolUsage(spool)
    assert usage() == (3, 12)
    spool.append([("row",) * 10])  # type: ignore[list-item]
    assert usage()[0] == 4  # this process's rows are known without reading them
    segment.unlink()
    assert usage()[0] == 1


def test_sql_backend_is_observable_and_the_text_backend_is_not(
    stack: Stack, tmp_path: Path
) -> None:
    """Only backends that can fall behind report health; the text log has nothing to say."""
    from logbot.backends.textfile import create as text_backend

    text = text_backend(str(tmp_path / "t.log"), BackendOptions(reactor=stack.clock))
    assert isinstance(stack.backend, Observable)
    assert not isinstance(text, Observable)
    stack.metrics.add_backends([text])
    assert stack.metrics.backends == [stack.backend]
    text.close()


def test_healthz_reason_stays_one_line_whatever_a_name_holds(stack: Stack) -> None:
    """A network name with a newline cannot split the answer."""
    stack.metrics.ready = True
    stack.factory._isupport_name = None
    stack.factory.network = NetworkConfig(server=SERVER, name="bad\nname", channels=())
    status, body = stack.get("/healthz")
    assert (status, body) == (503, "bad name: not connected\n")


def test_metrics_page_speaks_openmetrics_when_asked(stack: Stack) -> None:
    """Prometheus's Accept header for OpenMetrics gets OpenMetrics (ending in # EOF)."""
    request = DummyRequest([b"metrics"])
    request.requestHeaders.setRawHeaders(b"accept", [b"application/openmetrics-text"])
    body = getChildForRequest(stack.root, request).render(request)
    assert body.endswith(b"# EOF\n")
    assert request.responseHeaders.getRawHeaders(b"content-type")[0].startswith(
        b"application/openmetrics-text"
    )


def test_another_part_of_the_bot_adds_a_family_read_at_scrape_time(stack: Stack) -> None:
    """add_family: samples come from the reader each time /metrics is asked for."""
    open_gaps = {("testnet", "#x"): 2}
    stack.metrics.add_family(
        "gauge",
        "logbot_gaps_open",
        "Gaps not yet backfilled.",
        ["network", "channel"],
        lambda: {k: float(v) for k, v in open_gaps.items()},
    )
    stack.metrics.add_family(
        "counter", "logbot_backfilled_events", "Events backfilled.", [], lambda: {(): 7.0}
    )
    assert 'logbot_gaps_open{channel="#x",network="testnet"} 2.0' in stack.samples()
    open_gaps[("testnet", "#x")] = 0
    samples = stack.samples()
    assert 'logbot_gaps_open{channel="#x",network="testnet"} 0.0' in samples
    assert "logbot_backfilled_events_total 7.0" in samples
    with pytest.raises(ValueError, match="kind must be counter or gauge"):
        stack.metrics.add_family("summary", "x", "x", [], dict)
