"""Deleting stored events: ``logbot forget`` (what a person asked to remove) and retention.

Both delete in small batches, each its own short transaction, so a bot writing to the
same database is never held back for long (SQLite has one writer at a time; its busy
timeout covers one batch). The full-text index follows on both engines: on SQLite a
delete trigger (:data:`logbot.storage.fts.SQLITE_DELETE_TRIGGER`) removes each row's
words from the FTS5 index in the same transaction; on PostgreSQL the GIN index is an
index of the row itself.

- :func:`matching_ids` finds what ``forget`` deletes through the search planner
  (:class:`logbot.search.Reader`), so ``--query`` means exactly what it means to
  ``logbot search``.
- :func:`delete_ids` deletes those ids; :func:`prune` deletes each channel's events
  older than its cutoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from logbot.query import Query
from logbot.search.request import Filters
from logbot.storage.names import time_key
from logbot.storage.schema import changes, channels, events

__all__ = ["BATCH", "PruneResult", "delete_ids", "matching_ids", "note_deletion", "prune"]

#: events deleted per transaction
BATCH = 500


def note_deletion(conn: sa.Connection) -> None:
    """Bump :data:`~logbot.storage.schema.changes` in the deleting transaction, so the web
    archive drops what it kept of closed days (its caches compare the counter)."""
    conn.execute(
        changes.update().where(changes.c.id == 1).values(deletions=changes.c.deletions + 1)
    )


def matching_ids(target: str | None, filters: Filters, query: Query | None) -> list[int]:
    """The ids of every stored event the filters and the query select, oldest first.

    Raises what :func:`logbot.search.open_reader` raises (a missing or newer database).
    """
    from logbot.search.opening import open_reader

    with open_reader(target) as reader:
        records = reader.search(query, filters, None)
    return sorted(r.id for r in records)


def delete_ids(
    engine: sa.Engine, ids: Sequence[int], *, batch: int = BATCH, pause: float = 0.0
) -> int:
    """Delete the events with these ids, ``batch`` per transaction; how many were deleted."""
    deleted = 0
    for start in range(0, len(ids), batch):
        chunk = list(ids[start : start + batch])
        with engine.begin() as conn:
            result = conn.execute(events.delete().where(events.c.id.in_(chunk)))
            deleted += max(result.rowcount, 0)
            note_deletion(conn)
        if pause:
            time.sleep(pause)
    return deleted


@dataclass
class PruneResult:
    """What a prune did (or, dry, would do): events per (network, channel) beyond the cutoff."""

    per_channel: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.per_channel.values())


def prune(
    engine: sa.Engine,
    cutoff: Callable[[str, str], datetime | None],
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    pause: float = 0.0,
    stop: Callable[[], bool] = lambda: False,
) -> PruneResult:
    """Delete each channel's events older than ``cutoff(network, channel)`` (None: keep all).

    Each batch is one short transaction; ``pause`` seconds between batches leave the
    database to other writers, and ``stop()`` true ends the run between batches (what is
    deleted stays deleted; the next run goes on). With ``dry_run`` nothing is deleted:
    the result counts what would be.
    """
    result = PruneResult()
    with engine.connect() as conn:
        known = conn.execute(sa.select(channels.c.id, channels.c.network, channels.c.name)).all()
    for channel_id, network, name in known:
        when = cutoff(network, name)
        if when is None:
            continue
        below = time_key(when)
        older = sa.and_(events.c.channel_id == channel_id, events.c.id < below)
        if dry_run:
            with engine.connect() as conn:
                count = conn.execute(sa.select(sa.func.count()).where(older)).scalar_one()
            if count:
                result.per_channel[(network, name)] = int(count)
            continue
        oldest = (
            sa.select(events.c.id).where(older).order_by(events.c.id).limit(batch).scalar_subquery()
        )
        while not stop():
            with engine.begin() as conn:
                gone = max(conn.execute(events.delete().where(events.c.id.in_(oldest))).rowcount, 0)
                if gone:
                    note_deletion(conn)
            if gone:
                key = (network, name)
                result.per_channel[key] = result.per_channel.get(key, 0) + gone
            if gone < batch:
                break
            if pause:
                time.sleep(pause)
    return result
