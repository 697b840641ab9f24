"""The reconnecting factory: backoff, never giving up, reset on sign-on, QUIT on shutdown.

In the style of Twisted's test_factories.py: a fake connector records reconnect
attempts, a ``MemoryReactorClock`` stands for the reactor, and time only moves when
the test says so.
"""

from __future__ import annotations

import pytest
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from logbot.events import Event, Kind
from logbot.irc.factory import LogBotFactory
from logbot.irc.protocol import LogBotProtocol
from logbot.settings import ChannelConfig, NetworkConfig

SERVER = "irc.example.net"


class FakeConnector:
    """Counts reconnect attempts; ``connect()`` is what the factory calls to retry."""

    def __init__(self) -> None:
        self.attempts = 0
        self.stopped = False

    def connect(self) -> None:
        self.attempts += 1

    def stopConnecting(self) -> None:
        self.stopped = True


class Setup:
    def __init__(self, name: str | None = "testnet", **settings: object) -> None:
        self.reactor = MemoryReactorClock()
        self.reactor.advance(1_764_358_522.0)
        self.events: list[Event] = []
        self.network = NetworkConfig(
            server=SERVER,
            channels=(ChannelConfig("#x"), ChannelConfig("#y", "k")),
            name=name,
            **settings,  # type: ignore[arg-type]
        )
        self.factory = LogBotFactory(self.network, self.events.append, self.reactor)
        self.factory.jitter = 0  # exact delays; the jitter itself is Twisted's
        self.connector = FakeConnector()

    def connect(self) -> tuple[LogBotProtocol, StringTransport]:
        """A connection succeeds: the factory builds a protocol on a StringTransport."""
        proto = self.factory.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        return proto, transport

    def sign_on(self, proto: LogBotProtocol) -> None:
        proto.dataReceived(
            f":{SERVER} 421 * CAP :Unknown\r\n:{SERVER} 001 logbot :Welcome\r\n".encode()
        )

    def lose(self, proto: LogBotProtocol) -> None:
        reason = Failure(ConnectionDone())
        proto.connectionLost(reason)
        self.factory.clientConnectionLost(self.connector, reason)

    def fail(self) -> None:
        refused = Failure(ConnectionRefusedError("Connection refused"))
        self.factory.clientConnectionFailed(self.connector, refused)

    def next_delay(self) -> float:
        (call,) = self.reactor.getDelayedCalls()
        return float(call.getTime() - self.reactor.seconds())


def test_connect_tcp_uses_the_factory_as_given() -> None:
    """The service's call, reactor.connectTCP(host, port, factory), starts a connection."""
    s = Setup()
    s.reactor.connectTCP(SERVER, 6667, s.factory)
    host, port, factory, _timeout, _bind = s.reactor.tcpClients[0]
    assert (host, port, factory) == (SERVER, 6667, s.factory)


def test_failed_connect_retries_with_growing_delay_and_never_gives_up(logged: list[str]) -> None:
    """Refused connects are retried from 1 s, backing off to 300 s, forever; no reactor stop."""
    s = Setup()
    delays = []
    for _ in range(200):
        s.fail()
        delays.append(s.next_delay())
        s.reactor.advance(delays[-1])
    assert s.connector.attempts == 200
    assert delays[0] == pytest.approx(1.0)
    assert delays[1] == pytest.approx(LogBotFactory.factor)
    assert delays == sorted(delays)
    assert max(delays) == pytest.approx(300.0)
    assert not s.reactor.hasStopped
    assert logged[0] == (
        "testnet: cannot connect to irc.example.net:6667: "
        "Connection was refused by other side: Connection refused; reconnecting in 1.0 s"
    )


def test_signing_on_resets_the_backoff() -> None:
    """After a successful sign-on, a lost connection is retried after the initial 1 s again."""
    s = Setup()
    for _ in range(10):
        s.fail()
        s.reactor.advance(s.next_delay())
    proto, _ = s.connect()
    s.sign_on(proto)
    s.lose(proto)
    assert s.next_delay() == pytest.approx(1.0)


def test_connection_lost_before_sign_on_keeps_backing_off() -> None:
    """A connection dropped during registration does not reset the backoff."""
    s = Setup()
    for _ in range(5):
        s.fail()
        s.reactor.advance(s.next_delay())
    proto, _ = s.connect()
    s.lose(proto)
    assert s.next_delay() > 100


def test_every_reconnect_rejoins_every_channel() -> None:
    """Each new connection joins every configured channel (with keys) once signed on."""
    s = Setup()
    for _ in range(3):
        proto, transport = s.connect()
        s.sign_on(proto)
        assert transport.value().endswith(b"JOIN #y,#x k\r\n")
        s.lose(proto)
        s.reactor.advance(s.next_delay())
    assert s.connector.attempts == 3


def test_disconnect_is_logged_with_its_reason_and_the_retry(logged: list[str]) -> None:
    """A dropped connection is one log line with the reason and the reconnect delay."""
    s = Setup(ping_interval=60.0, ping_timeout=120.0)
    proto, _ = s.connect()
    s.sign_on(proto)
    s.reactor.pump([1.0] * 180)
    s.lose(proto)
    assert (
        "testnet: disconnected from irc.example.net:6667: no reply to PING within 120 s; "
        "reconnecting in 1.0 s"
    ) in logged


def test_stop_trying_prevents_reconnecting() -> None:
    """After stopTrying a lost connection is not retried."""
    s = Setup()
    proto, _ = s.connect()
    s.sign_on(proto)
    s.factory.stopTrying()
    s.lose(proto)
    assert s.reactor.getDelayedCalls() == []
    assert s.connector.attempts == 0


def test_quit_sends_quit_at_once_and_fires_when_the_connection_closes() -> None:
    """quit() writes QUIT ahead of any queued line and fires once the connection is lost."""
    s = Setup()
    proto, transport = s.connect()
    s.sign_on(proto)
    proto.dataReceived(b":logbot!l@h JOIN #x\r\n")
    for i in range(20):  # queue far more than the token bucket lets out
        proto.dataReceived(f":u{i}!u@h PRIVMSG logbot :hi\r\n".encode())
    transport.clear()
    fired: list[object] = []
    s.factory.quit("bye now").addCallback(fired.append)
    assert transport.value() == b"QUIT :bye now\r\n"
    assert fired == []
    proto.dataReceived(b":alice!a@h PRIVMSG #x :logbot: one last line\r\n")
    assert s.events[-1].text == "logbot: one last line"
    s.reactor.advance(1)
    s.lose(proto)
    assert fired == [None]
    s.reactor.advance(600)
    assert transport.value() == b"QUIT :bye now\r\n"
    assert s.connector.attempts == 0


def test_quit_gives_up_waiting_after_the_timeout() -> None:
    """If the server never closes after QUIT, quit() aborts the connection and fires anyway."""
    s = Setup()
    proto, transport = s.connect()
    s.sign_on(proto)
    fired: list[object] = []
    s.factory.quit("bye").addCallback(fired.append)
    s.reactor.advance(LogBotFactory.quit_timeout - 0.1)
    assert fired == []
    s.reactor.advance(0.1)
    assert fired == [None]
    assert transport.disconnected


def test_quit_without_a_connection_fires_at_once() -> None:
    """With no connection (waiting to reconnect) quit() fires at once and cancels the retry."""
    s = Setup()
    s.fail()
    fired: list[object] = []
    s.factory.quit("bye").addCallback(fired.append)
    assert fired == [None]
    assert s.reactor.getDelayedCalls() == []


def test_network_name_prefers_config_then_isupport_then_host() -> None:
    """Records carry the configured name, else ISUPPORT NETWORK=, else the server host."""
    assert Setup(name="mine").factory.network_name == "mine"
    s = Setup(name=None)
    assert s.factory.network_name == SERVER
    proto, _ = s.connect()
    s.sign_on(proto)
    proto.dataReceived(
        f":{SERVER} 005 logbot NETWORK=Example\\x20Net :are supported\r\n"
        ":logbot!l@h JOIN #x\r\n".encode()
    )
    assert s.factory.network_name == "Example Net"
    assert s.events[-1].kind is Kind.JOIN
    assert s.events[-1].network == "Example Net"
    s.lose(proto)
    proto2, _ = s.connect()
    assert proto2._network_name == "Example Net"


def test_configured_name_wins_over_isupport() -> None:
    """A configured network name is kept even when the server names its network."""
    s = Setup(name="mine")
    proto, _ = s.connect()
    s.sign_on(proto)
    proto.dataReceived(f":{SERVER} 005 logbot NETWORK=Other :are supported\r\n".encode())
    assert s.factory.network_name == "mine"


def test_tls_failures_are_one_readable_line(logged: list[str]) -> None:
    """A certificate that fails verification or names another host reads plainly in the log."""
    from OpenSSL import SSL
    from service_identity import VerificationError
    from service_identity.hazmat import DNS_ID, DNSMismatch

    s = Setup(tls=True, port=6697)
    for error in (
        SSL.Error([("SSL routines", "", "certificate verify failed")]),
        VerificationError(errors=[DNSMismatch(mismatched_id=DNS_ID(SERVER))]),
    ):
        proto, _ = s.connect()
        reason = Failure(error)
        proto.connectionLost(reason)
        s.factory.clientConnectionLost(s.connector, reason)
        s.reactor.advance(s.next_delay())
    assert [line for line in logged if "disconnected" in line] == [
        "testnet: disconnected from irc.example.net:6697 (TLS): "
        "TLS handshake failed: certificate verify failed; reconnecting in 1.0 s",
        "testnet: disconnected from irc.example.net:6697 (TLS): "
        f"TLS certificate is not valid for {SERVER}; reconnecting in 2.7 s",
    ]


def test_pause_reading_pauses_the_transport_and_resume_reads_again() -> None:
    """Flow control from a backend: the socket stops being read, then reads again."""
    s = Setup()
    proto, transport = s.connect()
    s.sign_on(proto)
    s.factory.pause_reading()
    assert transport.producerState == "paused"
    assert proto.reading_paused
    s.factory.pause_reading()  # idempotent
    s.factory.resume_reading()
    assert transport.producerState == "producing"
    assert not proto.reading_paused


def test_pause_without_a_connection_does_nothing() -> None:
    """Between connections there is nothing to pause, and the next connection reads."""
    s = Setup()
    s.factory.pause_reading()
    assert s.factory.connection is None
    proto, transport = s.connect()
    assert not proto.reading_paused
    assert transport.producerState == "producing"
    s.factory.resume_reading()
    assert not proto.reading_paused
    assert transport.producerState == "producing"


def test_silence_while_reading_is_paused_does_not_drop_the_connection() -> None:
    """The keepalive does not blame the server for lines the bot chose not to read."""
    s = Setup(ping_interval=60, ping_timeout=30)
    proto, transport = s.connect()
    s.sign_on(proto)
    s.factory.pause_reading()
    s.reactor.advance(60)  # PING
    s.reactor.advance(30)  # its deadline passes while paused
    assert not transport.disconnecting
    s.factory.resume_reading()
    s.reactor.advance(60)  # the next PING, and this time silence is the server's
    s.reactor.advance(30)
    assert transport.disconnecting
