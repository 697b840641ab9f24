"""The archive's pages, independent of any web server: a request path in, a :class:`Page` out.

:class:`Archive` answers every route of the contract (``/``, a channel's calendar, a day
in HTML, text and JSON, ``at``, ``/search``, ``/api/search``, ``/robots.txt``) with blocking
reads (the server runs it off the reactor thread); ``logbot html`` renders the same
templates with :class:`Links` that point at files. Every value reaches HTML through
Jinja2's autoescape or :mod:`logbot.web.ircformat`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import jinja2

from logbot.casemap import channel_key
from logbot.events import FACT_CRAWLER_INDEX
from logbot.policy import Access, web_access
from logbot.settings import Settings
from logbot.storage.browse import Browser, ChannelInfo, DatabaseGone
from logbot.web.calendar import CalendarPages
from logbot.web.common import (
    SECURITY_HEADERS,
    HttpError,
    Links,
    Page,
    page_headers,
    parse_zone,
    url_segment,
)
from logbot.web.days import DayPages
from logbot.web.searching import SEARCH_TIME_LIMIT, SearchPages

__all__ = [
    "SECURITY_HEADERS",
    "Archive",
    "HttpError",
    "Links",
    "Page",
    "page_headers",
    "parse_zone",
]

#: seconds a channel list read from the database is reused
CHANNELS_TTL = 10.0


class Archive(DayPages, CalendarPages, SearchPages):
    """Every page of the site, read from one database (blocking; thread-safe)."""

    def __init__(
        self,
        db: str | None,
        *,
        channels: Sequence[str] = (),
        title: str = "IRC logs",
        noindex: bool = True,
        index_channels: Sequence[str] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        search_time_limit: float = SEARCH_TIME_LIMIT,
        settings: Settings | None = None,
    ) -> None:
        self.db = db
        #: whose ``publish`` keys say what is served, listed, indexed (None: all public)
        self.settings = settings
        self.browser = Browser(db)
        self.allowed = frozenset(channel_key(c) for c in channels) or None
        self.title = title
        self.noindex = noindex
        #: channels search engines may index even though the site is noindex
        self.indexed = frozenset(channel_key(c) for c in index_channels)
        self.clock = clock
        self.search_time_limit = search_time_limit
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("logbot.web", "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
            # the templates ship in the package: no need to check their files per page
            auto_reload=False,
        )
        self._channels: tuple[float, list[ChannelInfo]] | None = None
        self._closed_networks: tuple[float, frozenset[str]] | None = None
        self._lock = threading.Lock()
        self._pages: OrderedDict[str, bytes] = OrderedDict()
        self._pages_size = 0
        self._readers = threading.local()

    def close(self) -> None:
        self.browser.close()

    # --- reads ------------------------------------------------------------------------

    def shown(self, name: str) -> bool:
        return self.allowed is None or channel_key(name) in self.allowed

    def access(self, network: str, name: str) -> Access:
        """What ``publish`` lets the site do with a stored channel (indexing by ``publish``
        alone: :meth:`indexable` adds the site's own rules)."""
        return web_access(self.settings, network, name, False)

    def served(self, network: str, name: str) -> bool:
        """May the site serve this channel's pages? (``--channel`` and ``publish``)"""
        return self.shown(name) and self.access(network, name).served

    def channels(self, *, fresh: bool = False) -> list[ChannelInfo]:
        """The channels this site serves, with last activity (reused for a few seconds)."""
        now = time.monotonic()
        with self._lock:
            cached = self._channels
        if cached is not None and not fresh and now - cached[0] < CHANNELS_TTL:
            return cached[1]
        chans = [c for c in self.browser.channels() if self.served(c.network, c.name)]
        with self._lock:
            self._channels = (now, chans)
        return chans

    def listed(self, *, fresh: bool = False) -> list[ChannelInfo]:
        """The channels the index page, robots.txt and searches across channels name:
        the served ones but the ``unlisted``."""
        return [c for c in self.channels(fresh=fresh) if self.access(c.network, c.name).listed]

    def channel(self, network: str, name: str) -> ChannelInfo:
        # a private channel is as unknown as one never logged
        if self.served(network, name):
            for c in self.channels():
                if c.network == network and channel_key(c.name) == channel_key(name):
                    return c
            found = self.browser.find_channel(network, name)
            if found is not None:
                return found
        raise HttpError(404, f"There is no channel {name} on {network} here.")

    # --- rendering --------------------------------------------------------------------

    def closed_networks(self) -> frozenset[str]:
        """The networks whose servers announce ``CRAWLER=index:deny`` (the operators' "do
        not index"), read from the database and reused for a few seconds."""
        now = time.monotonic()
        with self._lock:
            cached = self._closed_networks
        if cached is not None and now - cached[0] < CHANNELS_TTL:
            return cached[1]
        facts = self.browser.network_facts(FACT_CRAWLER_INDEX)
        closed = frozenset(n for n, v in facts.items() if v == "deny")
        with self._lock:
            self._closed_networks = (now, closed)
        return closed

    def indexable(self, chan: ChannelInfo | None) -> bool:
        """May search engines index the pages of ``chan`` (None: the site's own pages)?

        Never those of a network that asks not to be indexed, nor the site's own pages
        while they list a channel of one.
        """
        closed = self.closed_networks()
        if chan is None:
            if closed and any(c.network in closed for c in self.listed()):
                return False
            return not self.noindex
        if chan.network in closed or not self.access(chan.network, chan.name).indexed:
            return False
        return not self.noindex or channel_key(chan.name) in self.indexed

    def html(self, template: str, links: Links, **values: Any) -> bytes:
        # an error page is never indexed (and must not need the database to say so)
        noindex = template == "error.html" or not self.indexable(values.get("chan"))
        page = self.env.get_template(template).render(
            links=links, title=self.title, noindex=noindex, **values
        )
        return page.encode("utf-8")

    def index_html(self, links: Links) -> bytes:
        networks: dict[str, list[ChannelInfo]] = {}
        for c in self.listed(fresh=True):
            networks.setdefault(c.network, []).append(c)
        return self.html("index.html", links, networks=networks, heading=self.title)

    def robots(self) -> str:
        """``/robots.txt``: everything, nothing, or only the channels set to be indexed;
        never a network that asks not to be indexed. An unlisted channel is not named
        (that would list it): its pages say noindex themselves."""
        links = Links()
        chans = self.listed()
        if not self.noindex:
            closed = sorted({c.network for c in chans} & self.closed_networks())
            if not closed:
                return "User-agent: *\nAllow: /\n"
            denied = [f"Disallow: {links.home()}{url_segment(n)}/\n" for n in closed]
            return "User-agent: *\n" + "".join(denied) + "Allow: /\n"
        allowed = [
            f"Allow: {links.channel(c.network, c.name)}\n" for c in chans if self.indexable(c)
        ]
        return "User-agent: *\n" + "".join(allowed) + "Disallow: /\n"

    def error_page(self, err: HttpError) -> Page:
        body = self.html(
            "error.html", Links(), status=err.status, message=err.message, heading=str(err.status)
        )
        return Page(body, status=err.status)

    # --- routes -----------------------------------------------------------------------

    def handle(
        self, segments: Sequence[str], args: Mapping[str, str], headers: Mapping[str, str]
    ) -> Page:
        """The answer to a GET of ``/`` + ``segments`` (already URL-decoded)."""
        try:
            return self._route(list(segments), args, headers)
        except HttpError as err:
            if segments and segments[0] == "api":
                return Page((err.message + "\n").encode(), "text/plain; charset=utf-8", err.status)
            return self.error_page(err)
        except DatabaseGone as exc:
            gone = HttpError(503, f"The archive cannot be read right now ({exc}).")
            if segments and segments[0] == "api":
                return Page((gone.message + "\n").encode(), "text/plain; charset=utf-8", 503)
            return self.error_page(gone)

    def _route(self, segs: list[str], args: Mapping[str, str], headers: Mapping[str, str]) -> Page:
        if segs and segs[-1] == "" and len(segs) != 3:
            segs = segs[:-1]
        if not segs:
            return Page(self.index_html(Links()))
        if segs == ["robots.txt"]:
            return Page(self.robots().encode(), "text/plain; charset=utf-8")
        if segs == ["search"]:
            return self.search_page(args)
        if segs == ["api", "search"]:
            return self.search_api(args)
        if len(segs) == 3 and segs[2] == "":
            chan = self.channel(segs[0], segs[1])
            tz, zone = parse_zone(args.get("tz"))
            counts = self.browser.day_counts(chan.id, tz, zone, self.clock())
            return Page(self.calendar_html(chan, Links(), tz, zone, counts))
        if len(segs) == 2:
            # /net/chan without the slash: the calendar lives at /net/chan/
            self.channel(segs[0], segs[1])
            return Page(b"", status=301, location=Links().channel(segs[0], segs[1]))
        if len(segs) == 3 and segs[2] == "at":
            return self.at(self.channel(segs[0], segs[1]), args)
        if len(segs) == 3:
            return self.day_page(segs[0], segs[1], segs[2], args, headers)
        raise HttpError(404, "There is no such page.")
