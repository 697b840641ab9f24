"""A channel's calendar page: every month with its days and how much was said on each."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from logbot.storage.browse import ChannelInfo
from logbot.web.common import Links, query_string

__all__ = ["CalendarPages"]


class CalendarPages:
    """The calendar page of :class:`~logbot.web.site.Archive`."""

    if TYPE_CHECKING:

        def html(self, template: str, links: Links, **values: Any) -> bytes: ...

    def calendar_html(
        self, chan: ChannelInfo, links: Links, tz: tzinfo, zone: str, counts: Mapping[date, int]
    ) -> bytes:
        months: dict[tuple[int, int], list[tuple[date, int]]] = {}
        for day in sorted(counts, reverse=True):
            months.setdefault((day.year, day.month), []).append((day, counts[day]))
        calendar = []
        for (year, month), days in months.items():
            first = date(year, month, 1)
            weeks: list[list[tuple[date, int] | None]] = []
            week: list[tuple[date, int] | None] = [None] * first.weekday()
            have = dict(days)
            d = first
            while d.month == month:
                week.append((d, have.get(d, 0)))
                if len(week) == 7:
                    weeks.append(week)
                    week = []
                d += timedelta(days=1)
            if week:
                weeks.append(week + [None] * (7 - len(week)))
            calendar.append((first, sum(n for _, n in days), weeks))
        query = query_string(tz=None if zone == "UTC" else zone)
        return self.html(
            "calendar.html",
            links,
            chan=chan,
            calendar=calendar,
            zone=zone,
            query=query,
            heading=f"{chan.name} on {chan.network}",
        )
