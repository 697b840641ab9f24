"""The storage facts that search needs too, in one place with no SQLAlchemy import.

``logbot search`` must start fast, so it reads databases without SQLAlchemy; the schema,
the writer and the full-text DDL import these same names, so there is one spelling of each:

- time keys: ``events.id`` is UTC microseconds since the epoch times :data:`KEY_SPREAD`
  plus a sequence number (:func:`time_key`, :func:`key_time`), for times in
  :data:`EARLIEST` ... :data:`LATEST` (signed 64-bit keys);
- the column sizes, the filter indexes and the full-text object names;
- where the database is when none is named (:func:`default_db_path`) and whether a
  ``--db`` value is a URL or a file path (:func:`is_url`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from logbot.casemap import channel_key

if TYPE_CHECKING:
    # pathlib (with urllib.parse, fnmatch...) costs ~4 ms: a search with --db goes without
    from pathlib import Path

__all__ = [
    "CHANNEL_MAX",
    "EARLIEST",
    "EPOCH",
    "FACT_NAME_MAX",
    "FK_EVENTS_CHANNEL",
    "FTS_COLUMN",
    "FTS_TABLE",
    "GAP_REASON_MAX",
    "IX_CHANNEL",
    "IX_GAPS",
    "IX_KIND",
    "IX_MSGID",
    "IX_NICK",
    "KEY_SPREAD",
    "KIND_MAX",
    "LATEST",
    "MSGID_MAX",
    "NETWORK_MAX",
    "NEW_FILE_MODE",
    "NICK_MAX",
    "PG_CONNECT_TIMEOUT",
    "PG_FTS_COLUMN",
    "PG_FTS_INDEX",
    "PG_INSTALL_HINT",
    "PG_TS_CONFIG",
    "TARGET_MAX",
    "USERHOST_MAX",
    "channel_key",
    "default_db_path",
    "epoch_micros",
    "is_url",
    "key_time",
    "time_key",
]

#: ids per microsecond: room for that many events stamped with the same microsecond
KEY_SPREAD = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: keys are signed 64-bit: the times that can be stored as they are, EARLIEST <= t < LATEST
EARLIEST = EPOCH
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

# column sizes (characters)
NETWORK_MAX = 100
#: the longest name of a network fact (network_facts.name)
FACT_NAME_MAX = 64
CHANNEL_MAX = 200
KIND_MAX = 12
NICK_MAX = 100
TARGET_MAX = 100
USERHOST_MAX = 300
#: IRCv3 msgid values are opaque server tokens; every known server's fit easily
MSGID_MAX = 128
GAP_REASON_MAX = 100

#: events.channel_id -> channels.id: SQLite only since revision 0007 (PostgreSQL: the writer
#: locks and checks a batch's channels instead)
FK_EVENTS_CHANNEL = "fk_events_channel_id_channels"
#: the (channel_id, id), (lower(nick), id) and (kind, id) indexes
IX_CHANNEL = "ix_events_channel_id_id"
IX_NICK = "ix_events_nick_lower_id"
IX_KIND = "ix_events_kind_id"
#: (channel_id, msgid): is this server message already stored (backfill dedupe)
IX_MSGID = "ix_events_channel_id_msgid"
#: (channel_id, start_us): the gaps of a channel in time order
IX_GAPS = "ix_gaps_channel_id_start_us"

#: SQLite: the FTS5 table; its rowid is ``events.id``
FTS_TABLE = "events_fts"
#: the indexed column (the same name in ``events`` and in the FTS5 table)
FTS_COLUMN = "text"
#: PostgreSQL before revision 0006: the text search configuration of the indexed
#: expression (in the ``public`` schema); a search still reads such databases
PG_TS_CONFIG = "logbot_text"
#: PostgreSQL: the ``tsvector`` column of each event's folded tokens (see
#: logbot.storage.tsvector); not in the metadata, as SQLite has no such column
PG_FTS_COLUMN = "text_tsv"
#: PostgreSQL: the GIN index (on PG_FTS_COLUMN; before revision 0006, on an expression)
PG_FTS_INDEX = "ix_events_text_fts"

#: permissions of a log file logbot creates (the SQLite database, and the text log through
#: logbot.backends.base): owner only, as logs of channels with a key must be. Here, not in
#: logbot.storage.engine, so that the text backend does not import SQLAlchemy for it.
NEW_FILE_MODE = 0o600

#: seconds a PostgreSQL connection attempt may take before it counts as unreachable
PG_CONNECT_TIMEOUT = 10
#: what to do when the PostgreSQL driver is missing
PG_INSTALL_HINT = "pip install 'logbot[postgres]'"


def epoch_micros(when: datetime) -> int:
    """Microseconds from the epoch to ``when`` (aware), exactly (no float)."""
    delta = when - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def time_key(when: datetime, seq: int = 0) -> int:
    """The ``events.id`` of an event at ``when`` (aware) with sequence ``seq``."""
    if not 0 <= seq < KEY_SPREAD:
        raise ValueError(f"sequence {seq} outside 0..{KEY_SPREAD - 1}")
    return epoch_micros(when) * KEY_SPREAD + seq


def key_time(key: int) -> datetime:
    """The aware UTC time an ``events.id`` stands for."""
    return EPOCH + timedelta(microseconds=key // KEY_SPREAD)


def default_db_path() -> Path:
    """The per-user SQLite file used when no ``--db`` is given (XDG_DATA_HOME honoured):
    ``$XDG_DATA_HOME/logbot/logbot.sqlite`` on Linux."""
    # imported here: only a search without --db needs it
    import platformdirs

    return platformdirs.user_data_path("logbot") / "logbot.sqlite"


def is_url(target: str) -> bool:
    """True when ``target`` is a database URL rather than a SQLite file path."""
    return "://" in target or target.startswith("sqlite:")
