"""The search page and ``/api/search``: the form's fields to a bounded search
(:meth:`logbot.search.Reader.time_limit`), its hits marked up or as JSON lines, a page at a
time.
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from logbot.query import QueryError, highlight_spans, parse
from logbot.render import Record, json_line, record_time
from logbot.search import (
    Reader,
    SearchError,
    SearchRequest,
    SearchTimeout,
    build_filters,
    open_reader,
)
from logbot.settings import Settings
from logbot.storage.browse import Browser, ChannelInfo, DatabaseGone
from logbot.text import visible
from logbot.timeparse import TimeParseError
from logbot.web.common import HttpError, Links, Page, parse_zone, query_string, sentence
from logbot.web.days import part_of
from logbot.web.ircformat import nick_colour, strip_codes

__all__ = ["PAGE_SIZE", "READER_TTL", "SEARCH_TIME_LIMIT", "SearchPages"]

#: search hits per page
PAGE_SIZE = 50
#: how long a search may run before it is stopped
SEARCH_TIME_LIMIT = 2.0
#: seconds a search reader is kept before it is reopened (to see new channels)
READER_TTL = 10.0


def _marked(text: str, spans: Sequence[tuple[int, int]]) -> Markup:
    out: list[str] = []
    at = 0
    for start, end in spans:
        out.append(str(escape(visible(text[at:start]))))
        out.append(str(Markup("<mark>%s</mark>") % visible(text[start:end])))
        at = end
    out.append(str(escape(visible(text[at:]))))
    return Markup("".join(out))


class SearchPages:
    """The search pages of :class:`~logbot.web.site.Archive`."""

    db: str | None
    browser: Browser
    allowed: frozenset[str] | None
    search_time_limit: float
    _readers: threading.local

    if TYPE_CHECKING:

        def html(self, template: str, links: Links, **values: Any) -> bytes: ...

        def shown(self, name: str) -> bool: ...

        def channels(self, *, fresh: bool = False) -> list[ChannelInfo]: ...

        def listed(self, *, fresh: bool = False) -> list[ChannelInfo]: ...

    settings: Settings | None

    def _request(self, args: Mapping[str, str]) -> tuple[SearchRequest, int | None]:
        def many(name: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in args.get(name, "").split(",") if v.strip())

        channels = many("channel")
        if self.allowed is not None:
            for c in channels:
                if not self.shown(c) and not self.shown("#" + c):
                    raise HttpError(404, f"There is no channel {c} here.")
        before = args.get("before")
        before_id = None
        if before:
            try:
                before_id = int(before)
            except ValueError:
                raise HttpError(400, "before= takes an event id.") from None
        req = SearchRequest(
            query=args.get("q") or None,
            db=self.db,
            network=args.get("network") or None,
            channels=channels,
            nicks=many("nick"),
            kinds=many("kind"),
            since=args.get("since") or None,
            until=args.get("until") or None,
            limit=PAGE_SIZE + 1,
            tz=UTC,
        )
        return req, before_id

    def _reader(self) -> Reader:
        """This thread's search reader, reopened now and then to see new channels."""
        held: tuple[float, Reader] | None = getattr(self._readers, "held", None)
        now = time.monotonic()
        if held is not None and now - held[0] < READER_TTL:
            return held[1]
        if held is not None:
            held[1].close()
            self._readers.held = None
        reader = open_reader(self.db)
        self._readers.held = (now, reader)
        return reader

    def _drop_reader(self) -> None:
        held = getattr(self._readers, "held", None)
        if held is not None:
            self._readers.held = None
            # closing a broken connection may fail too
            with contextlib.suppress(Exception):
                held[1].close()

    def run_search(self, args: Mapping[str, str]) -> tuple[list[Record], bool, Any]:
        """(hits newest first, more after them?, the parsed query) for the form's fields."""
        req, before_id = self._request(args)
        try:
            query = parse(req.query) if req.query else None
            filters = build_filters(req)
        except (QueryError, TimeParseError, SearchError) as exc:
            raise HttpError(400, sentence(str(exc))) from None
        filters = filters._replace(only=self._searchable(named=bool(req.channels)))
        if before_id is not None:
            until = record_time(before_id)
            if filters.until is None or until < filters.until:
                # the next page: events before the last hit shown (its microsecond included
                # in the pages before; see PAGE_SIZE)
                filters = filters._replace(until=until)
        if not any(
            args.get(k) for k in ("q", "network", "channel", "nick", "kind", "since", "until")
        ):
            # an empty form: show it, search nothing
            return [], False, None
        try:
            reader = self._reader()
        except SearchError as exc:
            raise DatabaseGone(str(exc)) from None
        try:
            with reader.time_limit(self.search_time_limit):
                hits = reader.search(query, filters, PAGE_SIZE + 1)
        except SearchTimeout:
            raise HttpError(
                503,
                f"The search ran longer than {self.search_time_limit:g} s and was "
                "stopped: narrow it with a channel, a nick or a time range.",
            ) from None
        except SearchError as exc:
            self._drop_reader()
            raise DatabaseGone(str(exc)) from None
        more = len(hits) > PAGE_SIZE
        return hits[:PAGE_SIZE], more, query

    def _searchable(self, *, named: bool) -> frozenset[tuple[str, str]] | None:
        """The channels ``publish`` and ``--channel`` let this search return (None: any):
        of the channels a search names, the served ones; across channels, the listed ones.
        Given to the query, so that every page holds as many hits as there are."""
        if self.settings is None and self.allowed is None:
            return None
        chans = self.channels() if named else self.listed()
        return frozenset((c.network, c.name) for c in chans)

    def search_page(self, args: Mapping[str, str]) -> Page:
        tz, zone = parse_zone(args.get("tz"))
        hits, more, query = self.run_search(args)
        tzq = None if zone == "UTC" else zone
        links = Links()
        rows = []
        whens = [record_time(h.id).astimezone(tz) for h in hits]
        # a hit on a day shown in parts links to its part
        parts = part_of(
            self.browser,
            [(h.network, h.channel, w.date(), h.id) for h, w in zip(hits, whens, strict=True)],
            tz,
        )
        for h, when, part in zip(hits, whens, parts, strict=True):
            text = strip_codes(h.text)
            spans = highlight_spans(query, text) if query is not None else []
            rows.append(
                {
                    "rec": h,
                    "time": when.strftime("%Y-%m-%d %H:%M:%S"),
                    "href": links.day(
                        h.network, h.channel, when.date(), query_string(tz=tzq), part=part
                    )
                    + f"#e{h.id}",
                    "colour": nick_colour(h.nick),
                    "text": _marked(text, spans),
                }
            )
        fields = {
            k: args.get(k, "")
            for k in ("q", "network", "channel", "nick", "kind", "since", "until", "tz")
        }
        next_href = None
        if more and hits:
            params = {k: v for k, v in fields.items() if v}
            params["before"] = str(hits[-1].id)
            next_href = "/search?" + urllib.parse.urlencode(params)
        body = self.html(
            "search.html",
            links,
            fields=fields,
            rows=rows,
            searched=bool(hits) or any(fields[k] for k in fields if k != "tz"),
            next_href=next_href,
            zone=zone,
            heading="Search",
        )
        return Page(body)

    def search_api(self, args: Mapping[str, str]) -> Page:
        hits, more, _ = self.run_search(args)
        body = "".join(json_line(h) + "\n" for h in hits).encode("utf-8", "surrogateescape")
        headers = {}
        if more and hits:
            headers["X-Next-Before"] = str(hits[-1].id)
        return Page(body, "application/x-ndjson; charset=utf-8", headers=headers)
