"""TLS against a real ngircd with a certificate the test makes: verified, refused, unverified.

The test makes its own CA and a server certificate for 127.0.0.1 and localhost (SAN),
and a second certificate from the same CA for another host name only. ngircd serves
TLS on one port and plain text on another, so the test's own clients stay plain.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.integration.conftest import (
    HOST,
    LOG_EVENT,
    IRCClient,
    LogBot,
    Ngircd,
    free_port,
    log_line,
    port_accepts,
    wait_for,
)

BOT_START = 30.0


# --- certificates -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Certs:
    ca: Path
    #: server certificate and key for 127.0.0.1 and localhost
    cert: Path
    key: Path
    #: server certificate and key for irc.elsewhere.test only (same CA)
    other_cert: Path
    other_key: Path
    #: ffdhe2048 parameters, so ngircd (GnuTLS) does not spend a second making its own
    dh: Path | None


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    # ngircd drops root for nobody only after reading its key; no one else needs it
    path.chmod(0o600)


def _server_cert(
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: list[x509.GeneralName],
    now: datetime.datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("logbot test server"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A throwaway CA and two server certificates it signed."""
    where = tmp_path_factory.mktemp("certs")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("logbot test CA"))
        .issuer_name(_name("logbot test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (where / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    loopback: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address(HOST)),
    ]
    for stem, names in (("server", loopback), ("other", [x509.DNSName("irc.elsewhere.test")])):
        cert, key = _server_cert(ca, ca_key, names, now)
        (where / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, where / f"{stem}.key")
    dh: Path | None = None
    openssl = shutil.which("openssl")
    if openssl is not None:
        dh = where / "dh.pem"
        ffdhe = ("-algorithm", "DH", "-pkeyopt", "group:ffdhe2048")
        subprocess.run(
            [openssl, "genpkey", "-genparam", *ffdhe, "-out", str(dh)],
            check=True,
            capture_output=True,
        )
    return Certs(
        ca=where / "ca.pem",
        cert=where / "server.pem",
        key=where / "server.key",
        other_cert=where / "other.pem",
        other_key=where / "other.key",
        dh=dh,
    )


@dataclass
class TLSServer:
    ngircd: Ngircd
    tls_port: int


def start_tls_ngircd(
    make_ngircd: Callable[..., Ngircd], cert: Path, key: Path, dh: Path | None
) -> TLSServer:
    """ngircd with plain text on its usual port and TLS (``cert``) on another."""
    tls_port = free_port()
    conf = f"[SSL]\n\tCertFile = {cert}\n\tKeyFile = {key}\n\tPorts = {tls_port}\n"
    if dh is not None:
        conf += f"\tDHFile = {dh}\n"
    server = make_ngircd(conf)
    wait_for(lambda: port_accepts(tls_port), 15, "ngircd to listen for TLS")
    return TLSServer(server, tls_port)


@pytest.fixture
def tls_server(make_ngircd: Callable[..., Ngircd], certs: Certs) -> TLSServer:
    """ngircd serving the certificate for 127.0.0.1 and localhost."""
    return start_tls_ngircd(make_ngircd, certs.cert, certs.key, certs.dh)


def tls_args(server: TLSServer, workdir: Path, *extra: str) -> tuple[str, ...]:
    return (
        "--server",
        HOST,
        "--port",
        str(server.tls_port),
        "--tls",
        "--channel",
        "#x",
        "--file",
        str(workdir / "log.txt"),
        *extra,
    )


def alice_in_x(irc_client: Callable[..., IRCClient], server: TLSServer) -> IRCClient:
    alice = irc_client("alice", server=server.ngircd)
    alice.join("#x")
    return alice


def assert_logs_a_line(bot: LogBot, alice: IRCClient, text: str) -> None:
    alice.expect("JOIN", nick="logbot", timeout=BOT_START)
    alice.privmsg("#x", text)
    bot.wait_for_log(log_line(f"<alice> {text}"))


def failure_lines(bot: LogBot, pattern: str) -> list[str]:
    return [line for line in bot.stderr().splitlines() if pattern in line]


# --- tests --------------------------------------------------------------------------------------


def test_a_config_naming_the_test_ca_connects_verified_and_logs(
    tls_server: TLSServer,
    certs: Certs,
    logbot_run: Callable[..., LogBot],
    irc_client: Callable[..., IRCClient],
    tmp_path: Path,
) -> None:
    """tls_ca in the TOML config: the certificate verifies, the bot joins over TLS and logs."""
    alice = alice_in_x(irc_client, tls_server)
    config = tmp_path / "logbot.toml"
    log = tmp_path / "log.txt"
    config.write_text(
        f'server = "{HOST}"\nport = {tls_server.tls_port}\ntls = true\n'
        f'tls_ca = "{certs.ca}"\nchannels = ["#x"]\nfile = "{log}"\n'
    )
    bot = logbot_run("--config", str(config), log=log)
    assert_logs_a_line(bot, alice, "hello over TLS")
    assert f"connected to {HOST}:{tls_server.tls_port} (TLS)" in bot.stderr()


def test_ssl_cert_file_is_the_trust_store_of_a_tls_run(
    tls_server: TLSServer,
    certs: Certs,
    logbot_run: Callable[..., LogBot],
    irc_client: Callable[..., IRCClient],
    tmp_path: Path,
) -> None:
    """--tls without tls_ca trusts OpenSSL's default paths, so SSL_CERT_FILE=ca.pem verifies."""
    alice = alice_in_x(irc_client, tls_server)
    bot = logbot_run(
        *tls_args(tls_server, tmp_path),
        env={"SSL_CERT_FILE": str(certs.ca)},
        log=tmp_path / "log.txt",
    )
    assert_logs_a_line(bot, alice, "trusted through SSL_CERT_FILE")


def test_without_the_ca_the_refusal_is_one_line_and_the_bot_retries_with_backoff(
    tls_server: TLSServer,
    logbot_run: Callable[..., LogBot],
    irc_client: Callable[..., IRCClient],
    tmp_path: Path,
) -> None:
    """An unknown CA: one readable line per attempt, no traceback, growing delays, no exit."""
    alice = alice_in_x(irc_client, tls_server)
    bot = logbot_run(*tls_args(tls_server, tmp_path), log=tmp_path / "log.txt")
    what = f"{HOST}:{tls_server.tls_port} (TLS): TLS handshake failed"
    lines = wait_for(
        lambda: len(failure_lines(bot, what)) >= 2 and failure_lines(bot, what),
        BOT_START,
        "two refused attempts",
    )
    assert bot.running
    for line in lines:
        assert LOG_EVENT.match(line), line
        assert " WARN logbot.irc: " in line
        assert "certificate verify failed" in line
    delays = [float(re.findall(r"reconnecting in ([\d.]+) s$", line)[0]) for line in lines]
    assert delays[1] > delays[0]
    stderr = bot.stderr()
    assert "(attempt 2)" in stderr
    # "connected" is said only after a handshake that succeeded
    assert "connected to" not in stderr.replace("disconnected", "")
    alice.sync()
    assert not [m for m in alice.history if m.command == "JOIN" and m.nick == "logbot"]


def test_a_certificate_for_another_host_is_refused_in_one_line(
    make_ngircd: Callable[..., Ngircd],
    certs: Certs,
    logbot_run: Callable[..., LogBot],
    tmp_path: Path,
) -> None:
    """A certificate from a trusted CA but for another name: refused, naming the host."""
    other = start_tls_ngircd(make_ngircd, certs.other_cert, certs.other_key, certs.dh)
    bot = logbot_run(*tls_args(other, tmp_path), env={"SSL_CERT_FILE": str(certs.ca)})
    line = bot.wait_for_stderr(f"TLS certificate is not valid for {HOST}", BOT_START)
    assert LOG_EVENT.match(line), line
    assert line.endswith(" s")  # "...; reconnecting in N s": it keeps trying
    assert bot.running


def test_no_tls_verify_connects_to_an_unknown_ca_and_logs(
    tls_server: TLSServer,
    logbot_run: Callable[..., LogBot],
    irc_client: Callable[..., IRCClient],
    tmp_path: Path,
) -> None:
    """--no-tls-verify: the same server the verified run refuses is joined and logged."""
    alice = alice_in_x(irc_client, tls_server)
    bot = logbot_run(*tls_args(tls_server, tmp_path, "--no-tls-verify"), log=tmp_path / "log.txt")
    assert_logs_a_line(bot, alice, "unverified but encrypted")
    assert "(TLS, certificate NOT verified); registering as logbot" in bot.stderr()
