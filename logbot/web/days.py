"""A day of a channel: its page in HTML, text and JSON (cached once the day is closed, with
an ETag), the lines newer than a given one (live updates), and ``at`` (a time to its line).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from logbot import __version__
from logbot.render import Record, json_line, record_time
from logbot.storage.browse import Browser, ChannelInfo
from logbot.storage.gaps import Gap
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

__all__ = ["AT_WINDOW", "PAGE_CACHE_BYTES", "DayPages"]

#: how far from the asked time ``at`` looks for a line
AT_WINDOW = timedelta(seconds=5)
#: bytes of rendered closed-day pages kept in memory (a closed day's page only changes
#: with its ETag, which is the cache key)
PAGE_CACHE_BYTES = 32 * 1024 * 1024


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
    ) -> bytes:
        """The day page; ``records``, ``neighbours`` and ``gaps`` (the channel's gaps that
        overlap the day) when the caller has read them, ``lines`` when it has rendered them
        (then ``records`` gives the live page's last id only)."""
        if records is None:
            kinds = SHOWN_KINDS if hide else ()
            records = self.browser.day_events(chan, day, tz, kinds=kinds)
        if gaps is None and lines is None:
            gaps = self.browser.day_gaps(chan, day, tz)
        if neighbours is None:
            neighbours = self.browser.neighbours(chan.id, day, tz)
        prev, nxt = neighbours
        tzq = None if zone == "UTC" else zone
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
            query=query_string(tz=tzq, hide="1" if hide else None),
            tz_query=query_string(tz=tzq),
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
        now = self.clock()
        stamp = self.browser.day_stamp(chan.id, day, tz)
        # a forget may delete one line and an import add another: count and newest id
        # alone would not change
        deletions = self.browser.deletions()
        if stamp.events == 0:
            raise HttpError(404, f"Nothing was logged in {chan.name} on {day.isoformat()}.")
        low_day_end = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(days=1)
        closed = low_day_end <= now
        # a gap can close or shrink (backfill) without the day's events changing
        page = ext in ("", "html") and "after" not in args
        gaps = self.browser.day_gaps(chan, day, tz) if page else []
        holes = ",".join(f"{g.start.isoformat()}~{g.end}~{g.reason}" for g in gaps)
        variant = (
            f"{__version__}|{chan.id}|{day}|{zone}|{hide}|{ext}|{stamp.events}|{stamp.last_id}"
            f"|{holes}"
            f"|{deletions}"
        )
        etag = '"' + hashlib.blake2s(variant.encode(), digest_size=12).hexdigest() + '"'
        assert stamp.last_id is not None
        modified = record_time(stamp.last_id).replace(microsecond=0)
        if closed and not_modified(headers, etag, modified):
            return Page(b"", status=304, etag=etag, last_modified=modified, cacheable=True)
        after = args.get("after")
        if after is not None:
            # today's page asking for lines newer than the last it has (live updates)
            try:
                after_id = int(after)
            except ValueError:
                raise HttpError(400, "after= takes an event id.") from None
            kinds = SHOWN_KINDS if hide else ()
            recs = self.browser.day_events(chan, day, tz, kinds=kinds, after=after_id)
            body = lines_html(recs, tz, chan.name).encode("utf-8", "surrogateescape")
            return Page(body, headers={"X-Last-Id": str(recs[-1].id if recs else after_id)})
        if closed:
            cached = self._cached(etag)
            if cached is not None:
                return Page(
                    cached,
                    DAY_TYPES[ext],
                    etag=etag,
                    last_modified=modified,
                    cacheable=True,
                )
        if ext in ("txt", "json"):
            recs = self.browser.day_events(chan, day, tz)
            if ext == "txt":
                lines = [log_line(r, tz) for r in recs]
                ctype = "text/plain; charset=utf-8"
            else:
                lines = [json_line(r) for r in recs]
                ctype = "application/x-ndjson; charset=utf-8"
            body = "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")
        else:
            today = now.astimezone(tz).date()
            body = self.day_html(
                chan, day, Links(), tz, zone, hide=hide, live=day == today, gaps=gaps
            )
            ctype = "text/html; charset=utf-8"
        if closed:
            self._keep(etag, body)
        return Page(
            body, ctype, etag=etag if closed else None, last_modified=modified, cacheable=closed
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
        url = Links().day(chan.network, chan.name, day, query_string(tz=tzq))
        return Page(b"", status=302, location=f"{url}#e{found}")
