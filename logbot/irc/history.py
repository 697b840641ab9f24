"""Gaps and backfill: what the IRC side knows about holes in a channel's record.

:class:`GapBook` (one per network, kept by the factory across connections) remembers
where each channel's current hole started and which channels this run has joined.

:class:`History` (one per connection) fills a hole from the server's history when the
server offers IRCv3 ``draft/chathistory`` (or ``chathistory``) with ``batch`` and
``server-time`` (Ergo, soju, UnrealIRCd, InspIRCd 4). After the bot rejoins a channel it
asks ``CHATHISTORY BETWEEN #chan timestamp=START timestamp=END LIMIT`` in pages of at most
the server's ``CHATHISTORY=`` limit, each next page from the last message's ``msgid``.
Every line of a ``chathistory`` batch becomes an event with the server's time and
``backfilled=True``; none of them reaches the live handlers (no reply to an old mention,
no roster change). After each page a ``gap_filled`` event tells storage how far the
record is now complete; a page shorter than the limit ends the fetch, the hole closed.
``FAIL CHATHISTORY ...`` ends it too: the hole stays from the last line received.

With ``draft/event-playback`` the history also carries joins, parts, quits, kicks, nick,
topic and mode changes; with ``labeled-response`` each request carries a ``label`` and
its answer is matched by it (else by the batch's channel). Live lines go on being
handled while pages arrive: only lines tagged with a history batch are set aside.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from twisted.internet import defer
from twisted.logger import Logger

from logbot.events import Event, Kind
from logbot.irc.counts import NetworkCounts
from logbot.irc.wire import nick_of, parse_server_time, tag_value

log = Logger(namespace="logbot.irc")

#: the capabilities that make a server's history usable, besides one of HISTORY_CAPS
HISTORY_NEEDS: frozenset[str] = frozenset({"batch", "server-time"})
HISTORY_CAPS: tuple[str, ...] = ("chathistory", "draft/chathistory")
#: asked for with the history capabilities: more kinds of history, and matched answers
HISTORY_EXTRAS: tuple[str, ...] = ("draft/event-playback", "labeled-response")

#: lines per page when the server sets no limit (CHATHISTORY=0 or no value)
DEFAULT_PAGE = 100
#: pages per hole at most: a server that always answers a full page cannot keep the
#: bot asking for ever (with the default page, 50,000 lines)
MAX_PAGES = 500
#: the request reaches this far past the hole on each side: the bot's clock and the
#: server's may differ by a little, and lines heard live are stored once anyway
MARGIN = timedelta(seconds=2)

_CTCP = "\x01"

#: ``resume(network, channel, before)``: fires with the time of the channel's newest
#: stored event before ``before`` (None: unknown). The service builds it from the backends
#: (:meth:`logbot.backends.base.FanOut.last_event_before`); the IRC side asks it at a
#: run's first join, to fetch what happened while the bot was not running.
Resume = Callable[[str, str, datetime], "defer.Deferred[datetime | None]"]


@dataclass
class GapBook:
    """Where each channel's open hole started, and which channels this run has joined.

    Keys are channel names folded by the connection's casemapping.
    """

    starts: dict[str, datetime] = field(default_factory=dict)
    joined: set[str] = field(default_factory=set)
    #: each key's channel name as last recorded (what metrics show)
    names: dict[str, str] = field(default_factory=dict)

    def start(self, key: str, when: datetime, channel: str = "") -> bool:
        """A hole starts at ``when`` unless one is open already; True if it is new."""
        if channel:
            self.names[key] = channel
        if key in self.starts:
            return False
        self.starts[key] = when
        return True

    def end(self, key: str, channel: str = "") -> tuple[datetime | None, bool]:
        """The channel is logged again: (where its hole started, first join of this run)."""
        if channel:
            self.names[key] = channel
        first = key not in self.joined
        self.joined.add(key)
        return self.starts.pop(key, None), first

    def open_now(self) -> dict[str, bool]:
        """Channel name -> its hole is open now (not logged since a disconnect, kick, part
        or stop), for every channel this run has joined or lost."""
        return {name: key in self.starts for key, name in self.names.items()}


def history_available(caps: set[str]) -> bool:
    """The acknowledged capabilities let the bot ask for and read the server's history."""
    return caps >= HISTORY_NEEDS and any(c in caps for c in HISTORY_CAPS)


def history_timestamp(when: datetime) -> str:
    """``2026-05-01T12:00:00.000Z``: the form CHATHISTORY references take."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass
class _Request:
    channel: str
    key: str
    start: datetime
    end: datetime
    label: str
    ref: str
    count: int = 0
    stored: int = 0
    pages: int = 0
    last_time: datetime | None = None
    last_msgid: str = ""
    batch: str | None = None


class History:
    """Backfill on one connection (see the module doc).

    ``send`` queues a line; ``sink`` takes events; ``network`` and ``me`` give the
    network's name and the bot's nick now; ``fold`` folds a channel name; ``canonical``
    is the channel's name as recorded if the bot is in it (else None).
    """

    def __init__(
        self,
        send: Callable[[str], None],
        sink: Callable[[Event], None],
        network: Callable[[], str],
        me: Callable[[], str],
        fold: Callable[[str], str],
        canonical: Callable[[str], str | None],
        counts: NetworkCounts | None = None,
    ) -> None:
        self._send = send
        #: ``backfilled`` is added to for each event stored from the history
        self._counts = counts if counts is not None else NetworkCounts()
        self._sink = sink
        self._network = network
        self._me = me
        self._fold = fold
        self._canonical = canonical
        self.enabled = False
        self.labels = False
        self.limit = 0
        self._requests: dict[str, _Request] = {}  # in flight (one at most), by channel key
        self._waiting: collections.deque[_Request] = collections.deque()
        #: open chathistory batches: id -> (the request it answers or None, channel name);
        #: the protocol's line loop looks for a batch tag only while one is open
        self.batches: dict[str, tuple[_Request | None, str]] = {}
        # open labeled-response batches: id -> label
        self._labeled: dict[str, str] = {}
        self._label_ids = itertools.count(1)

    def configure(self, caps: set[str]) -> None:
        """Take the acknowledged capabilities (after registration, and on CAP ACK/DEL)."""
        self.enabled = history_available(caps)
        self.labels = "labeled-response" in caps

    def set_limit(self, value: str) -> None:
        """ISUPPORT ``CHATHISTORY=N``: the most lines one request may ask for."""
        try:
            self.limit = max(0, int(value))
        except ValueError:
            self.limit = 0

    @property
    def page(self) -> int:
        return min(self.limit, DEFAULT_PAGE) if self.limit else DEFAULT_PAGE

    # -- asking -------------------------------------------------------------------------

    def fill(self, channel: str, start: datetime, end: datetime) -> bool:
        """Ask for the lines of ``channel`` between ``start`` and ``end``; False if it cannot."""
        if not self.enabled or end <= start:
            return False
        key = self._fold(channel)
        request = _Request(
            channel, key, start, end, "", "timestamp=" + history_timestamp(start - MARGIN)
        )
        if key in self._requests or any(r.key == key for r in self._waiting):
            return False  # already being filled: that fetch reaches this rejoin too
        if self._requests:
            # one channel at a time: fifty channels joined at once must not queue fifty
            # requests ahead of the bot's own PINGs, nor flood the server
            self._waiting.append(request)
            return True
        self._start(request)
        return True

    def _start(self, request: _Request) -> None:
        self._requests[request.key] = request
        log.info(
            "{network}: asking the server for the history of {channel} from {start} to {end}",
            network=self._network(),
            channel=request.channel,
            start=history_timestamp(request.start),
            end=history_timestamp(request.end),
        )
        self._ask(request)

    def _next(self) -> None:
        """The fetch in flight ended: start the next channel's."""
        if not self._requests and self._waiting:
            self._start(self._waiting.popleft())

    def _ask(self, request: _Request) -> None:
        request.pages += 1
        request.count = 0
        request.batch = None
        # a fresh label per page: a late answer to an earlier page cannot pass for this one
        request.label = f"lb{next(self._label_ids)}" if self.labels else ""
        head = f"@label={request.label} " if request.label else ""
        until = history_timestamp(request.end + MARGIN)
        self._send(
            f"{head}CHATHISTORY BETWEEN {request.channel} {request.ref} timestamp={until} "
            f"{self.page}"
        )

    def close(self) -> None:
        """The connection is gone: requests in flight are abandoned (the hole stays)."""
        self._requests.clear()
        self._waiting.clear()
        self.batches.clear()
        self._labeled.clear()

    # -- answers ------------------------------------------------------------------------

    def owns(self, tags: str) -> bool:
        """The line carrying ``tags`` belongs to a history batch (it is no live line)."""
        batch = tag_value(tags, "batch")
        return batch is not None and batch in self.batches

    def batch(self, tags: str, params: list[str]) -> None:
        """A ``BATCH +id type ...`` or ``BATCH -id`` line."""
        if not params or len(params[0]) < 2:
            return
        sign, ref = params[0][0], params[0][1:]
        if sign == "+":
            kind = params[1].lower() if len(params) > 1 else ""
            if kind == "labeled-response":
                label = tag_value(tags, "label") if tags else None
                if label:
                    self._labeled[ref] = label
            elif kind in ("chathistory", "draft/chathistory") and len(params) > 2:
                self._open(ref, tags, params[2])
        elif sign == "-":
            self._labeled.pop(ref, None)
            opened = self.batches.pop(ref, None)
            if opened is not None and opened[0] is not None:
                self._page_done(opened[0])

    def _label_of(self, tags: str) -> str | None:
        if not tags:
            return None
        label = tag_value(tags, "label")
        if label:
            return label
        outer = tag_value(tags, "batch")
        return self._labeled.get(outer) if outer else None

    def _request_for(self, tags: str, target: str) -> _Request | None:
        label = self._label_of(tags)
        if label:
            for request in self._requests.values():
                if request.label == label:
                    return request
        # an answer without a label (a server that ignores them) is matched by channel
        by_channel = self._requests.get(self._fold(target)) if target else None
        if by_channel is not None and by_channel.batch is None and not label:
            return by_channel
        return None

    def _open(self, ref: str, tags: str, target: str) -> None:
        request = self._request_for(tags, target)
        if request is not None:
            request.batch = ref
            self.batches[ref] = (request, request.channel)
            return
        # history the bot did not ask for (a server replaying on join): stored all the same
        channel = self._canonical(target)
        if channel is not None:
            self.batches[ref] = (None, channel)

    def line(self, tags: str, prefix: str, command: str, params: list[str]) -> None:
        """One line inside a history batch: an event with the server's time, or nothing."""
        ref = tag_value(tags, "batch")
        opened = self.batches.get(ref) if ref else None
        if opened is None:
            return
        request, channel = opened
        if request is not None:
            request.count += 1
        stamp = tag_value(tags, "time")
        when = parse_server_time(stamp) if stamp else None
        if when is None:
            return  # a line with no time cannot be placed in the record
        msgid = tag_value(tags, "msgid") or ""
        if request is not None:
            request.last_time = when
            if msgid:
                request.last_msgid = msgid
        event = self._event(channel, when, msgid, prefix, command, params)
        if event is not None:
            if request is not None:
                request.stored += 1
            self._sink(event)
            self._counts.backfilled += 1

    def _event(
        self,
        channel: str,
        when: datetime,
        msgid: str,
        prefix: str,
        command: str,
        params: list[str],
    ) -> Event | None:
        nick, _, userhost = prefix.partition("!")
        own = bool(nick) and self._fold(nick) == self._fold(self._me())
        text = target = ""
        if command in ("PRIVMSG", "NOTICE"):
            if len(params) < 2 or not params[1]:
                return None
            text = params[1]
            kind = Kind.MESSAGE if command == "PRIVMSG" else Kind.NOTICE
            if text[0] == _CTCP:
                body = text.strip(_CTCP)
                tag, _, rest = body.partition(" ")
                if command != "PRIVMSG" or tag.upper() != "ACTION":
                    return None
                kind, text = Kind.ACTION, rest
            userhost = ""
        elif command == "JOIN":
            kind = Kind.JOIN
        elif command == "PART":
            kind, text = Kind.PART, params[1] if len(params) > 1 else ""
        elif command == "QUIT":
            kind, text = Kind.QUIT, params[-1] if params else ""
        elif command == "KICK" and len(params) >= 2:
            kind, target = Kind.KICK, params[1]
            text = params[2] if len(params) > 2 else ""
            nick, userhost = nick_of(prefix), ""
        elif command == "NICK" and params:
            kind, target, userhost = Kind.NICK, params[0], ""
        elif command == "TOPIC" and len(params) >= 2:
            kind, text, userhost = Kind.TOPIC, params[1], ""
        elif command == "MODE" and len(params) >= 2:
            kind, text, userhost = Kind.MODE, " ".join(params[1:]), ""
        else:
            return None
        return Event(
            when,
            self._network(),
            channel,
            kind,
            nick,
            text,
            target,
            userhost,
            own,
            msgid=msgid,
            backfilled=True,
        )

    def _page_done(self, request: _Request) -> None:
        if self._requests.get(request.key) is not request:
            return
        full = request.count >= self.page
        moved = request.last_msgid or request.last_time
        if full and moved and request.pages < MAX_PAGES:
            assert request.last_time is not None
            upto = min(max(request.last_time, request.start), request.end)
            self._filled(request, upto)
            request.ref = (
                f"msgid={request.last_msgid}"
                if request.last_msgid
                else "timestamp=" + history_timestamp(request.last_time)
            )
            self._ask(request)
            return
        del self._requests[request.key]
        if full:
            # a server that keeps answering full pages: stop, the rest stays a hole
            upto = min(max(request.last_time or request.start, request.start), request.end)
            log.warn(
                "{network}: gave up the history of {channel} after {pages} pages",
                network=self._network(),
                channel=request.channel,
                pages=request.pages,
            )
        else:
            upto = request.end
        self._filled(request, upto)
        log.info(
            "{network}: history of {channel}: {n} line(s) received",
            network=self._network(),
            channel=request.channel,
            n=request.stored,
        )
        self._next()

    def _filled(self, request: _Request, upto: datetime) -> None:
        if upto > request.start:
            self._sink(
                Event(
                    request.start,
                    self._network(),
                    request.channel,
                    Kind.GAP_FILLED,
                    "",
                    received=upto,
                )
            )

    def fail(self, tags: str, params: list[str]) -> None:
        """``FAIL CHATHISTORY CODE [context...] :description``: that fetch ends here."""
        label = self._label_of(tags)
        request = None
        if label:
            request = next((r for r in self._requests.values() if r.label == label), None)
        if request is None:
            for param in params[2:-1]:
                request = self._requests.get(self._fold(param))
                if request is not None:
                    break
        if request is None and len(self._requests) == 1:
            request = next(iter(self._requests.values()))
        if request is None:
            return
        del self._requests[request.key]
        if request.batch is not None:
            self.batches.pop(request.batch, None)
        log.warn(
            "{network}: the server refused the history of {channel}: {code} {text}; "
            "the gap stays from {since}",
            network=self._network(),
            channel=request.channel,
            code=params[1] if len(params) > 1 else "",
            text=params[-1] if params else "",
            since=history_timestamp(request.last_time or request.start),
        )
        self._next()

    def ack(self, tags: str) -> None:
        """``ACK`` with a label: the request got an empty answer (no history in the hole)."""
        label = self._label_of(tags)
        if not label:
            return
        request = next((r for r in self._requests.values() if r.label == label), None)
        if request is not None:
            self._page_done(request)
