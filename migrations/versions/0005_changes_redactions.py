"""changes: a counter every deletion of stored events bumps (forget, prune, redact);
redactions: which messages a server's REDACT removed (who, when, why; never the text).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

One row. Readers that keep what a closed day held (the web archive's page and count
caches, its ETags) compare it to know that something they kept may be gone: a day's
count and newest id do not always change when a line is deleted and another imported.
New, small tables: no existing row is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "changes",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("deletions", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_changes"),
    )
    op.bulk_insert(table, [{"id": 1, "deletions": 0}])
    op.create_table(
        "redactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("msgid", sa.String(128), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("nick", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name="fk_redactions_channel_id_channels"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_redactions"),
    )


def downgrade() -> None:
    op.drop_table("redactions")
    op.drop_table("changes")
