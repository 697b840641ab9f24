"""service.run with metrics and systemd: the listener, READY, the watchdog, STOPPING.

A memory reactor (no port is opened; the Site it was given is rendered directly) and a
unix datagram socket standing for systemd.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path
from typing import Any

from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from logbot.irc.factory import LogBotFactory
from logbot.sdnotify import Notifier
from logbot.service import run
from logbot.settings import Settings
from tests.test_service_run import ServiceReactor, Signals, connect_and_hear, network


def get(site: Any, path: bytes) -> tuple[int, str]:
    request = DummyRequest(path.strip(b"/").split(b"/"))
    body = getChildForRequest(site.resource, request).render(request)
    return request.responseCode or 200, body.decode()


def received(sock: socket.socket) -> list[bytes]:
    states = []
    sock.setblocking(False)
    try:
        while True:
            states.append(sock.recv(100))
    except BlockingIOError:
        return states


def test_run_serves_metrics_notifies_systemd_and_beats_the_watchdog(tmp_path: Path) -> None:
    """The listener is on the configured address; READY=1 once running (and /healthz 503
    until then), WATCHDOG=1 at half WATCHDOG_USEC from the reactor, STOPPING=1 on SIGTERM."""
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(tmp_path / "notify"))
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "4000000"})
    settings = Settings(networks=(network("a", tmp_path / "a.log"),), metrics="127.0.0.1:9108")
    signals = Signals(tmp_path / "a.log")
    seen: dict[str, Any] = {}

    def session(reactor: ServiceReactor) -> None:
        port, site, _backlog, interface = reactor.tcpServers[0]
        seen["listen"] = (interface, port)
        seen["before"] = (get(site, b"/healthz"), received(systemd))
        for f, args, kw in reactor.whenRunningHooks:  # what a real reactor runs first
            f(*args, **kw)
        seen["running"] = (get(site, b"/healthz"), received(systemd))
        connect_and_hear(reactor, "hello")
        seen["joined"] = get(site, b"/healthz")
        _status, text = get(site, b"/metrics")
        seen["events"] = [line for line in text.splitlines() if "logbot_events_total{" in line]
        seen["gaps"] = [
            line
            for line in text.splitlines()
            if line.startswith(("logbot_gaps_open{", "logbot_backfilled_events_total{"))
        ]
        reactor.advance(2)
        reactor.advance(2)
        seen["beats"] = received(systemd)
        signals.send(signal.SIGTERM)
        reactor.pump()
        reactor.advance(LogBotFactory.quit_timeout)
        seen["stopping"] = received(systemd)

    reactor = ServiceReactor(session)
    try:
        status = run(
            settings,
            reactor,
            begin_logging=lambda level: None,
            install_signal=signals,
            notifier=notifier,
        )
    finally:
        systemd.close()
    assert status == 0
    assert seen["listen"] == ("127.0.0.1", 9108)
    assert seen["before"] == ((503, "starting\n"), [])
    assert seen["running"] == ((503, "a: not connected\n"), [b"READY=1", b"WATCHDOG=1"])
    assert seen["joined"] == (200, "ok\n")
    assert seen["events"] == ['logbot_events_total{channel="#x",network="a"} 2.0']
    # run() wires the gap book and the backfill counter in (watch_gaps): #x is logged
    assert seen["gaps"] == [
        'logbot_gaps_open{channel="#x",network="a"} 0.0',
        'logbot_backfilled_events_total{network="a"} 0.0',
    ]
    assert seen["beats"] == [b"WATCHDOG=1", b"WATCHDOG=1"]
    assert seen["stopping"][0] == b"STOPPING=1"


def test_run_without_metrics_listens_nowhere(tmp_path: Path) -> None:
    reactor = ServiceReactor(lambda reactor: None)
    settings = Settings(networks=(network("a", tmp_path / "a.log"),))
    run(
        settings,
        reactor,
        begin_logging=lambda level: None,
        install_signal=Signals(tmp_path / "x"),
        notifier=Notifier({}),
    )
    assert reactor.tcpServers == []
