"""Ingest benchmark: flood each logger with the same channel lines and time it.

For each contender, a local flood server (bench/floodserver.py) registers the logger,
answers its JOIN with NAMES, then writes the pre-generated stream (bench/stream.py) as fast
as the socket takes it. The clock starts at the first flood byte and stops when the last
line's token is visible in the logger's output (text file, database, ZNC's log); then
every token is looked for (lines lost = tokens missing, among the kinds that logger logs).

Per contender: msgs/s and its ratio to ZNC (the baseline), CPU µs per message of the
logger's process tree (utime+stime from /proc, children included), peak RSS (VmHWM), lines
lost, the round trip of PING probes sent in the middle of the flood, and the worst lag
between a checkpoint line leaving the server and becoming visible (for SQLite: also
searchable through the full-text index).

    python bench/ingest.py                       # 1,000,000 lines, every contender
    python bench/ingest.py --lines 200000 --only znc,logbot-text

Results: a table on stdout and JSON in bench/out/. Every process started is stopped by
PID at the end, on error and on Ctrl-C too; a contender that fails is reported as failed.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import platform
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # run as a script: make `bench` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import znc as znc_launcher
from bench.floodserver import FloodServer
from bench.stream import (
    ACTION,
    ALL_KINDS,
    NICK,
    PRIVMSG,
    Stream,
    TokenCounter,
    build_stream,
    line_token,
    token,
)

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
CHANNEL = "#bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

# -- processes ------------------------------------------------------------------------

_started: list[subprocess.Popen[bytes]] = []


def spawn(cmd: list[str], workdir: Path, name: str, **kw: Any) -> subprocess.Popen[bytes]:
    """Start a process (own session, so a terminal's Ctrl-C is ours to handle), logged to files."""
    out = open(workdir / f"{name}.stdout", "wb")  # noqa: SIM115 (closed with the process)
    err = open(workdir / f"{name}.stderr", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True, **kw
    )
    out.close()
    err.close()
    _started.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], grace: float = 15.0) -> int | None:
    """SIGTERM the process by its PID, SIGKILL it after ``grace`` seconds; its exit status."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)
    if proc in _started:
        _started.remove(proc)
    return proc.returncode


def stop_all() -> None:
    """Stop every process this run started and that still runs."""
    for proc in list(_started):
        stop(proc, grace=5.0)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the process tree, reaped children included."""
    user = system = 0
    for member in _descendants(pid):
        try:
            with open(f"/proc/{member}/stat") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
        # after the comm: state ppid ... utime(11) stime(12) cutime(13) cstime(14)
        user += int(fields[11]) + int(fields[13])
        system += int(fields[12]) + int(fields[14])
    return user / CLK_TCK, system / CLK_TCK


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of the process, in MB (10^6 bytes)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None
    return None


# -- watching the output --------------------------------------------------------------


class Watcher:
    """Notices when checkpoint tokens become visible in a logger's output.

    ``poll`` reads what is new since the last call; ``seen`` maps checkpoint token number
    to the monotonic time of the poll that first found it; ``progress`` is the time output
    last grew.
    """

    def __init__(self, checkpoints: list[int], *, fts: bool = False) -> None:
        self.pending = list(checkpoints)
        self.seen: dict[int, float] = {}
        self.progress = time.monotonic()
        #: probe the full-text index too: ``searchable`` maps checkpoint to the time a
        #: full-text search first found it
        self.fts = fts
        self.fts_pending = list(checkpoints)
        self.searchable: dict[int, float] = {}

    def probe_search(self) -> None:
        """Search the full-text index for the oldest checkpoints already stored."""
        now = time.monotonic()
        for number in list(self.fts_pending):
            if number not in self.seen or not self._search(token(number)):
                break
            self.searchable[number] = now
            self.fts_pending.remove(number)

    def _search(self, word: str) -> bool:
        raise NotImplementedError

    def _mark(self, window: str | bytes, now: float) -> None:
        text = window if isinstance(window, bytes) else window.encode()
        for number in list(self.pending):
            if token(number).encode() in text:
                self.seen[number] = now
                self.pending.remove(number)

    def poll(self) -> None:
        raise NotImplementedError

    def count(self, counter: TokenCounter) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release files and connections."""

    def remove_output(self) -> None:
        """Delete the (large) output once counted."""


class TextWatcher(Watcher):
    """Tails every file matching ``pattern`` (ZNC starts a new file at midnight)."""

    def __init__(self, pattern: str, checkpoints: list[int]) -> None:
        super().__init__(checkpoints)
        self.pattern = pattern
        self.offsets: dict[str, int] = {}
        self.tails: dict[str, bytes] = {}

    def files(self) -> list[str]:
        return sorted(glob.glob(self.pattern, recursive=True))

    def poll(self) -> None:
        now = time.monotonic()
        for path in self.files():
            offset = self.offsets.get(path, 0)
            try:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            except OSError:
                continue
            if not data:
                continue
            self.progress = now
            self.offsets[path] = offset + len(data)
            self._mark(self.tails.get(path, b"") + data, now)
            self.tails[path] = data[-64:]

    def count(self, counter: TokenCounter) -> None:
        for path in self.files():
            counter.add_text(Path(path).read_bytes())

    def remove_output(self) -> None:
        for path in self.files():
            Path(path).unlink()


class SqliteWatcher(Watcher):
    """Reads new rows of a SQLite events table; optionally probes its FTS5 index too."""

    def __init__(
        self, path: Path, checkpoints: list[int], *, key: str = "rowid", fts: bool = False
    ) -> None:
        super().__init__(checkpoints, fts=fts)
        self.path = path
        self.key = key
        self.last_key = -1
        self.fts_table: str | None = None
        self.db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection | None:
        if self.db is None and self.path.exists():
            db = sqlite3.connect(self.path, timeout=1.0)
            try:
                names = [r[0] for r in db.execute("select name from sqlite_master")]
            except sqlite3.DatabaseError:
                db.close()
                return None
            if "events" not in names:
                db.close()
                return None
            self.db = db
        return self.db

    def poll(self) -> None:
        db = self._connect()
        if db is None:
            return
        now = time.monotonic()
        try:
            rows = db.execute(
                f"select {self.key}, text from events "
                f"where {self.key} > ? order by {self.key} limit 100000",
                (self.last_key,),
            ).fetchall()
        except sqlite3.OperationalError:
            return  # locked for a moment, or the schema is being created
        if rows:
            self.progress = now
            self.last_key = rows[-1][0]
            self._mark("\n".join(r[1] for r in rows), now)
        if self.fts:
            self.probe_search()

    def _search(self, word: str) -> bool:
        db = self._connect()
        if db is None:
            return False
        try:
            if self.fts_table is None:
                found = db.execute(
                    "select name from sqlite_master where type = 'table' and sql like '%fts5%'"
                ).fetchone()
                if found is None:
                    return False
                self.fts_table = str(found[0])
            hit = db.execute(
                f'select rowid from "{self.fts_table}" where "{self.fts_table}" match ? limit 1',
                (f'"{word}"',),
            ).fetchone()
        except sqlite3.OperationalError:
            return False
        return hit is not None

    def count(self, counter: TokenCounter) -> None:
        db = sqlite3.connect(self.path)
        try:
            for nick, target, text in db.execute(
                "select nick, coalesce(target, ''), text from events"
            ):
                counter.add(line_token(f"{nick} {target} {text}".encode()))
        finally:
            db.close()

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def remove_output(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


class PostgresWatcher(Watcher):
    """Reads new rows of logbot's events table in a PostgreSQL database."""

    def __init__(self, conninfo: str, checkpoints: list[int]) -> None:
        super().__init__(checkpoints, fts=True)
        self.conninfo = conninfo
        self.last_key = -1
        self.conn: Any = None

    def poll(self) -> None:
        import psycopg

        try:
            if self.conn is None:
                conn = psycopg.connect(self.conninfo, autocommit=True)
                # A table filled under a flood has no statistics until autovacuum's next
                # ANALYZE, and without them the planner reads "id > $1 ... limit" as a seq
                # scan and a sort of the whole table: every 10 ms poll then costs O(rows),
                # and the watcher took a core of the 2 from the logger being measured.
                conn.execute("set enable_seqscan = off")
                conn.execute("set enable_bitmapscan = off")
                self.conn = conn
            rows = self.conn.execute(
                "select id, text from events where id > %s order by id limit 100000",
                (self.last_key,),
            ).fetchall()
        except psycopg.Error:
            return  # not created yet
        if rows:
            now = time.monotonic()
            self.progress = now
            self.last_key = rows[-1][0]
            self._mark("\n".join(r[1] for r in rows), now)
        self.probe_search()

    def _search(self, word: str) -> bool:
        import psycopg

        from logbot.storage.fts import pg_query_text, pg_tsquery, pg_tsvector

        # the indexed column, so that the GIN index answers (as `logbot search` does)
        sql = f"select 1 from events where {pg_tsvector()} @@ {pg_tsquery('%s')} limit 1"
        try:
            return (
                self.conn is not None
                and self.conn.execute(sql, (pg_query_text(word),)).fetchone() is not None
            )
        except psycopg.Error:
            return False

    def count(self, counter: TokenCounter) -> None:
        import psycopg

        with psycopg.connect(self.conninfo) as conn, conn.cursor(name="all") as cur:
            cur.itersize = 50000
            cur.execute("select nick, coalesce(target, ''), text from events")
            for nick, target, text in cur:
                counter.add(line_token(f"{nick} {target} {text}".encode()))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# -- contenders -----------------------------------------------------------------------


@dataclass
class Launch:
    """How to start one contender against a server port, and how to watch it."""

    command: list[str]
    watcher: Watcher
    env: dict[str, str] | None = None
    cleanup: Callable[[], None] | None = None
    #: where the output lives when it is kept, if not in the run's folder
    keep_note: str | None = None
    #: processes outside the logger's tree that do its work (PostgreSQL's backends)
    server_pids: Callable[[], list[int]] | None = None


@dataclass
class Contender:
    name: str
    describe: str
    #: kinds of flood lines this logger is expected to write (others: not counted as lost)
    kinds: frozenset[int]
    prepare: Callable[[Path, int, list[int]], Launch]
    python: bool = False
    #: the completion criterion, in words, for the record
    completion: str = "last token in the text log"


def python_cmd() -> list[str]:
    return [sys.executable, "-X", "utf8"]


def prepare_znc(workdir: Path, port: int, checkpoints: list[int]) -> Launch:
    setup = znc_launcher.write_config(workdir / "znc", port, CHANNEL)
    pattern = str(setup.log_dir / "**" / f"{CHANNEL}" / "*.log")
    return Launch(setup.command(), TextWatcher(pattern, checkpoints))


def find_irclogbot() -> Path:
    """Twisted's docs/words/examples/ircLogBot.py, as Debian's twisted-doc ships it."""
    env = os.environ.get("IRCLOGBOT_SOURCE")
    if env:
        return Path(env)
    hits = glob.glob("/usr/share/doc/twisted-doc/**/ircLogBot.py", recursive=True)
    if not hits:
        raise FileNotFoundError(
            "ircLogBot.py not found: apt-get install twisted-doc, or set IRCLOGBOT_SOURCE"
        )
    return Path(hits[0])


def patch_irclogbot(source: str) -> str:
    """The one change the example needs: connect to the flood server named in argv."""
    original = 'reactor.connectTCP("irc.freenode.net", 6667, f)'
    if source.count(original) != 1:
        raise ValueError("ircLogBot.py changed: its connectTCP line is not where expected")
    return source.replace(original, "reactor.connectTCP(sys.argv[3], int(sys.argv[4]), f)")


def prepare_irclogbot(workdir: Path, port: int, checkpoints: list[int]) -> Launch:
    script = workdir / "ircLogBot.py"
    script.write_text(patch_irclogbot(find_irclogbot().read_text()))
    logfile = workdir / "irclogbot.log"
    cmd = [*python_cmd(), str(script), CHANNEL, str(logfile), "127.0.0.1", str(port)]
    return Launch(cmd, TextWatcher(str(logfile), checkpoints))


#: ports of the logbots started with ``--metrics`` (the scraper reads them each second)
METRICS_PORTS: list[int] = []
#: successful scrapes, printed at the end (a scraper that never got through measured nothing)
SCRAPES = [0]


def metrics_args() -> list[str]:
    """``--metrics 127.0.0.1:PORT`` on a free port, which the scraper then reads."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    METRICS_PORTS.append(port)
    return ["--metrics", f"127.0.0.1:{port}"]


def scrape_forever(interval: float = 1.0) -> None:
    """Scrape every logbot's /metrics each ``interval`` (more often than Prometheus would)."""
    import urllib.request

    while True:
        time.sleep(interval)
        for port in list(METRICS_PORTS):
            url = f"http://127.0.0.1:{port}/metrics"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as answer:
                if b"logbot_events_total" in answer.read():
                    SCRAPES[0] += 1


def logbot_cmd(port: int, *backend: str) -> list[str]:
    return [
        *python_cmd(),
        "-m",
        "logbot",
        "--server",
        "127.0.0.1",
        "--port",
        str(port),
        "--channel",
        CHANNEL,
        *backend,
    ]


def prepare_logbot_text(workdir: Path, port: int, checkpoints: list[int]) -> Launch:
    logfile = workdir / "logbot.log"
    return Launch(logbot_cmd(port, "--file", str(logfile)), TextWatcher(str(logfile), checkpoints))


def prepare_logbot_sqlite(workdir: Path, port: int, checkpoints: list[int]) -> Launch:
    path = workdir / "logbot.sqlite"
    return Launch(
        logbot_cmd(port, "--db", str(path)),
        SqliteWatcher(path, checkpoints, key="id", fts=True),
    )


def prepare_logbot_sqlite_metrics(workdir: Path, port: int, checkpoints: list[int]) -> Launch:
    launch = prepare_logbot_sqlite(workdir, port, checkpoints)
    launch.command.extend(metrics_args())
    return launch


def prepare_lean(workdir: Path, port: int, checkpoints: list[int]) -> Launch:
    path = workdir / "lean.sqlite"
    script = BENCH_DIR / "baselines" / "lean_sqlite.py"
    cmd = [*python_cmd(), str(script), "127.0.0.1", str(port), CHANNEL, str(path)]
    return Launch(cmd, SqliteWatcher(path, checkpoints))


def make_prepare_postgres(admin: str) -> Callable[[Path, int, list[int]], Launch]:
    def prepare(workdir: Path, port: int, checkpoints: list[int]) -> Launch:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        name = f"logbot_bench_{os.getpid()}_{int(time.time())}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')

        def drop() -> None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'drop database if exists "{name}" with (force)')

        params = conninfo_to_dict(admin)
        conninfo = make_conninfo(admin, dbname=name)
        user = params.get("user", "postgres")
        host = params.get("host", "127.0.0.1")
        pgport = params.get("port", "5432")
        url = f"postgresql+psycopg://{user}@{host}:{pgport}/{name}"

        watcher = PostgresWatcher(conninfo, checkpoints)

        def backends() -> list[int]:
            # the watcher's own polling is the bench's cost, not the logger's
            own = [watcher.conn.info.backend_pid] if watcher.conn is not None else []
            with psycopg.connect(admin, autocommit=True) as conn:
                rows = conn.execute(
                    "select pid from pg_stat_activity where datname = %s "
                    "and pid <> all(%s) "
                    "and backend_type in ('client backend', 'autovacuum worker')",
                    (name, own),
                ).fetchall()
            return [int(r[0]) for r in rows]

        return Launch(
            logbot_cmd(port, "--db", url),
            watcher,
            cleanup=drop,
            server_pids=backends,
            keep_note=f"database {name} (drop it when done: psql -c 'drop database {name}')",
        )

    return prepare


def contenders(pg_admin: str) -> list[Contender]:
    return [
        Contender(
            "znc", "ZNC + log module (text, all kinds): the baseline", ALL_KINDS, prepare_znc
        ),
        Contender(
            "irclogbot",
            "Twisted's ircLogBot example (text; PRIVMSG, ACTION, NICK only)",
            frozenset({PRIVMSG, ACTION, NICK}),
            prepare_irclogbot,
            python=True,
        ),
        Contender("logbot-text", "logbot --file", ALL_KINDS, prepare_logbot_text, python=True),
        Contender(
            "logbot-sqlite",
            "logbot --db F.sqlite (FTS5)",
            ALL_KINDS,
            prepare_logbot_sqlite,
            python=True,
            completion="last token in the events table",
        ),
        Contender(
            "logbot-sqlite-metrics",
            "logbot --db F.sqlite --metrics (/metrics scraped every second)",
            ALL_KINDS,
            prepare_logbot_sqlite_metrics,
            python=True,
            completion="last token in the events table",
        ),
        Contender(
            "logbot-postgres",
            "logbot --db postgresql+psycopg://...",
            ALL_KINDS,
            make_prepare_postgres(pg_admin),
            python=True,
            completion="last token in the events table",
        ),
        Contender(
            "lean-sqlite",
            "stdlib socket + sqlite3 loop, no index (reference)",
            ALL_KINDS,
            prepare_lean,
            python=True,
            completion="last token in the table",
        ),
    ]


# -- one run --------------------------------------------------------------------------


@dataclass
class Options:
    join_timeout: float = 60.0
    stall_timeout: float = 30.0
    timeout: float = 900.0
    poll_interval: float = 0.01
    keep_output: bool = False
    profile: bool = False
    rate: float | None = None


@dataclass
class Result:
    name: str
    describe: str
    status: str = "failed"
    error: str | None = None
    seconds: float | None = None
    msgs_per_s: float | None = None
    ratio_to_znc: float | None = None
    cpu_s: float | None = None
    cpu_user_s: float | None = None
    cpu_sys_s: float | None = None
    #: CPU of the database server's processes serving the logger (PostgreSQL), per line
    server_cpu_us_per_msg: float | None = None
    cpu_us_per_msg: float | None = None
    peak_rss_mb: float | None = None
    expected: int | None = None
    lost: int | None = None
    lost_sample: list[int] = field(default_factory=list)
    duplicated: int | None = None
    duplicated_sample: list[int] = field(default_factory=list)
    unexpected: int | None = None
    pong_ms: dict[str, float | None] = field(default_factory=dict)
    pong_max_ms: float | None = None
    visible_lag_max_s: float | None = None
    searchable_lag_max_s: float | None = None
    startup_s: float | None = None
    flood_send_s: float | None = None
    exit_status: int | None = None
    kinds_logged: list[str] = field(default_factory=list)
    completion: str = ""
    workdir: str = ""
    profile: str | None = None
    #: the output kept for a look (after a loss, or --keep-output)
    kept: str | None = None
    #: the machine's 1-minute load average before and after: other work on the machine
    #: skews the figures, and this says how much there was
    load_before: float | None = None
    load_after: float | None = None


def contender_env(workdir: Path, launch: Launch) -> dict[str, str]:
    """The environment without the caller's LOGBOT_* settings, XDG folders in ``workdir``.

    So that a LOGBOT_DB in the shell cannot redirect a contender, and the SQL backend's
    spool (and any other per-user state) lands in the run's folder, not in ~/.local.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGBOT_")}
    for name in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        env[name] = str(workdir / "xdg" / name.split("_")[1].lower())
    env.update(launch.env or {})
    return env


def _tail(path: Path, size: int = 600) -> str:
    try:
        data = path.read_bytes()[-size:]
    except OSError:
        return ""
    return data.decode("utf-8", "replace").strip()


def run_one(stream: Stream, contender: Contender, workdir: Path, opts: Options) -> Result:
    """Flood one contender; never raises for the contender's own failures."""
    from bench.stream import KIND_NAMES

    result = Result(
        contender.name,
        contender.describe,
        kinds_logged=[KIND_NAMES[k] for k in sorted(contender.kinds)],
        completion=contender.completion,
        workdir=str(workdir),
        load_before=os.getloadavg()[0],
    )
    workdir.mkdir(parents=True, exist_ok=True)
    checkpoints = [number for number, _ in stream.checkpoints]
    last = checkpoints[-1]
    server = FloodServer(stream, rate=opts.rate)
    server.start()
    launch: Launch | None = None
    keep = False
    proc: subprocess.Popen[bytes] | None = None
    profiler: subprocess.Popen[bytes] | None = None
    try:
        launch = contender.prepare(workdir, server.port, checkpoints)
        (workdir / "command").write_text(shlex.join(launch.command) + "\n")
        started = time.monotonic()
        proc = spawn(launch.command, workdir, contender.name, env=contender_env(workdir, launch))
        while not server.joined.wait(0.05):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"exited with status {proc.returncode} before joining: "
                    f"{_tail(workdir / f'{contender.name}.stderr')}"
                )
            if time.monotonic() - started > opts.join_timeout:
                raise RuntimeError(f"did not join {CHANNEL} within {opts.join_timeout:.0f} s")
        result.startup_s = time.monotonic() - started
        watcher = launch.watcher
        # the logger's own join line, written before the flood, is no progress of the flood
        watcher.poll()
        cpu_before = cpu_seconds(proc.pid)
        server_before = _server_cpu(launch)
        if opts.profile and contender.python:
            profiler = start_profiler(proc.pid, workdir / f"{contender.name}.pyspy.txt")
        server.flood()
        while server.flood_started is None and not server.finished.is_set():
            time.sleep(0.001)
        t0 = server.flood_started or time.monotonic()
        watcher.progress = t0
        while last not in watcher.seen:
            time.sleep(opts.poll_interval)
            watcher.poll()
            now = time.monotonic()
            if proc.poll() is not None:
                raise RuntimeError(
                    f"exited with status {proc.returncode} during the flood: "
                    f"{_tail(workdir / f'{contender.name}.stderr')}"
                )
            if server.error:
                raise RuntimeError(server.error)
            if now - watcher.progress > opts.stall_timeout:
                result.status = "stalled"
                result.error = (
                    f"output stopped growing for {opts.stall_timeout:.0f} s before the "
                    "last token appeared"
                )
                break
            if now - t0 > opts.timeout:
                result.status = "timeout"
                result.error = f"last token not visible after {opts.timeout:.0f} s"
                break
        t1 = watcher.seen.get(last, time.monotonic())
        result.load_after = os.getloadavg()[0]
        cpu_after = cpu_seconds(proc.pid)
        server_after = _server_cpu(launch)
        if server_before is not None and server_after is not None:
            spent = sum(t - server_before.get(pid, 0.0) for pid, t in server_after.items())
            result.server_cpu_us_per_msg = spent / stream.lines * 1e6
        result.peak_rss_mb = peak_rss_mb(proc.pid)
        if profiler is not None:
            result.profile = stop_profiler(profiler, workdir / f"{contender.name}.pyspy.txt")
        if last in watcher.seen:
            result.status = "ok"
            result.seconds = t1 - t0
            result.msgs_per_s = stream.lines / result.seconds
        result.cpu_user_s = cpu_after[0] - cpu_before[0]
        result.cpu_sys_s = cpu_after[1] - cpu_before[1]
        result.cpu_s = result.cpu_user_s + result.cpu_sys_s
        result.cpu_us_per_msg = result.cpu_s / stream.lines * 1e6
        if server.flood_sent is not None:
            result.flood_send_s = server.flood_sent - t0
        # give the probes' answers a moment when the logger finished faster than they came
        deadline = time.monotonic() + 2
        while len(server.probe_answered) < len(server.probe_sent) and time.monotonic() < deadline:
            time.sleep(0.01)
        for name, sent in server.probe_sent.items():
            answered = server.probe_answered.get(name)
            result.pong_ms[name] = None if answered is None else (answered - sent) * 1000
        if result.pong_ms:
            pongs = [v for v in result.pong_ms.values() if v is not None]
            # an unanswered probe is the worst latency there is: no maximum then
            if len(pongs) == len(result.pong_ms):
                result.pong_max_ms = max(pongs)
        lags = [
            watcher.seen[n] - server.checkpoint_sent[n]
            for n in watcher.seen
            if n in server.checkpoint_sent
        ]
        result.visible_lag_max_s = max(lags) if lags else None
        if watcher.fts:
            _wait_searchable(watcher, last, opts.stall_timeout)
            slags = [
                watcher.searchable[n] - server.checkpoint_sent[n]
                for n in watcher.searchable
                if n in server.checkpoint_sent
            ]
            if slags and last in watcher.searchable:
                result.searchable_lag_max_s = max(slags)
        watcher.close()
        result.exit_status = stop(proc)
        proc = None
        counter = TokenCounter(stream.lines)
        watcher.count(counter)
        check = counter.check(stream, contender.kinds)
        result.expected = check.expected
        result.lost = check.lost
        result.lost_sample = list(check.lost_sample)
        result.duplicated = check.duplicated
        result.duplicated_sample = list(check.duplicated_sample)
        result.unexpected = check.unexpected
        # a loss or a duplicate is worth a look: keep the evidence
        evidence = bool(check.lost or check.duplicated)
        if evidence or opts.keep_output:
            result.kept = launch.keep_note or str(workdir)
            keep = True
        else:
            watcher.remove_output()
    except Exception as exc:  # a contender's failure is a result, not the end of the run
        result.status = "failed" if result.status in ("failed", "ok") else result.status
        result.error = f"{type(exc).__name__}: {exc}"
        (workdir / "harness-error.txt").write_text(traceback.format_exc())
    finally:
        if profiler is not None and profiler.poll() is None:
            stop(profiler)
        if proc is not None:
            result.exit_status = stop(proc)
        server.close()
        if launch is not None:
            launch.watcher.close()
            if launch.cleanup is not None and not keep:
                try:
                    launch.cleanup()
                except Exception as exc:
                    result.error = (result.error or "") + f" (cleanup: {exc})"
    return result


def _server_cpu(launch: Launch) -> dict[int, float] | None:
    """CPU seconds so far of each server process working for the logger, by PID."""
    if launch.server_pids is None:
        return None
    try:
        pids = launch.server_pids()
    except Exception:
        return None
    return {pid: sum(cpu_seconds(pid)) for pid in pids}


def _wait_searchable(watcher: Watcher, last: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while last not in watcher.searchable and time.monotonic() < deadline:
        watcher.probe_search()
        time.sleep(0.01)


def start_profiler(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy record (raw collapsed stacks) of ``pid`` until stopped; None without py-spy."""
    pyspy = shutil.which("py-spy")
    if pyspy is None:
        print("  (py-spy not installed: pip install py-spy; no profile)", file=sys.stderr)
        return None
    cmd = [
        pyspy,
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        "200",
        "--nonblocking",
        # one stack root per thread: the reactor's share and the SQL writer's, apart
        "--threads",
        "-o",
        str(out),
    ]
    return spawn(cmd, out.parent, "py-spy")


def stop_profiler(proc: subprocess.Popen[bytes], out: Path) -> str | None:
    """SIGINT makes py-spy write ``out``; its path if it did."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        stop(proc)
    if proc in _started:
        _started.remove(proc)
    return str(out) if out.exists() else None


# -- the report -----------------------------------------------------------------------


def best_runs(runs: list[Result], order: list[str]) -> list[Result]:
    """Each contender's fastest complete run (its last run when none completed)."""
    best: dict[str, Result] = {}
    for r in runs:
        held = best.get(r.name)
        if held is None or (r.msgs_per_s or 0) > (held.msgs_per_s or 0):
            best[r.name] = r
    return [best[name] for name in order if name in best]


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


#: issue #15's targets per contender: (least x ZNC, most peak RSS MB, most seconds until a
#: full-text search finds a line); None: no target for that figure
TARGETS: dict[str, tuple[float | None, float | None, float | None]] = {
    "logbot-sqlite": (2.0, 60.0, 1.0),
    "logbot-postgres": (1.0, None, None),
    "logbot-text": (None, 50.0, None),
}


def target_lines(results: list[Result]) -> list[str]:
    """One line per logbot contender: its ratio to ZNC and memory against the targets."""
    lines = []
    for r in results:
        target = TARGETS.get(r.name)
        if target is None or r.status != "ok":
            continue
        least_ratio, most_rss, most_search = target
        parts, met = [], True
        if r.ratio_to_znc is not None:
            want = f" (target >= {least_ratio:.1f})" if least_ratio is not None else ""
            parts.append(f"{r.ratio_to_znc:.2f}x ZNC{want}")
            met &= least_ratio is None or r.ratio_to_znc >= least_ratio
        if r.peak_rss_mb is not None:
            want = f" (target <= {most_rss:.0f})" if most_rss is not None else ""
            parts.append(f"peak RSS {r.peak_rss_mb:.1f} MB{want}")
            met &= most_rss is None or r.peak_rss_mb <= most_rss
        if most_search is not None:
            lag = r.searchable_lag_max_s
            parts.append(
                f"searchable after {lag if lag is not None else float('nan'):.2f} s "
                f"(target <= {most_search:.1f})"
            )
            met &= lag is not None and lag <= most_search
        met &= r.lost == 0
        parts.append(f"lost {r.lost}")
        lines.append(f"{r.name}: {', '.join(parts)}: {'met' if met else 'NOT met'}")
    return lines


def table(results: list[Result]) -> str:
    head = (
        f"{'contender':<16} {'msgs/s':>9} {'xZNC':>6} {'CPU us/msg':>10} {'RSS MB':>7} "
        f"{'lost':>7} {'PONG ms':>8} {'lag s':>6} {'search s':>8} {'load':>4}  status"
    )
    rows = [head, "-" * len(head)]
    for r in results:
        lost = "-" if r.lost is None else f"{r.lost}"
        cpu = _fmt(r.cpu_us_per_msg, ".1f")
        if r.server_cpu_us_per_msg is not None:
            cpu += f"+{r.server_cpu_us_per_msg:.0f}"
        rows.append(
            f"{r.name:<16} {_fmt(r.msgs_per_s, ',.0f'):>9} {_fmt(r.ratio_to_znc, '.2f'):>6} "
            f"{cpu:>10} {_fmt(r.peak_rss_mb, '.1f'):>7} "
            f"{lost:>7} {_fmt(r.pong_max_ms, '.0f'):>8} {_fmt(r.visible_lag_max_s, '.2f'):>6} "
            f"{_fmt(r.searchable_lag_max_s, '.2f'):>8} {_fmt(r.load_after, '.1f'):>4}  "
            f"{r.status}" + (f": {r.error}" if r.error else "")
        )
    rows.append(LEGEND)
    return "\n".join(rows)


LEGEND = """
xZNC: msgs/s over ZNC's. CPU: the logger's process tree (user+sys) per flood line
(+N: what the PostgreSQL server's backends for it spent besides).
RSS: peak (VmHWM). lost: tokens missing among the kinds that logger writes.
PONG ms: the worst round trip of the probe PINGs sent mid-flood (-: one went unanswered).
lag s: the worst time from a checkpoint line leaving the server to its showing in the
output; search s: to a full-text search finding it. load: 1-min load average at the end
(other work on the machine: 2 cores)."""


def main(argv: list[str] | None = None) -> int:
    names = [c.name for c in contenders(DEFAULT_PG_ADMIN)]
    parser = argparse.ArgumentParser(
        description="Flood IRC loggers with the same stream; compare them with ZNC.",
        epilog=f"contenders: {', '.join(names)}",
    )
    parser.add_argument("--lines", type=int, default=1_000_000, help="flood lines [1,000,000]")
    parser.add_argument("--only", help="comma-separated contenders to run (default: all)")
    parser.add_argument("--skip", help="comma-separated contenders to leave out")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds over all contenders; the table shows each one's fastest run [1]",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="results folder [bench/out]")
    parser.add_argument(
        "--pg-admin",
        default=DEFAULT_PG_ADMIN,
        help="libpq URL to create/drop the throwaway database with",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="pace the flood at this many lines/s (e.g. 5000: does the write path keep up? "
        "watch the lag column) instead of as fast as the socket takes it",
    )
    parser.add_argument("--stall-timeout", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--keep-output", action="store_true", help="keep the loggers' output files (they are large)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the Python contenders (slows them: figures not comparable)",
    )
    args = parser.parse_args(argv)

    all_contenders = contenders(args.pg_admin)
    chosen = all_contenders
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - set(names)
        if unknown:
            parser.error(f"unknown contender(s): {', '.join(sorted(unknown))}")
        chosen = [c for c in all_contenders if c.name in wanted]
    if args.skip:
        chosen = [c for c in chosen if c.name not in args.skip.split(",")]
    if args.lines < 100:
        parser.error("--lines must be at least 100")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    if any(c.name.endswith("-metrics") for c in chosen):
        import threading

        threading.Thread(target=scrape_forever, daemon=True, name="scraper").start()

    command = shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rundir = args.out / f"ingest-{stamp}"
    rundir.mkdir(parents=True, exist_ok=True)
    opts = Options(
        stall_timeout=args.stall_timeout,
        timeout=args.timeout,
        keep_output=args.keep_output,
        profile=args.profile,
        rate=args.rate,
    )
    print(f"command: {command}", flush=True)
    t = time.monotonic()
    stream = build_stream(args.lines, channel=CHANNEL, seed=args.seed)
    print(
        f"stream: {stream.lines:,} lines, {len(stream.data) / 1e6:.1f} MB, "
        f"{stream.kind_counts()} (built in {time.monotonic() - t:.1f} s)",
        flush=True,
    )

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    runs: list[Result] = []
    interrupted = False
    try:
        for round_ in range(1, args.repeat + 1):
            for contender in chosen:
                label = f" (round {round_}/{args.repeat})" if args.repeat > 1 else ""
                print(f"- {contender.name}{label}: {contender.describe} ...", flush=True)
                workdir = rundir / (
                    contender.name if args.repeat == 1 else f"{contender.name}-{round_}"
                )
                result = run_one(stream, contender, workdir, opts)
                runs.append(result)
                print(
                    f"  {result.status}"
                    + (f", {result.msgs_per_s:,.0f} msgs/s" if result.msgs_per_s else "")
                    + (f": {result.error}" if result.error else "")
                    + (f"\n  output kept: {result.kept}" if result.kept else ""),
                    flush=True,
                )
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: stopping what was started", file=sys.stderr)
    finally:
        stop_all()

    results = best_runs(runs, [c.name for c in chosen])
    base = next((r for r in results if r.name == "znc" and r.msgs_per_s), None)
    for r in [*results, *runs]:
        if base is not None and base.msgs_per_s and r.msgs_per_s:
            r.ratio_to_znc = r.msgs_per_s / base.msgs_per_s
    report = table(results)
    print()
    print(f"command: {command}")
    print(report)
    targets = target_lines(results)
    if targets:
        print("\n" + "\n".join(targets))
    doc = {
        "command": command,
        "started": stamp,
        "interrupted": interrupted,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "kernel": platform.release(),
        },
        "lines": stream.lines,
        "rate": args.rate,
        "bytes": len(stream.data),
        "kinds": stream.kind_counts(),
        "targets": {
            name: dict(zip(("min_x_znc", "max_rss_mb", "max_search_s"), t, strict=True))
            for name, t in TARGETS.items()
        },
        "target_lines": targets,
        "repeat": args.repeat,
        "results": [r.__dict__ for r in results],
        "runs": [r.__dict__ for r in runs] if args.repeat > 1 else [],
        "table": report,
    }
    out = args.out / f"ingest-{stamp}.json"
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nJSON: {out}")
    if METRICS_PORTS:
        print(f"/metrics scraped {SCRAPES[0]} times")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
