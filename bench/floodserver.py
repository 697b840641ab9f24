"""A one-client IRC server that floods a channel as fast as the client's socket takes it.

It listens on 127.0.0.1 (a free port), accepts one client, registers it (CAP LS answered
with an empty list, 001..005 with ``NETWORK=``, 422), answers PING with PONG, answers the
client's JOIN of the flood channel with the JOIN echo and NAMES (353/366) listing the
stream's members, and then, when told, writes the pre-generated stream in big chunks.

Times are ``time.monotonic()``: when the first flood byte went out, when each checkpoint
line was handed to the kernel, when each probe PING went out and when its PONG came back.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Callable

from bench.stream import Stream

SERVER_NAME = "flood.bench"
NETWORK = "FloodNet"
CHUNK = 256 * 1024


class FloodServer:
    """Serve one flood to one client; see the module doc."""

    def __init__(
        self,
        stream: Stream,
        *,
        host: str = "127.0.0.1",
        chunk: int = CHUNK,
        sndbuf: int | None = 256 * 1024,
        rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        #: lines per second to pace the flood at (None: as fast as the socket takes it)
        self.rate = rate
        # paced: small steps, so the stream flows evenly rather than in quarter-MB gulps
        self.chunk = chunk if rate is None else min(chunk, 8192)
        self.sndbuf = sndbuf
        self.clock = clock
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(1)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._conn: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._closing = False

        self.nick = "*"
        self.registered = threading.Event()
        self.joined = threading.Event()
        self.finished = threading.Event()
        self.disconnected = threading.Event()
        #: when the first flood byte was written, and when the last one was accepted
        self.flood_started: float | None = None
        self.flood_sent: float | None = None
        self.checkpoint_sent: dict[int, float] = {}
        self.probe_sent: dict[str, float] = {}
        self.probe_answered: dict[str, float] = {}
        #: commands the client sent, by name (for the record and for debugging)
        self.client_commands: dict[str, int] = {}
        self.error: str | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """Accept the client and speak IRC with it in a background thread."""
        reader = threading.Thread(target=self._serve, name="flood-reader", daemon=True)
        self._threads.append(reader)
        reader.start()

    def flood(self) -> None:
        """Start writing the stream (the client must have joined)."""
        # the join is marked just after 366 is written: a client may see 366 first
        if not self.joined.wait(10):
            raise RuntimeError("the client has not joined the flood channel")
        writer = threading.Thread(target=self._write_stream, name="flood-writer", daemon=True)
        self._threads.append(writer)
        writer.start()

    def close(self) -> None:
        """Close the sockets and wait for the threads."""
        self._closing = True
        for sock in (self._conn, self._listener):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FloodServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the conversation -----------------------------------------------------------

    def _send(self, data: bytes | memoryview) -> None:
        conn = self._conn
        if conn is None:
            return
        with self._send_lock:
            conn.sendall(data)

    def _reply(self, numeric: str, text: str) -> None:
        self._send(f":{SERVER_NAME} {numeric} {self.nick} {text}\r\n".encode())

    def _serve(self) -> None:
        try:
            self._listener.settimeout(120)
            conn, _ = self._listener.accept()
            # one client only: a reconnecting bot finds the door shut
            self._listener.close()
            if self.sndbuf:
                # A small send buffer keeps the server's own queue short, so a probe's
                # round trip measures the client, not bytes parked in our kernel buffer.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
            self._conn = conn
            self._read_loop(conn)
        except OSError as exc:
            if not self._closing:
                self.error = self.error or f"server: {exc}"
        finally:
            self.disconnected.set()

    def _read_loop(self, conn: socket.socket) -> None:
        buf = b""
        got_user = False
        cap_open = False
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.rstrip(b"\r").decode("utf-8", "replace")
                if line.startswith("@"):
                    line = line.partition(" ")[2]
                if line.startswith(":"):
                    line = line.partition(" ")[2]
                command, _, rest = line.partition(" ")
                command = command.upper()
                self.client_commands[command] = self.client_commands.get(command, 0) + 1
                if command == "PONG":
                    now = self.clock()
                    for name in self.probe_sent:
                        if name in rest and name not in self.probe_answered:
                            self.probe_answered[name] = now
                elif command == "PING":
                    arg = rest[1:] if rest.startswith(":") else rest
                    self._send(f":{SERVER_NAME} PONG {SERVER_NAME} :{arg}\r\n".encode())
                elif command == "CAP":
                    sub = rest.split(" ")[0].upper()
                    if sub == "LS":
                        cap_open = True
                        self._send(f":{SERVER_NAME} CAP * LS :\r\n".encode())
                    elif sub == "REQ":
                        caps = rest.partition(":")[2] or rest.partition(" ")[2]
                        self._send(f":{SERVER_NAME} CAP * NAK :{caps}\r\n".encode())
                    elif sub == "END":
                        cap_open = False
                elif command == "NICK":
                    new = rest.lstrip(":").split(" ")[0]
                    if self.registered.is_set():
                        self._send(f":{self.nick}!bot@127.0.0.1 NICK :{new}\r\n".encode())
                    self.nick = new
                elif command == "USER":
                    got_user = True
                elif command == "JOIN":
                    self._joined(rest)
                elif command == "QUIT":
                    # as a real server does: ERROR, then close, so the client's QUIT
                    # completes at once instead of waiting out its grace period
                    self._send(b"ERROR :Closing link (quit)\r\n")
                    with self._send_lock:
                        conn.shutdown(socket.SHUT_RDWR)
                    return
                if not self.registered.is_set() and got_user and self.nick != "*" and not cap_open:
                    self._welcome()

    def _welcome(self) -> None:
        self._reply("001", f":Welcome to {NETWORK} {self.nick}")
        self._reply("002", f":Your host is {SERVER_NAME}, running floodserver")
        self._reply("003", ":This server was created for a benchmark")
        self._reply("004", f"{SERVER_NAME} floodserver-1 io ovntb")
        self._reply(
            "005",
            f"NETWORK={NETWORK} CHANTYPES=# PREFIX=(ov)@+ CHANMODES=b,k,l,nt "
            "NICKLEN=32 CHANNELLEN=50 TOPICLEN=300 CASEMAPPING=rfc1459 "
            ":are supported by this server",
        )
        self._reply("422", ":MOTD File is missing")
        self.registered.set()

    def _joined(self, rest: str) -> None:
        targets = rest.lstrip(":").split(" ")[0].split(",")
        for chan in targets:
            if chan.lower() != self.stream.channel.lower():
                self._reply("403", f"{chan} :No such channel")
                continue
            self._send(f":{self.nick}!bot@127.0.0.1 JOIN {self.stream.channel}\r\n".encode())
            self._reply("331", f"{self.stream.channel} :No topic is set")
            names = [f"@{self.nick}", *self.stream.members]
            for start in range(0, len(names), 30):
                batch = " ".join(names[start : start + 30])
                self._reply("353", f"= {self.stream.channel} :{batch}")
            self._reply("366", f"{self.stream.channel} :End of /NAMES list.")
            self.joined.set()

    # -- the flood ------------------------------------------------------------------

    def _boundaries(self) -> list[tuple[int, int]]:
        """Send segments: about CHUNK bytes, cut before each probe and after each checkpoint.

        Every cut is at a line end: the reader thread's replies (a PONG to the client's own
        keepalive PING) go out between segments, and must never land inside a line.
        """
        data = self.stream.data
        size = len(data)
        cuts = {data.rfind(b"\n", 0, at) + 1 for at in range(self.chunk, size, self.chunk)}
        cuts.add(0)
        cuts.update(offset for _, offset in self.stream.probes)
        cuts.update(offset for _, offset in self.stream.checkpoints)
        cuts.add(size)
        ordered = sorted(cuts)
        return list(itertools.pairwise(ordered))

    def _write_stream(self) -> None:
        data = memoryview(self.stream.data)
        probe_at = {offset: name for name, offset in self.stream.probes}
        check_at = {offset: number for number, offset in self.stream.checkpoints}
        size = len(data)
        # paced: byte offset x is due at start + x/size of the flood's planned duration
        duration = self.stream.lines / self.rate if self.rate else 0.0
        try:
            self.flood_started = began = self.clock()
            for start, end in self._boundaries():
                if duration:
                    delay = began + duration * start / size - self.clock()
                    if delay > 0:
                        time.sleep(delay)
                name = probe_at.get(start)
                if name is not None:
                    self.probe_sent[name] = self.clock()
                self._send(data[start:end])
                number = check_at.get(end)
                if number is not None:
                    self.checkpoint_sent[number] = self.clock()
            self.flood_sent = self.clock()
        except OSError as exc:
            if not self._closing:
                self.error = f"flood interrupted: {exc}"
        finally:
            self.finished.set()
