"""Events as rows ready for storage, and their time keys: built on the reactor thread.

- :data:`Row`: an event ready for storage, a plain tuple (cheap to build, JSON-able for the
  spool): ``(key, network, channel, kind, nick, text, target, userhost, own, received_us,
  msgid, backfilled)``. Rows of the gap kinds (:data:`logbot.events.GAP_KINDS`) travel the
  same way, in order with the events, and become rows of ``gaps`` (see :mod:`logbot.storage.gaps`).
- :func:`event_row` ``(event, key)`` -> ``Row``: clipped to the column sizes, NUL-free;
  :func:`sanitize_row` cleans a row of anything a database may refuse;
  :func:`upgrade_row` reads a row of any spool format.
- :class:`KeyAllocator`: hands out distinct time keys (``time_key(when, seq)``) for events
  arriving in one process, even many in the same microsecond.

:class:`~logbot.storage.writer.EventWriter` writes them.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from logbot.events import Event
from logbot.storage.names import (
    CHANNEL_MAX,
    EARLIEST,
    LATEST,
    MSGID_MAX,
    NETWORK_MAX,
    NICK_MAX,
    TARGET_MAX,
    USERHOST_MAX,
    epoch_micros,
)
from logbot.storage.schema import time_key

#: (key, network, channel, kind, nick, text, target, userhost, own, received_us, msgid,
#: backfilled)
Row = tuple[
    int, str, str, str, str, str, str | None, str | None, bool, int | None, str | None, bool
]
#: the length of a Row, and of the rows spooled before msgid and backfilled existed
ROW_FIELDS = 12
OLD_ROW_FIELDS = 10


def _clip(text: str, limit: int) -> str:
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL; store the same on every engine
        text = text.replace("\x00", "\ufffd")
    return text if len(text) <= limit else text[:limit]


def storable_time(event: Event) -> datetime:
    """The time an event is stored under: its own, unless a server sent an absurd one."""
    when = event.time
    if EARLIEST <= when < LATEST:
        return when
    if event.received is not None and EARLIEST <= event.received < LATEST:
        return event.received
    return min(max(when, EARLIEST), LATEST.replace(year=2199))


def event_row(event: Event, key: int) -> Row:
    """The storable form of ``event`` under ``key``."""
    # on the reactor thread for every event: the common case (short, NUL-free) costs
    # one length test per field
    received = event.received
    nick = event.nick
    if len(nick) > NICK_MAX or "\x00" in nick:
        nick = _clip(nick, NICK_MAX)
    text = event.text
    if "\x00" in text:
        text = _clip(text, len(text))
    target = event.target or None
    if target is not None and (len(target) > TARGET_MAX or "\x00" in target):
        target = _clip(target, TARGET_MAX)
    userhost = event.userhost or None
    if userhost is not None and (len(userhost) > USERHOST_MAX or "\x00" in userhost):
        userhost = _clip(userhost, USERHOST_MAX)
    network = event.network
    channel = event.channel
    if len(network) > NETWORK_MAX or len(channel) > CHANNEL_MAX:
        network = _clip(network, NETWORK_MAX)
        channel = _clip(channel, CHANNEL_MAX)
    msgid = event.msgid or None
    if msgid is not None and (len(msgid) > MSGID_MAX or "\x00" in msgid):
        # a msgid that does not fit is no use for deduplication: keep none rather than half
        msgid = None
    return (
        key,
        network,
        channel,
        # _value_, not .value: the property costs ~0.17 us, once per event on the reactor
        event.kind._value_,
        nick,
        text,
        target,
        userhost,
        event.own,
        epoch_micros(received) if received is not None and received != event.time else None,
        msgid,
        event.backfilled,
    )


def upgrade_row(row: Sequence[Any]) -> Row:
    """A row of any spool format as a current :data:`Row` (older ones lack the last two)."""
    if len(row) == OLD_ROW_FIELDS:
        return (*row, None, False)
    return tuple(row)


def sanitize_row(row: Sequence[Any]) -> Row:
    """A row cleaned of anything a database may refuse (bad Unicode, NUL, odd types)."""

    def text(value: Any, limit: int) -> str:
        s = value if isinstance(value, str) else str(value)
        s = s.encode("utf-8", "replace").decode("utf-8")
        return _clip(s, limit)

    def opt(value: Any, limit: int) -> str | None:
        return text(value, limit) if value not in (None, "") else None

    key = int(row[0])
    received = row[9]
    msgid = row[10] if len(row) > 10 else None
    return (
        key,
        text(row[1], NETWORK_MAX),
        text(row[2], CHANNEL_MAX),
        text(row[3], 12),
        text(row[4], NICK_MAX),
        text(row[5] or "", 1 << 20),
        opt(row[6], TARGET_MAX),
        opt(row[7], USERHOST_MAX),
        bool(row[8]),
        int(received) if isinstance(received, int) and -(2**62) < received < 2**62 else None,
        opt(msgid, MSGID_MAX) if isinstance(msgid, str) and len(msgid) <= MSGID_MAX else None,
        bool(row[11]) if len(row) > 11 else False,
    )


class KeyAllocator:
    """Distinct time keys for the events of one process.

    Remembers the last ``memory`` keys it gave out, so events stamped with the same
    microsecond (server-time has only milliseconds) get consecutive sequence numbers.
    More than 1,000 in one microsecond spill into the next microsecond's keys: order is
    kept, the stored time moves by a microsecond. Keys it has forgotten are still
    protected by the writer's collision check.
    """

    def __init__(self, memory: int = 4_096) -> None:
        self._used: set[int] = set()
        # per microsecond key: where to look next, so a burst stamped with one
        # millisecond costs O(1) per event, not a walk over every key already given
        self._next: dict[int, int] = {}
        self._order: collections.deque[tuple[int, int]] = collections.deque()
        self._memory = memory
        # the events of one read from the socket share one datetime: its key computed once
        self._when: datetime | None = None
        self._base = 0

    def key_for(self, when: datetime) -> int:
        if when is self._when:
            base = self._base
        else:
            base = self._base = time_key(when)
            self._when = when
        used = self._used
        key = self._next.get(base, base)
        while key in used:
            key += 1
        used.add(key)
        self._next[base] = key + 1
        order = self._order
        order.append((base, key))
        if len(order) > self._memory:
            old_base, old_key = order.popleft()
            used.discard(old_key)
            if self._next.get(old_base) == old_key + 1:
                del self._next[old_base]
        return key
