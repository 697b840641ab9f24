"""The real-process harness: ngircd, the `logbot` command, a raw IRC client, a fake server.

Everything listens on 127.0.0.1 only and waits by polling with a deadline, never a fixed sleep.

Fixtures
    ``ngircd``      a running :class:`Ngircd` on a free port (stop/start/restart/pause/resume)
    ``make_ngircd`` ``make_ngircd(extra_conf="") -> Ngircd``: more of them (TLS, passwords)
    ``irc_client``  ``irc_client(nick, server=None) -> IRCClient``, registered, closed at teardown
    ``logbot``      ``logbot(*extra_args, channels=("#x",), nick="logbot", server=None,
                    file="log.txt") -> LogBot``: the real command as a subprocess, stopped at
                    teardown (and the test fails if it wrote a traceback)
    ``logbot_run``  ``logbot_run(*args, env=None, log=None) -> LogBot``: ``python -m logbot
                    ARGS`` exactly as given (``--config`` runs, secrets in the environment)
    ``fake_irc``    a :class:`FakeIRCServer`: registers clients, echoes joins, can go silent

Helpers
    ``wait_for(condition, timeout, what)``  poll until truthy, return the value
    ``wait_for_line(path, pattern, timeout)``  the first line of a file matching
    ``log_line(body, channel=None)``  a regex for one stamped text-log line
    ``LOG_EVENT``  a regex for one line of the bot's own log on stderr
    ``free_port()``

Without ngircd the tests that need it skip, except with CI=true, where they fail.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

HOST = "127.0.0.1"
IN_CI = os.environ.get("CI", "").lower() == "true"
HERE = Path(__file__).parent

T = TypeVar("T")

# --- waiting ----------------------------------------------------------------------------------


def wait_for(
    condition: Callable[[], T],
    timeout: float = 10.0,
    what: str = "condition",
    interval: float = 0.02,
) -> T:
    """Poll ``condition`` until it returns something truthy, and return that; fail at deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def _matches(pattern: str | re.Pattern[str], line: str) -> bool:
    if isinstance(pattern, str):
        return pattern in line
    return pattern.search(line) is not None


def read_lines(path: Path) -> list[str]:
    """The file's lines (empty if it does not exist yet); undecodable bytes shown as U+FFFD."""
    try:
        return path.read_bytes().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []


def wait_for_line(
    path: Path, pattern: str | re.Pattern[str], timeout: float = 10.0, *, count: int = 1
) -> str:
    """The ``count``-th line of ``path`` containing ``pattern`` (a substring, or a regex)."""

    def found() -> str | None:
        hits = [line for line in read_lines(path) if _matches(pattern, line)]
        return hits[count - 1] if len(hits) >= count else None

    shown = pattern if isinstance(pattern, str) else pattern.pattern
    return wait_for(found, timeout, f"line #{count} matching {shown!r} in {path}")


def log_line(body: str, channel: str | None = None) -> re.Pattern[str]:
    """A regex for exactly one text-log line: ``[HH:MM:SS] [#chan ]body``."""
    chan = re.escape(channel) + " " if channel else ""
    return re.compile(r"^\[\d\d:\d\d:\d\d\] " + chan + re.escape(body) + "$")


#: one line of the bot's own log (stderr): ``TIME LEVEL namespace: message``
LOG_EVENT = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARN|ERROR|CRITICAL) [\w.-]+: \S.*$"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


# --- failure diagnostics ----------------------------------------------------------------------


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's report on the item so fixtures can print logs for failed tests."""
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "rep_call", None)
    return report is None or report.failed


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(read_lines(path)[-lines:])


# --- ngircd -----------------------------------------------------------------------------------


def ngircd_binary() -> str | None:
    found = shutil.which("ngircd")
    if found:
        return found
    for candidate in ("/usr/sbin/ngircd", "/usr/local/sbin/ngircd"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


NGIRCD_CONF = """\
[Global]
	Name = irc.logbot.test
	Info = logbot integration test server
	AdminInfo1 = logbot tests
	AdminInfo2 = loopback only
	AdminEMail = nobody@localhost
	Listen = {host}
	Ports = {port}
	MotdPhrase = "logbot test server"
	Network = LogbotTest
	# no pid file: the test knows the PID, and a root-started ngircd runs as nobody
	PidFile =
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxNickLength = 30
	# no flood penalties: tests send bursts
	MaxPenaltyTime = 0
	PingTimeout = 300
	PongTimeout = 60
[Options]
	# nothing that waits on a lookup, so a client registers at once
	DNS = no
	Ident = no
	PAM = no
	RequireAuthPing = no
	IncludeDir = {include_dir}
"""


class Ngircd:
    """One ngircd process (``ngircd -n -f CONF``) on a fixed loopback port."""

    def __init__(self, binary: str, workdir: Path, port: int | None = None) -> None:
        self.binary = binary
        self.host = HOST
        self.port = port or free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        include_dir = workdir / "conf.d"
        include_dir.mkdir(exist_ok=True)
        self.conf = workdir / "ngircd.conf"
        self.conf.write_text(NGIRCD_CONF.format(host=HOST, port=self.port, include_dir=include_dir))
        self.log_path = workdir / "ngircd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def pid(self) -> int:
        assert self.proc is not None, "ngircd is not running"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 15.0) -> None:
        """Start ngircd and wait until its port accepts connections."""
        assert not self.running, "ngircd already running"
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [self.binary, "-n", "-f", str(self.conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            proc = self.proc

            def ready(proc: subprocess.Popen[bytes] = proc) -> bool:
                return proc.poll() is not None or port_accepts(self.port)

            wait_for(ready, max(deadline - time.monotonic(), 0.1), "ngircd to listen")
            if proc.poll() is None:
                return
            # exited at once: usually the port is still held by the old process's sockets
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"ngircd exited with {proc.returncode}:\n{_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop ngircd (SIGTERM, then SIGKILL at the deadline) and wait for it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if self.paused:
            self.resume()
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the server keeps its sockets open but answers nothing."""
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.paused = False


@pytest.fixture
def ngircd(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Ngircd]:
    """A fresh ngircd on a free 127.0.0.1 port, stopped by PID at teardown."""
    binary = ngircd_binary()
    if binary is None:
        if IN_CI:
            pytest.fail("ngircd is not installed, and CI=true promises it (apt-get install ngircd)")
        pytest.skip("ngircd is not installed")
    server = Ngircd(binary, tmp_path / "ngircd")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if _failed(request):
            print(f"--- ngircd log ({server.log_path}) ---\n{_tail(server.log_path)}")


@pytest.fixture
def make_ngircd(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Ngircd]]:
    """``make_ngircd(extra_conf="") -> Ngircd``: one more started ngircd, stopped at teardown.

    For several networks, TLS or a server password: ``extra_conf`` is ngircd.conf text
    put in the server's include directory, e.g. an ``[SSL]`` section (its sections add to
    the main file's).
    """
    binary = ngircd_binary()
    if binary is None:
        if IN_CI:
            pytest.fail("ngircd is not installed, and CI=true promises it (apt-get install ngircd)")
        pytest.skip("ngircd is not installed")
    servers: list[Ngircd] = []

    def make(extra_conf: str = "") -> Ngircd:
        server = Ngircd(binary, tmp_path / f"ngircd-{len(servers) + 1}")
        if extra_conf:
            (server.workdir / "conf.d" / "extra.conf").write_text(extra_conf)
        servers.append(server)
        server.start()
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()
            if _failed(request):
                print(f"--- ngircd log ({server.log_path}) ---\n{_tail(server.log_path)}")


# --- a raw IRC client -------------------------------------------------------------------------


@dataclass
class Message:
    """One parsed IRC line."""

    raw: str
    prefix: str
    command: str
    params: list[str]

    @property
    def nick(self) -> str:
        return self.prefix.split("!", 1)[0]

    @property
    def text(self) -> str:
        return self.params[-1] if self.params else ""

    @property
    def target(self) -> str:
        return self.params[0] if self.params else ""


def parse(raw: str) -> Message:
    line = raw
    if line.startswith("@"):  # IRCv3 tags: not needed by the tests
        line = line.split(" ", 1)[1] if " " in line else ""
    prefix = ""
    if line.startswith(":"):
        prefix, _, line = line[1:].partition(" ")
    trailing = None
    if " :" in line:
        line, trailing = line.split(" :", 1)
    elif line.startswith(":"):
        line, trailing = "", line[1:]
    words = line.split()
    command = words[0].upper() if words else ""
    params = words[1:]
    if trailing is not None:
        params.append(trailing)
    return Message(raw, prefix, command, params)


class NickInUse(Exception):
    pass


class IRCClient:
    """A small blocking IRC client over a plain socket, for driving a test scenario.

    Every read has a deadline; PINGs are answered while reading. ``expect`` takes the first
    unread message that matches and leaves the others unread for later ``expect`` calls.
    """

    def __init__(
        self,
        port: int,
        nick: str,
        *,
        host: str = HOST,
        user: str | None = None,
        timeout: float = 10.0,
        register: bool = True,
    ) -> None:
        self.nick = nick
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buffer = b""
        self.unread: list[Message] = []
        self.history: list[Message] = []
        self.closed = False
        if register:
            # ngircd refuses user names with characters a nick may have (`^`, `[`, ...)
            self.register(user or re.sub(r"[^A-Za-z0-9]", "", nick) or "tester")

    # transport

    def send(self, line: str | bytes) -> None:
        data = line.encode("utf-8") if isinstance(line, str) else line
        self.sock.sendall(data + b"\r\n")

    def _read(self, deadline: float) -> bool:
        """Read what arrives before ``deadline``; False on timeout or end of stream."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.closed:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, BlockingIOError):
            return False
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return False
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            message = parse(raw.rstrip(b"\r").decode("utf-8", "replace"))
            if message.command == "PING":
                self.send("PONG :" + message.text)
            self.history.append(message)
            self.unread.append(message)
        return True

    def expect(
        self,
        command: str | None = None,
        *,
        nick: str | None = None,
        target: str | None = None,
        text: str | re.Pattern[str] | None = None,
        where: Callable[[Message], bool] | None = None,
        timeout: float | None = None,
    ) -> Message:
        """The first unread message matching every given criterion (text: exact, or regex)."""

        def ok(m: Message) -> bool:
            if command is not None and m.command != command.upper():
                return False
            if nick is not None and m.nick.lower() != nick.lower():
                return False
            if target is not None and m.target.lower() != target.lower():
                return False
            if text is not None:
                if isinstance(text, str) and m.text != text:
                    return False
                if isinstance(text, re.Pattern) and not text.search(m.text):
                    return False
            return where is None or where(m)

        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for i, message in enumerate(self.unread):
                if ok(message):
                    del self.unread[i]
                    return message
            if not self._read(deadline):
                if self.closed:
                    raise AssertionError(
                        f"{self.nick}: connection closed while waiting for "
                        f"{command} nick={nick} target={target} text={text!r}"
                    )
                if time.monotonic() >= deadline:
                    recent = "\n".join(m.raw for m in self.history[-15:])
                    raise AssertionError(
                        f"{self.nick}: no {command or 'message'} nick={nick} target={target} "
                        f"text={text!r} within the deadline; last lines:\n{recent}"
                    )

    def drain(self, timeout: float = 0.0) -> None:
        """Read whatever is already waiting (or arrives within ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self._read(max(deadline, time.monotonic() + 0.001)):
            pass

    # IRC

    def register(self, user: str) -> None:
        self.send(f"NICK {self.nick}")
        self.send(f"USER {user} 0 * :logbot integration test client")
        reply = self.expect(where=lambda m: m.command in ("001", "433", "432"))
        if reply.command != "001":
            raise NickInUse(f"{self.nick}: {reply.raw}")

    def sync(self) -> None:
        """Round-trip a PING: the server has handled everything sent before this returns."""
        token = f"sync{time.monotonic_ns()}"
        self.send(f"PING :{token}")
        self.expect("PONG", where=lambda m: m.text == token)

    def join(self, channel: str) -> None:
        """Join and wait for the end of NAMES; the echo of our own JOIN is consumed."""
        self.send(f"JOIN {channel}")
        self.expect("JOIN", nick=self.nick, target=channel)
        self.expect("366", where=lambda m: len(m.params) > 1 and m.params[1] == channel)

    def part(self, channel: str, reason: str = "") -> None:
        self.send(f"PART {channel} :{reason}" if reason else f"PART {channel}")

    def privmsg(self, target: str, text: str) -> None:
        self.send(f"PRIVMSG {target} :{text}")

    def action(self, target: str, text: str) -> None:
        self.send(f"PRIVMSG {target} :\x01ACTION {text}\x01")

    def notice(self, target: str, text: str) -> None:
        self.send(f"NOTICE {target} :{text}")

    def topic(self, channel: str, text: str) -> None:
        self.send(f"TOPIC {channel} :{text}")

    def mode(self, target: str, *args: str) -> None:
        self.send(" ".join(("MODE", target, *args)))

    def kick(self, channel: str, nick: str, reason: str = "") -> None:
        self.send(f"KICK {channel} {nick} :{reason}")

    def change_nick(self, new: str) -> None:
        old = self.nick
        self.send(f"NICK {new}")
        self.expect("NICK", nick=old)
        self.nick = new

    def quit(self, reason: str = "bye") -> None:
        """Send QUIT and wait until the server closes the connection."""
        if self.closed:
            return
        self.send(f"QUIT :{reason}")
        deadline = time.monotonic() + self.timeout
        while self._read(deadline):
            pass
        self.close()

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.close()


@pytest.fixture
def irc_client(request: pytest.FixtureRequest) -> Iterator[Callable[..., IRCClient]]:
    """``irc_client(nick, server=None)``: a registered client of ``ngircd`` (or of ``server``)."""
    clients: list[IRCClient] = []

    def make(nick: str, server: Ngircd | FakeIRCServer | None = None, **kw: Any) -> IRCClient:
        target = server if server is not None else request.getfixturevalue("ngircd")
        client = IRCClient(target.port, nick, **kw)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --- the logbot command -----------------------------------------------------------------------


class LogBot:
    """The real ``logbot`` command running as a subprocess; stderr (and stdout) to a file."""

    def __init__(self, argv: list[str], env: dict[str, str], workdir: Path, log: Path | None):
        self.argv = argv
        self.log_path = log
        self.stderr_path = workdir / "logbot.stderr"
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        return "\n".join(read_lines(self.stderr_path))

    def log_lines(self) -> list[str]:
        assert self.log_path is not None, "this bot writes no text log"
        return read_lines(self.log_path)

    def wait_for_log(
        self, pattern: str | re.Pattern[str], timeout: float = 10.0, *, count: int = 1
    ) -> str:
        """The ``count``-th text-log line matching ``pattern``, once it is on disk."""
        assert self.log_path is not None, "this bot writes no text log"
        self._check_alive()
        return wait_for_line(self.log_path, pattern, timeout, count=count)

    def wait_for_stderr(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> str:
        return wait_for_line(self.stderr_path, pattern, timeout)

    def _check_alive(self) -> None:
        if not self.running:
            raise AssertionError(
                f"logbot exited with {self.proc.returncode}:\n{_tail(self.stderr_path)}"
            )

    def send_signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 15.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"logbot did not exit within {timeout:g} s:\n{_tail(self.stderr_path)}"
            ) from None

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; the exit status."""
        if self.running:
            self.proc.terminate()
        return self.wait_exit(timeout)

    def stop(self) -> None:
        """Teardown: SIGTERM, then SIGKILL if it hangs."""
        if not self.running:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def logbot_env(workdir: Path) -> dict[str, str]:
    """The parent's environment minus LOGBOT_* settings, with data dirs kept inside the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGBOT_")}
    env["XDG_DATA_HOME"] = str(workdir / "xdg-data")
    env["XDG_CONFIG_HOME"] = str(workdir / "xdg-config")
    # the SQL backend's spool (platformdirs user_state_path) stays inside the test too
    env["XDG_STATE_HOME"] = str(workdir / "xdg-state")
    env["XDG_CACHE_HOME"] = str(workdir / "xdg-cache")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"
    return env


@pytest.fixture
def logbot(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., LogBot]]:
    """``logbot(*extra_args, channels=("#x",), nick="logbot", server=None, file="log.txt")``.

    Runs ``python -m logbot --server 127.0.0.1 --port P --nick N --channel C... --file F`` with
    ``extra_args`` appended; ``server`` defaults to the ``ngircd`` fixture. ``file=None`` gives
    no ``--file``. At teardown the bot is stopped, and a traceback on its stderr fails the test.
    """
    bots: list[LogBot] = []

    def start(
        *extra_args: str,
        channels: tuple[str, ...] = ("#x",),
        nick: str = "logbot",
        server: Ngircd | FakeIRCServer | None = None,
        file: str | None = "log.txt",
    ) -> LogBot:
        target = server if server is not None else request.getfixturevalue("ngircd")
        workdir = tmp_path / f"logbot{len(bots)}"
        workdir.mkdir()
        argv = [sys.executable, "-m", "logbot", "--server", HOST, "--port", str(target.port)]
        argv += ["--nick", nick]
        for channel in channels:
            argv += ["--channel", channel]
        log = None
        if file is not None:
            log = workdir / file
            argv += ["--file", str(log)]
        argv += list(extra_args)
        bot = LogBot(argv, logbot_env(workdir), workdir, log)
        bots.append(bot)
        return bot

    yield start
    _stop_bots(bots, request)


def _stop_bots(bots: list[LogBot], request: pytest.FixtureRequest) -> None:
    """Stop every bot; print its output if the test failed; fail on a traceback in stderr."""
    problems = []
    for bot in bots:
        bot.stop()
        text = bot.stderr()
        if _failed(request):
            print(f"--- logbot stderr ({' '.join(bot.argv[3:])}) ---\n{_tail(bot.stderr_path)}")
            if bot.log_path is not None:
                print(f"--- text log {bot.log_path} ---\n{_tail(bot.log_path)}")
        if "Traceback" in text:
            problems.append(text)
    if problems:
        pytest.fail("logbot wrote a traceback to stderr:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def logbot_run(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., LogBot]]:
    """``logbot_run(*args, env=None, log=None) -> LogBot``: ``python -m logbot ARGS`` as given.

    For runs the ``logbot`` fixture cannot describe (``--config``, secrets in the
    environment): ``env`` is added to the cleaned environment of :func:`logbot_env`, and
    ``log`` is the text log the test reads (if any). Teardown as for ``logbot``.
    """
    bots: list[LogBot] = []

    def start(*args: str, env: dict[str, str] | None = None, log: Path | None = None) -> LogBot:
        workdir = tmp_path / f"logbot-run{len(bots)}"
        workdir.mkdir()
        bot = LogBot(
            [sys.executable, "-m", "logbot", *args], logbot_env(workdir) | (env or {}), workdir, log
        )
        bots.append(bot)
        return bot

    yield start
    _stop_bots(bots, request)


# --- a fake IRC server ------------------------------------------------------------------------


@dataclass
class FakeConnection:
    """One client connection to the fake server and every line it sent."""

    sock: socket.socket
    lines: list[str] = field(default_factory=list)
    nick: str = ""
    registered: threading.Event = field(default_factory=threading.Event)
    joined: list[str] = field(default_factory=list)
    silent: bool = False
    closed: threading.Event = field(default_factory=threading.Event)
    #: CAP LS seen and no CAP END yet: registration waits (a subclass's hook may set it)
    cap_negotiating: bool = False

    def send(self, line: str) -> None:
        if self.silent:
            return
        with contextlib.suppress(OSError):
            self.sock.sendall(line.encode("utf-8") + b"\r\n")


class FakeIRCServer:
    """Just enough IRC server for keepalive and reconnect tests, on a loopback port.

    It registers clients (CAP negotiation answered with no capabilities), echoes JOINs and
    answers PINGs. ``go_silent()`` makes every current connection stop answering anything,
    like a server that hangs; connections made afterwards are served normally. A subclass
    can take over any command in :meth:`handle_line` (e.g. CAP and AUTHENTICATE for SASL).
    """

    name = "fake.logbot.test"

    def __init__(self) -> None:
        self.host = HOST
        self.listener = socket.create_server((HOST, 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections: list[FakeConnection] = []
        self._lock = threading.Lock()
        self._stopping = False
        self._threads: list[threading.Thread] = []
        accept = threading.Thread(target=self._accept, name="fake-irc-accept", daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while not self._stopping:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            conn = FakeConnection(sock)
            with self._lock:
                self.connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: FakeConnection) -> None:
        buffer = b""
        user_seen = False
        try:
            while True:
                try:
                    data = conn.sock.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                buffer += data
                *raw_lines, buffer = buffer.split(b"\n")
                for raw in raw_lines:
                    line = raw.rstrip(b"\r").decode("utf-8", "replace")
                    conn.lines.append(line)
                    message = parse(line)
                    command = message.command
                    if self.handle_line(conn, message):
                        pass
                    elif command == "CAP":
                        sub = message.params[0].upper() if message.params else ""
                        if sub == "LS":
                            conn.cap_negotiating = True
                            conn.send(f":{self.name} CAP * LS :")
                        elif sub == "REQ":
                            conn.send(f":{self.name} CAP * NAK :{message.text}")
                        elif sub == "END":
                            conn.cap_negotiating = False
                    elif command == "NICK" and message.params:
                        conn.nick = message.params[0]
                    elif command == "USER":
                        user_seen = True
                    elif command == "PING":
                        conn.send(f":{self.name} PONG {self.name} :{message.text}")
                    elif command == "JOIN" and message.params:
                        for channel in message.params[0].split(","):
                            conn.joined.append(channel)
                            conn.send(f":{conn.nick}!bot@{HOST} JOIN :{channel}")
                            conn.send(f":{self.name} 353 {conn.nick} = {channel} :{conn.nick}")
                            conn.send(f":{self.name} 366 {conn.nick} {channel} :End of NAMES")
                    elif command == "QUIT":
                        conn.send(f"ERROR :Closing link ({message.text})")
                        return
                    if (
                        conn.nick
                        and user_seen
                        and not conn.cap_negotiating
                        and not conn.registered.is_set()
                    ):
                        self._welcome(conn)
        finally:
            conn.closed.set()
            with contextlib.suppress(OSError):
                conn.sock.close()

    def handle_line(self, conn: FakeConnection, message: Message) -> bool:
        """A subclass's hook, called first for every line: True if it handled the line."""
        return False

    def _welcome(self, conn: FakeConnection) -> None:
        n = conn.nick
        conn.send(f":{self.name} 001 {n} :Welcome to the fake network {n}")
        conn.send(f":{self.name} 002 {n} :Your host is {self.name}")
        conn.send(f":{self.name} 003 {n} :This server was created today")
        conn.send(f":{self.name} 004 {n} {self.name} fake-1 i nt")
        conn.send(f":{self.name} 005 {n} NETWORK=Fake CHANTYPES=# :are supported")
        conn.send(f":{self.name} 376 {n} :End of MOTD")
        conn.registered.set()

    def go_silent(self) -> None:
        """Every current connection stops answering (the sockets stay open)."""
        with self._lock:
            for conn in self.connections:
                conn.silent = True

    def wait_connections(self, count: int, timeout: float = 10.0) -> list[FakeConnection]:
        return wait_for(
            lambda: len(self.connections) >= count and list(self.connections),
            timeout,
            f"{count} connection(s) to the fake IRC server",
        )

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        with contextlib.suppress(OSError):
            self.listener.close()
        with self._lock:
            for conn in self.connections:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    conn.sock.close()
        for thread in self._threads:
            thread.join(5)


@pytest.fixture
def fake_irc() -> Iterator[FakeIRCServer]:
    """A fake IRC server on a free loopback port, stopped at teardown."""
    server = FakeIRCServer()
    try:
        yield server
    finally:
        server.stop()
