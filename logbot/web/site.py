"""The archive's pages, independent of any web server: a request path in, a :class:`Page` out.

:class:`Archive` answers every route of the contract (``/``, a channel's calendar, a day
in HTML, text and JSON, ``at``, ``/search``, ``/api/search``, ``/robots.txt``) with blocking
reads (the server runs it off the reactor thread); ``logbot html`` renders the same
templates with :class:`Links` that point at files. Every value reaches HTML through
Jinja2's autoescape or :mod:`logbot.web.ircformat`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
import urllib.parse
import zoneinfo
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import jinja2
from markupsafe import Markup, escape

from logbot import __version__
from logbot.casemap import channel_key
from logbot.events import CHANNEL_KINDS, Kind
from logbot.query import QueryError, highlight_spans, parse
from logbot.render import Record, json_line, record_time, text_line
from logbot.search import (
    Reader,
    SearchError,
    SearchRequest,
    SearchTimeout,
    build_filters,
    open_reader,
)
from logbot.storage.browse import Browser, ChannelInfo, DatabaseGone
from logbot.storage.names import KEY_SPREAD
from logbot.text import visible
from logbot.timeparse import TimeParseError
from logbot.web.ircformat import esc, irc_html_str, nick_colour, strip_codes

__all__ = ["Archive", "HttpError", "Links", "Page", "parse_zone"]

#: kinds the "hide joins/parts" toggle hides
NOISE_KINDS = frozenset({"join", "part", "quit", "nick"})
#: what a day shows with them hidden
SHOWN_KINDS = tuple(k.value for k in Kind if k in CHANNEL_KINDS and k.value not in NOISE_KINDS)
#: search hits per page
PAGE_SIZE = 50
#: how long a search may run before it is stopped
SEARCH_TIME_LIMIT = 2.0
#: how far from the asked time ``at`` looks for a line
AT_WINDOW = timedelta(seconds=5)
#: seconds a channel list read from the database is reused
CHANNELS_TTL = 10.0
#: bytes of rendered closed-day pages kept in memory (a closed day's page only changes
#: with its ETag, which is the cache key)
PAGE_CACHE_BYTES = 32 * 1024 * 1024

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class HttpError(Exception):
    """An answer that is not a page: ``status`` and one readable sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Page:
    """One response: body, type and caching facts."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    etag: str | None = None
    last_modified: datetime | None = None
    location: str | None = None
    #: may a cache keep it (closed days) or must it ask again (today, search)
    cacheable: bool = False
    headers: dict[str, str] = field(default_factory=dict)


def parse_zone(name: str | None) -> tuple[tzinfo, str]:
    """The zone the reader asked for (default UTC); HttpError 400 for an unknown one."""
    if not name or name.upper() == "UTC":
        return UTC, "UTC"
    try:
        return zoneinfo.ZoneInfo(name), name
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise HttpError(
            400, f"Unknown time zone {name!r}: use a name like Europe/Berlin."
        ) from None


def parse_day(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise HttpError(400, f"{text!r} is not a date: use YYYY-MM-DD.") from None


@functools.lru_cache(maxsize=4096)
def _seg(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def disk_name(name: str) -> str:
    """A network or channel name as a file name: as it is, but never a path."""
    name = name.replace("%", "%25").replace("/", "%2F").replace("\x00", "%00")
    return "%2E" * len(name) if name in (".", "..") else name


class Links:
    """Where pages point: the live server's URLs, or files written by ``logbot html``."""

    def __init__(self, *, static: bool = False, depth: int = 0) -> None:
        self.static = static
        self.up = "../" * depth if static else "/"

    def home(self) -> str:
        return self.up + ("index.html" if self.static else "")

    def asset(self, name: str) -> str:
        return f"{self.up}static/{name}"

    def _path(self, network: str, channel: str) -> str:
        if self.static:
            return f"{self.up}{_seg(disk_name(network))}/{_seg(disk_name(channel))}/"
        return f"{self.up}{_seg(network)}/{_seg(channel)}/"

    def channel(self, network: str, channel: str) -> str:
        return self._path(network, channel) + ("index.html" if self.static else "")

    def day(self, network: str, channel: str, day: date, query: str = "", ext: str = "") -> str:
        if self.static and not ext:
            ext = ".html"
        return f"{self._path(network, channel)}{day.isoformat()}{ext}{query}"

    def search(self) -> str | None:
        return None if self.static else "/search"


def _query(**params: str | None) -> str:
    kept = {k: v for k, v in params.items() if v}
    return "?" + urllib.parse.urlencode(kept) if kept else ""


def _kind_text(rec: Record, nick: str, text: str, chan: str) -> str:
    """What happened, as HTML after the nick (``nick``, ``text``, ``chan``: already HTML)."""
    k = rec.kind
    who = f'{nick} <span class="uh">({esc(visible(rec.userhost))})</span>' if rec.userhost else nick
    reason = f" ({text})" if rec.text else ""
    if k == "join":
        return f"{who} has joined {chan}"
    if k == "part":
        return f"{who} has left {chan}{reason}"
    if k == "quit":
        return f"{who} has quit{reason}"
    target = esc(visible(rec.target))
    if k == "kick":
        return f"{nick} has kicked {target} from {chan}{reason}"
    if k == "nick":
        return f"{nick} is now known as {target}"
    if k == "topic":
        if not rec.text:
            return f"{nick or 'the server'} cleared the topic"
        if not rec.nick:
            return f"the topic is: {text}"
        return f"{nick} changed the topic to: {text}"
    if k == "mode":
        return f"{nick or 'the server'} sets mode {text}"
    return f"[{esc(k)}] {nick} {text}"


_PREFIX = {"join": "--&gt;", "part": "&lt;--", "quit": "&lt;--", "kick": "&lt;--"}


def _clock(tz: tzinfo, records: Sequence[Record]) -> Callable[[int], str]:
    """``HH:MM:SS`` in ``tz`` of an event id; plain arithmetic when the offset is fixed over
    the records (every day but the two DST changes)."""
    if not records:
        return lambda key: ""
    first = record_time(records[0].id)
    last = record_time(records[-1].id)
    offset = first.astimezone(tz).utcoffset()
    if offset is None or offset != last.astimezone(tz).utcoffset():
        return lambda key: record_time(key).astimezone(tz).strftime("%H:%M:%S")
    shift = int(offset.total_seconds())
    spread = KEY_SPREAD * 1_000_000

    def clock(key: int) -> str:
        s = (key // spread + shift) % 86_400
        return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"

    return clock


def render_lines(records: Sequence[Record], tz: tzinfo, chan: str) -> Markup:
    """The ``<li>`` of each event, oldest first: permalink time, prefix, nick, text.

    Nick colours follow a nick across its changes within these lines. Built with plain
    string formatting (a busy day has thousands of lines); every IRC string goes through
    :func:`esc` or :func:`irc_html`.
    """
    alias: dict[str, int] = {}
    shown: dict[str, str] = {}  # nick -> its HTML under its current colour
    clock = _clock(tz, records)
    chan_html = esc(visible(chan))
    out: list[str] = []
    add = out.append
    for rec in records:
        kind = rec.kind
        nick = rec.nick
        nick_html = shown.get(nick)
        if nick_html is None or kind == "nick":
            key = nick.lower()
            colour = alias.get(key)
            if colour is None:
                colour = alias[key] = nick_colour(nick)
            if kind == "nick" and rec.target:
                alias[rec.target.lower()] = colour
                shown.pop(rec.target, None)
            nick_html = shown[nick] = f'<span class="nick n{colour}">{esc(visible(nick))}</span>'
        text = irc_html_str(rec.text) if rec.text else ""
        if kind == "message":
            prefix, body = f"&lt;{nick_html}&gt;", text
        elif kind == "action":
            prefix, body = "*", f"{nick_html} {text}"
        elif kind == "notice":
            prefix, body = f"-{nick_html}-", text
        else:
            prefix = _PREFIX.get(kind, "--")
            body = _kind_text(rec, nick_html, text, chan_html)
        eid = rec.id
        add(
            f'<li id="e{eid}" class="ev k-{esc(kind)}"><a class="t" href="#e{eid}" '
            f'rel="nofollow">{clock(eid)}</a> <span class="p">{prefix}</span> '
            f'<bdi class="msg">{body}</bdi></li>\n'
        )
    return Markup("".join(out))


def log_line(rec: Record, tz: tzinfo) -> str:
    """``rec`` in the text log's format (``[20:35:22] <alice> hello``), in zone ``tz``."""
    # text_line is "YYYY-MM-DD HH:MM:SS CHANNEL BODY", the channel made visible char for char
    line = text_line(rec, tz=tz)
    return f"[{line[11:19]}] {line[21 + len(rec.channel) :]}"


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def _marked(text: str, spans: Sequence[tuple[int, int]]) -> Markup:
    out: list[str] = []
    at = 0
    for start, end in spans:
        out.append(str(escape(visible(text[at:start]))))
        out.append(str(Markup("<mark>%s</mark>") % visible(text[start:end])))
        at = end
    out.append(str(escape(visible(text[at:]))))
    return Markup("".join(out))


class Archive:
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
    ) -> None:
        self.db = db
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
        )
        self._channels: tuple[float, list[ChannelInfo]] | None = None
        self._lock = threading.Lock()
        self._pages: OrderedDict[str, bytes] = OrderedDict()
        self._pages_size = 0
        self._readers = threading.local()

    def close(self) -> None:
        self.browser.close()

    # --- reads ------------------------------------------------------------------------

    def shown(self, name: str) -> bool:
        return self.allowed is None or channel_key(name) in self.allowed

    def channels(self, *, fresh: bool = False) -> list[ChannelInfo]:
        """The channels this site shows, with last activity (reused for a few seconds)."""
        now = time.monotonic()
        with self._lock:
            cached = self._channels
        if cached is not None and not fresh and now - cached[0] < CHANNELS_TTL:
            return cached[1]
        chans = [c for c in self.browser.channels() if self.shown(c.name)]
        with self._lock:
            self._channels = (now, chans)
        return chans

    def channel(self, network: str, name: str) -> ChannelInfo:
        if self.shown(name):
            for c in self.channels():
                if c.network == network and channel_key(c.name) == channel_key(name):
                    return c
            found = self.browser.find_channel(network, name)
            if found is not None:
                return found
        raise HttpError(404, f"There is no channel {name} on {network} here.")

    # --- rendering --------------------------------------------------------------------

    def indexable(self, channel: str | None) -> bool:
        """May search engines index the pages of ``channel`` (None: the site's own pages)?"""
        if not self.noindex:
            return True
        return channel is not None and channel_key(channel) in self.indexed

    def html(self, template: str, links: Links, **values: Any) -> bytes:
        chan = values.get("chan")
        noindex = not self.indexable(chan.name if chan is not None else None)
        page = self.env.get_template(template).render(
            links=links, title=self.title, noindex=noindex, **values
        )
        return page.encode("utf-8")

    def index_html(self, links: Links) -> bytes:
        networks: dict[str, list[ChannelInfo]] = {}
        for c in self.channels(fresh=True):
            networks.setdefault(c.network, []).append(c)
        return self.html("index.html", links, networks=networks, heading=self.title)

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
        query = _query(tz=None if zone == "UTC" else zone)
        return self.html(
            "calendar.html",
            links,
            chan=chan,
            calendar=calendar,
            zone=zone,
            query=query,
            heading=f"{chan.name} on {chan.network}",
        )

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
    ) -> bytes:
        """The day page; ``records`` and ``neighbours`` when the caller has read them."""
        if records is None:
            kinds = SHOWN_KINDS if hide else ()
            records = self.browser.day_events(chan, day, tz, kinds=kinds)
        if neighbours is None:
            neighbours = self.browser.neighbours(chan.id, day, tz)
        prev, nxt = neighbours
        tzq = None if zone == "UTC" else zone
        return self.html(
            "day.html",
            links,
            chan=chan,
            day=day,
            lines=render_lines(records, tz, chan.name),
            sources=sources,
            prev=prev,
            next=nxt,
            zone=zone,
            hide=hide,
            live=live,
            last_id=records[-1].id if records else 0,
            query=_query(tz=tzq, hide="1" if hide else None),
            tz_query=_query(tz=tzq),
            toggle_query=_query(tz=tzq, hide=None if hide else "1"),
            heading=f"{chan.name} on {chan.network}, {day.isoformat()}",
        )

    def robots(self) -> str:
        """``/robots.txt``: everything, nothing, or only the channels set to be indexed."""
        if not self.noindex:
            return "User-agent: *\nAllow: /\n"
        links = Links()
        allowed = [
            f"Allow: {links.channel(c.network, c.name)}\n"
            for c in self.channels()
            if self.indexable(c.name)
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
        if stamp.events == 0:
            raise HttpError(404, f"Nothing was logged in {chan.name} on {day.isoformat()}.")
        low_day_end = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(days=1)
        closed = low_day_end <= now
        variant = (
            f"{__version__}|{chan.id}|{day}|{zone}|{hide}|{ext}|{stamp.events}|{stamp.last_id}"
        )
        etag = '"' + hashlib.blake2s(variant.encode(), digest_size=12).hexdigest() + '"'
        assert stamp.last_id is not None
        modified = record_time(stamp.last_id).replace(microsecond=0)
        if closed and _not_modified(headers, etag, modified):
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
            body = str(render_lines(recs, tz, chan.name)).encode("utf-8", "surrogateescape")
            return Page(body, headers={"X-Last-Id": str(recs[-1].id if recs else after_id)})
        if closed:
            cached = self._cached(etag)
            if cached is not None:
                return Page(
                    cached,
                    _DAY_TYPES[ext],
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
            body = self.day_html(chan, day, Links(), tz, zone, hide=hide, live=day == today)
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
        url = Links().day(chan.network, chan.name, day, _query(tz=None if zone == "UTC" else zone))
        return Page(b"", status=302, location=f"{url}#e{found}")

    # --- search -----------------------------------------------------------------------

    def _request(self, args: Mapping[str, str]) -> tuple[SearchRequest, int | None]:
        def many(name: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in args.get(name, "").split(",") if v.strip())

        channels = many("channel")
        if self.allowed is not None:
            for c in channels:
                if not self.shown(c) and not self.shown("#" + c):
                    raise HttpError(404, f"There is no channel {c} here.")
            if not channels:
                channels = tuple(c.name for c in self.channels())
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
        if held is not None and now - held[0] < CHANNELS_TTL:
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
            raise HttpError(400, _sentence(str(exc))) from None
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

    def search_page(self, args: Mapping[str, str]) -> Page:
        tz, zone = parse_zone(args.get("tz"))
        hits, more, query = self.run_search(args)
        tzq = None if zone == "UTC" else zone
        links = Links()
        rows = []
        for h in hits:
            when = record_time(h.id).astimezone(tz)
            text = strip_codes(h.text)
            spans = highlight_spans(query, text) if query is not None else []
            rows.append(
                {
                    "rec": h,
                    "time": when.strftime("%Y-%m-%d %H:%M:%S"),
                    "href": links.day(h.network, h.channel, when.date(), _query(tz=tzq))
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


_DAY_TYPES = {
    "": "text/html; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "json": "application/x-ndjson; charset=utf-8",
}


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "That request cannot be answered."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def _not_modified(headers: Mapping[str, str], etag: str, modified: datetime) -> bool:
    inm = headers.get("if-none-match")
    if inm is not None:
        return etag in [t.strip().removeprefix("W/") for t in inm.split(",")] or inm.strip() == "*"
    ims = headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return modified <= since
    return False


def page_headers(page: Page) -> dict[str, str]:
    """The HTTP headers of ``page`` (security headers on every answer)."""
    out = dict(SECURITY_HEADERS)
    out["Content-Type"] = page.content_type
    if page.etag:
        out["ETag"] = page.etag
    if page.last_modified is not None:
        out["Last-Modified"] = _http_date(page.last_modified)
    out["Cache-Control"] = "public, max-age=300" if page.cacheable else "no-cache"
    if page.location is not None:
        out["Location"] = page.location
    out.update(page.headers)
    return out
