"""service.tls_options against an in-memory TLS server: which certificates it trusts.

No socket: the client and server ``OpenSSL.SSL.Connection`` objects talk through their
memory BIOs, and the test moves the bytes between them.
"""

from __future__ import annotations

import contextlib
import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL

from logbot.service import StartupError, tls_options
from logbot.settings import ChannelConfig, NetworkConfig

HOST = "irc.test"
NOW = datetime.datetime.now(datetime.UTC)


class Authority:
    """A CA that can sign a server certificate."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            self._builder(self.name, self.key.public_key())
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
            .sign(self.key, hashes.SHA256())
        )

    def _builder(self, subject: x509.Name, public: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=1))
        )

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def server(self, host: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
        cert = (
            self._builder(subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return cert, key


class Reported:
    """Stands for the TLS protocol, to which Twisted reports a host name that does not match
    (and whose factory it asks for ALPN protocols: none here)."""

    def __init__(self) -> None:
        self.failures: list[object] = []
        self.factory = SimpleNamespace(wrappedFactory=object())

    def failVerification(self, reason: object) -> None:
        self.failures.append(reason)


def handshake(options: Any, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    """True when the client built from ``options`` completes a verified handshake."""
    reported = Reported()
    client = options.clientConnectionForTLS(reported)
    client.set_connect_state()
    context = SSL.Context(SSL.TLS_METHOD)
    context.use_certificate(cert)  # type: ignore[arg-type]
    context.use_privatekey(key)  # type: ignore[arg-type]
    server = SSL.Connection(context, None)
    server.set_accept_state()
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, conn in (("client", client), ("server", server)):
            if done[name]:
                continue
            try:
                conn.do_handshake()
                done[name] = True
            except SSL.WantReadError:
                pass
            except SSL.Error:
                return False
        for source, sink in ((client, server), (server, client)):
            with contextlib.suppress(SSL.WantReadError):
                sink.bio_write(source.bio_read(65536))
        if all(done.values()):
            return not reported.failures
    raise AssertionError("the handshake neither finished nor failed")


def network(ca: Path) -> NetworkConfig:
    return NetworkConfig(
        server=HOST, channels=(ChannelConfig("#x"),), tls=True, port=6697, tls_ca=str(ca)
    )


def test_tls_ca_trusts_every_certificate_of_a_bundle(tmp_path: Path) -> None:
    """A server signed by the bundle's second CA verifies (not only the first is loaded)."""
    other, signer = Authority("other CA"), Authority("signing CA")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(other.pem() + signer.pem())
    assert handshake(tls_options(network(bundle)), *signer.server(HOST))


def test_tls_ca_without_the_signer_refuses_the_server(tmp_path: Path) -> None:
    """The control: a bundle that lacks the server's CA fails the handshake."""
    other, signer = Authority("other CA"), Authority("signing CA")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(other.pem() + Authority("third CA").pem())
    assert not handshake(tls_options(network(bundle)), *signer.server(HOST))


def test_tls_ca_checks_the_host_name(tmp_path: Path) -> None:
    """A certificate from a trusted CA for another host name is refused."""
    signer = Authority("signing CA")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(signer.pem())
    assert not handshake(tls_options(network(ca)), *signer.server("elsewhere.test"))


def test_tls_ca_without_a_certificate_is_a_startup_error(tmp_path: Path) -> None:
    """A file holding no PEM certificate stops the start with one line naming it."""
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    with pytest.raises(StartupError, match=f"^cannot load CA certificate {ca}: "):
        tls_options(network(ca))
