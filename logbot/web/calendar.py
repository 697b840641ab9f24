"""A channel's calendar page: every month with its days and how much was said on each."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

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
        query = query_string(tz=None if zone == "UTC" else zone)
        calendar = []
        for (year, month), days in months.items():
            first = date(year, month, 1)
            # a week's cells as HTML here, not a template step a day (a channel's
            # calendar has a cell for every day of years of logs)
            weeks: list[Markup] = []
            week: list[str] = ["<td></td>"] * first.weekday()
            have = dict(days)
            d = first
            while d.month == month:
                n = have.get(d, 0)
                if n:
                    href = escape(links.day(chan.network, chan.name, d, query))
                    week.append(
                        f'<td class="has"><a href="{href}" rel="nofollow" title="{n} events">'
                        f"{d.day}<small>{n}</small></a></td>"
                    )
                else:
                    week.append(f'<td class="none">{d.day}</td>')
                if len(week) == 7:
                    weeks.append(Markup("".join(week)))
                    week = []
                d += timedelta(days=1)
            if week:
                weeks.append(Markup("".join(week + ["<td></td>"] * (7 - len(week)))))
            calendar.append((first, sum(n for _, n in days), weeks))
        return self.html(
            "calendar.html",
            links,
            chan=chan,
            calendar=calendar,
            zone=zone,
            query=query,
            heading=f"{chan.name} on {chan.network}",
        )
