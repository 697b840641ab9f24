"""The database schema: the single truth that migrations and code both follow.

Design, sized for 100M+ rows:

- ``events.id`` is a *time key*, not an arrival counter: UTC microseconds since the epoch
  times ``KEY_SPREAD`` plus a sequence number that separates events of the same
  microsecond. Ordering by ``id`` is ordering by time, for live events and for imported
  history alike, so the full-text index (whose rowid is this id) can be walked newest
  first without a sort, and a time range is a rowid range: no separate time index.
  On SQLite it is the rowid itself (``INTEGER PRIMARY KEY``).
- Channels live in their own small table; events carry a 4-byte ``channel_id``. The
  (channel_id, id) index answers "newest lines of #x" and "#x since 30d" with a range scan.
  ``channels.name_key`` is :func:`channel_key` of the name (RFC 1459 casefolding).
- (lower(nick), id) and (kind, id) answer ``--nick`` and ``--kind`` newest first. No other
  index: each one costs every insert (the nick index alone costs a third of the raw rate).
- Full text: SQLite FTS5 (external content on ``events.text``,
  ``unicode61 remove_diacritics 2``); PostgreSQL a GIN index on ``events.text_tsv``, a
  ``tsvector`` of the text's tokens folded by the writer by the same rules (a column of
  PostgreSQL's only, so not in this metadata). The dialect-specific DDL lives in
  :mod:`logbot.storage.fts`, the folding in :mod:`logbot.storage.tsvector`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    false,
    func,
)

from logbot.storage.names import (
    CHANNEL_MAX,
    FACT_NAME_MAX,
    FK_EVENTS_CHANNEL,
    GAP_REASON_MAX,
    IX_CHANNEL,
    IX_GAPS,
    IX_KIND,
    IX_MSGID,
    IX_NICK,
    KEY_SPREAD,
    KIND_MAX,
    MSGID_MAX,
    NETWORK_MAX,
    NICK_MAX,
    TARGET_MAX,
    USERHOST_MAX,
    channel_key,
    key_time,
    time_key,
)

__all__ = [
    "EVENT_COLUMNS",
    "KEY_SPREAD",
    "changes",
    "channel_key",
    "channels",
    "events",
    "gaps",
    "key_time",
    "metadata",
    "network_facts",
    "redactions",
    "time_key",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# BigInteger on PostgreSQL; on SQLite it must be spelled INTEGER to be the rowid alias.
_Key = BigInteger().with_variant(Integer(), "sqlite")

channels = Table(
    "channels",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("network", String(NETWORK_MAX), nullable=False),
    # the channel name as first seen; lookups use ``name_key`` (IRC-casefolded)
    Column("name", String(CHANNEL_MAX), nullable=False),
    Column("name_key", String(CHANNEL_MAX), nullable=False),
    UniqueConstraint("network", "name_key", name="uq_channels_network_name_key"),
)

events = Table(
    "events",
    metadata,
    Column("id", _Key, primary_key=True, autoincrement=False),
    Column("channel_id", Integer, nullable=False),
    Column("kind", String(KIND_MAX), nullable=False),
    Column("nick", String(NICK_MAX), nullable=False),
    Column("text", Text, nullable=False, server_default=""),
    # kick: who was kicked; nick: the new nick
    Column("target", String(TARGET_MAX), nullable=True),
    Column("userhost", String(USERHOST_MAX), nullable=True),
    # when the bot received it, if the server's time (IRCv3 server-time) differs;
    # microseconds since the epoch
    Column("received_us", BigInteger, nullable=True),
    # caused by the bot itself (its joins, its replies)
    Column("own", Boolean, nullable=False, server_default=false()),
    # the server's IRCv3 msgid, when it sent one
    Column("msgid", String(MSGID_MAX), nullable=True),
    # not heard live: fetched afterwards from the server's history (chathistory)
    Column("backfilled", Boolean, nullable=False, server_default=false()),
)

# Where a channel's record has a hole: the bot was not listening from start_us to end_us
# (microseconds since the epoch; end_us NULL while the hole is still open). Holes the
# server's history filled are removed or narrowed to what it could not give.
gaps = Table(
    "gaps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=False),
    Column("start_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=True),
    Column("reason", String(GAP_REASON_MAX), nullable=False),
)
Index(IX_GAPS, gaps.c.channel_id, gaps.c.start_us)

#: What a network's servers announced about it (one row per network and fact, the latest;
#: a fact announced as nothing has no row): the IRC side emits them as FACT events, the SQL
#: backend stores them, the web reads them (see logbot.events.FACT_CRAWLER_INDEX).
network_facts = Table(
    "network_facts",
    metadata,
    Column("network", String(NETWORK_MAX), primary_key=True),
    Column("name", String(FACT_NAME_MAX), primary_key=True),
    Column("value", Text, nullable=False),
)

#: One row (id 1): ``deletions`` counts the transactions that deleted stored events
#: (forget, prune, redact), so a reader that keeps closed days (the web archive) knows
#: when what it kept may hold a line that is gone.
changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("deletions", BigInteger, nullable=False, server_default="0"),
)

#: What each IRCv3 REDACT removed: the message's msgid in a channel, when (microseconds
#: since the epoch), who redacted it and why, and how many stored rows went (0: it was
#: never stored); never the message's text (see logbot.storage.redact).
redactions = Table(
    "redactions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("channel_id", Integer, ForeignKey("channels.id"), nullable=False),
    Column("msgid", String(MSGID_MAX), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("nick", String(NICK_MAX), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("deleted", Integer, nullable=False),
)

# SQLite only (where it is declared, not enforced): on PostgreSQL the per-row check cost
# the server ~3.5 us of the ~19 us an event, so the writer locks and checks each batch's
# channels once instead (logbot.storage.writer, migration 0007)
ForeignKeyConstraint([events.c.channel_id], [channels.c.id], name=FK_EVENTS_CHANNEL).ddl_if(
    dialect="sqlite"
)

#: the events columns in table order (the writer's INSERT and COPY follow it)
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in events.columns)

Index(IX_CHANNEL, events.c.channel_id, events.c.id)
# IRC nicks are case-insensitive: searches compare lower(nick)
Index(IX_NICK, func.lower(events.c.nick), events.c.id)
# "--kind topic" over a whole archive: rare kinds would otherwise need a full scan. Ten
# kinds means ten right-hand edges to append to, so it costs little on insert.
Index(IX_KIND, events.c.kind, events.c.id)
# backfill asks "is this msgid of #x stored?" for every line a history page brings. Partial:
# most servers send no msgid, and an entry per row would cost every insert (~1 us a row on
# SQLite); "msgid = ?" implies "msgid IS NOT NULL", so both engines use it for that lookup.
_HAS_MSGID = events.c.msgid.isnot(None)
_MSGID_INDEX = Index(IX_MSGID, events.c.channel_id, events.c.msgid, sqlite_where=_HAS_MSGID)


@event.listens_for(_MSGID_INDEX, "before_create")
def _partial_on_postgresql(index: Index, connection: Any, **_kw: Any) -> None:
    # Partial on PostgreSQL too, but named only when the index is created there: a
    # ``postgresql_`` option in the metadata imports SQLAlchemy's PostgreSQL dialect and
    # all its drivers' modules, ~2.4 MB of every SQLite bot (issue #15)
    if connection.dialect.name == "postgresql":
        index.dialect_kwargs["postgresql_where"] = _HAS_MSGID
