"""The one record that crosses every seam: IRC in, events out, storage after.

Nothing here knows about Twisted, IRC wire syntax or storage; a backend may rely on
exactly these fields and nothing else.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any


class Kind(enum.StrEnum):
    """What happened. The first ten are the searchable channel kinds of the contract."""

    MESSAGE = "message"
    ACTION = "action"
    NOTICE = "notice"
    JOIN = "join"
    PART = "part"
    QUIT = "quit"
    KICK = "kick"
    NICK = "nick"
    TOPIC = "topic"
    MODE = "mode"
    # Session markers: not about one channel (channel is ""), written by the text
    # backend as ircLogBot's "[connected at ...]" lines and not stored in SQL.
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    # Gap markers: facts about the record of one channel, not things said in it. The SQL
    # backend keeps them in its ``gaps`` table; the text log already says
    # "[disconnected at ...]" and writes nothing for them.
    GAP_START = "gap_start"
    GAP_END = "gap_end"
    GAP_FILLED = "gap_filled"
    # A fact the server announced about its network (channel "", ``target`` the fact's
    # name, ``text`` its value, "" for none): sent once per connection, stored per network
    # by the SQL backend (not a line of any log).
    FACT = "fact"
    # IRCv3 draft/message-redaction: ``nick`` redacted the message whose msgid is
    # ``msgid`` (not the REDACT line's own) in ``channel``; ``text`` is the reason given. The SQL
    # backend deletes its stored copy; a text log cannot unwrite a line and writes nothing.
    REDACT = "redact"


#: the FACT of a network whose server announces the IRCv3 ``CRAWLER`` ISUPPORT token
#: (work-in-progress "crawler preference" proposal): its ``index`` key, "allow" or "deny"
#: ("" when the server announces none): with "deny" no page of the network is indexed
FACT_CRAWLER_INDEX = "crawler-index"


#: The gap markers (see :class:`Event` for their fields).
GAP_KINDS: frozenset[Kind] = frozenset({Kind.GAP_START, Kind.GAP_END, Kind.GAP_FILLED})
#: facts about the record (its holes, what a server announced), not lines heard in a
#: channel: the SQL backend keeps them in tables of their own, a text log writes none
RECORD_KINDS: frozenset[Kind] = GAP_KINDS | {Kind.FACT, Kind.REDACT}

#: ``Event.text`` of a gap_start: why the channel stopped being logged
GAP_DISCONNECTED = "disconnected"
GAP_KICKED = "kicked"
GAP_PARTED = "parted"
GAP_STOPPED = "bot stopped"
#: why, for the time between a channel's last stored event and the first join of a run
GAP_NOT_RUNNING = "the bot was not running"
#: ``Event.text`` of the gap_end of the first join of a channel since the bot started
GAP_END_FIRST_JOIN = "first join"

#: The kinds that belong to a channel's history (stored, searched, exported).
CHANNEL_KINDS: frozenset[Kind] = frozenset(
    {
        Kind.MESSAGE,
        Kind.ACTION,
        Kind.NOTICE,
        Kind.JOIN,
        Kind.PART,
        Kind.QUIT,
        Kind.KICK,
        Kind.NICK,
        Kind.TOPIC,
        Kind.MODE,
    }
)


@dataclass(frozen=True, slots=True, init=False)
class Event:
    """One thing that happened in one channel (or, for session markers, on one network).

    Field meanings per kind:

    - message / action / notice: ``text`` is what was said.
    - join: ``text`` is empty (``userhost`` says who joined from where).
    - part / quit: ``text`` is the reason (may be empty).
    - kick: ``nick`` kicked ``target``; ``text`` is the reason.
    - nick: ``nick`` is the old nick, ``target`` the new one.
    - topic: ``text`` is the new topic; ``nick`` who set it (or the server's record of it).
    - mode: ``text`` is the mode change with its arguments, e.g. ``+o-v alice bob``.
    - connected / disconnected: ``channel`` is ``""``; ``text`` may hold a reason.
    - gap_start: the channel stops being logged at ``time`` (disconnected, kicked,
      parted, the bot stopping); ``text`` says why (``GAP_*`` constants above).
    - gap_end: the channel is logged again from ``time`` (the bot rejoined); ``text`` is
      :data:`GAP_END_FIRST_JOIN` for the first join since the bot started, when only the
      storage knows where the record stopped (its last event of the channel).
    - gap_filled: the server's history (IRCv3 chathistory) gave every event of the
      channel from ``time`` up to ``received``: the gap that started at ``time`` now
      starts at ``received`` (or is gone if it ended by then).
    - fact: ``channel`` is ``""``; ``target`` names the fact, ``text`` is its value.

    ``own`` is true for events caused by the bot itself (its joins, its replies).
    ``time`` is when it happened (the server's ``server-time`` when offered), always
    timezone-aware UTC; ``received`` is when the bot read it, when that differs.
    ``msgid`` is the server's IRCv3 message id when it sent one; ``backfilled`` is true
    for events the bot did not hear live but got later from the server's history.
    """

    time: datetime
    network: str
    channel: str
    kind: Kind
    nick: str
    text: str = ""
    target: str = ""
    userhost: str = ""
    own: bool = False
    received: datetime | None = field(default=None, compare=False)
    msgid: str = ""
    backfilled: bool = False

    # Every logged line builds one Event, so construction is on the ingest hot path. A
    # frozen class cannot assign its fields the cheap way (its __setattr__ refuses), and
    # writing through the slot descriptors or object.__setattr__ costs a call per field
    # (most of an event's cost). So the fields go into a plain twin with the same slots
    # (a store each, no call), which then becomes an Event: same layout, and frozen
    # from then on. One way to build: Event(...), as before; __reduce__ keeps copy and
    # pickle going through it.
    def __new__(
        cls,
        time: datetime,
        network: str,
        channel: str,
        kind: Kind,
        nick: str,
        text: str = "",
        target: str = "",
        userhost: str = "",
        own: bool = False,
        received: datetime | None = None,
        msgid: str = "",
        backfilled: bool = False,
    ) -> Event:
        if time.tzinfo is not UTC and time.utcoffset() != _ZERO:
            raise ValueError(f"Event.time must be aware UTC, got {time!r}")
        draft: Any = _Draft()
        draft.time = time
        draft.network = network
        draft.channel = channel
        draft.kind = kind
        draft.nick = nick
        draft.text = text
        draft.target = target
        draft.userhost = userhost
        draft.own = own
        draft.received = received
        draft.msgid = msgid
        draft.backfilled = backfilled
        draft.__class__ = cls
        event: Event = draft
        return event

    def __reduce__(self) -> tuple[type[Event], tuple[Any, ...]]:
        return type(self), tuple(getattr(self, name) for name in _FIELDS)


_ZERO = timedelta(0)
_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Event))
#: Event's layout without its frozenness: where an Event's fields are put (see __new__)
_Draft = type("_Draft", (), {"__slots__": _FIELDS})
assert Event.__slots__ == _FIELDS, "_Draft must have Event's slots, in Event's order"

#: ``new_event(...)`` is ``Event(...)``: the same arguments, checks and result, without
#: the cost of calling a class (``type.__call__``, then ``object.__init__``, which Event
#: leaves alone). For the IRC side's hot path, which builds one per line.
new_event: Callable[..., Event] = partial(Event.__new__, Event)


def utcnow_from(seconds: float) -> datetime:
    """Turn a clock's ``seconds()`` reading into the aware UTC datetime events carry."""
    return datetime.fromtimestamp(seconds, UTC)
