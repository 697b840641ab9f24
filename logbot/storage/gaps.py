"""Where a channel's record has holes: the ``gaps`` table, written and read.

A gap is an interval in which a channel was not being logged (the bot disconnected, was
kicked or parted, was not running), with the reason. The IRC side states the facts as
events (:data:`logbot.events.GAP_KINDS`); the writer applies them here, in order with
the events, on its thread:

- gap_start opens a gap at its time, unless the channel already has an open one (kicked,
  then disconnected, is one hole that started at the kick);
- gap_end closes the channel's open gap. The first join of a run (text
  :data:`~logbot.events.GAP_END_FIRST_JOIN`) with no open gap records the hole since the
  channel's last stored event, "the bot was not running" (a crash or ``kill -9`` says
  nothing as it goes; a clean stop leaves an open "bot stopped" gap instead);
- gap_filled (the server's history gave everything from S to P) removes the gaps of the
  channel that started at or after S and ended by P, and makes one still open after P
  start at P.

Readers: :func:`read_gaps` opens a database by its ``--db`` value (never creating
one) for ``logbot gaps``; :func:`list_gaps` queries an open connection (a web archive
asks it for one channel and day: ``since`` and ``until`` the day's bounds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from logbot.events import GAP_END_FIRST_JOIN, GAP_NOT_RUNNING, Kind
from logbot.storage.engine import StorageError, display_target, make_engine, storage_errors
from logbot.storage.names import EPOCH, GAP_REASON_MAX, KEY_SPREAD, channel_key, epoch_micros

__all__ = ["Gap", "Mark", "apply_marks", "describe", "last_event_before", "list_gaps", "read_gaps"]

#: a gap event as the writer hands it over:
#: (channel_id, kind, time key, text, received_us)
Mark = tuple[int, str, int, str, int | None]


@dataclass(frozen=True, slots=True)
class Gap:
    """One interval in which ``channel`` was not logged; ``end`` None: not logged since."""

    network: str
    channel: str
    start: datetime
    end: datetime | None
    reason: str

    def as_json(self) -> dict[str, Any]:
        """The JSON object ``logbot gaps --format json`` prints."""
        return {
            "network": self.network,
            "channel": self.channel,
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end is not None else None,
            "reason": self.reason,
        }


def _micros_time(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def apply_marks(conn: Any, mark: str, marks: Sequence[Mark]) -> None:
    """Apply gap events to the ``gaps`` table through a DB-API connection (no commit).

    ``mark`` is the driver's parameter marker (``?`` or ``%s``).
    """
    m = mark
    cur = conn.cursor()
    try:
        for channel_id, kind, key, text, received_us in marks:
            at = key // KEY_SPREAD
            if kind == Kind.GAP_START.value:
                cur.execute(
                    f"SELECT 1 FROM gaps WHERE channel_id = {m} AND end_us IS NULL", (channel_id,)
                )
                if cur.fetchone() is None:
                    cur.execute(
                        f"INSERT INTO gaps (channel_id, start_us, end_us, reason) "
                        f"VALUES ({m}, {m}, NULL, {m})",
                        (channel_id, at, (text or "unknown")[:GAP_REASON_MAX]),
                    )
            elif kind == Kind.GAP_END.value:
                cur.execute(
                    f"UPDATE gaps SET end_us = {m} WHERE channel_id = {m} AND end_us IS NULL "
                    f"AND start_us <= {m}",
                    (at, channel_id, at),
                )
                if cur.rowcount == 0 and text == GAP_END_FIRST_JOIN:
                    cur.execute(
                        f"SELECT max(id) FROM events WHERE channel_id = {m} AND id < {m}",
                        (channel_id, at * KEY_SPREAD),
                    )
                    last = cur.fetchone()
                    if last is not None and last[0] is not None:
                        last_us = int(last[0]) // KEY_SPREAD
                        if last_us < at:
                            cur.execute(
                                f"INSERT INTO gaps (channel_id, start_us, end_us, reason) "
                                f"VALUES ({m}, {m}, {m}, {m})",
                                (channel_id, last_us, at, GAP_NOT_RUNNING),
                            )
            elif kind == Kind.GAP_FILLED.value and received_us is not None and received_us > at:
                cur.execute(
                    f"DELETE FROM gaps WHERE channel_id = {m} AND start_us >= {m} "
                    f"AND end_us IS NOT NULL AND end_us <= {m}",
                    (channel_id, at, received_us),
                )
                cur.execute(
                    f"UPDATE gaps SET start_us = {m} WHERE channel_id = {m} AND start_us >= {m} "
                    f"AND start_us < {m}",
                    (received_us, channel_id, at, received_us),
                )
    finally:
        cur.close()


def last_event_before(
    conn: sa.Connection, network: str, channel: str, before: datetime
) -> datetime | None:
    """The time of the channel's newest stored event before ``before`` (None: there is none).

    Where a run's first join finds the record stopped: the start of its "not running" gap.
    """
    from logbot.storage.schema import channels as channels_t
    from logbot.storage.schema import events as events_t

    query = (
        sa.select(sa.func.max(events_t.c.id))
        .join_from(events_t, channels_t, events_t.c.channel_id == channels_t.c.id)
        .where(
            channels_t.c.network == network,
            channels_t.c.name_key == channel_key(channel),
            events_t.c.id < epoch_micros(before) * KEY_SPREAD,
        )
    )
    last = conn.execute(query).scalar()
    return None if last is None else _micros_time(int(last) // KEY_SPREAD)


def list_gaps(
    conn: sa.Connection,
    *,
    networks: Sequence[str] = (),
    channels: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Gap]:
    """The gaps that overlap ``[since, until)``, oldest first.

    ``channels`` compare as IRC names do (casefolded); an empty filter means all. A gap
    still open (the channel is not being logged now) has ``end`` None. A web day page
    asks with ``since`` and ``until`` the day's bounds and one network and channel.
    """
    from logbot.storage.schema import channels as channels_t
    from logbot.storage.schema import gaps as gaps_t

    query = (
        sa.select(
            channels_t.c.network,
            channels_t.c.name,
            gaps_t.c.start_us,
            gaps_t.c.end_us,
            gaps_t.c.reason,
        )
        .join_from(gaps_t, channels_t, gaps_t.c.channel_id == channels_t.c.id)
        .order_by(gaps_t.c.start_us, gaps_t.c.id)
    )
    if networks:
        query = query.where(channels_t.c.network.in_(list(networks)))
    if channels:
        query = query.where(channels_t.c.name_key.in_([channel_key(c) for c in channels]))
    if until is not None:
        query = query.where(gaps_t.c.start_us < epoch_micros(until))
    if since is not None:
        query = query.where(
            sa.or_(gaps_t.c.end_us.is_(None), gaps_t.c.end_us > epoch_micros(since))
        )
    return [
        Gap(
            network,
            name,
            _micros_time(start),
            _micros_time(end) if end is not None else None,
            reason,
        )
        for network, name, start, end, reason in conn.execute(query)
    ]


def read_gaps(
    target: str | None,
    *,
    networks: Sequence[str] = (),
    channels: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Gap]:
    """:func:`list_gaps` of the database ``target`` (a ``--db`` value; None: the default).

    Only reads: a missing SQLite file, or a database from before gaps were recorded
    (schema older than 0003), raises :class:`StorageError` with one line.
    """
    engine = make_engine(target, create_dirs=False, must_exist=True)
    try:
        with storage_errors(engine), engine.connect() as conn:
            if not sa.inspect(conn).has_table("gaps"):
                raise StorageError(
                    f"{display_target(engine)} records no gaps yet (its schema is older): "
                    "run logbot db upgrade"
                )
            return list_gaps(conn, networks=networks, channels=channels, since=since, until=until)
    finally:
        engine.dispose()


def _span(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if secs or not parts:
        parts.append(f"{secs}s")
    return " ".join(parts[:2])


def describe(gap: Gap, now: datetime) -> str:
    """One line for people: ``2026-05-01 12:00:00 to 12:05:00 (5m) net #x: disconnected``.

    Local time; the end's date is shown only when it differs from the start's; an open
    gap ends ``now``.
    """
    start = gap.start.astimezone()
    if gap.end is None:
        until, length = "now", now - gap.start
    else:
        end = gap.end.astimezone()
        same_day = end.date() == start.date()
        until = end.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")
        length = gap.end - gap.start
    return (
        f"{start:%Y-%m-%d %H:%M:%S} to {until} ({_span(length.total_seconds())}) "
        f"{gap.network} {gap.channel}: {gap.reason}"
    )
