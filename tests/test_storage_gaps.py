"""Gaps and backfilled lines in storage: gap rows, history dedupe, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from logbot.events import (
    GAP_DISCONNECTED,
    GAP_END_FIRST_JOIN,
    GAP_KICKED,
    GAP_NOT_RUNNING,
    GAP_STOPPED,
    Event,
    Kind,
)
from logbot.storage.gaps import Gap, list_gaps
from logbot.storage.rows import KeyAllocator, event_row
from logbot.storage.writer import EventWriter

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(kind: Kind, when: datetime, text: str = "", **kw: Any) -> Event:
    fields: dict[str, Any] = {"network": "net", "channel": "#x", "nick": "alice"}
    fields.update(kw)
    return Event(when, kind=kind, text=text, **fields)


def write(engine: sa.Engine, *events: Event) -> Any:
    keys = KeyAllocator()
    writer = EventWriter(engine)
    try:
        return writer.write([event_row(e, keys.key_for(e.time)) for e in events])
    finally:
        writer.close()


def gaps(engine: sa.Engine, **kw: Any) -> list[Gap]:
    with engine.connect() as conn:
        return list_gaps(conn, **kw)


def texts(engine: sa.Engine) -> list[tuple[str, str | None, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT text, msgid, backfilled FROM events ORDER BY id"))
        return [(r[0], r[1], bool(r[2])) for r in rows]


def test_a_disconnect_and_a_rejoin_make_one_closed_gap(engine: sa.Engine) -> None:
    """gap_start then gap_end store the interval and why; a second start inside adds nothing."""
    write(
        engine,
        ev(Kind.MESSAGE, at(0), "before"),
        ev(Kind.GAP_START, at(1), GAP_KICKED),
        ev(Kind.GAP_START, at(2), GAP_DISCONNECTED),
        ev(Kind.GAP_END, at(5)),
    )
    assert gaps(engine) == [Gap("net", "#x", at(1), at(5), GAP_KICKED)]


def test_an_open_gap_has_no_end_and_a_filter_finds_it_later(engine: sa.Engine) -> None:
    """A channel not logged since a stop is an open gap: it overlaps any later window."""
    write(engine, ev(Kind.GAP_START, at(1), GAP_STOPPED))
    assert gaps(engine, since=at(60), until=at(120)) == [Gap("net", "#x", at(1), None, GAP_STOPPED)]
    assert gaps(engine, until=at(1)) == []
    assert gaps(engine, channels=["#X"]) == gaps(engine)
    assert gaps(engine, channels=["#y"]) == []
    assert gaps(engine, networks=["other"]) == []


def test_the_first_join_after_a_crash_records_the_time_the_bot_was_not_running(
    engine: sa.Engine,
) -> None:
    """With no open gap, a run's first join records the hole since the channel's last event."""
    write(engine, ev(Kind.MESSAGE, at(0), "last words"))
    write(engine, ev(Kind.GAP_END, at(30), GAP_END_FIRST_JOIN), ev(Kind.JOIN, at(30), own=True))
    assert gaps(engine) == [Gap("net", "#x", at(0), at(30), GAP_NOT_RUNNING)]


def test_the_first_join_after_a_clean_stop_closes_the_stop_gap(engine: sa.Engine) -> None:
    """A clean stop left an open gap: the next run's first join ends it, no second hole."""
    write(engine, ev(Kind.MESSAGE, at(0), "bye"), ev(Kind.GAP_START, at(1), GAP_STOPPED))
    write(engine, ev(Kind.GAP_END, at(30), GAP_END_FIRST_JOIN))
    assert gaps(engine) == [Gap("net", "#x", at(1), at(30), GAP_STOPPED)]


def test_a_first_join_in_a_new_channel_records_no_gap(engine: sa.Engine) -> None:
    """A channel with no history has no hole before its first join."""
    write(engine, ev(Kind.GAP_END, at(30), GAP_END_FIRST_JOIN), ev(Kind.JOIN, at(30), own=True))
    assert gaps(engine) == []


def test_history_that_covers_the_gap_removes_it_and_a_partial_one_narrows_it(
    engine: sa.Engine,
) -> None:
    """gap_filled up to the gap's end deletes it; up to a point inside moves its start there."""
    write(
        engine,
        ev(Kind.GAP_START, at(1), GAP_DISCONNECTED),
        ev(Kind.GAP_END, at(5)),
        ev(Kind.GAP_START, at(10), GAP_DISCONNECTED, channel="#y"),
        ev(Kind.GAP_END, at(20), channel="#y"),
    )
    write(
        engine,
        ev(Kind.GAP_FILLED, at(1), received=at(5)),
        ev(Kind.GAP_FILLED, at(10), received=at(12), channel="#y"),
    )
    assert gaps(engine) == [Gap("net", "#y", at(12), at(20), GAP_DISCONNECTED)]


def test_backfilled_lines_are_stored_once_by_msgid_or_by_second_nick_and_text(
    engine: sa.Engine,
) -> None:
    """History overlapping what was heard live, or fetched twice, adds only the missing lines."""
    live_time = at(0) + timedelta(milliseconds=250)
    write(
        engine,
        ev(Kind.MESSAGE, live_time, "heard live", msgid="m1"),
        ev(Kind.MESSAGE, at(1), "no msgid live"),
    )
    page = [
        ev(Kind.MESSAGE, live_time, "heard live", msgid="m1", backfilled=True),
        ev(Kind.MESSAGE, at(1) + timedelta(milliseconds=400), "no msgid live", backfilled=True),
        ev(Kind.MESSAGE, at(2), "missed", msgid="m3", backfilled=True),
        ev(Kind.MESSAGE, at(2), "missed", msgid="m3", backfilled=True),
    ]
    first = write(engine, *page)
    again = write(engine, *page)
    assert (first.inserted, again.inserted) == (1, 0)
    assert texts(engine) == [
        ("heard live", "m1", False),
        ("no msgid live", None, False),
        ("missed", "m3", True),
    ]


def test_same_text_in_the_same_second_with_other_msgids_is_two_lines(engine: sa.Engine) -> None:
    """Two people may say "+1" in one second: distinct msgids keep both."""
    write(engine, ev(Kind.MESSAGE, at(0), "+1", msgid="a"))
    write(engine, ev(Kind.MESSAGE, at(0), "+1", msgid="b", backfilled=True))
    assert [t[1] for t in texts(engine)] == ["a", "b"]
