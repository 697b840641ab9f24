"""Flow control wiring: a backend that falls behind pauses reading on the networks it serves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet import defer, task

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


def test_every_backend_of_a_run_shares_one_thread_pool(tmp_path: Path) -> None:
    """The text log and the database get the same pool from build_backends."""
    from logbot.backends.sql import SQLBackend
    from logbot.backends.textfile import TextFileBackend
    from logbot.config import build_settings
    from logbot.service import build_backends

    settings = build_settings(
        {
            "server": "irc.example.org",
            "channel": ("#x",),
            "file": str(tmp_path / "log.txt"),
            "db": str(tmp_path / "db.sqlite"),
        },
        None,
        {},
    )

    class Reactor(task.Clock):
        started: list[Any] = []

        def callWhenRunning(self, f: Any, *args: Any) -> None:
            self.started.append(f)

    clock = Reactor()
    backends, _sinks = build_backends(settings, clock)
    try:
        text = next(b for b in backends if isinstance(b, TextFileBackend))
        db = next(b for b in backends if isinstance(b, SQLBackend))
        assert text._pool is not None
        assert text._pool is db._pool
        assert len(clock.started) == 1
    finally:
        for backend in backends:
            backend.close()
