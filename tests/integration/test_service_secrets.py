"""A server password given by file or environment shows up nowhere but on the wire.

ngircd with ``Password =`` set: the right password (from a mode-600 file named in the
config) gets the bot in; a wrong one (LOGBOT_PASSWORD) is refused by the server. In
both cases, at --log-level debug, the password is in no stderr line, no text-log line
and not in the process's command line (what ``ps`` shows).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import (
    HOST,
    LOG_EVENT,
    FakeConnection,
    FakeIRCServer,
    IRCClient,
    LogBot,
    Message,
    Ngircd,
    read_lines,
    wait_for,
)

BOT_START = 30.0
SERVER_PASSWORD = "s3rver-secret-9f2c"
WRONG_PASSWORD = "not-the-password-71ab"


def password_ngircd(make_ngircd: Callable[..., Ngircd]) -> Ngircd:
    return make_ngircd(f"[Global]\n\tPassword = {SERVER_PASSWORD}\n")


def plaintext_allowed(tmp_path: Path) -> Path:
    """A config that lets PASS cross the test's plain-TCP connection to 127.0.0.1."""
    config = tmp_path / "plaintext.toml"
    config.write_text("allow_plaintext_secrets = true\n")
    return config


def shown_by_ps(bot: LogBot) -> str:
    """The bot's command line as ``ps`` prints it (from /proc when ps is not installed)."""
    ps = shutil.which("ps")
    if ps is not None:
        out = subprocess.run(
            [ps, "-ww", "-o", "args=", "-p", str(bot.pid)], capture_output=True, text=True
        )
        assert out.stdout.strip(), "ps shows no process: the bot is not running"
        return out.stdout
    return Path(f"/proc/{bot.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def assert_nowhere(secret: str, bot: LogBot) -> None:
    assert secret not in bot.stderr()
    assert secret not in shown_by_ps(bot)
    if bot.log_path is not None:
        assert secret not in "\n".join(read_lines(bot.log_path))


def test_a_password_file_gets_the_bot_in_and_the_password_is_never_shown(
    make_ngircd: Callable[..., Ngircd],
    logbot_run: Callable[..., LogBot],
    irc_client: Callable[..., IRCClient],
    tmp_path: Path,
) -> None:
    """password_file in the config: ngircd accepts the bot; the secret is in no output."""
    server = password_ngircd(make_ngircd)
    alice = irc_client("alice", server=server, register=False)
    alice.send(f"PASS {SERVER_PASSWORD}")
    alice.register("alice")
    alice.join("#x")
    secret = tmp_path / "server.pass"
    secret.write_text(SERVER_PASSWORD + "\n")
    secret.chmod(0o600)
    log = tmp_path / "log.txt"
    config = tmp_path / "logbot.toml"
    config.write_text(
        f'server = "{HOST}"\nport = {server.port}\nchannels = ["#x"]\nfile = "{log}"\n'
        f'password_file = "{secret}"\nlog_level = "debug"\nallow_plaintext_secrets = true\n'
    )
    bot = logbot_run("--config", str(config), log=log)
    alice.expect("JOIN", nick="logbot", timeout=BOT_START)
    alice.privmsg("#x", "the bot is in")
    bot.wait_for_log("<alice> the bot is in")
    assert_nowhere(SERVER_PASSWORD, bot)
    assert "readable by" not in bot.stderr()  # mode 600: no warning


def test_a_password_ngircd_rejects_is_one_line_without_the_password(
    make_ngircd: Callable[..., Ngircd], logbot_run: Callable[..., LogBot], tmp_path: Path
) -> None:
    """LOGBOT_PASSWORD wrong: ngircd refuses; one readable line, a retry planned, no secret."""
    server = password_ngircd(make_ngircd)
    log = tmp_path / "log.txt"
    bot = logbot_run(
        *("--config", str(plaintext_allowed(tmp_path))),
        *("--server", HOST, "--port", str(server.port), "--channel", "#x", "--file", str(log)),
        "--log-level",
        "debug",
        env={"LOGBOT_PASSWORD": WRONG_PASSWORD},
        log=log,
    )
    # ngircd answers a bad PASS with ERROR (no 464 numeric): the bot passes its words on
    line = bot.wait_for_stderr("server closed the link: Access denied: Bad password", BOT_START)
    assert LOG_EVENT.match(line), line
    assert " WARN logbot.irc: " in line
    assert "reconnecting in" in line
    assert bot.running
    assert_nowhere(WRONG_PASSWORD, bot)


def test_a_world_readable_password_file_is_warned_about_by_path_only(
    make_ngircd: Callable[..., Ngircd], logbot_run: Callable[..., LogBot], tmp_path: Path
) -> None:
    """A secret file others can read: one WARN line naming the file and mode, not the content."""
    server = password_ngircd(make_ngircd)
    secret = tmp_path / "server.pass"
    secret.write_text(SERVER_PASSWORD + "\n")
    secret.chmod(0o644)
    config = tmp_path / "logbot.toml"
    config.write_text(
        f'server = "{HOST}"\nport = {server.port}\nchannels = ["#x"]\n'
        f'file = "{tmp_path / "log.txt"}"\npassword_file = "{secret}"\n'
        "allow_plaintext_secrets = true\n"
    )
    bot = logbot_run("--config", str(config), log=tmp_path / "log.txt")
    line = bot.wait_for_stderr("readable by", BOT_START)
    assert LOG_EVENT.match(line), line
    assert " WARN " in line
    assert str(secret) in line
    assert "0644" in line
    wait_for(lambda: "joined #x" in bot.stderr(), BOT_START, "the bot to join #x")
    assert_nowhere(SERVER_PASSWORD, bot)


class PasswordServer(FakeIRCServer):
    """Refuses every PASS the way the RFC says: 464, then ERROR, then the link is closed."""

    def handle_line(self, conn: FakeConnection, message: Message) -> bool:
        if message.command != "PASS":
            return False
        conn.send(f":{self.name} 464 * :Password incorrect")
        conn.send("ERROR :Closing link: bad password")
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        return True


@pytest.fixture
def password_server() -> Iterator[PasswordServer]:
    server = PasswordServer()
    try:
        yield server
    finally:
        server.stop()


def test_a_464_refusal_is_one_error_line_without_the_password(
    password_server: PasswordServer, logbot_run: Callable[..., LogBot], tmp_path: Path
) -> None:
    """464 Password incorrect: an ERROR line saying so, naming no secret; a retry is planned."""
    bot = logbot_run(
        *("--config", str(plaintext_allowed(tmp_path))),
        *("--server", HOST, "--port", str(password_server.port), "--channel", "#x"),
        *("--file", str(tmp_path / "log.txt"), "--log-level", "debug"),
        env={"LOGBOT_PASSWORD": WRONG_PASSWORD},
        log=tmp_path / "log.txt",
    )
    line = bot.wait_for_stderr("the server rejected the password", BOT_START)
    # the server saw the password (the refusal answered it)
    assert f"PASS :{WRONG_PASSWORD}" in password_server.connections[0].lines
    assert LOG_EVENT.match(line), line
    assert " ERROR logbot.irc: " in line
    lost = bot.wait_for_stderr("disconnected from", BOT_START)
    assert "server password rejected; reconnecting in" in lost
    assert bot.running
    assert_nowhere(WRONG_PASSWORD, bot)
