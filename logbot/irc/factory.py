"""One network's connection, kept alive forever: a ``ReconnectingClientFactory``.

The service uses it like this::

    from logbot.irc.factory import LogBotFactory

    factory = LogBotFactory(network, sink, clock)   # NetworkConfig, Callable[[Event], None],
                                                    # IReactorTime (the reactor)
    reactor.connectTCP(host, port, factory)         # or connectSSL(host, port, factory, tls)
    ...
    factory.stopTrying()                            # on SIGTERM: no more reconnects
    yield factory.quit("shutting down")             # QUIT; fires once the connection is
                                                    # closed, or after quit_timeout seconds
    factory.network_name                            # the name records carry

Reconnects back off from about a second to ``maxDelay`` (five minutes), never give
up (a failed connect retries rather than stopping anything), and start again from a
second once the bot has signed on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from twisted.internet import defer
from twisted.internet.interfaces import IAddress, IConnector, IReactorTime
from twisted.internet.protocol import ReconnectingClientFactory
from twisted.logger import Logger
from twisted.python.failure import Failure

from logbot.events import Event
from logbot.irc.clock import Clock, DelayedCall
from logbot.irc.consent import Announcements
from logbot.irc.counts import NetworkCounts
from logbot.irc.failures import describe_failure
from logbot.irc.history import GapBook, Resume
from logbot.irc.protocol import LogBotProtocol
from logbot.settings import NetworkConfig

log = Logger(namespace="logbot.irc")


class LogBotFactory(ReconnectingClientFactory):
    """Builds a ``LogBotProtocol`` per connection and reconnects whenever one ends.

    ``network``: the settings of this network; ``sink``: receives every ``Event``;
    ``clock``: the reactor (``IReactorTime``), used for every delay.
    """

    initialDelay = 1.0
    maxDelay = 300.0  # type: ignore[assignment]
    #: how long ``quit()`` waits for the server to close the connection after QUIT
    quit_timeout = 3.0
    noisy = False

    def __init__(
        self,
        network: NetworkConfig,
        sink: Callable[[Event], None],
        clock: IReactorTime,
        resume: Resume | None = None,
    ) -> None:
        self.network = network
        #: where storage says a channel's record stopped (see logbot.irc.history.Resume)
        self.resume = resume
        self.sink = sink
        self.clock = clock
        self._clock = cast(Clock, clock)
        self._reactor_time = clock
        self.delay = self.initialDelay
        #: when each channel was last told it is logged (kept across reconnects)
        self.announcements = Announcements(network)
        #: the protocol of the live connection, if there is one
        self.connection: LogBotProtocol | None = None
        self._isupport_name: str | None = None
        self._last_reason: str | None = None
        self._quit_waiters: list[defer.Deferred[None]] = []
        self._quit_deadline: DelayedCall | None = None
        #: lines, unparsable lines and reconnects over every connection (read by metrics)
        self.counts = NetworkCounts()
        self._attempted = False
        #: where each channel's hole started, across reconnects (see logbot.irc.history)
        self.gaps = GapBook()

    @property
    def network_name(self) -> str:
        """The name in records: the configured name, else ISUPPORT NETWORK=, else the host.

        Once learned from the server it is kept across reconnects.
        """
        return self.network.name or self._isupport_name or self.network.server

    def _where(self) -> str:
        return f"{self.network.server}:{self.network.port}" + (" (TLS)" if self.network.tls else "")

    # -- called by the protocol -------------------------------------------------------

    def learned_network_name(self, name: str) -> None:
        """The server named its network (ISUPPORT NETWORK=)."""
        if self._isupport_name is None:
            self._isupport_name = name

    def signed_on(self, protocol: LogBotProtocol) -> None:
        """Registration succeeded: the next reconnect starts from the shortest delay."""
        if self.continueTrying:
            self.resetDelay()  # type: ignore[no-untyped-call]

    def protocol_lost(self, protocol: LogBotProtocol, reason: str) -> None:
        """The connection is gone; ``reason`` is the one-line why, for the log."""
        if protocol is self.connection:
            self.connection = None
        self._last_reason = reason
        self._fire_quit_waiters()

    # -- the factory -----------------------------------------------------------------

    def buildProtocol(self, addr: IAddress | None) -> LogBotProtocol:
        protocol = LogBotProtocol(self.network, self.sink, self._reactor_time, self)
        self.connection = protocol
        return protocol

    @property
    def connected(self) -> bool:
        """Signed on to the server now (connected and welcomed)."""
        return self.connection is not None and self.connection.registered

    def is_joined(self, channel: str) -> bool:
        """The bot is in ``channel`` on the live connection."""
        return self.connection is not None and self.connection.is_joined(channel)

    def startedConnecting(self, connector: IConnector) -> None:
        if self._attempted:
            self.counts.reconnects += 1
        self._attempted = True
        if self.retries:
            log.info(
                "{network}: reconnecting to {where} (attempt {attempt})",
                network=self.network_name,
                where=self._where(),
                attempt=self.retries + 1,
            )

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        what = f"cannot connect to {self._where()}: {describe_failure(reason, self.network.server)}"
        self._retry_and_log(connector, what)

    def clientConnectionLost(self, connector: IConnector, reason: Failure) -> None:
        why = self._last_reason or describe_failure(reason, self.network.server)
        self._last_reason = None
        self._retry_and_log(connector, f"disconnected from {self._where()}: {why}")

    def _retry_and_log(self, connector: IConnector, what: str) -> None:
        what = what.rstrip(".")  # Twisted's messages end in a period; the line goes on
        if not self.continueTrying:
            log.info("{network}: {what}", network=self.network_name, what=what)
            return
        self.connector = connector
        self.retry()  # type: ignore[no-untyped-call]
        call = cast(DelayedCall | None, self._callID)
        delay = call.getTime() - self._clock.seconds() if call is not None else self.delay
        # A warning: while it lasts nothing is logged, which an operator running at
        # --log-level warn must still hear about (the reconnect itself is info).
        log.warn(
            "{network}: {what}; reconnecting in {delay:.1f} s",
            network=self.network_name,
            what=what,
            delay=delay,
        )

    # -- flow control ------------------------------------------------------------------

    def pause_reading(self) -> None:
        """Stop reading from the server for now (a backend is behind); TCP pushes back."""
        protocol = self.connection
        if protocol is not None and protocol.transport is not None and not protocol.reading_paused:
            protocol.reading_paused = True
            protocol.transport.pauseProducing()

    def resume_reading(self) -> None:
        """Read again after :meth:`pause_reading`."""
        protocol = self.connection
        if protocol is not None and protocol.transport is not None and protocol.reading_paused:
            protocol.reading_paused = False
            protocol.transport.resumeProducing()

    # -- shutdown ----------------------------------------------------------------------

    def quit(self, message: str = "") -> defer.Deferred[None]:
        """Send QUIT and stop reconnecting; fires when the connection has closed.

        If the server does not close it within ``quit_timeout`` seconds the connection
        is aborted and the Deferred fires anyway. Without a connection it fires at once.
        """
        self.stopTrying()  # type: ignore[no-untyped-call]
        protocol = self.connection
        if protocol is None or protocol.transport is None:
            return defer.succeed(None)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._quit_waiters.append(waiter)
        protocol.quit_now(message)
        if self._quit_deadline is None:
            self._quit_deadline = self._clock.callLater(self.quit_timeout, self._quit_timed_out)
        return waiter

    def _quit_timed_out(self) -> None:
        self._quit_deadline = None
        protocol = self.connection
        if protocol is not None and protocol.transport is not None:
            protocol.transport.abortConnection()
        self._fire_quit_waiters()

    def _fire_quit_waiters(self) -> None:
        if self._quit_deadline is not None and self._quit_deadline.active():
            self._quit_deadline.cancel()
        self._quit_deadline = None
        waiters, self._quit_waiters = self._quit_waiters, []
        for waiter in waiters:
            waiter.callback(None)
