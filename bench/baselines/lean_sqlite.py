"""A lean stdlib IRC-to-SQLite loop: the floor of what Python can do, for reference.

No Twisted, no roster, no full-text index, no index at all: a blocking socket, a split on
CRLF, a minimal parse, and ``executemany`` into one rowid table, committed every 1,000
rows or 250 ms (the same batching the SQL backend promises), WAL and synchronous=NORMAL.
QUIT and NICK are stored without a channel (nothing tracks who is where).

    python bench/baselines/lean_sqlite.py HOST PORT CHANNEL DBFILE
"""

from __future__ import annotations

import signal
import socket
import sqlite3
import sys
import time

BATCH = 1000
WINDOW = 0.25
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS events "
    "(time REAL, kind TEXT, channel TEXT, nick TEXT, text TEXT, target TEXT)"
)
INSERT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)"


#: set by SIGTERM: the loop commits what it has and leaves (checked at least every 250 ms)
stopping = False


def _stop(signum: int, frame: object) -> None:
    global stopping
    stopping = True


def run(host: str, port: int, channel: str, path: str) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(SCHEMA)
    sock = socket.create_connection((host, port))
    sock.settimeout(WINDOW)
    nick = "leanbot"
    sock.sendall(f"NICK {nick}\r\nUSER {nick} 0 * :lean loop\r\n".encode())
    rows: list[tuple[float, str, str, str, str, str]] = []
    last_commit = time.monotonic()
    buf = b""

    def commit() -> None:
        nonlocal last_commit
        if rows:
            db.execute("BEGIN")
            db.executemany(INSERT, rows)
            db.execute("COMMIT")
            rows.clear()
        last_commit = time.monotonic()

    try:
        while not stopping:
            try:
                data = sock.recv(262144)
            except TimeoutError:
                data = None
            if data == b"":
                break
            if data:
                buf += data
                *lines, buf = buf.split(b"\r\n")
                now = time.time()
                for raw in lines:
                    line = raw.decode("utf-8", "replace")
                    prefix = ""
                    if line.startswith(":"):
                        prefix, _, line = line.partition(" ")
                    command, _, rest = line.partition(" ")
                    who = prefix[1:].partition("!")[0]
                    if command == "PRIVMSG" or command == "NOTICE":
                        target, _, text = rest.partition(" :")
                        kind = "message" if command == "PRIVMSG" else "notice"
                        if text.startswith("\x01ACTION "):
                            kind, text = "action", text[8:].rstrip("\x01")
                        rows.append((now, kind, target, who, text, ""))
                    elif command == "JOIN":
                        rows.append((now, "join", rest.lstrip(":"), who, "", ""))
                    elif command == "PART":
                        target, _, text = rest.partition(" :")
                        rows.append((now, "part", target, who, text, ""))
                    elif command == "QUIT":
                        rows.append((now, "quit", "", who, rest[1:], ""))
                    elif command == "NICK":
                        rows.append((now, "nick", "", who, "", rest.lstrip(":")))
                    elif command == "PING":
                        sock.sendall(f"PONG {rest}\r\n".encode())
                    elif command == "001":
                        sock.sendall(f"JOIN {channel}\r\n".encode())
            if len(rows) >= BATCH or time.monotonic() - last_commit >= WINDOW:
                commit()
    finally:
        commit()
        db.close()
        sock.close()


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    host, port, channel, path = sys.argv[1:5]
    run(host, int(port), channel, path)


if __name__ == "__main__":
    main()
