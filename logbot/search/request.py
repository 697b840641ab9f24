"""One search, from the options as typed to the events found: the request, its filters,
and the outcome ``logbot search`` prints."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import NamedTuple

from logbot.query import Query, QueryError, parse
from logbot.render import Record
from logbot.storage.names import time_key
from logbot.timeparse import TimeParseError, parse_when

__all__ = [
    "USER_ERRORS",
    "Filters",
    "Outcome",
    "SearchError",
    "SearchRequest",
    "SearchTimeout",
    "Window",
    "build_filters",
    "channel_kinds",
    "group_windows",
    "parse_kinds",
    "run_search",
]


class SearchError(Exception):
    """A search that cannot run (unreadable database, bad option); one line for the user."""


class SearchTimeout(SearchError):
    """A search stopped by :meth:`Reader.time_limit <logbot.search.reader.Reader.time_limit>`;
    the reader stays usable."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the search ran longer than {seconds:g} s and was stopped")
        self.seconds = seconds


def channel_kinds() -> tuple[str, ...]:
    """The searchable kinds (:data:`logbot.events.CHANNEL_KINDS`), in the contract's order."""
    # imported here: logbot.events needs dataclasses, which a search without --kind skips
    from logbot.events import CHANNEL_KINDS, Kind

    return tuple(k.value for k in Kind if k in CHANNEL_KINDS)


def parse_kinds(values: Iterable[str]) -> tuple[str, ...]:
    """``--kind message,action --kind join`` -> the kinds, checked against
    :func:`channel_kinds`."""
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            kind = part.strip().lower()
            if not kind:
                continue
            kinds = channel_kinds()
            if kind not in kinds:
                raise SearchError(f"unknown kind {part.strip()!r}: choose from {', '.join(kinds)}")
            if kind not in out:
                out.append(kind)
    return tuple(out)


class Filters(NamedTuple):
    """What every search and export may narrow by; empty means no restriction."""

    network: str | None = None
    channels: tuple[str, ...] = ()
    nicks: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    #: the (network, channel) pairs a search may return (the web archive's published
    #: channels), applied in the query so a page of hits is never cut short; None: any
    only: frozenset[tuple[str, str]] | None = None

    def id_range(self) -> tuple[int | None, int | None]:
        """``(low, high)`` event ids: ``low <= id < high``; ``None`` is unbounded."""

        low = time_key(self.since) if self.since is not None else None
        high = time_key(self.until) if self.until is not None else None
        return low, high


class Window(NamedTuple):
    """A hit with the events around it in its channel (``--context``)."""

    hit: Record
    before: tuple[Record, ...]
    after: tuple[Record, ...]
    #: id of the event just before ``before[0]`` (or the hit) in the channel, if any
    prev_id: int | None


def group_windows(windows: Sequence[Window]) -> list[list[tuple[Record, bool]]]:
    """Merge context windows that overlap or touch in the same channel, like ``grep -C``.

    ``windows`` come in output order (hits oldest first); each group lists its events in
    time order with ``True`` for hits. A window joins its channel's latest group when it
    shares an event with it or starts right after it (its ``prev_id`` is the group's last
    event); otherwise it starts a new group. Groups keep the order of their first hit.
    """
    groups: list[list[tuple[Record, bool]]] = []
    latest: dict[str, int] = {}  # channel identity -> index of its latest group
    for w in windows:
        chan = f"{w.hit.network}\x00{w.hit.channel}"
        items = [(r, False) for r in w.before] + [(w.hit, True)] + [(r, False) for r in w.after]
        at = latest.get(chan)
        if at is not None:
            group = groups[at]
            last_id = group[-1][0].id
            first_id = items[0][0].id
            if first_id <= last_id or w.prev_id == last_id:
                seen = {r.id: i for i, (r, _) in enumerate(group)}
                for rec, is_hit in items:
                    i = seen.get(rec.id)
                    if i is None:
                        if rec.id > group[-1][0].id:
                            group.append((rec, is_hit))
                    elif is_hit:
                        group[i] = (rec, True)
                continue
        latest[chan] = len(groups)
        groups.append(items)
    return groups


# --- one search, from options to results ----------------------------------------------


class SearchRequest(NamedTuple):
    """Everything ``logbot search`` was asked, as typed (strings are parsed here)."""

    query: str | None = None
    db: str | None = None
    network: str | None = None
    channels: tuple[str, ...] = ()
    nicks: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    limit: int | None = 50
    context: int = 0
    count_only: bool = False
    rank: bool = False
    now: datetime | None = None
    tz: tzinfo | None = None


class Outcome:
    """What a search found: groups of (event, is_hit) in output order, or a count."""

    __slots__ = ("count", "groups", "notes", "query")

    def __init__(self, query: Query | None) -> None:
        self.query = query
        self.groups: list[list[tuple[Record, bool]]] = []
        self.count: int | None = None
        #: one-line remarks for stderr (e.g. a channel that does not exist)
        self.notes: list[str] = []

    @property
    def found(self) -> bool:
        if self.count is not None:
            return self.count > 0
        return any(self.groups)


def build_filters(req: SearchRequest) -> Filters:
    """The request's filters with WHEN strings parsed (TimeParseError / SearchError)."""
    now = req.now or datetime.now(UTC)
    since = parse_when(req.since, now, req.tz) if req.since is not None else None
    until = parse_when(req.until, now, req.tz) if req.until is not None else None
    if since is not None and until is not None and since >= until:
        raise SearchError(f"--since ({req.since}) is not before --until ({req.until})")
    return Filters(
        network=req.network,
        channels=tuple(req.channels),
        nicks=tuple(n for n in req.nicks if n),
        kinds=parse_kinds(req.kinds),
        since=since,
        until=until,
    )


def run_search(req: SearchRequest) -> Outcome:
    """Run ``logbot search``; raises SearchError, QueryError or TimeParseError (exit 2)."""
    query = parse(req.query) if req.query is not None else None
    if req.rank and query is None:
        raise SearchError("--rank orders matches by relevance: it needs a QUERY")
    filters = build_filters(req)
    # imported here: opening a database is the one thing that needs the readers
    from logbot.search.opening import open_reader

    with open_reader(req.db) as reader:
        _, missing = reader.resolve(filters)
        outcome = Outcome(query)
        outcome.notes.extend(reader.notes)
        for name in missing:
            where = f" on network {filters.network}" if filters.network else ""
            outcome.notes.append(f"no channel {name}{where} in {reader.description}")
        if req.count_only:
            outcome.count = reader.count(query, filters)
            return outcome
        hits = reader.search(query, filters, req.limit, rank=req.rank)
        if not req.rank:
            hits.reverse()
        if req.context <= 0:
            outcome.groups = [[(h, True) for h in hits]] if hits else []
            return outcome
        windows = [reader.window(h, req.context) for h in hits]
        if req.rank:
            outcome.groups = [
                [(r, False) for r in w.before] + [(w.hit, True)] + [(r, False) for r in w.after]
                for w in windows
            ]
        else:
            outcome.groups = group_windows(windows)
        return outcome


USER_ERRORS = (SearchError, QueryError, TimeParseError)
"""Exceptions whose message is the whole story for the user (exit status 2)."""
