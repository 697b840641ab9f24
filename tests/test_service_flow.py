"""Flow control wiring: a backend that falls behind pauses reading on the networks it serves."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer

from logbot.backends.base import FanOut
from logbot.events import Event
from logbot.service import wire_flow_control


class PlainBackend:
    def write(self, event: Event) -> None:
        pass

    def flush(self) -> defer.Deferred[None]:
        return defer.succeed(None)

    def reopen(self) -> None:
        pass

    def close(self) -> defer.Deferred[None]:
        return defer.succeed(None)


class ThrottlingBackend(PlainBackend):
    def __init__(self) -> None:
        self.handlers: list[Callable[[bool], None]] = []

    def set_pressure_handler(self, handler: Callable[[bool], None]) -> None:
        self.handlers.append(handler)


class FakeFactory:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


def test_pressure_pauses_only_the_networks_the_backend_serves() -> None:
    """A shared database behind pauses both its networks; a network with its own file does not."""
    shared, own_file = ThrottlingBackend(), PlainBackend()
    sinks = [FanOut([shared]), FanOut([shared]), FanOut([own_file])]
    factories = [FakeFactory(), FakeFactory(), FakeFactory()]
    wire_flow_control(sinks, factories)
    assert len(shared.handlers) == 1  # one handler even though two networks share it
    shared.handlers[0](True)
    assert [f.calls for f in factories] == [["pause"], ["pause"], []]
    shared.handlers[0](False)
    assert [f.calls for f in factories] == [["pause", "resume"], ["pause", "resume"], []]


def test_a_network_reads_again_only_when_every_backend_caught_up() -> None:
    """Two backends behind on one network: reading resumes after the second one catches up."""
    a, b = ThrottlingBackend(), ThrottlingBackend()
    factory = FakeFactory()
    wire_flow_control([FanOut([a, b])], [factory])
    a.handlers[0](True)
    b.handlers[0](True)
    a.handlers[0](False)
    assert factory.calls == ["pause"]
    b.handlers[0](False)
    assert factory.calls == ["pause", "resume"]
