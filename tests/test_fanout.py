"""FanOut: every event to every backend; one backend's failure never reaches another."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from twisted.internet import defer
from twisted.logger import LogLevel, globalLogPublisher

from logbot.backends.base import Backend, FanOut
from logbot.events import Event, Kind

EVENT = Event(
    time=datetime(2026, 11, 28, 20, 35, 30, tzinfo=UTC),
    network="net",
    channel="#x",
    kind=Kind.MESSAGE,
    nick="alice",
    text="hello",
)


class Recorder:
    """A backend that records calls, and fails on request."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.calls: list[str] = []
        self.fail_write = False
        self.fail: set[str] = set()

    def write(self, event: Event) -> None:
        if self.fail_write:
            raise OSError("disk on fire")
        self.events.append(event)

    def _op(self, name: str) -> defer.Deferred[None]:
        self.calls.append(name)
        if name in self.fail:
            return defer.fail(RuntimeError(f"{name} broke"))
        return defer.succeed(None)

    def flush(self) -> defer.Deferred[None]:
        return self._op("flush")

    def reopen(self) -> None:
        self.calls.append("reopen")
        if "reopen" in self.fail:
            raise OSError("reopen broke")

    def close(self) -> defer.Deferred[None]:
        return self._op("close")


@pytest.fixture
def logged() -> Iterator[list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    yield events
    globalLogPublisher.removeObserver(events.append)


def critical(logged: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logged if e.get("log_level") == LogLevel.critical]


def test_the_test_double_is_a_backend() -> None:
    """The recorder satisfies the Backend protocol the fan-out is typed against."""
    assert isinstance(Recorder(), Backend)


def test_every_backend_gets_every_event_in_order() -> None:
    """Each event reaches each backend, and calling the fan-out is the same as write()."""
    a, b = Recorder(), Recorder()
    fan = FanOut([a, b])
    fan.write(EVENT)
    fan(EVENT)
    assert a.events == b.events == [EVENT, EVENT]


def test_a_failing_backend_does_not_stop_the_others(logged: list[dict[str, Any]]) -> None:
    """A backend that raises is skipped for that event; those after it still get it."""
    broken, healthy = Recorder(), Recorder()
    broken.fail_write = True
    fan = FanOut([broken, healthy])
    fan.write(EVENT)
    assert healthy.events == [EVENT]
    assert len(critical(logged)) == 1


def test_a_failure_streak_is_logged_once_and_recovery_once(logged: list[dict[str, Any]]) -> None:
    """A broken backend logs once per failure streak, keeps getting events, and logs recovery."""
    broken = Recorder()
    broken.fail_write = True
    fan = FanOut([broken])
    for _ in range(5):
        fan.write(EVENT)
    assert len(critical(logged)) == 1
    broken.fail_write = False
    fan.write(EVENT)
    fan.write(EVENT)
    assert broken.events == [EVENT, EVENT]
    assert sum("writes again" in e.get("log_format", "") for e in logged) == 1
    broken.fail_write = True
    fan.write(EVENT)
    assert len(critical(logged)) == 2


def test_flush_and_close_reach_every_backend_even_when_one_fails(
    logged: list[dict[str, Any]],
) -> None:
    """flush() and close() call each backend, succeed overall, and log the one that failed."""
    a, b = Recorder(), Recorder()
    a.fail = {"flush", "close"}
    fan = FanOut([a, b])
    results: list[object] = []
    fan.flush().addCallback(results.append)
    fan.close().addCallback(results.append)
    assert results == [None, None]
    assert a.calls == b.calls == ["flush", "close"]
    assert len(critical(logged)) == 2


def test_flush_waits_for_every_backend() -> None:
    """flush() fires only when the slowest backend has flushed."""
    slow = Recorder()
    pending: defer.Deferred[None] = defer.Deferred()
    slow.flush = lambda: pending  # type: ignore[method-assign]
    fan = FanOut([Recorder(), slow])
    fired: list[object] = []
    fan.flush().addCallback(fired.append)
    assert fired == []
    pending.callback(None)
    assert fired == [None]


def test_a_backend_that_raises_from_flush_instead_of_failing_its_deferred_is_isolated() -> None:
    """A synchronous exception from flush() is caught like a failed Deferred."""

    class Raising(Recorder):
        def flush(self) -> defer.Deferred[None]:
            raise OSError("sync boom")

    other = Recorder()
    fired: list[object] = []
    FanOut([Raising(), other]).flush().addCallback(fired.append)
    assert fired == [None]
    assert other.calls == ["flush"]


def test_reopen_reaches_every_backend_even_when_one_fails(logged: list[dict[str, Any]]) -> None:
    """A backend failing to reopen is logged; the others still reopen."""
    a, b = Recorder(), Recorder()
    a.fail = {"reopen"}
    FanOut([a, b]).reopen()
    assert b.calls == ["reopen"]
    assert len(critical(logged)) == 1
