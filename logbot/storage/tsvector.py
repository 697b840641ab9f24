"""PostgreSQL's full-text column: each event's tokens, folded in Python, as a ``tsvector``.

``events.text_tsv`` holds :func:`tsvector_text` of ``events.text`` (NULL when the text has
no token), and the GIN index is on that column. The tokens and their folding are
:func:`logbot.query.folded_tokens`, the very rules of SQLite's ``unicode61
remove_diacritics 2`` that the search language is defined by: both engines index the same
tokens, and a query's lexemes are folded by the same function
(``logbot.query.to_tsquery(q, folded=True)``, cast to ``tsquery``: nothing on the server
splits or folds them again). Computing it in the writer instead of an index expression
(``to_tsvector`` of a ``translate``) moves ~10 us a row off the PostgreSQL server for
~2.5 us in the bot.

Everything that writes ``events.text`` on PostgreSQL writes this column with it: the
writer's inserts (:mod:`logbot.storage.inserts`) and :func:`backfill` (migration 0006, and
a repair after rows were written without it). Standard library only (the writer's hot path).
"""

from __future__ import annotations

from typing import Any

from logbot.query import folded_tokens
from logbot.storage.names import PG_FTS_COLUMN

__all__ = ["backfill", "tsvector_text"]

#: PostgreSQL refuses a lexeme of more bytes (``to_tsvector`` skips such words)
MAX_LEXEME_BYTES = 2047
#: ... and a tsvector whose distinct lexemes hold more bytes in all
MAX_TSVECTOR_BYTES = (1 << 20) - 1
# positions past 16,383 are stored as 16,383 (PostgreSQL clamps them the same way)
_MAX_POSITION = 16_383
# "':1" ... "':256": the position suffixes of a chat line's tokens, made once
_SUFFIXES = [f"':{i}" for i in range(1, 257)]
# a token folds to at most 3 characters per character of text (a Hangul syllable to its
# jamo), each at most 4 bytes: texts shorter than these cannot reach the limits above
_LONG_LEXEME_TEXT = MAX_LEXEME_BYTES // 12
_LONG_TSVECTOR_TEXT = MAX_TSVECTOR_BYTES // 12


def tsvector_text(text: str) -> str | None:
    """``text``'s folded tokens as a ``tsvector`` literal with their positions (1, 2, ...);
    None when it has no token."""
    lexemes = folded_tokens(text)
    if not lexemes:
        return None
    # tokens hold no quote, backslash, colon or space: nothing to escape
    if len(lexemes) <= len(_SUFFIXES) and len(text) <= _LONG_LEXEME_TEXT:
        return "'" + " '".join(map(str.__add__, lexemes, _SUFFIXES))
    return _long_tsvector(lexemes, huge=len(text) > _LONG_TSVECTOR_TEXT)


def _size(lexeme: str) -> int:
    return len(lexeme.encode("utf-8", "surrogatepass"))


def _long_tsvector(lexemes: list[str], huge: bool) -> str | None:
    """The literal of a long text: only what PostgreSQL accepts (no lexeme longer than it
    allows, and, ``huge``, as many distinct ones as fit in one tsvector, the first kept),
    each token keeping its position."""
    check = max(map(len, lexemes)) * 4 > MAX_LEXEME_BYTES
    seen: set[str] = set()
    budget = MAX_TSVECTOR_BYTES
    parts: list[str] = []
    for i, lexeme in enumerate(lexemes, 1):
        if check and _size(lexeme) > MAX_LEXEME_BYTES:
            continue
        if huge and lexeme not in seen:
            budget -= _size(lexeme)
            if budget < 0:
                break
            seen.add(lexeme)
        parts.append(f"'{lexeme}':{min(i, _MAX_POSITION)}")
    return " ".join(parts) or None


#: rows read, folded and written back per round of :func:`backfill`
BACKFILL_CHUNK = 20_000
_BACKFILL_TABLE = "logbot_backfill_tsv"


def backfill(conn: Any, *, chunk: int | None = None) -> int:
    """Fill ``events.text_tsv`` of every row with text whose column is NULL, in ``conn``'s
    transaction (a psycopg 3 connection); returns how many rows were read.

    In rounds of ``chunk`` rows in id order (memory stays bounded on any archive): read,
    fold here, COPY into a temporary table, one UPDATE joined on the id.
    """
    col = PG_FTS_COLUMN
    chunk = chunk or BACKFILL_CHUNK
    total = 0
    last: int | None = None
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_BACKFILL_TABLE} (id bigint, tsv tsvector) "
            "ON COMMIT DROP"
        )
        while True:
            after = "" if last is None else "AND id > %s "
            cur.execute(
                f"SELECT id, text FROM events WHERE {col} IS NULL AND text <> '' "
                f"{after}ORDER BY id LIMIT %s",
                (chunk,) if last is None else (last, chunk),
            )
            rows = cur.fetchall()
            if not rows:
                return total
            total += len(rows)
            first, last = rows[0][0], rows[-1][0]
            with cur.copy(f"COPY {_BACKFILL_TABLE} (id, tsv) FROM STDIN") as copy:
                for key, text in rows:
                    tsv = tsvector_text(text)
                    if tsv is not None:
                        copy.write_row((key, tsv))
            cur.execute(f"ANALYZE {_BACKFILL_TABLE}")
            # the id range keeps the join on the primary key's range, not the whole table
            cur.execute(
                f"UPDATE events AS e SET {col} = b.tsv FROM {_BACKFILL_TABLE} AS b "
                "WHERE e.id = b.id AND e.id >= %s AND e.id <= %s",
                (first, last),
            )
            cur.execute(f"TRUNCATE {_BACKFILL_TABLE}")
