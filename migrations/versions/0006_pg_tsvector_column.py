"""PostgreSQL full-text index on a tsvector column the writer fills, not on an expression.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

The GIN index was on ``to_tsvector('logbot_text', translate(text, ...))``: the server
computed it for every inserted row, ~10 us of the ~27 us a row cost it, and ingest could
not keep up with ZNC's. Now ``events.text_tsv`` holds each text's tokens, cut and folded
in Python by the rules SQLite's ``unicode61 remove_diacritics 2`` follows
(:mod:`logbot.storage.tsvector`), and the GIN index is on that column. A search folds its
query the same way, so the ``logbot_text`` configuration is no longer used: it is dropped
(the ``unaccent`` extension stays, others may use it).

Upgrade: the column is filled for every stored row with text, in id order, 20,000 rows at
a time (each row is rewritten: ``VACUUM events`` afterwards gives the space back), then
the index is built. SQLite is unchanged.

Not frozen like the earlier revisions: the backfill must fold exactly as the writer does,
so it calls the writer's own function.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# string.punctuation as an E'' literal (\x25 is %, \x27 is ', \x5c is a backslash), as 0002
_SEPARATORS = "E'!\"#$\\x25&\\x27()*+,-./:;<=>?@[\\x5c]^_`{|}~'"
_SPACES = "'" + " " * 32 + "'"
_UNACCENT_TYPES = "word, hword, hword_part, numword, numhword, hword_numpart"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from logbot.storage import tsvector

    op.execute("ALTER TABLE events ADD COLUMN text_tsv tsvector")
    # first, so the backfill's updates do not maintain the old expression index
    op.execute("DROP INDEX IF EXISTS ix_events_text_fts")
    tsvector.backfill(bind.connection.driver_connection)
    op.execute("SET LOCAL maintenance_work_mem = '512MB'")
    op.execute("CREATE INDEX ix_events_text_fts ON events USING gin (text_tsv)")
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS public.logbot_text")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    unaccent = True
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
    except sa.exc.DBAPIError:
        unaccent = False
    op.execute(
        "DO $$ BEGIN CREATE TEXT SEARCH CONFIGURATION public.logbot_text "
        "(COPY = pg_catalog.simple); EXCEPTION WHEN unique_violation THEN NULL; END $$"
    )
    if unaccent:
        op.execute(
            "ALTER TEXT SEARCH CONFIGURATION public.logbot_text "
            f"ALTER MAPPING FOR {_UNACCENT_TYPES} WITH unaccent, simple"
        )
    op.execute("DROP INDEX IF EXISTS ix_events_text_fts")
    op.execute("ALTER TABLE events DROP COLUMN IF EXISTS text_tsv")
    op.execute(
        "CREATE INDEX ix_events_text_fts ON events USING gin (to_tsvector("
        f"'logbot_text'::regconfig, translate(text, {_SEPARATORS}, {_SPACES})))"
    )
