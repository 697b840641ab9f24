"""systemd notifications reach a unix datagram socket; the watchdog follows WATCHDOG_USEC."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from logbot.sdnotify import Notifier


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A datagram socket where systemd would listen: (its NOTIFY_SOCKET value, the socket)."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield str(path), sock
    sock.close()


def test_states_arrive_as_one_datagram_each(systemd: tuple[str, socket.socket]) -> None:
    """READY=1, WATCHDOG=1 and STOPPING=1 reach $NOTIFY_SOCKET as sent."""
    address, sock = systemd
    notifier = Notifier({"NOTIFY_SOCKET": address})
    for state in ("READY=1", "WATCHDOG=1", "STOPPING=1"):
        assert notifier.notify(state)
        assert sock.recv(100) == state.encode()


def test_an_abstract_socket_is_named_with_an_at_sign() -> None:
    """``@name`` is the abstract namespace (a leading NUL byte), as systemd passes it."""
    name = f"logbot-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).notify("READY=1")
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.notify("READY=1")


def test_a_vanished_socket_is_one_warning_not_an_error(tmp_path: Path) -> None:
    """systemd gone (or the path wrong): notify returns False, the bot runs on."""
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody")})
    assert notifier.enabled
    assert not notifier.notify("WATCHDOG=1")
    assert not notifier.notify("WATCHDOG=1")


@pytest.mark.parametrize(
    ("environ", "interval"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # another process's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_the_watchdog_beats_at_half_its_timeout_for_this_process_only(
    environ: dict[str, str], interval: float | None
) -> None:
    assert Notifier(environ, pid=4242).watchdog_interval == interval
