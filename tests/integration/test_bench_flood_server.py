"""The ingest benchmark's flood server, over loopback: a raw socket client plays the logger.

No logger runs here (no ZNC, no logbot), with a few hundred lines, so it stays fast.
"""

from __future__ import annotations

import socket
import time

from bench.floodserver import FloodServer
from bench.stream import build_stream, token

LINES = 400


def _read_until(sock: socket.socket, buf: bytearray, needle: bytes, deadline: float) -> bytes:
    while needle not in buf:
        assert time.monotonic() < deadline, f"no {needle!r} from the server"
        data = sock.recv(65536)
        assert data, "server closed the connection"
        buf += data
    return bytes(buf)


def test_flood_server_registers_joins_floods_and_times_the_probes() -> None:
    """A client that registers and joins receives every line and its PONGs are timed."""
    stream = build_stream(LINES, members=25, probes=2)
    deadline = time.monotonic() + 10
    with FloodServer(stream, chunk=4096) as server:
        sock = socket.create_connection((server.host, server.port), timeout=10)
        with sock:
            buf = bytearray()
            sock.sendall(b"CAP LS 302\r\nNICK smoke\r\nUSER smoke 0 * :smoke\r\n")
            _read_until(sock, buf, b"CAP * LS", deadline)
            assert not server.registered.is_set(), "registration waits for CAP END"
            sock.sendall(b"CAP END\r\nPING :hello\r\n")
            text = _read_until(sock, buf, b":hello\r\n", deadline)
            assert b" 001 smoke " in text
            assert b"NETWORK=FloodNet" in text
            sock.sendall(b"JOIN #bench\r\n")
            text = _read_until(sock, buf, b" 366 ", deadline)
            assert b":smoke!bot@127.0.0.1 JOIN #bench" in text
            assert b"user024" in text
            buf.clear()
            server.flood()
            last = token(LINES - 1).encode()
            answered = 0
            while last not in buf:
                assert time.monotonic() < deadline, "the flood did not arrive"
                data = sock.recv(65536)
                assert data
                buf += data
                while answered < len(stream.probes):
                    name = stream.probes[answered][0].encode()
                    if b"PING :" + name not in buf:
                        break
                    sock.sendall(b"PONG :" + name + b"\r\n")
                    answered += 1
            sock.sendall(b"QUIT :done\r\n")
            assert server.disconnected.wait(5)
        assert server.finished.wait(5)
    assert bytes(buf) == stream.data
    assert server.error is None
    assert set(server.probe_answered) == {name for name, _ in stream.probes}
    assert all(server.probe_answered[n] >= server.probe_sent[n] for n in server.probe_sent)
    assert set(server.checkpoint_sent) == {number for number, _ in stream.checkpoints}
    assert server.flood_started is not None
    assert server.flood_sent is not None


def test_replies_to_the_clients_ping_never_split_a_flood_line() -> None:
    """A PONG the server sends mid-flood arrives between two whole lines of the stream."""
    stream = build_stream(LINES, members=25, probes=0)
    deadline = time.monotonic() + 10
    with FloodServer(stream, chunk=300) as server:
        sock = socket.create_connection((server.host, server.port), timeout=10)
        with sock:
            buf = bytearray()
            sock.sendall(b"NICK ping\r\nUSER ping 0 * :ping\r\nJOIN #bench\r\n")
            _read_until(sock, buf, b" 366 ", deadline)
            buf.clear()
            server.flood()
            pings = 0
            last = token(LINES - 1).encode()
            while last not in buf or buf.count(b" PONG ") < pings:
                assert time.monotonic() < deadline, "the flood or a PONG did not arrive"
                if pings < 20:
                    pings += 1
                    sock.sendall(b"PING :keepalive%d\r\n" % pings)
                data = sock.recv(4096)
                assert data
                buf += data
    lines = bytes(buf).split(b"\r\n")
    pongs = [line for line in lines if b" PONG " in line]
    assert len(pongs) == pings
    assert all(line.startswith(b":flood.bench PONG ") for line in pongs)
    rest = b"".join(line + b"\r\n" for line in lines if line and b" PONG " not in line)
    assert rest == stream.data


def test_paced_flood_takes_its_planned_time() -> None:
    """With a rate, the last byte leaves no sooner than lines/rate after the first."""
    stream = build_stream(LINES, members=25, probes=0)
    with FloodServer(stream, rate=LINES / 0.2) as server:
        sock = socket.create_connection((server.host, server.port), timeout=10)
        with sock:
            buf = bytearray()
            deadline = time.monotonic() + 10
            sock.sendall(b"NICK pace\r\nUSER pace 0 * :pace\r\nJOIN #bench\r\n")
            _read_until(sock, buf, b" 366 ", deadline)
            server.flood()
            _read_until(sock, buf, token(LINES - 1).encode(), deadline)
        assert server.finished.wait(5)
    assert server.flood_sent is not None
    assert server.flood_started is not None
    assert server.flood_sent - server.flood_started >= 0.19
