"""IRCv3 ``draft/message-redaction``: a server's REDACT deletes the stored message.

The IRC side states a REDACT as an event (:data:`logbot.events.Kind.REDACT`); the writer
applies it here, after the events of the same batch (so a message still in the batch is
stored, then deleted), on its thread. The row of ``events`` with that msgid in that
channel goes, full-text index included (SQLite's delete trigger, PostgreSQL's GIN index of
the row); a row of ``redactions`` says who redacted which msgid when, and why, without
the text; ``changes.deletions`` is bumped so the web archive drops what it kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from logbot.storage.names import KEY_SPREAD, MSGID_MAX, NICK_MAX

__all__ = ["Redaction", "apply_redactions"]

#: a REDACT as the writer hands it over: (channel_id, time key, redacting nick, msgid,
#: reason)
Redaction = tuple[int, int, str, str, str]


def apply_redactions(conn: Any, mark: str, redactions: Sequence[Redaction]) -> int:
    """Delete each redacted message and record the redaction through a DB-API connection
    (no commit); the number of event rows deleted. ``mark`` is the driver's parameter
    marker (``?`` or ``%s``)."""
    m = mark
    total = 0
    cur = conn.cursor()
    try:
        for channel_id, key, nick, msgid, reason in redactions:
            if not msgid:
                continue
            cur.execute(
                f"DELETE FROM events WHERE channel_id = {m} AND msgid = {m}", (channel_id, msgid)
            )
            gone = max(cur.rowcount, 0)
            total += gone
            cur.execute(
                f"INSERT INTO redactions (channel_id, msgid, at_us, nick, reason, deleted) "
                f"VALUES ({m}, {m}, {m}, {m}, {m}, {m})",
                (channel_id, msgid[:MSGID_MAX], key // KEY_SPREAD, nick[:NICK_MAX], reason, gone),
            )
        if total:
            cur.execute("UPDATE changes SET deletions = deletions + 1 WHERE id = 1")
    finally:
        cur.close()
    return total
