"""What every page of the site shares: answers (:class:`Page`, :class:`HttpError`), where
pages point (:class:`Links`), the request's zone and day, and the HTTP headers of an answer.
"""

from __future__ import annotations

import functools
import urllib.parse
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from email.utils import format_datetime, parsedate_to_datetime

__all__ = [
    "CSP",
    "DAY_PART_EVENTS",
    "DAY_TYPES",
    "SECURITY_HEADERS",
    "HttpError",
    "Links",
    "Page",
    "disk_name",
    "http_date",
    "not_modified",
    "page_headers",
    "parse_day",
    "parse_zone",
    "query_string",
    "sentence",
]

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


#: the most events a day page (and its text and JSON) shows: a day with more is shown in
#: parts of this many, counted among all the channel's events of the day in the page's
#: zone. A page is built in memory: without a bound, one request for a flooded day
#: (200,000 lines: 2.3 a second) made a 65 MB page and took the server process (maybe
#: the bot's own) from 66 MB to 450 MB. Real busy days hold 2,000-5,000 events.
DAY_PART_EVENTS = 5_000


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
def url_segment(text: str) -> str:
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
            return f"{self.up}{url_segment(disk_name(network))}/{url_segment(disk_name(channel))}/"
        return f"{self.up}{url_segment(network)}/{url_segment(channel)}/"

    def channel(self, network: str, channel: str) -> str:
        return self._path(network, channel) + ("index.html" if self.static else "")

    def day(
        self, network: str, channel: str, day: date, query: str = "", ext: str = "", part: int = 1
    ) -> str:
        """A day's page (``part`` of a split day: ``?part=K`` on the server, a file of its
        own, ``YYYY-MM-DD.pK.html``, on disk; part 1 is the day's own address)."""
        if self.static and not ext:
            ext = ".html" if part == 1 else f".p{part}.html"
        elif part != 1:
            query += f"{'&' if query else '?'}part={part}"
        return f"{self._path(network, channel)}{day.isoformat()}{ext}{query}"

    def search(self) -> str | None:
        return None if self.static else "/search"


def query_string(**params: str | None) -> str:
    kept = {k: v for k, v in params.items() if v}
    return "?" + urllib.parse.urlencode(kept) if kept else ""


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


DAY_TYPES = {
    "": "text/html; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "json": "application/x-ndjson; charset=utf-8",
}


def sentence(text: str) -> str:
    """``text`` as a sentence: a capital first, a full stop last."""
    text = text.strip()
    if not text:
        return "That request cannot be answered."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def not_modified(headers: Mapping[str, str], etag: str, modified: datetime) -> bool:
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
        out["Last-Modified"] = http_date(page.last_modified)
    out["Cache-Control"] = "public, max-age=300" if page.cacheable else "no-cache"
    if page.location is not None:
        out["Location"] = page.location
    out.update(page.headers)
    return out
