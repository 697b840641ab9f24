"""PostgreSQL full-text index: cut text at ASCII punctuation, as SQLite's unicode61 does.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-09

PostgreSQL's parser keeps ``example.com``, ``alice@example.org``, ``v1.2.3`` and ``1.5``
as single tokens, so searching ``example`` found them on SQLite but not on PostgreSQL.
The index now tokenizes ``translate(text, <ASCII punctuation>, <spaces>)``. SQLite is
unchanged. On a large PostgreSQL archive this rebuilds the GIN index (minutes per
hundred million rows).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# string.punctuation as an E'' literal (\x25 is %, \x27 is ', \x5c is a backslash)
_SEPARATORS = "E'!\"#$\\x25&\\x27()*+,-./:;<=>?@[\\x5c]^_`{|}~'"
_SPACES = "'" + " " * 32 + "'"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_events_text_fts")
    op.execute(
        "CREATE INDEX ix_events_text_fts ON events USING gin (to_tsvector("
        f"'logbot_text'::regconfig, translate(text, {_SEPARATORS}, {_SPACES})))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_events_text_fts")
    op.execute(
        "CREATE INDEX ix_events_text_fts ON events "
        "USING gin (to_tsvector('logbot_text'::regconfig, text))"
    )
