"""A day of a channel: its page in HTML, text and JSON (cached once the day is closed, with
an ETag), the lines newer than a given one (live updates), and ``at`` (a time to its line).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, NamedTuple

from markupsafe import Markup

from logbot import __version__
from logbot.render import Record, json_line, record_time
from logbot.storage.browse import Browser, ChannelInfo, day_bounds
from logbot.storage.gaps import Gap
from logbot.storage.names import time_key
from logbot.web import common
from logbot.web.common import (
    DAY_TYPES,
    HttpError,
    Links,
    Page,
    not_modified,
    parse_day,
    parse_zone,
    query_string,
)
from logbot.web.lines import SHOWN_KINDS, lines_html, log_line, render_lines

__all__ = [
    "AT_WINDOW",
    "PAGE_CACHE_BYTES",
    "DayPages",
    "DayPart",
    "parse_part",
    "part_gaps",
    "part_of",
]

#: how far from the asked time ``at`` looks for a line
AT_WINDOW = timedelta(seconds=5)
#: bytes of rendered closed-day pages kept in memory (a closed day's page only changes
#: with its ETag, which is the cache key)
PAGE_CACHE_BYTES = 32 * 1024 * 1024


class DayPart(NamedTuple):
    """Which part of a day a page shows (see :data:`~logbot.web.common.DAY_PART_EVENTS`)."""

    #: 1-based
    number: int = 1
    #: the day's parts (1: the day is shown whole, as it always was)
    parts: int = 1
    #: the day's events in all its parts
    total: int = 0
    #: events per part
    size: int = 0

    @property
    def first(self) -> int:
        """The 1-based position of the part's first event among the day's."""
        return (self.number - 1) * self.size + 1

    @property
    def last(self) -> int:
        return min(self.number * self.size, self.total)


#: a day shown in one part (as every day was before parts)
WHOLE_DAY = DayPart()


def parse_part(raw: str | None) -> int:
    """``?part=K`` (1-based; absent: 1); HttpError 400 for anything but a number >= 1."""
    if raw is None or raw == "":
        return 1
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9 or int(raw) < 1:
        shown = raw if len(raw) <= 20 else raw[:20] + "..."
        raise HttpError(400, f"{shown!r} is not a part of a day: use part=1, part=2 and so on.")
    return int(raw)


def part_of(browser: Browser, hits: Sequence[tuple[str, str, date, int]], tz: tzinfo) -> list[int]:
    """The part (1-based) of its day's page in ``tz`` that shows each of ``hits``
    (``(network, channel name, its day in tz, event id)``): hits of one channel's day
    (a search's often are) are placed together."""
    days: dict[tuple[str, str, date], list[int]] = {}
    for net, name, day, eid in hits:
        days.setdefault((net, name, day), []).append(eid)
    keys = list(days)
    parts = browser.day_parts(
        [(net, name, day_bounds(day, tz)[0], days[net, name, day]) for net, name, day in keys],
        common.DAY_PART_EVENTS,
    )
    found = {
        (net, name, day, eid): part
        for (net, name, day), numbers in zip(keys, parts, strict=True)
        for eid, part in zip(days[net, name, day], numbers, strict=True)
    }
    return [found[hit] for hit in hits]


def part_gaps(gaps: Sequence[Gap], part: DayPart, start: int, end: int | None) -> list[Gap]:
    """The gaps a part shows: those that start among its events (the first part also
    shows those from before the day's first event, the last those after its last)."""
    out = []
    for g in gaps:
        key = time_key(g.start)
        if (part.number == 1 or key >= start) and (end is None or key < end):
            out.append(g)
    return out


class DayPages:
    """The day pages of :class:`~logbot.web.site.Archive`."""

    browser: Browser
    clock: Callable[[], datetime]
    _lock: threading.Lock
    _pages: OrderedDict[str, bytes]
    _pages_size: int

    if TYPE_CHECKING:

        def html(self, template: str, links: Links, **values: Any) -> bytes: ...

        def channel(self, network: str, name: str) -> ChannelInfo: ...

    def day_html(
        self,
        chan: ChannelInfo,
        day: date,
        links: Links,
        tz: tzinfo,
        zone: str,
        *,
        hide: bool = False,
        live: bool = False,
        records: Sequence[Record] | None = None,
        neighbours: tuple[date | None, date | None] | None = None,
        sources: bool = True,
        lines: Markup | None = None,
        gaps: Sequence[Gap] | None = None,
        part: DayPart = WHOLE_DAY,
    ) -> bytes:
        """The day page; ``records``, ``neighbours`` and ``gaps`` (the channel's gaps that
        overlap the day) when the caller has read them, ``lines`` when it has rendered them
        (then ``records`` gives the live page's last id only). ``part``: which part of a
        split day the records are (read whole here only for a day of one part)."""
        if records is None:
            kinds = SHOWN_KINDS if hide else ()
            records = self.browser.day_events(chan, day, tz, kinds=kinds)
        if gaps is None and lines is None:
            gaps = self.browser.day_gaps(chan, day, tz)
        if neighbours is None:
            neighbours = self.browser.neighbours(chan.id, day, tz)
        prev, nxt = neighbours
        tzq = None if zone == "UTC" else zone
        query = query_string(tz=tzq, hide="1" if hide else None)
        part_prev = part_next = None
        if part.number > 1:
            part_prev = links.day(chan.network, chan.name, day, query, part=part.number - 1)
        if part.number < part.parts:
            part_next = links.day(chan.network, chan.name, day, query, part=part.number + 1)
        return self.html(
            "day.html",
            links,
            chan=chan,
            day=day,
            lines=render_lines(records, tz, chan.name, gaps or (), day) if lines is None else lines,
            sources=sources,
            prev=prev,
            next=nxt,
            zone=zone,
            hide=hide,
            live=live,
            last_id=records[-1].id if records else 0,
            query=query,
            tz_query=query_string(tz=tzq),
            part=part,
            part_prev=part_prev,
            part_next=part_next,
            toggle_query=query_string(tz=tzq, hide=None if hide else "1"),
            heading=f"{chan.name} on {chan.network}, {day.isoformat()}",
        )

    def day_page(
        self,
        network: str,
        name: str,
        last: str,
        args: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> Page:
        stem, dot, ext = last.partition(".")
        if dot and ext not in ("txt", "json", "html"):
            raise HttpError(404, "There is no such page.")
        day = parse_day(stem)
        chan = self.channel(network, name)
        tz, zone = parse_zone(args.get("tz"))
        hide = args.get("hide", "") not in ("", "0")
        number = parse_part(args.get("part"))
        now = self.clock()
        stamp = self.browser.day_stamp(chan.id, day, tz)
        # a forget may delete one line and an import add another: count and newest id
        # alone would not change
        deletions = self.browser.deletions()
        if stamp.events == 0:
            raise HttpError(404, f"Nothing was logged in {chan.name} on {day.isoformat()}.")
        size = common.DAY_PART_EVENTS
        part = DayPart(number, -(-stamp.events // size), stamp.events, size)
        if number > part.parts:
            raise HttpError(
                404,
                f"{chan.name} on {day.isoformat()} is shown in {part.parts} part"
                f"{'s' if part.parts > 1 else ''} of up to {size:,} lines: there is no "
                f"part {number}.",
            )
        low_day_end = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(days=1)
        closed = low_day_end <= now
        # a gap can close or shrink (backfill) without the day's events changing
        page = ext in ("", "html") and "after" not in args
        gaps = self.browser.day_gaps(chan, day, tz) if page else []
        holes = ",".join(f"{g.start.isoformat()}~{g.end}~{g.reason}" for g in gaps)
        variant = (
            f"{__version__}|{chan.id}|{day}|{zone}|{hide}|{ext}|{stamp.events}|{stamp.last_id}"
            f"|{holes}"
            f"|{deletions}|{number}/{size}"
        )
        etag = '"' + hashlib.blake2s(variant.encode(), digest_size=12).hexdigest() + '"'
        assert stamp.last_id is not None
        modified = record_time(stamp.last_id).replace(microsecond=0)
        if closed and not_modified(headers, etag, modified):
            return Page(b"", status=304, etag=etag, last_modified=modified, cacheable=True)
        kinds = SHOWN_KINDS if hide and ext in ("", "html") else ()
        # every read below is of one part: at most ``size`` events in memory
        tzq = None if zone == "UTC" else zone
        links = Links()
        query = query_string(tz=tzq, hide="1" if hide and page else None)
        suffix = f".{ext}" if ext in ("txt", "json") else ""
        after = args.get("after")
        if after is not None:
            # today's page asking for lines newer than the last it has (live updates):
            # the rest of its part, never more than a part
            try:
                after_id = int(after)
            except ValueError:
                raise HttpError(400, "after= takes an event id.") from None
            first, following = self.browser.part_bounds(chan.id, day, tz, number, size)
            recs = self.browser.day_events(
                chan, day, tz, kinds=kinds, after=after_id, start=first, end=following, limit=size
            )
            body = lines_html(recs, tz, chan.name).encode("utf-8", "surrogateescape")
            more = {"X-Last-Id": str(recs[-1].id if recs else after_id)}
            if following is not None:
                # this part is full: the day goes on in the next one
                more["X-Next-Part"] = links.day(
                    chan.network,
                    chan.name,
                    day,
                    query_string(tz=tzq, hide="1" if hide else None),
                    part=number + 1,
                )
            return Page(body, headers=more)
        extra: dict[str, str] = {}
        if part.parts > 1:
            rels = [(number - 1, "prev"), (number + 1, "next")]
            extra["Link"] = ", ".join(
                f'<{links.day(chan.network, chan.name, day, query, suffix, part=k)}>; rel="{rel}"'
                for k, rel in rels
                if 1 <= k <= part.parts
            )
        if closed:
            cached = self._cached(etag)
            if cached is not None:
                return Page(
                    cached,
                    DAY_TYPES[ext],
                    etag=etag,
                    last_modified=modified,
                    cacheable=True,
                    headers=extra,
                )
        # the whole day where it is one part (the reads as before parts)
        start: int | None = None
        end: int | None = None
        if part.parts > 1:
            start, end = self.browser.part_bounds(chan.id, day, tz, number, size)
        if ext in ("txt", "json"):
            recs = self.browser.day_events(chan, day, tz, start=start, end=end, limit=size)
            if ext == "txt":
                lines = [log_line(r, tz) for r in recs]
                ctype = "text/plain; charset=utf-8"
            else:
                lines = [json_line(r) for r in recs]
                ctype = "application/x-ndjson; charset=utf-8"
            body = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
        else:
            today = now.astimezone(tz).date()
            records = self.browser.day_events(
                chan, day, tz, kinds=kinds, start=start, end=end, limit=size
            )
            if start is not None:
                gaps = part_gaps(gaps, part, start, end)
            body = self.day_html(
                chan,
                day,
                links,
                tz,
                zone,
                hide=hide,
                live=day == today and number == part.parts,
                records=records,
                gaps=gaps,
                part=part,
            )
            ctype = "text/html; charset=utf-8"
        if closed:
            self._keep(etag, body)
        return Page(
            body,
            ctype,
            etag=etag if closed else None,
            last_modified=modified,
            cacheable=closed,
            headers=extra,
        )

    def _cached(self, etag: str) -> bytes | None:
        with self._lock:
            body = self._pages.get(etag)
            if body is not None:
                self._pages.move_to_end(etag)
            return body

    def _keep(self, etag: str, body: bytes) -> None:
        if len(body) > PAGE_CACHE_BYTES // 8:
            return
        with self._lock:
            if etag in self._pages:
                return
            self._pages[etag] = body
            self._pages_size += len(body)
            while self._pages_size > PAGE_CACHE_BYTES:
                _, old = self._pages.popitem(last=False)
                self._pages_size -= len(old)

    def at(self, chan: ChannelInfo, args: Mapping[str, str]) -> Page:
        raw = args.get("time", "")
        try:
            when = datetime.fromisoformat(raw.strip().replace(" ", "T").replace("Z", "+00:00"))
        except ValueError:
            raise HttpError(
                400, f"{raw!r} is not a time: use ISO 8601, e.g. 2026-11-28T20:35:22Z."
            ) from None
        tz, zone = parse_zone(args.get("tz"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=tz)
        found = self.browser.nearest(chan.id, when, args.get("nick") or None, AT_WINDOW)
        if found is None:
            who = f" by {args['nick']}" if args.get("nick") else ""
            raise HttpError(404, f"No line{who} within 5 seconds of {when.isoformat()}.")
        day = record_time(found).astimezone(tz).date()
        tzq = None if zone == "UTC" else zone
        (number,) = part_of(self.browser, [(chan.network, chan.name, day, found)], tz)
        url = Links().day(chan.network, chan.name, day, query_string(tz=tzq), part=number)
        return Page(b"", status=302, location=f"{url}#e{found}")
