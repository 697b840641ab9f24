"""service.run end to end on a memory reactor: signals, QUIT, flushing, the exit status.

No real reactor, no socket, no signal: ``run`` takes the reactor, the logging start and
the signal installer as parameters, and the test plays the process's life through them.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.error import ConnectionDone, ReactorNotRunning
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from logbot.irc.factory import LogBotFactory
from logbot.service import QUIT_MESSAGE, run
from logbot.settings import ChannelConfig, NetworkConfig, Settings

Handler = Callable[[int, Any], None]


class ServiceReactor(MemoryReactorClock):
    """A memory reactor whose ``run`` plays ``session`` and whose ``stop`` runs the
    "before shutdown" triggers, as a real reactor does, recording what they return."""

    def __init__(self, session: Callable[[ServiceReactor], None]) -> None:
        super().__init__()
        self.session = session
        self.from_thread: list[tuple[Callable[..., object], tuple[object, ...]]] = []
        self.shutdown: list[object] = []

    def callFromThread(self, f: Callable[..., object], *args: object, **kw: object) -> None:
        self.from_thread.append((f, args))

    def pump(self) -> None:
        """Run what signal handlers queued, as the reactor's next iteration would."""
        queued, self.from_thread = self.from_thread, []
        for f, args in queued:
            f(*args)

    def run(self, installSignalHandlers: bool = True) -> None:
        self.running = True
        self.session(self)

    def stop(self) -> None:
        if not self.running:
            raise ReactorNotRunning()
        self.running = False
        for f, args, kw in self.triggers.get("before", {}).get("shutdown", []):
            defer.maybeDeferred(f, *args, **kw).addBoth(self.shutdown.append)


class Signals:
    """The signal installer: remembers each handler and what the disk held at the time."""

    def __init__(self, watched: Path) -> None:
        self.watched = watched
        self.handlers: dict[int, Handler] = {}
        self.installed: list[tuple[int, bool]] = []

    def __call__(self, signum: int, handler: Handler) -> None:
        self.handlers[signum] = handler
        self.installed.append((signum, self.watched.exists()))

    def send(self, signum: int) -> None:
        self.handlers[signum](signum, None)


def network(name: str, log: Path) -> NetworkConfig:
    return NetworkConfig(
        server=f"irc.{name}.test", channels=(ChannelConfig("#x"),), name=name, file=str(log)
    )


def connect_and_hear(reactor: ServiceReactor, text: str) -> list[StringTransport]:
    """Every connection the service asked for succeeds, signs on, joins #x and hears ``text``."""
    transports = []
    for host, _port, factory, _timeout, _bind in reactor.tcpClients:
        proto = factory.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        proto.dataReceived(
            f":{host} 421 * CAP :Unknown\r\n:{host} 001 logbot :Welcome\r\n"
            f":logbot!b@h JOIN #x\r\n:alice!a@h PRIVMSG #x :{text}\r\n".encode()
        )
        transports.append(transport)
    return transports


def test_sigterm_sends_quit_then_flushes_every_backend_and_exits_0(tmp_path: Path) -> None:
    """SIGTERM: QUIT to every network, then each backend's buffered lines reach its file, then 0."""
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    settings = Settings(networks=(network("a", logs[0]), network("b", logs[1])))
    signals = Signals(logs[0])
    seen: dict[str, object] = {}

    def session(reactor: ServiceReactor) -> None:
        transports = connect_and_hear(reactor, "hello before the end")
        # buffered, not yet written: the text backend writes once a second
        seen["before"] = [log.read_text() for log in logs]
        signals.send(signal.SIGTERM)
        reactor.pump()
        seen["quit"] = [t.value().decode().splitlines()[-1] for t in transports]
        seen["flushed early"] = reactor.shutdown[:]
        for host, _port, factory, _timeout, _bind in reactor.tcpClients:
            assert isinstance(factory, LogBotFactory), host
            factory.connection.connectionLost(Failure(ConnectionDone()))  # type: ignore[union-attr]
            factory.clientConnectionLost(None, Failure(ConnectionDone()))  # type: ignore[arg-type]
        seen["after"] = [log.read_text() for log in logs]

    reactor = ServiceReactor(session)
    status = run(settings, reactor, begin_logging=lambda level: None, install_signal=signals)

    assert status == 0
    assert seen["before"] == ["", ""]
    assert seen["quit"] == [f"QUIT :{QUIT_MESSAGE}"] * 2
    assert seen["flushed early"] == []  # nothing closes before the servers saw QUIT
    assert reactor.shutdown == [None]
    after: list[str] = seen["after"]  # type: ignore[assignment]
    for text in after:
        # every line was still buffered at SIGTERM; the stamps are the test clock's
        assert [line.split("] ", 1)[1] for line in text.splitlines()][1:] == [
            "[connected at Thu Jan  1 00:00:00 1970]",
            "[I have joined #x]",
            "<alice> hello before the end",
            "[disconnected at Thu Jan  1 00:00:00 1970]",
        ]


def test_second_sigterm_during_shutdown_is_harmless(tmp_path: Path) -> None:
    """A second SIGTERM while QUIT is pending does not stop the reactor twice."""
    settings = Settings(networks=(network("a", tmp_path / "a.log"),))
    signals = Signals(tmp_path / "a.log")

    def session(reactor: ServiceReactor) -> None:
        connect_and_hear(reactor, "x")
        signals.send(signal.SIGTERM)
        signals.send(signal.SIGINT)
        reactor.pump()
        reactor.advance(LogBotFactory.quit_timeout)  # the server never closes: QUIT gives up

    reactor = ServiceReactor(session)
    assert run(settings, reactor, begin_logging=lambda level: None, install_signal=signals) == 0
    assert reactor.shutdown == [None]


def test_logging_starts_at_the_configured_level(tmp_path: Path) -> None:
    """run() starts the process's logging once, at the settings' level."""
    settings = Settings(networks=(network("a", tmp_path / "a.log"),), log_level="debug")
    levels: list[str] = []
    reactor = ServiceReactor(lambda reactor: None)
    run(settings, reactor, begin_logging=levels.append, install_signal=Signals(tmp_path / "x"))
    assert levels == ["debug"]


def test_sighup_is_caught_before_anything_slow_starts(tmp_path: Path) -> None:
    """The SIGHUP handler is installed first, before any backend opens (or migrates)."""
    log = tmp_path / "a.log"
    signals = Signals(log)
    reactor = ServiceReactor(lambda reactor: None)
    run(
        Settings(networks=(network("a", log),)),
        reactor,
        begin_logging=lambda level: None,
        install_signal=signals,
    )
    assert signals.installed[0] == (signal.SIGHUP, False)  # False: the log not opened yet
    assert {signum for signum, _ in signals.installed} == {
        signal.SIGHUP,
        signal.SIGTERM,
        signal.SIGINT,
    }


def test_sighup_during_start_up_is_harmless_and_later_reopens(tmp_path: Path) -> None:
    """A SIGHUP while the backends open does nothing; one after start reopens the log."""
    log = tmp_path / "a.log"
    signals = Signals(log)
    seen: dict[str, str] = {}

    def install(signum: int, handler: Handler) -> None:
        signals(signum, handler)
        if signum == signal.SIGHUP:
            handler(signum, None)  # logrotate ran while the database migrated

    def session(reactor: ServiceReactor) -> None:
        reactor.pump()  # the early SIGHUP's turn comes once the reactor runs
        connect_and_hear(reactor, "before rotation")
        reactor.advance(1)  # the text backend writes what it holds each second
        log.rename(tmp_path / "a.log.1")
        signals.send(signal.SIGHUP)
        reactor.pump()
        seen["new"] = log.read_text()
        signals.send(signal.SIGTERM)
        reactor.pump()
        reactor.advance(LogBotFactory.quit_timeout)

    reactor = ServiceReactor(session)
    status = run(
        Settings(networks=(network("a", log),)),
        reactor,
        begin_logging=lambda level: None,
        install_signal=install,
    )
    assert status == 0
    assert "<alice> before rotation" in (tmp_path / "a.log.1").read_text()
    assert seen["new"] == ""
    assert "<alice>" not in log.read_text()


def _retention_calls(reactor: ServiceReactor) -> list[float]:
    from logbot.retention import RetentionRunner

    return [
        call.getTime()
        for call in reactor.getDelayedCalls()
        if isinstance(getattr(call.func, "__self__", None), RetentionRunner)
    ]


def test_retention_runs_are_scheduled_only_when_configured_and_stop_at_shutdown(
    tmp_path: Path,
) -> None:
    """retention_days set: a prune a minute after start; SIGTERM cancels it. Unset: none."""
    from dataclasses import replace

    from logbot.retention import FIRST_DELAY

    seen: dict[str, list[float]] = {}
    for label, days in (("with", 7), ("without", None)):
        settings = Settings(networks=(network("a", tmp_path / f"{label}.log"),))
        settings = replace(settings, retention_days=days)
        signals = Signals(tmp_path / "nothing")

        def session(
            reactor: ServiceReactor, label: str = label, signals: Signals = signals
        ) -> None:
            seen[label] = _retention_calls(reactor)
            signals.send(signal.SIGTERM)
            reactor.pump()
            seen[label + " after"] = _retention_calls(reactor)

        run(settings, ServiceReactor(session), begin_logging=lambda level: None,
            install_signal=signals)  # fmt: skip
    assert seen == {"with": [FIRST_DELAY], "with after": [], "without": [], "without after": []}
