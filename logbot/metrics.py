"""What the bot exposes to monitoring: ``/metrics`` (Prometheus text) and ``/healthz``.

The only module that imports ``prometheus_client``. Nothing on the hot path calls into it:

- the IRC side counts lines, unparsable lines and reconnects in plain integers
  (:class:`logbot.irc.counts.NetworkCounts`, always on: one addition per read);
- events are counted per channel by a thin wrapper around each network's sink
  (:meth:`NetworkStats.counting`), installed only when metrics are served;
- connection and channel state, writer queues and spools are read from the factories
  and backends when ``/metrics`` or ``/healthz`` is asked for;
- commit latency is the one value pushed as it happens (a histogram observation per
  transaction, never per event).

A :class:`Collector` turns all of it into metric families at scrape time, on the
reactor thread (the pages render there), so it reads state nothing else is changing.

Other parts of the bot add their own families with :meth:`Metrics.add_family`: a
function read at scrape time, so they need no Prometheus import either. The service
adds ``logbot_gaps_open`` and ``logbot_backfilled_events`` this way, read from each
network's gap book and counters (:func:`logbot.service.watch_gaps`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, cast

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import Resource

from logbot.backends.base import Backend, Observable
from logbot.events import CHANNEL_KINDS, Event
from logbot.irc.clock import Clock
from logbot.irc.counts import NetworkCounts

#: commit latency buckets (seconds): a healthy SQLite commit takes milliseconds, a flood's
#: group commit a few hundred, a struggling PostgreSQL seconds
COMMIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Sink = Callable[[Event], None]
#: read at scrape time: label values (in the family's label order) -> value
Reader = Callable[[], Mapping[tuple[str, ...], float]]

# twisted.web is untyped: subclass and build it through Any
_Resource: Any = Resource


class NetworkView(Protocol):
    """What metrics read of one network (a ``LogBotFactory``)."""

    counts: NetworkCounts

    @property
    def network_name(self) -> str: ...

    @property
    def connected(self) -> bool: ...

    def is_joined(self, channel: str) -> bool: ...


class _Channel:
    __slots__ = ("events", "last", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.events = 0
        self.last: Event | None = None


class NetworkStats:
    """One network's channels: events counted, the last one kept (for its age)."""

    def __init__(self, channels: Sequence[str]) -> None:
        #: the configured channels: the ones /healthz expects the bot to be in
        self.configured = tuple(channels)
        #: the factory, once the service has built it
        self.view: NetworkView | None = None
        # exact spelling as recorded -> its channel; spellings that fold alike share one
        self._by_name: dict[str, _Channel] = {}
        self._by_fold: dict[str, _Channel] = {}
        for name in self.configured:
            self._channel(name)

    def _channel(self, name: str) -> _Channel:
        folded = name.lower()
        channel = self._by_fold.get(folded)
        if channel is None:
            channel = self._by_fold[folded] = _Channel(name)
        self._by_name[name] = channel
        return channel

    def channels(self) -> list[_Channel]:
        return [c for c in self._by_fold.values() if c.name]

    def counting(self, sink: Sink) -> Sink:
        """``sink``, and count each event in its channel afterwards."""
        by_name = self._by_name
        new = self._channel
        stored = CHANNEL_KINDS

        def write(event: Event) -> None:
            sink(event)
            if event.kind not in stored:
                return  # a gap mark or a network fact: not a line said in the channel
            # the hot path: one dict lookup, an addition and an assignment per event
            channel = by_name.get(event.channel)
            if channel is None:
                channel = new(event.channel)
            channel.events += 1
            channel.last = event

        return write


class Metrics:
    """The metric objects of a run and what they read; see the module docstring."""

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = cast(Clock, clock)
        self.started = self.clock.seconds()
        self.networks: list[NetworkStats] = []
        self.backends: list[Observable] = []
        #: families other parts of the bot added (see add_family)
        self.families: list[tuple[str, str, str, tuple[str, ...], Reader]] = []
        #: False until the service has opened the backends and started every network
        self.ready = False
        self.registry = CollectorRegistry(auto_describe=False)
        self.commit_seconds = Histogram(
            "logbot_commit_seconds",
            "Seconds one database transaction of the writer took.",
            ["backend"],
            registry=self.registry,
            buckets=COMMIT_BUCKETS,
        )
        self.registry.register(Collector(self))

    def add_family(
        self, kind: str, name: str, help: str, labels: Sequence[str], read: Reader
    ) -> None:
        """One more metric family, its samples from ``read()`` at each scrape.

        ``kind`` is "counter" (``name`` without ``_total``: it is added) or "gauge".
        """
        if kind not in ("counter", "gauge"):
            raise ValueError(f"add_family: kind must be counter or gauge, not {kind!r}")
        self.families.append((kind, name, help, tuple(labels), read))

    def add_network(self, channels: Sequence[str]) -> NetworkStats:
        stats = NetworkStats(channels)
        self.networks.append(stats)
        return stats

    def add_backends(self, backends: Sequence[Backend]) -> None:
        """Watch every backend that can say how it keeps up (the text log cannot fall behind)."""
        for backend in backends:
            if isinstance(backend, Observable) and backend not in self.backends:
                self.backends.append(backend)
                histogram = self.commit_seconds.labels(backend.health().name)
                backend.set_commit_observer(histogram.observe)

    def problems(self) -> list[str]:
        """Why the bot is not healthy now; empty when every network is connected and in
        its channels and every writer keeps up."""
        if not self.ready:
            return ["starting"]
        found = []
        for stats in self.networks:
            view = stats.view
            if view is None:
                continue
            if not view.connected:
                found.append(f"{view.network_name}: not connected")
                continue
            missing = [c for c in stats.configured if not view.is_joined(c)]
            if missing:
                found.append(f"{view.network_name}: not in {', '.join(missing)}")
        for backend in self.backends:
            health = backend.health()
            if health.problem is not None:
                found.append(f"{health.name}: {health.problem}")
        return found


def _age(event: Event) -> float:
    when: datetime = event.received or event.time
    return when.timestamp()


class Collector:
    """Reads every counter and state at scrape time (a prometheus_client custom collector)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        now = m.clock.seconds()
        lines = CounterMetricFamily(
            "logbot_lines_received", "IRC lines received from the server.", labels=["network"]
        )
        unparsed = CounterMetricFamily(
            "logbot_lines_unparsed",
            "IRC lines that could not be parsed (and were skipped).",
            labels=["network"],
        )
        reconnects = CounterMetricFamily(
            "logbot_reconnects", "Connection attempts after the first.", labels=["network"]
        )
        connected = GaugeMetricFamily(
            "logbot_connected", "1 while signed on to the network.", labels=["network"]
        )
        events = CounterMetricFamily(
            "logbot_events",
            "Channel events handed to the backends.",
            labels=["network", "channel"],
        )
        joined = GaugeMetricFamily(
            "logbot_joined", "1 while the bot is in the channel.", labels=["network", "channel"]
        )
        silence = GaugeMetricFamily(
            "logbot_seconds_since_last_event",
            "Seconds since the last event in the channel (since the start, before any).",
            labels=["network", "channel"],
        )
        for stats in m.networks:
            view = stats.view
            if view is None:
                continue
            name = view.network_name
            lines.add_metric([name], view.counts.lines)
            unparsed.add_metric([name], view.counts.unparsed)
            reconnects.add_metric([name], view.counts.reconnects)
            connected.add_metric([name], 1 if view.connected else 0)
            for configured in stats.configured:
                joined.add_metric([name, configured], 1 if view.is_joined(configured) else 0)
            for channel in stats.channels():
                events.add_metric([name, channel.name], channel.events)
                last = m.started if channel.last is None else _age(channel.last)
                silence.add_metric([name, channel.name], max(0.0, now - last))
        yield from (lines, unparsed, reconnects, connected, events, joined, silence)

        queue = GaugeMetricFamily(
            "logbot_writer_queue_events",
            "Events accepted and held in memory, not yet durable.",
            labels=["backend"],
        )
        spooled = GaugeMetricFamily(
            "logbot_spool_events",
            "Events in the spool, not yet in the database.",
            labels=["backend"],
        )
        spool_bytes = GaugeMetricFamily(
            "logbot_spool_bytes", "Bytes of spool files on disk.", labels=["backend"]
        )
        up = GaugeMetricFamily(
            "logbot_database_up", "1 while writes to the database succeed.", labels=["backend"]
        )
        for backend in m.backends:
            health = backend.health()
            queue.add_metric([health.name], health.waiting)
            spooled.add_metric([health.name], health.spooled)
            spool_bytes.add_metric([health.name], health.spool_bytes)
            up.add_metric([health.name], 1 if health.up else 0)
        yield from (queue, spooled, spool_bytes, up)

        for kind, name, help, labels, read in m.families:
            family_type = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            family = family_type(name, help, labels=list(labels))
            for values, value in read().items():
                family.add_metric(list(values), value)
            yield family

        healthy = GaugeMetricFamily(
            "logbot_healthy", "1 when /healthz answers 200 (connected, joined, keeping up)."
        )
        healthy.add_metric([], 0 if m.problems() else 1)
        yield healthy


class MetricsPage(_Resource):  # type: ignore[misc]
    """``/metrics``: the registry in the Prometheus text format (or OpenMetrics if asked)."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: Any) -> bytes:
        accept = request.getHeader("accept") or ""
        encoder, content_type = choose_encoder(accept)
        request.setHeader(b"Content-Type", content_type.encode("ascii"))
        return encoder(self.registry)


class HealthPage(_Resource):  # type: ignore[misc]
    """``/healthz``: ``200 ok``, or ``503`` and the reasons on one line."""

    isLeaf = True

    def __init__(self, metrics: Metrics) -> None:
        super().__init__()
        self.metrics = metrics

    def render_GET(self, request: Any) -> bytes:
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        problems = self.metrics.problems()
        if not problems:
            return b"ok\n"
        request.setResponseCode(503)
        # one line whatever a network or channel is called
        text = "; ".join(problems).replace("\r", " ").replace("\n", " ")
        return text.encode("utf-8") + b"\n"


def resource_tree(metrics: Metrics) -> Any:
    """``/metrics`` and ``/healthz`` under one root, for a ``twisted.web.server.Site``."""
    root = _Resource()
    root.putChild(b"metrics", MetricsPage(metrics.registry))
    root.putChild(b"healthz", HealthPage(metrics))
    return root
