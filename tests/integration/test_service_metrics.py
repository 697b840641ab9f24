"""The real bot serves /metrics and /healthz over loopback and notifies systemd."""

from __future__ import annotations

import re
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import HOST, IRCClient, LogBot, Ngircd, free_port, wait_for

pytestmark = pytest.mark.integration


def fetch(port: int, path: str) -> tuple[int, str]:
    """(status, body) of GET http://127.0.0.1:PORT/PATH; (0, "") while nothing listens."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample ``name{labels}`` in an exposition, None if absent."""
    for line in text.splitlines():
        match = re.match(r"([a-z_]+)(?:\{(.*)\})? (\S+)$", line)
        if match is None or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


def test_real_bot_serves_metrics_and_healthz_goes_503_while_the_server_is_down(
    ngircd: Ngircd,
    logbot_run: Callable[..., LogBot],
    irc_client: Callable[..., IRCClient],
    tmp_path: Path,
) -> None:
    """Events said in #x are counted on /metrics; /healthz is 503 while ngircd is down and
    200 again once the bot is back in #x; systemd hears READY=1 and WATCHDOG=1."""
    notify_path = tmp_path / "notify.sock"
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(notify_path))
    systemd.settimeout(10)
    port = free_port()
    bot = logbot_run(
        *("--server", HOST, "--port", str(ngircd.port), "--channel", "#x", "--network", "test"),
        *("--db", str(tmp_path / "logbot.sqlite"), "--metrics", f"{HOST}:{port}"),
        env={"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "2000000"},
    )
    try:
        assert systemd.recv(100) == b"READY=1"
        assert systemd.recv(100) == b"WATCHDOG=1"
    finally:
        systemd.close()

    wait_for(lambda: fetch(port, "/healthz") == (200, "ok\n"), 20, "/healthz 200")
    alice = irc_client("alice")
    alice.join("#x")
    for n in range(3):
        alice.privmsg("#x", f"line {n}")
    alice.sync()

    def counted() -> str | None:
        _status, text = fetch(port, "/metrics")
        # the bot's own join, alice's join and her three lines
        if sample(text, "logbot_events_total", network="test", channel="#x") == 5.0:
            return text
        return None

    text = wait_for(counted, 20, "5 events in #x on /metrics")
    assert sample(text, "logbot_connected", network="test") == 1.0
    assert sample(text, "logbot_joined", network="test", channel="#x") == 1.0
    assert sample(text, "logbot_reconnects_total", network="test") == 0.0
    assert (sample(text, "logbot_lines_received_total", network="test") or 0) >= 5
    assert sample(text, "logbot_healthy") == 1.0
    assert sample(text, "logbot_spool_events", backend=str(tmp_path / "logbot.sqlite")) == 0.0

    ngircd.stop()
    wait_for(lambda: fetch(port, "/healthz") == (503, "test: not connected\n"), 20, "/healthz 503")
    ngircd.start()
    wait_for(lambda: fetch(port, "/healthz") == (200, "ok\n"), 30, "/healthz 200 again")
    status, text = fetch(port, "/metrics")
    assert status == 200
    assert (sample(text, "logbot_reconnects_total", network="test") or 0) >= 1
    assert bot.terminate() == 0


def test_a_metrics_port_in_use_is_one_line_and_exit_2(
    logbot_run: Callable[..., LogBot], tmp_path: Path
) -> None:
    """Another process holds the port: one line naming the address, exit 2, no traceback."""
    taken = socket.socket()
    taken.bind((HOST, 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        bot = logbot_run(
            *("--server", HOST, "--port", "1", "--channel", "#x"),
            *("--file", str(tmp_path / "log.txt"), "--metrics", f"{HOST}:{port}"),
        )
        assert bot.wait_exit() == 2
    finally:
        taken.close()
    assert bot.stderr().splitlines()[-1] == (
        f"Error: cannot serve metrics on {HOST}:{port}: Address already in use"
    )
    assert not (tmp_path / "log.txt").exists()  # refused before any backend opened
