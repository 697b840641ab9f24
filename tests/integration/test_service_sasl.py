"""SASL PLAIN and server-time against a small fake IRCv3 server (ngircd has neither).

The real ``logbot`` command runs a TOML config whose SASL password comes from a file
(mode 600) or from an environment variable the config names; the fake server checks
what arrives on the wire, in order.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.conftest import (
    HOST,
    LOG_EVENT,
    FakeConnection,
    FakeIRCServer,
    LogBot,
    Message,
    log_line,
    wait_for,
)

BOT_START = 30.0
ACCOUNT = "logbot-account"
PASSWORD = "correct horse battery staple"
WRONG = "Tr0ub4dor&3-wrong"


class SaslServer(FakeIRCServer):
    """The fake server, offering ``sasl`` (PLAIN) and ``server-time`` in ``CAP LS 302``.

    ``accounts`` maps an account to its password; every PLAIN response received is
    decoded into ``responses`` as ``(authzid, authcid, password)``.
    """

    caps = ("sasl", "server-time")

    def __init__(self, accounts: dict[str, str]) -> None:
        super().__init__()
        self.accounts = accounts
        self.responses: list[tuple[str, ...]] = []

    def handle_line(self, conn: FakeConnection, message: Message) -> bool:
        target = conn.nick or "*"
        if message.command == "CAP":
            sub = message.params[0].upper() if message.params else ""
            if sub == "LS":
                conn.cap_negotiating = True
                conn.send(f":{self.name} CAP * LS :sasl=PLAIN server-time")
            elif sub == "REQ":
                asked = message.text.split()
                verdict = "ACK" if all(cap in self.caps for cap in asked) else "NAK"
                conn.send(f":{self.name} CAP {target} {verdict} :{message.text}")
            elif sub == "END":
                conn.cap_negotiating = False
            return True
        if message.command == "AUTHENTICATE" and message.params:
            arg = message.params[0]
            if arg == "PLAIN":
                conn.send("AUTHENTICATE +")
                return True
            try:
                fields = tuple(base64.b64decode(arg, validate=True).decode().split("\0"))
            except (binascii.Error, UnicodeDecodeError):
                fields = ("undecodable",)
            self.responses.append(fields)
            if len(fields) == 3 and self.accounts.get(fields[1]) == fields[2]:
                mask = f"{target}!bot@{HOST}"
                conn.send(f":{self.name} 900 {target} {mask} {fields[1]} :You are now logged in")
                conn.send(f":{self.name} 903 {target} :SASL authentication successful")
            else:
                conn.send(f":{self.name} 904 {target} :SASL authentication failed")
            return True
        return False


@pytest.fixture
def sasl_server() -> Iterator[SaslServer]:
    server = SaslServer({ACCOUNT: PASSWORD})
    try:
        yield server
    finally:
        server.stop()


def config(
    tmp_path: Path,
    server: FakeIRCServer,
    secret_source: str,
    required: bool,
    plaintext: bool = True,
) -> Path:
    """The bot's config; ``plaintext`` allows SASL PLAIN over this plain-TCP test server."""
    path = tmp_path / "logbot.toml"
    path.write_text(
        f'server = "{HOST}"\nport = {server.port}\nchannels = ["#x"]\n'
        f'file = "{tmp_path / "log.txt"}"\nlog_level = "debug"\n'
        f'sasl_mechanism = "PLAIN"\nsasl_user = "{ACCOUNT}"\n{secret_source}\n'
        f"sasl_required = {'true' if required else 'false'}\n"
        f"allow_plaintext_secrets = {'true' if plaintext else 'false'}\n"
    )
    return path


def password_file(tmp_path: Path, secret: str) -> str:
    path = tmp_path / "sasl.pass"
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return f'sasl_password_file = "{path}"'


def cmdline(bot: LogBot) -> str:
    """What ``ps`` shows for the running bot."""
    return Path(f"/proc/{bot.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_sasl_plain_success_logs_in_before_joining(
    sasl_server: SaslServer, logbot_run: Callable[..., LogBot], tmp_path: Path
) -> None:
    """CAP LS 302, REQ sasl, AUTHENTICATE PLAIN with the file's password, 903, CAP END, JOIN."""
    conf = config(tmp_path, sasl_server, password_file(tmp_path, PASSWORD), required=True)
    bot = logbot_run("--config", str(conf), log=tmp_path / "log.txt")
    (conn,) = sasl_server.wait_connections(1, timeout=BOT_START)
    wait_for(lambda: conn.joined == ["#x"], BOT_START, "the bot to join #x")
    assert conn.lines[0] == "CAP LS 302"
    sent = [line.split(" :")[0] for line in conn.lines]
    order = [
        sent.index("CAP REQ"),
        sent.index("AUTHENTICATE PLAIN"),
        sent.index(
            "AUTHENTICATE "
            + base64.b64encode(f"{ACCOUNT}\0{ACCOUNT}\0{PASSWORD}".encode()).decode()
        ),
        sent.index("CAP END"),
        sent.index("JOIN #x"),
    ]
    assert order == sorted(order), conn.lines
    assert "sasl" in conn.lines[sent.index("CAP REQ")]
    assert sasl_server.responses == [(ACCOUNT, ACCOUNT, PASSWORD)]
    bot.wait_for_log(log_line("[I have joined #x]"))
    line = bot.wait_for_stderr("SASL PLAIN authentication succeeded")
    assert LOG_EVENT.match(line), line
    assert f"logged in as {ACCOUNT}" in bot.stderr()
    assert PASSWORD not in bot.stderr()
    assert PASSWORD not in cmdline(bot)


def test_sasl_failure_with_sasl_required_never_joins_and_names_no_secret(
    sasl_server: SaslServer, logbot_run: Callable[..., LogBot], tmp_path: Path
) -> None:
    """904 with sasl_required: one ERROR line, QUIT, no JOIN on any attempt, retried later."""
    conf = config(tmp_path, sasl_server, 'sasl_password_env = "BOT_SASL"', required=True)
    bot = logbot_run("--config", str(conf), env={"BOT_SASL": WRONG}, log=tmp_path / "log.txt")
    first, second = sasl_server.wait_connections(2, timeout=BOT_START)[:2]
    wait_for(first.closed.is_set, 10, "the bot to close the refused connection")
    assert sasl_server.responses[0] == (ACCOUNT, ACCOUNT, WRONG)
    for conn in (first, second):
        assert not [line for line in conn.lines if line.startswith("JOIN")], conn.lines
    assert "CAP END" not in first.lines
    (quit_,) = [line for line in first.lines if line.startswith("QUIT")]
    assert "sasl_required" in quit_
    assert WRONG not in quit_
    refusals = [line for line in bot.stderr().splitlines() if "not joining" in line]
    assert refusals
    assert LOG_EVENT.match(refusals[0]), refusals[0]
    assert " ERROR logbot.irc: " in refusals[0]
    assert "SASL PLAIN authentication failed (904: SASL authentication failed)" in refusals[0]
    assert bot.running
    assert WRONG not in bot.stderr()
    assert WRONG not in cmdline(bot)
    assert not (tmp_path / "log.txt").exists() or "joined" not in (tmp_path / "log.txt").read_text()


def test_sasl_plain_without_tls_is_refused_when_required(
    sasl_server: SaslServer, logbot_run: Callable[..., LogBot], tmp_path: Path
) -> None:
    """No TLS, no allow_plaintext_secrets, sasl_required: no AUTHENTICATE, a QUIT saying why."""
    conf = config(
        tmp_path, sasl_server, password_file(tmp_path, PASSWORD), required=True, plaintext=False
    )
    bot = logbot_run("--config", str(conf), log=tmp_path / "log.txt")
    (first,) = sasl_server.wait_connections(1, timeout=BOT_START)[:1]
    wait_for(first.closed.is_set, 10, "the bot to close the refused connection")
    assert not [line for line in first.lines if line.startswith(("AUTHENTICATE", "JOIN"))]
    (quit_,) = [line for line in first.lines if line.startswith("QUIT")]
    assert "not authenticating with SASL PLAIN" in quit_
    assert sasl_server.responses == []
    line = bot.wait_for_stderr("allow_plaintext_secrets = true to allow it")
    assert "sasl_required is set" in line
    assert PASSWORD not in bot.stderr()


def test_server_time_is_the_time_of_the_logged_line(
    sasl_server: SaslServer, logbot_run: Callable[..., LogBot], tmp_path: Path
) -> None:
    """With server-time negotiated, a line stamped @time=... is logged at that time, not now."""
    conf = config(tmp_path, sasl_server, password_file(tmp_path, PASSWORD), required=False)
    bot = logbot_run("--config", str(conf), env={"TZ": "UTC"}, log=tmp_path / "log.txt")
    (conn,) = sasl_server.wait_connections(1, timeout=BOT_START)
    wait_for(lambda: conn.joined == ["#x"], BOT_START, "the bot to join #x")
    conn.send(f":carol!c@{HOST} JOIN :#x")
    # hours ago, but within the day a server-time stamp is believed for
    past = datetime.now(UTC) - timedelta(hours=3, minutes=7)
    conn.send(f"@time={past:%Y-%m-%dT%H:%M:%S}.678Z :carol!c@{HOST} PRIVMSG #x :from the past")
    line = bot.wait_for_log("<carol> from the past")
    assert line.startswith(f"[{past:%H:%M:%S}] ")
