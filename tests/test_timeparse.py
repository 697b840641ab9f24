"""WHEN strings for --since/--until: every form, a fixed now, local time across DST changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from logbot.timeparse import TimeParseError, local_midnight, parse_when

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# Sunday 29 March 2026, 12:00 in Berlin: the day clocks went from 02:00 CET to 03:00 CEST
NOW = datetime(2026, 3, 29, 10, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("NOW", NOW),
        # midnight of the DST day was still CET (+01:00)
        ("today", utc(2026, 3, 28, 23, 0)),
        ("Today", utc(2026, 3, 28, 23, 0)),
        ("yesterday", utc(2026, 3, 27, 23, 0)),
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("30m", NOW - timedelta(minutes=30)),
        ("45s", NOW - timedelta(seconds=45)),
        ("2w", NOW - timedelta(weeks=2)),
        ("3 days", NOW - timedelta(days=3)),
        ("3 days ago", NOW - timedelta(days=3)),
        ("1 hour ago", NOW - timedelta(hours=1)),
        ("2024-05-01", utc(2024, 4, 30, 22, 0)),
        ("2024-05-01T12:30", utc(2024, 5, 1, 10, 30)),
        ("2024-05-01 12:30:15", utc(2024, 5, 1, 10, 30, 15)),
        ("2024-05-01T12:30:00+00:00", utc(2024, 5, 1, 12, 30)),
        ("2024-05-01T12:30:00Z", utc(2024, 5, 1, 12, 30)),
        ("2024-05-01T12:30:00-05:00", utc(2024, 5, 1, 17, 30)),
        ("2024-01-15", utc(2024, 1, 14, 23, 0)),
        ("May 1 2024 5pm", utc(2024, 5, 1, 15, 0)),
        ("1 May 2024", utc(2024, 4, 30, 22, 0)),
        ("5pm", utc(2026, 3, 29, 15, 0)),
        ("March 27", utc(2026, 3, 26, 23, 0)),
        ("2024/05/01 08:00 UTC", utc(2024, 5, 1, 8, 0)),
    ],
)
def test_parse_when_reads_every_form_in_local_time(text: str, expected: datetime) -> None:
    """Each WHEN form gives the UTC instant it names, local times read in the given zone."""
    assert parse_when(text, NOW, BERLIN) == expected


def test_parse_when_result_is_aware_utc() -> None:
    """Whatever the input's offset, the answer is an aware datetime in UTC."""
    got = parse_when("2024-05-01T12:30:00+05:30", NOW, BERLIN)
    assert got.tzinfo is UTC
    assert got == utc(2024, 5, 1, 7, 0)


def test_local_time_skipped_by_spring_forward_reads_the_offset_before() -> None:
    """02:30 does not exist in Berlin on 29 March 2026; it is read as 02:30 CET (01:30 UTC)."""
    assert parse_when("2026-03-29 02:30", NOW, BERLIN) == utc(2026, 3, 29, 1, 30)


def test_local_time_repeated_by_fall_back_reads_the_first_one() -> None:
    """02:30 happens twice in Berlin on 25 October 2026; the first (CEST) is meant."""
    assert parse_when("2026-10-25 02:30", NOW, BERLIN) == utc(2026, 10, 25, 0, 30)


def test_today_after_fall_back_starts_at_the_summer_midnight() -> None:
    """On the day summer time ends, local midnight was still summer time (+02:00)."""
    now = datetime(2026, 10, 25, 18, 0, tzinfo=UTC)
    assert parse_when("today", now, BERLIN) == utc(2026, 10, 24, 22, 0)
    assert parse_when("yesterday", now, BERLIN) == utc(2026, 10, 23, 22, 0)


def test_today_is_the_local_date_not_the_utc_date() -> None:
    """At 23:30 UTC it is already tomorrow in Berlin and still today in New York."""
    now = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    assert parse_when("today", now, BERLIN) == utc(2026, 7, 1, 22, 0)
    assert parse_when("today", now, NEW_YORK) == utc(2026, 7, 1, 4, 0)


def test_span_is_elapsed_time_across_a_dst_change() -> None:
    """1d before noon on the DST day is 24 hours earlier, 11:00 local the day before."""
    assert parse_when("1d", NOW, BERLIN) == NOW - timedelta(hours=24)


def test_local_midnight_of_a_day() -> None:
    """local_midnight gives the instant a calendar day starts in the zone."""
    assert local_midnight(datetime(2026, 3, 30).date(), BERLIN) == utc(2026, 3, 29, 22, 0)


@pytest.fixture
def system_zone_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("system_zone_new_york")
def test_without_a_zone_the_system_local_time_is_used() -> None:
    """With no zone given, naive times and today follow the system's zone (TZ), DST included."""
    assert parse_when("2026-07-01 12:00", NOW) == utc(2026, 7, 1, 16, 0)
    assert parse_when("2026-01-01 12:00", NOW) == utc(2026, 1, 1, 17, 0)
    assert parse_when("today", NOW) == utc(2026, 3, 29, 4, 0)
    # 8 March 2026 02:30 is skipped in New York: read with the offset before (EST)
    assert parse_when("2026-03-08 02:30", NOW) == utc(2026, 3, 8, 7, 30)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "",
            "empty date: use an ISO date (2024-05-01), a date-time, today, yesterday, "
            "or a span like 7d / 12h / 30m",
        ),
        (
            "garbage",
            "cannot read date 'garbage': use an ISO date (2024-05-01), a date-time, "
            "today, yesterday, or a span like 7d / 12h / 30m",
        ),
        (
            "2024-13-01",
            "cannot read date '2024-13-01': use an ISO date (2024-05-01), a "
            "date-time, today, yesterday, or a span like 7d / 12h / 30m",
        ),
        (
            "2024-02-30",
            "cannot read date '2024-02-30': use an ISO date (2024-05-01), a "
            "date-time, today, yesterday, or a span like 7d / 12h / 30m",
        ),
        (
            "7x",
            "cannot read date '7x': use an ISO date (2024-05-01), a date-time, today, "
            "yesterday, or a span like 7d / 12h / 30m",
        ),
        ("999999999w", "date out of range: '999999999w'"),
        (
            "99999999999999999999",
            "cannot read date '99999999999999999999': use an ISO date "
            "(2024-05-01), a date-time, today, yesterday, or a span like 7d / 12h / 30m",
        ),
    ],
)
def test_parse_when_rejects_bad_input_with_one_line_message(text: str, message: str) -> None:
    """A WHEN that names no time raises TimeParseError with a one-line message."""
    with pytest.raises(TimeParseError) as info:
        parse_when(text, NOW, BERLIN)
    assert str(info.value) == message


def test_parse_when_requires_an_aware_now() -> None:
    """A naive now is a programming error, not a user error."""
    with pytest.raises(ValueError, match="aware"):
        parse_when("today", datetime(2026, 1, 1), BERLIN)


def test_fixed_offset_zone_is_accepted() -> None:
    """Any tzinfo works as the local zone, a fixed offset included."""
    tz = timezone(timedelta(hours=9))
    assert parse_when("2026-01-01", NOW, tz) == utc(2025, 12, 31, 15, 0)
