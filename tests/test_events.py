"""The event record: immutable, aware UTC, compared by value."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from logbot.events import CHANNEL_KINDS, Event, Kind, new_event

T = datetime(2026, 11, 28, 20, 35, 30, tzinfo=UTC)


def test_event_is_frozen() -> None:
    """Assigning to a field of an event raises: records never change after they are made."""
    event = Event(T, "libera", "#x", Kind.MESSAGE, "alice", "hello")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.text = "changed"  # type: ignore[misc]


def test_event_requires_aware_utc_time() -> None:
    """A naive or non-UTC time is refused, so every backend can trust the time zone."""
    with pytest.raises(ValueError, match="aware UTC"):
        Event(T.replace(tzinfo=None), "n", "#x", Kind.MESSAGE, "a")
    with pytest.raises(ValueError, match="aware UTC"):
        Event(T.astimezone(timezone(timedelta(hours=2))), "n", "#x", Kind.MESSAGE, "a")


def test_event_accepts_other_utc_tzinfo_objects() -> None:
    """A zero-offset tzinfo other than datetime.UTC is still UTC."""
    event = Event(T.replace(tzinfo=timezone(timedelta(0))), "n", "#x", Kind.JOIN, "a")
    assert event.time == T


def test_events_compare_by_value_ignoring_receive_time() -> None:
    """Two records of the same thing are equal even when received at different moments."""
    a = Event(T, "n", "#x", Kind.MESSAGE, "a", "hi", received=T)
    b = Event(T, "n", "#x", Kind.MESSAGE, "a", "hi", received=T + timedelta(seconds=1))
    assert a == b
    assert hash(a) == hash(b)
    assert a != dataclasses.replace(a, text="other")


def test_keyword_construction_and_defaults() -> None:
    """Fields may be given by keyword; the optional ones default to empty."""
    event = Event(time=T, network="n", channel="#x", kind=Kind.KICK, nick="op", target="bob")
    assert (event.text, event.target, event.userhost, event.own, event.received) == (
        "",
        "bob",
        "",
        False,
        None,
    )


def test_session_markers_are_not_channel_kinds() -> None:
    """connected/disconnected are for the text log, not the searchable channel history."""
    assert Kind.CONNECTED not in CHANNEL_KINDS
    assert Kind.DISCONNECTED not in CHANNEL_KINDS
    assert len(CHANNEL_KINDS) == 10


def test_new_event_is_event_built_by_another_door() -> None:
    """The hot path's new_event gives what Event gives (fields, type, equality, hash),
    refuses what Event refuses, and copies, pickles and replaces like any event."""
    args = (T, "n", "#x", Kind.MESSAGE, "a", "hi", "", "u@h", True, T, "id1", True)
    event = new_event(*args)
    assert type(event) is Event
    assert event == Event(*args)
    assert hash(event) == hash(Event(*args))
    assert [getattr(event, f.name) for f in dataclasses.fields(Event)] == list(args)
    assert new_event(T, "n", "#x", Kind.JOIN, "a", msgid="m") == Event(
        T, "n", "#x", Kind.JOIN, "a", msgid="m"
    )
    with pytest.raises(ValueError, match="aware UTC"):
        new_event(T.replace(tzinfo=None), "n", "#x", Kind.MESSAGE, "a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.text = "changed"  # type: ignore[misc]
    for other in (copy.copy(event), copy.deepcopy(event), pickle.loads(pickle.dumps(event))):
        assert type(other) is Event
        assert other == event
        assert other.received == event.received
    assert dataclasses.replace(event, text="x").text == "x"
