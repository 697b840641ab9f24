"""The running service: the only module that touches the global reactor.

It wires the pieces together: settings -> backends (events in, storage out) -> a fan-out
sink -> one IRC factory per network. It owns process-level concerns: logging to stderr,
SIGHUP (reopen files), and the orderly shutdown on SIGTERM/SIGINT (QUIT every network,
then flush and close every backend, then exit 0).
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

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
from logbot.sdnotify import Notifier
from logbot.setting_keys import parse_listen
from logbot.settings import NetworkConfig, Settings, WebConfig
from logbot.storage.messages import error_line
from logbot.text import visible

if TYPE_CHECKING:
    from twisted.web.resource import IResource

    from logbot.web.site import Archive, Page

log = Logger(namespace="logbot.service")

QUIT_MESSAGE = "logbot shutting down"


def stop_deadline_seconds() -> float:
    """The longest an orderly shutdown takes: QUIT's wait, then the slowest backend's flush.

    Whatever stops the bot (systemd's ``TimeoutStopSec=``) must wait longer than this, or
    it kills the process while it is still flushing events.
    """
    from logbot.backends.sqlstate import CLOSE_TIMEOUT
    from logbot.irc.factory import LogBotFactory

    return LogBotFactory.quit_timeout + CLOSE_TIMEOUT


@dataclass(frozen=True)
class BackendRoute:
    """One backend and the networks whose events go to it."""

    #: the ``logbot.backends`` entry-point name: "file" or "sql"
    kind: str
    #: the path or URL; None for "sql" means SQLite at the default per-user path
    target: str | None
    #: indexes into ``Settings.networks``
    networks: tuple[int, ...]
    #: more than one channel goes to this backend (the text log then names the channel)
    multi_channel: bool


class StartupError(Exception):
    """The service cannot start; ``str()`` is one line for the user."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


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
    # one event, one line: a newline inside a message (a server's text, an exception's
    # message) must not start something that looks like another event
    message = visible(formatEvent(event)) or "-"
    line = f"{stamp} {name} {namespace}: {message}"
    failure = event.get("log_failure")
    if failure is not None:
        try:
            summary = f"{failure.type.__name__}: {failure.getErrorMessage()}"
            trace = failure.getTraceback().rstrip("\n")
        except Exception:  # a broken failure object must not break logging
            summary, trace = "unprintable failure", ""
        line += f" ({visible(summary)})"
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


def backend_routes(settings: Settings) -> tuple[BackendRoute, ...]:
    """The backends a run needs, each with the networks whose events it receives.

    A network writes to its ``file``, its ``log_dir`` and its ``db``; with none, to SQLite at the
    default path (``target`` None). Networks naming the same target share one backend.
    """
    order: list[tuple[str, str | None]] = []
    members: dict[tuple[str, str | None], list[int]] = {}
    for index, network in enumerate(settings.networks):
        wanted: list[tuple[str, str | None]] = []
        if network.file is not None:
            wanted.append(("file", network.file))
        if network.log_dir is not None:
            wanted.append(("daily", network.log_dir))
        if network.db is not None:
            wanted.append(("sql", network.db))
        if not wanted:
            wanted.append(("sql", None))
        for route in wanted:
            if route not in members:
                order.append(route)
                members[route] = []
            members[route].append(index)
    return tuple(
        BackendRoute(
            kind=kind,
            target=target,
            networks=tuple(members[(kind, target)]),
            multi_channel=sum(len(settings.networks[i].channels) for i in members[(kind, target)])
            > 1,
        )
        for kind, target in order
    )


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
                from logbot.storage.names import default_db_path

                target = str(default_db_path())
            options = BackendOptions(
                reactor=reactor,
                multi_channel=route.multi_channel,
                pool=pool,
                file_mode=settings.file_mode,
                compress_after_days=settings.compress_after_days,
            )
            backend = load_backend(route.kind)(target, options)
            backends.append(backend)
            for index in route.networks:
                per_network[index].append(backend)
    except Exception as exc:
        for backend in backends:
            backend.close()
        raise StartupError(error_line(exc)) from exc
    return backends, [FanOut(b) for b in per_network]


_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----", re.DOTALL
)


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
                f"cannot load client certificate {network.client_cert}: {error_line(exc)}"
            ) from exc
    if not network.tls_verify:
        extra: dict[str, Any] = {}
        if client_cert is not None:
            extra = {"privateKey": client_cert.privateKey.original}
            extra["certificate"] = client_cert.original
        return ssl.CertificateOptions(verify=False, **extra)
    trust: Any = None
    if network.tls_ca:
        from OpenSSL.crypto import Error as OpenSSLError

        try:
            with open(network.tls_ca, "rb") as f:
                pems = _PEM_CERTIFICATE.findall(f.read())
            if not pems:
                raise ValueError("no PEM certificate in it")
            certificates = [ssl.Certificate.loadPEM(pem) for pem in pems]
        except (OSError, ValueError, OpenSSLError) as exc:
            raise StartupError(
                f"cannot load CA certificate {network.tls_ca}: {error_line(exc)}"
            ) from exc
        # a bundle (several CAs, or an intermediate and its root): trust each of them
        trust = ssl.trustRootFromCertificates(certificates)  # type: ignore[no-untyped-call]
    return ssl.optionsForClientTLS(network.server, trustRoot=trust, clientCertificate=client_cert)


def connect(reactor: Any, network: NetworkConfig, factory: Any) -> None:
    if network.tls:
        reactor.connectSSL(network.server, network.port, factory, tls_options(network))
    else:
        reactor.connectTCP(network.server, network.port, factory)


def _shutdown(
    factories: Sequence[Any], sink: FanOut, notifier: Notifier | None = None
) -> defer.Deferred[None]:
    """QUIT every network, then flush and close every backend (a "before shutdown" trigger)."""

    @defer.inlineCallbacks
    def go() -> Any:
        if notifier is not None:
            notifier.notify("STOPPING=1")
        log.info("shutting down: sending QUIT to {count} network(s)", count=len(factories))
        for factory in factories:
            factory.stopTrying()
        yield defer.DeferredList(
            [defer.maybeDeferred(f.quit, QUIT_MESSAGE) for f in factories], consumeErrors=True
        )
        yield sink.close()
        log.info("all events flushed; exiting")

    return go()


SignalInstaller = Callable[[int, Callable[[int, Any], None]], object]


def _global_reactor(*, tls: bool) -> Any:
    """Twisted's global reactor; without ``tls``, installed without TLS support.

    Twisted's TCP transport imports pyOpenSSL and cryptography (~10 MB of the bot's memory)
    only to offer startTLS. A bot that connects to no TLS network hides them while the
    reactor is imported, so Twisted takes its no-TLS path; in a process that already has
    the TCP transport (a test run) this changes nothing.
    """
    from logbot.lean import hidden

    hide = not tls and "twisted.internet.tcp" not in sys.modules
    with hidden("OpenSSL") if hide else contextlib.nullcontext():
        from twisted.internet import reactor
    return reactor


def run(
    settings: Settings,
    reactor: Any = None,
    *,
    begin_logging: Callable[[str], None] = start_logging,
    install_signal: SignalInstaller = signal.signal,
    notifier: Notifier | None = None,
) -> int:
    """Run the bot until SIGTERM/SIGINT; returns the process exit status.

    ``begin_logging(level)``, ``install_signal(signum, handler)`` and ``notifier`` (systemd,
    from ``$NOTIFY_SOCKET``) are the process-wide effects; a test passes its own (and a
    memory reactor) to watch them.
    """
    if notifier is None:
        notifier = Notifier()
    own_process = reactor is None
    if own_process:
        _one_malloc_arena()
    if reactor is None:
        reactor = _global_reactor(tls=any(network.tls for network in settings.networks))
    begin_logging(settings.log_level)

    # SIGHUP's default action kills the process: catch it before anything slow (opening a
    # database may migrate it for minutes) so that a logrotate run meanwhile is harmless.
    opened: list[FanOut] = []

    def on_hup(signum: int, frame: Any) -> None:
        reactor.callFromThread(_reopen, opened)

    install_signal(signal.SIGHUP, on_hup)

    # Build every TLS option first so a bad certificate path is a startup error, not a
    # failure deep inside a reconnect loop.
    for network in settings.networks:
        if network.tls:
            tls_options(network)

    # Listen before opening the backends (a migration may take minutes): a port in use is
    # a startup error at once, and /healthz says "starting" meanwhile.
    metrics = serve_metrics(settings.metrics, reactor) if settings.metrics else None

    backends, sinks = build_backends(settings, reactor)
    sink = FanOut(backends)
    opened.append(sink)
    if metrics is not None:
        metrics.add_backends(backends)

    if settings.web is not None:
        # the archive of the shared database (the default SQLite file without one); before
        # any network connects, so an address in use stops the start cleanly
        start_web(reactor, settings.web, settings.db, settings=settings)

    from logbot.irc.factory import LogBotFactory

    factories = []
    for network, network_sink in zip(settings.networks, sinks, strict=True):
        write: Callable[[Any], None] = network_sink.write
        stats = None
        if metrics is not None:
            stats = metrics.add_network([c.name for c in network.channels])
            write = stats.counting(write)
        factory = LogBotFactory(network, write, reactor, resume=network_sink.last_event_before)
        if stats is not None:
            stats.view = factory
        factories.append(factory)
        log.info(
            "connecting to {server}:{port}{tls}",
            server=network.server,
            port=network.port,
            tls=" (TLS)" if network.tls else "",
        )
        connect(reactor, network, factory)
    wire_flow_control(sinks, factories)
    if metrics is not None:
        watch_gaps(metrics, factories)

    from logbot.retention import RetentionRunner, retention_configured

    if retention_configured(settings):
        # hourly, in a thread with its own connection, in small batches
        retention = RetentionRunner(settings, reactor)
        retention.start()
        reactor.addSystemEventTrigger("before", "shutdown", retention.stop)

    def on_stop(signum: int, frame: Any) -> None:
        reactor.callFromThread(_stop, reactor)

    # Our own handlers rather than the reactor's, so that a test sees every signal the
    # process answers; they do what Twisted's do: stop, which runs the shutdown trigger.
    install_signal(signal.SIGTERM, on_stop)
    install_signal(signal.SIGINT, on_stop)
    reactor.addSystemEventTrigger("before", "shutdown", _shutdown, factories, sink, notifier)
    reactor.callWhenRunning(_started, reactor, notifier, metrics)
    if own_process:
        _settle_heap()
    reactor.run(installSignalHandlers=False)
    return 0


#: glibc's mallopt() parameter for the most malloc arenas (malloc.h)
_M_ARENA_MAX = -8


def _one_malloc_arena() -> None:
    """Let every thread of the process allocate from glibc's one main arena.

    By default glibc gives each thread that allocates an arena of its own, and the writer's
    jobs run on pool threads: a flood left ~6 MB in two thread arenas, partly empty. One
    arena kept the bot's peak 1.5 MB lower, at the same CPU per event (the threads rarely
    malloc at once: Python's small objects come from its own allocator). Before any thread
    starts; unless ``MALLOC_ARENA_MAX`` says otherwise; nothing on another C library.
    """
    import os

    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 1)
    except (OSError, AttributeError):
        pass  # not glibc


def _settle_heap() -> None:
    """Keep the garbage collector's full passes off what start-up built for good.

    SQLAlchemy, Twisted, the settings and the schema leave a few hundred thousand objects
    that live as long as the process; without this every full collection walks them all
    again, and a flood (each event allocates) triggers many. Measured on the ingest
    benchmark (300,000 lines, five alternated pairs on a busy machine): the reactor thread
    ~0.3 us of its ~5.5 us per line, the process ~0.7 us of ~14. Only for the bot's own
    process: a test calling :func:`run` must not freeze its objects for good.
    """
    import gc

    gc.collect()
    gc.freeze()


def serve_metrics(listen: str, reactor: Any) -> Any:
    """Listen on ``HOST:PORT`` for /metrics and /healthz; the ``logbot.metrics.Metrics``."""
    from logbot.metrics import Metrics, resource_tree

    metrics = Metrics(reactor)
    host, port = parse_listen(listen)
    listen_http(reactor, host, port, resource_tree(metrics), what="metrics")
    log.info("serving /metrics and /healthz on http://{listen}/", listen=listen)
    return metrics


def watch_gaps(metrics: Any, factories: Sequence[Any]) -> None:
    """Add ``logbot_gaps_open`` and ``logbot_backfilled_events`` to ``metrics``, read from
    each network's gap book and counters (``LogBotFactory.gaps``/``.counts``) at scrape time."""

    def gaps_open() -> dict[tuple[str, ...], float]:
        return {
            (factory.network_name, channel): 1.0 if is_open else 0.0
            for factory in factories
            for channel, is_open in factory.gaps.open_now().items()
        }

    def backfilled() -> dict[tuple[str, ...], float]:
        return {(factory.network_name,): float(factory.counts.backfilled) for factory in factories}

    metrics.add_family(
        "gauge",
        "logbot_gaps_open",
        "1 while the channel is not logged since the bot was in it (disconnected, kicked, "
        "parted); 0 once it is logged again.",
        ["network", "channel"],
        gaps_open,
    )
    metrics.add_family(
        "counter",
        "logbot_backfilled_events",
        "Events from the server's history (chathistory) handed to the backends to fill gaps.",
        ["network"],
        backfilled,
    )


def _started(reactor: Any, notifier: Notifier, metrics: Any) -> None:
    """The backends are open and every network is connecting: tell systemd and /healthz."""
    from twisted.internet import task

    if metrics is not None:
        metrics.ready = True
    notifier.notify("READY=1")
    interval = notifier.watchdog_interval
    if notifier.enabled and interval is not None:
        # from the reactor itself: a wedged reactor stops the heartbeat and systemd
        # restarts the service
        heartbeat = task.LoopingCall(notifier.notify, "WATCHDOG=1")
        heartbeat.clock = reactor
        heartbeat.start(interval, now=True)


def _stop(reactor: Any) -> None:
    from twisted.internet.error import ReactorNotRunning

    # a second SIGTERM while shutting down: the shutdown under way goes on
    with contextlib.suppress(ReactorNotRunning):
        reactor.stop()


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


def _reopen(opened: Sequence[FanOut]) -> None:
    # A SIGHUP during start-up runs here only once the reactor runs, backends open.
    log.info("SIGHUP: reopening log files")
    for sink in opened:
        sink.reopen()


def listen_http(
    reactor: Any, host: str, port: int, resource: IResource, *, what: str = "web pages"
) -> Any:
    """Serve ``resource`` over HTTP on ``host:port`` (a twisted.web Site without a request
    log: nothing of the readers is kept, and no traceback is ever shown); the listening
    port. Raises :class:`StartupError` if the address cannot be listened on.
    """
    from twisted.internet.error import CannotListenError
    from twisted.web import server

    site = server.Site(resource)  # type: ignore[no-untyped-call]
    site.displayTracebacks = False
    site.log = lambda request: None  # type: ignore[method-assign]
    try:
        return reactor.listenTCP(port, site, interface=host)
    except CannotListenError as exc:
        where = _host_port(host, port)
        why = getattr(exc.socketError, "strerror", None) or error_line(exc.socketError)
        raise StartupError(f"cannot serve {what} on {where}: {why}") from None


def _web_resource(reactor: Any, archive: Archive, threads: int) -> IResource:
    """The archive's pages, their database reads in a thread pool of their own (never on
    the reactor thread: the bot's IRC connections and writer run there)."""
    from twisted.internet.threads import deferToThreadPool
    from twisted.python.threadpool import ThreadPool

    from logbot.web.server import ArchiveResource

    pool = ThreadPool(minthreads=1, maxthreads=threads, name="logbot-web")
    reactor.callWhenRunning(pool.start)
    reactor.addSystemEventTrigger("during", "shutdown", pool.stop)

    def run(call: Callable[[], Page]) -> defer.Deferred[Page]:
        return deferToThreadPool(reactor, pool, call)

    return cast("IResource", ArchiveResource(archive, run))


def start_web(
    reactor: Any,
    web: WebConfig,
    db: str | None,
    *,
    threads: int = 4,
    settings: Settings | None = None,
) -> Any:
    """The ``[web]`` table: the archive of ``db`` served by this process, on ``reactor``.

    Its reads go through read-only connections of their own (:mod:`logbot.storage.browse`,
    :mod:`logbot.search`), so the writer is never blocked; the listening port.
    """
    from logbot.web.site import Archive

    archive = Archive(
        db, channels=web.channels, title=web.title, noindex=web.noindex, settings=settings
    )
    try:
        port = listen_http(reactor, web.host, web.port, _web_resource(reactor, archive, threads))
    except StartupError:
        archive.close()
        raise
    reactor.addSystemEventTrigger("after", "shutdown", archive.close)
    log.info("web pages on http://{where}/", where=_host_port(web.host, web.port))
    return port


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve_web(archive: Archive, host: str, port: int, *, threads: int = 4) -> None:
    """``logbot web``: serve ``archive`` on ``host:port`` until interrupted.

    Database reads run in their own thread pool, never on the reactor thread.
    """
    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    listen_http(reactor, host, port, _web_resource(reactor, archive, threads))
    reactor.run()
