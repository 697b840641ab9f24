"""WHEN strings of ``--since`` / ``--until`` to aware UTC datetimes.

Accepted: ``now``; ``today`` and ``yesterday`` (local midnight); a span ago such as ``7d``,
``12h``, ``30m``, ``45s``, ``2w`` (also ``3 days``, ``3 days ago``); an ISO date or date-time
(``2024-05-01``, ``2024-05-01T12:30``, ``2024-05-01 12:30:00+02:00``, ``...Z``); and anything
else python-dateutil understands (``May 1 2024 5pm``). Times without an offset are local time;
a local time that a DST change skips or repeats is read as the offset in force before the
change (PEP 495 ``fold=0``). A span is exact elapsed time: ``1d`` is 24 hours.

``now`` and the zone are parameters, so every answer is reproducible in a test.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

__all__ = ["TimeParseError", "local_midnight", "parse_when", "system_zone"]


class TimeParseError(ValueError):
    """A WHEN the user typed that means no time; the message is one line."""


_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}

_SPAN = re.compile(r"(\d{1,9})\s*([a-z]+)(?:\s+ago)?", re.IGNORECASE)
# What fromisoformat would take but a person would not mean as a date (e.g. "2024" alone is
# fine for dateutil, "20240501" too); anything that starts like a date goes to fromisoformat.
_ISO_START = re.compile(r"\d{4}-\d{2}-\d{2}")

_HELP = "use an ISO date (2024-05-01), a date-time, today, yesterday, or a span like 7d / 12h / 30m"


def system_zone() -> tzinfo | None:
    """The system's zone with its DST rules (``TZ``, else ``/etc/localtime``), if readable."""
    # imported here: only naive local times need it, and it costs ~15 ms of start-up
    import os
    import zoneinfo

    name = os.environ.get("TZ")
    try:
        if name:
            return zoneinfo.ZoneInfo(name.removeprefix(":"))
        with open("/etc/localtime", "rb") as f:
            return zoneinfo.ZoneInfo.from_file(f)
    except (OSError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        return None


def _localize(naive: datetime, tz: tzinfo | None) -> datetime:
    if tz is None:
        tz = system_zone()
    if tz is None:
        # TZ holds a POSIX rule string or no zone file exists: the C library's view of local
        # time is all there is (it may read a skipped time with the later offset)
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=tz).astimezone(UTC)


def _local_now(now: datetime, tz: tzinfo | None) -> datetime:
    return now.astimezone(tz) if tz is not None else now.astimezone()


def local_midnight(day: date, tz: tzinfo | None = None) -> datetime:
    """The aware UTC instant at which ``day`` starts in local time."""
    return _localize(datetime.combine(day, time()), tz)


def parse_when(text: str, now: datetime, tz: tzinfo | None = None) -> datetime:
    """The aware UTC datetime that ``text`` names, relative to the aware ``now``.

    ``tz`` is the local zone for times without an offset (``None``: the system's).
    Raises :class:`TimeParseError` with a one-line message for anything else.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    word = text.strip()
    lowered = word.lower()
    if not word:
        raise TimeParseError(f"empty date: {_HELP}")
    try:
        if lowered == "now":
            return now.astimezone(UTC)
        if lowered in ("today", "yesterday"):
            day = _local_now(now, tz).date()
            if lowered == "yesterday":
                day -= timedelta(days=1)
            return local_midnight(day, tz)
        span = _SPAN.fullmatch(lowered)
        # "5pm" or "10 may" look like spans but are dateutil's
        if span is not None and span.group(2) in _UNITS:
            seconds = int(span.group(1)) * _UNITS[span.group(2)]
            return now.astimezone(UTC) - timedelta(seconds=seconds)
        if _ISO_START.match(word):
            return _from_iso(word, tz)
        return _from_dateutil(word, now, tz)
    except OverflowError:
        raise TimeParseError(f"date out of range: {word!r}") from None


def _from_iso(word: str, tz: tzinfo | None) -> datetime:
    try:
        parsed = datetime.fromisoformat(word)
    except ValueError:
        raise TimeParseError(f"cannot read date {word!r}: {_HELP}") from None
    if parsed.tzinfo is None:
        return _localize(parsed, tz)
    return parsed.astimezone(UTC)


def _from_dateutil(word: str, now: datetime, tz: tzinfo | None) -> datetime:
    # imported here: it costs ~25 ms, and most searches never need it
    from dateutil import parser

    default = _local_now(now, tz).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    try:
        parsed = parser.parse(word, default=default)
    except (parser.ParserError, ValueError, OverflowError):
        raise TimeParseError(f"cannot read date {word!r}: {_HELP}") from None
    if parsed.tzinfo is None:
        return _localize(parsed, tz)
    return parsed.astimezone(UTC)
