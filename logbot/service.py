"""The running service: the only module that touches the global reactor.

It wires the pieces together: settings -> backends (events in, storage out) -> a fan-out
sink -> one IRC factory per network. It owns process-level concerns: logging to stderr,
SIGHUP (reopen files), and the orderly shutdown on SIGTERM/SIGINT (QUIT every network,
then flush and close every backend, then exit 0).
"""

from __future__ import annotations

import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

from twisted.internet import defer
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    formatEvent,
    globalLogBeginner,
)

from logbot.backends.base import (
    Backend,
    BackendOptions,
    FanOut,
    Throttling,
    load_backend,
    make_thread_pool,
)
from logbot.config import NetworkConfig, Settings, backend_routes

log = Logger(namespace="logbot.service")

#: how long shutdown waits for QUIT to be acknowledged before closing anyway
QUIT_GRACE_SECONDS = 3.0
QUIT_MESSAGE = "logbot shutting down"


class StartupError(Exception):
    """The service cannot start; ``str()`` is one line for the user."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _visible(text: str) -> str:
    # One event, one line: a newline inside a message (a server's text, an exception's
    # message) must not start something that looks like another event.
    return _CONTROL.sub(lambda m: "\\n" if m.group() == "\n" else f"\\x{ord(m.group()):02x}", text)


def format_log_line(event: LogEvent) -> str:
    """``2026-11-28T20:35:22.123Z INFO logbot.irc: libera: joined #x``, without a newline.

    Time (UTC, milliseconds), level, namespace, message: fixed fields, so
    ``grep ' WARN '`` or ``awk '{print $3}'`` work on the log. A failure that was logged
    with a traceback (a bug, never an expected condition) adds its traceback on indented
    lines after the event's line.
    """
    when = event.get("log_time")
    if not isinstance(when, int | float):
        when = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int(when % 1 * 1000):03d}Z"
    # LogLevel's members are NamedConstants, not instances of LogLevel
    level = getattr(event.get("log_level"), "name", None)
    name = level.upper() if isinstance(level, str) else "INFO"
    namespace = event.get("log_namespace") or "-"
    message = _visible(formatEvent(event)) or "-"
    line = f"{stamp} {name} {namespace}: {message}"
    failure = event.get("log_failure")
    if failure is not None:
        try:
            summary = f"{failure.type.__name__}: {failure.getErrorMessage()}"
            trace = failure.getTraceback().rstrip("\n")
        except Exception:  # a broken failure object must not break logging
            summary, trace = "unprintable failure", ""
        line += f" ({_visible(summary)})"
        if trace:
            line += "\n" + "\n".join("    " + t for t in trace.splitlines())
    return line


def start_logging(level: str, stream: Any = None) -> None:
    """One line per log event on stderr (:func:`format_log_line`), at ``level`` and above."""
    out = stream if stream is not None else sys.stderr

    def write(event: LogEvent) -> None:
        out.write(format_log_line(event) + "\n")
        out.flush()

    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level.lower()))
    # zope interfaces are invisible to mypy without its plugin: the casts say what Twisted checks
    predicate_: Any = predicate
    observer: Any = FilteringLogObserver(cast(ILogObserver, write), [predicate_])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def build_backends(settings: Settings, reactor: Any) -> tuple[list[Backend], list[FanOut]]:
    """Every backend the settings route to, and for each network a sink over its backends.

    Networks that name the same file or database share one backend; a network naming
    neither writes to SQLite at the default per-user path.
    """
    per_network: list[list[Backend]] = [[] for _ in settings.networks]
    backends: list[Backend] = []
    pool = make_thread_pool(reactor)
    try:
        for route in backend_routes(settings):
            target = route.target
            if target is None:
                from logbot.storage.engine import default_db_path

                target = str(default_db_path())
            options = BackendOptions(
                reactor=reactor,
                multi_channel=route.multi_channel,
                pool=pool,
                file_mode=settings.file_mode,
            )
            backend = load_backend(route.kind)(target, options)
            backends.append(backend)
            for index in route.networks:
                per_network[index].append(backend)
    except Exception as exc:
        for backend in backends:
            backend.close()
        raise StartupError(_one_line(exc)) from exc
    return backends, [FanOut(b) for b in per_network]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def tls_options(network: NetworkConfig) -> Any:
    """The TLS connection creator for a network: verified by default."""
    from twisted.internet import ssl

    client_cert = None
    if network.client_cert:
        try:
            with open(network.client_cert, "rb") as f:
                client_cert = ssl.PrivateCertificate.loadPEM(f.read())  # type: ignore[no-untyped-call]
        except (OSError, ValueError) as exc:
            raise StartupError(
                f"cannot load client certificate {network.client_cert}: {_one_line(exc)}"
            ) from exc
    if not network.tls_verify:
        extra: dict[str, Any] = {}
        if client_cert is not None:
            extra = {"privateKey": client_cert.privateKey.original}
            extra["certificate"] = client_cert.original
        return ssl.CertificateOptions(verify=False, **extra)
    trust: Any = None
    if network.tls_ca:
        try:
            with open(network.tls_ca, "rb") as f:
                trust = ssl.Certificate.loadPEM(f.read())
        except (OSError, ValueError) as exc:
            raise StartupError(
                f"cannot load CA certificate {network.tls_ca}: {_one_line(exc)}"
            ) from exc
    return ssl.optionsForClientTLS(network.server, trustRoot=trust, clientCertificate=client_cert)


def connect(reactor: Any, network: NetworkConfig, factory: Any) -> None:
    if network.tls:
        reactor.connectSSL(network.server, network.port, factory, tls_options(network))
    else:
        reactor.connectTCP(network.server, network.port, factory)


def _shutdown(factories: Sequence[Any], sink: FanOut) -> defer.Deferred[None]:
    """QUIT every network, then flush and close every backend (a "before shutdown" trigger)."""

    @defer.inlineCallbacks
    def go() -> Any:
        log.info("shutting down: sending QUIT to {count} network(s)", count=len(factories))
        for factory in factories:
            factory.stopTrying()
        yield defer.DeferredList(
            [defer.maybeDeferred(f.quit, QUIT_MESSAGE) for f in factories], consumeErrors=True
        )
        yield sink.close()
        log.info("all events flushed; exiting")

    return go()


def run(settings: Settings, reactor: Any = None) -> int:
    """Run the bot until SIGTERM/SIGINT; returns the process exit status."""
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = global_reactor
    start_logging(settings.log_level)

    # Build every TLS option first so a bad certificate path is a startup error, not a
    # failure deep inside a reconnect loop.
    for network in settings.networks:
        if network.tls:
            tls_options(network)

    backends, sinks = build_backends(settings, reactor)
    sink = FanOut(backends)

    from logbot.irc.factory import LogBotFactory

    factories = []
    for network, network_sink in zip(settings.networks, sinks, strict=True):
        factory = LogBotFactory(network, network_sink.write, reactor)
        factories.append(factory)
        log.info(
            "connecting to {server}:{port}{tls}",
            server=network.server,
            port=network.port,
            tls=" (TLS)" if network.tls else "",
        )
        connect(reactor, network, factory)
    wire_flow_control(sinks, factories)

    def on_hup(signum: int, frame: Any) -> None:
        reactor.callFromThread(_reopen, sink)

    signal.signal(signal.SIGHUP, on_hup)
    reactor.addSystemEventTrigger("before", "shutdown", _shutdown, factories, sink)
    reactor.run()
    return 0


class PauseReading(Protocol):
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


def wire_flow_control(sinks: Sequence[FanOut], factories: Sequence[PauseReading]) -> None:
    """Let a backend that falls behind pause reading on the networks that feed it.

    A network reads again only when none of its backends is behind any more.
    """
    behind: list[set[int]] = [set() for _ in factories]
    seen: set[int] = set()
    for network_sink in sinks:
        for backend in network_sink.backends:
            if id(backend) in seen or not isinstance(backend, Throttling):
                continue
            seen.add(id(backend))
            feeds = [i for i, s in enumerate(sinks) if backend in s.backends]
            backend.set_pressure_handler(_pressure_handler(id(backend), feeds, behind, factories))


def _pressure_handler(
    key: int, feeds: list[int], behind: list[set[int]], factories: Sequence[PauseReading]
) -> Callable[[bool], None]:
    def handler(pressed: bool) -> None:
        for i in feeds:
            was_paused = bool(behind[i])
            if pressed:
                behind[i].add(key)
            else:
                behind[i].discard(key)
            if behind[i] and not was_paused:
                factories[i].pause_reading()
            elif was_paused and not behind[i]:
                factories[i].resume_reading()

    return handler


def _reopen(sink: FanOut) -> None:
    log.info("SIGHUP: reopening log files")
    sink.reopen()
