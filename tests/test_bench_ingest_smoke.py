"""Smoke tests of the ingest benchmark's parts: the stream, the flood server, the checker.

No logger runs here (no ZNC, no logbot): a raw socket client plays the logger against the
flood server on a loopback port, with a few hundred lines, so the suite stays fast.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from bench.floodserver import FloodServer
from bench.ingest import TextWatcher, patch_irclogbot
from bench.stream import (
    ALL_KINDS,
    JOIN,
    NICK,
    PART,
    PRIVMSG,
    QUIT,
    TokenCounter,
    build_stream,
    line_token,
    token,
)

LINES = 400


def test_stream_gives_every_line_one_token_of_its_own() -> None:
    """Line i carries token i, read back as the last token on it, and no line is too long."""
    stream = build_stream(LINES, members=20)
    lines = [line for line in stream.data.split(b"\r\n") if line and not line.startswith(b"PING ")]
    assert len(lines) == LINES
    assert [line_token(line) for line in lines] == list(range(LINES))
    assert max(len(line) for line in lines) <= 510
    stream.data.decode("utf-8")  # raises if any line is not UTF-8


def test_stream_moves_only_members_of_the_channel() -> None:
    """Speakers, leavers and renamers are in the channel (NAMES, then the stream's own joins)."""
    stream = build_stream(LINES * 5, members=10, seed=7)
    present = set(stream.members)
    kinds_seen = set()
    for raw in stream.data.split(b"\r\n"):
        if not raw.startswith(b":"):
            continue
        prefix, command, *rest = raw.decode().split(" ")
        nick = prefix[1:].split("!")[0]
        kinds_seen.add(command)
        if command == "JOIN":
            assert nick not in present
            present.add(nick)
            continue
        assert nick in present, raw
        if command in ("PART", "QUIT"):
            present.remove(nick)
        elif command == "NICK":
            present.remove(nick)
            present.add(rest[0].lstrip(":"))
    assert kinds_seen == {"PRIVMSG", "NOTICE", "JOIN", "PART", "QUIT", "NICK"}
    counts = stream.kind_counts()
    assert counts["privmsg"] / stream.lines > 0.85
    assert present, "the channel never empties"


def test_stream_checkpoints_end_on_their_line_and_the_last_is_a_privmsg() -> None:
    """Each checkpoint offset is just after the PRIVMSG line that carries its token."""
    stream = build_stream(LINES, checkpoints=4)
    assert stream.checkpoints[-1] == (LINES - 1, len(stream.data))
    for number, end in stream.checkpoints:
        start = stream.data.rindex(b"\r\n", 0, end - 2) + 2
        assert line_token(stream.data[start:end]) == number
        assert stream.kinds[number] == PRIVMSG
    for name, offset in stream.probes:
        assert stream.data[offset:].startswith(f"PING :{name}\r\n".encode())


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


def test_checker_counts_lost_lines_among_the_kinds_a_logger_writes(tmp_path: Path) -> None:
    """Lines missing from a text log are lost; kinds the logger skips are not counted."""
    stream = build_stream(LINES)
    lines = [line for line in stream.data.split(b"\r\n") if line.startswith(b":")]
    dropped = {5, 77}
    joins = {i for i in range(LINES) if stream.kinds[i] == JOIN}
    kept = [
        b"[12:00:00] " + line for i, line in enumerate(lines) if i not in dropped and i not in joins
    ]
    log = tmp_path / "out.log"
    log.write_bytes(b"\n".join(kept) + b"\n")

    counter = TokenCounter(stream.lines)
    TextWatcher(str(log), []).count(counter)
    without_joins = counter.check(stream, ALL_KINDS - {JOIN})
    assert without_joins.lost == len(dropped - joins)
    assert set(without_joins.lost_sample) == dropped - joins
    everything = counter.check(stream, ALL_KINDS)
    assert everything.lost == len(dropped | joins)
    assert everything.duplicated == 0

    counter.add_text(b"[12:00:01] <x> again " + token(3).encode() + b"\n")
    assert counter.check(stream, {PRIVMSG, PART, QUIT, NICK}).duplicated == 1


def test_text_watcher_sees_checkpoints_as_the_file_grows(tmp_path: Path) -> None:
    """A checkpoint token split across two reads is still found."""
    log = tmp_path / "grow.log"
    watcher = TextWatcher(str(log), [42])
    watcher.poll()
    assert watcher.seen == {}
    log.write_bytes(b"<a> hi tok0000")
    watcher.poll()
    assert watcher.seen == {}
    with log.open("ab") as fh:
        fh.write(b"00042\n")
    watcher.poll()
    assert set(watcher.seen) == {42}


def test_irclogbot_patch_changes_only_the_connect_line() -> None:
    """The example's hard-coded server becomes argv host and port; anything else is refused."""
    source = 'x = 1\n    reactor.connectTCP("irc.freenode.net", 6667, f)\n'
    assert patch_irclogbot(source) == (
        "x = 1\n    reactor.connectTCP(sys.argv[3], int(sys.argv[4]), f)\n"
    )
    with pytest.raises(ValueError, match="connectTCP"):
        patch_irclogbot("reactor.connectTCP(host, port, f)\n")
