"""Gaps and backfill: where a channel's record has holes, the server's msgid, backfilled lines.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Adds ``events.msgid`` (the server's IRCv3 message id, NULL when none was sent) with a
(channel_id, msgid) index for deduplicating history pages, ``events.backfilled`` (the line
came from the server's history, not heard live), and the ``gaps`` table: one row per
interval in which a channel was not logged. Adding nullable or defaulted columns is a
catalogue change on both engines: no table rewrite, fast on a large archive (the index
over the new, all-NULL column is built in one pass).

Frozen: the DDL is spelled out here, not imported from logbot.storage.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("msgid", sa.String(length=128), nullable=True))
    op.add_column(
        "events",
        sa.Column("backfilled", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    # partial: rows without a msgid (most servers send none) cost no index entry
    has_msgid = sa.text("msgid IS NOT NULL")
    op.create_index(
        "ix_events_channel_id_msgid",
        "events",
        ["channel_id", "msgid"],
        sqlite_where=has_msgid,
        postgresql_where=has_msgid,
    )
    op.create_table(
        "gaps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=False),
        sa.Column("end_us", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_gaps_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gaps")),
    )
    op.create_index("ix_gaps_channel_id_start_us", "gaps", ["channel_id", "start_us"])


def downgrade() -> None:
    op.drop_index("ix_gaps_channel_id_start_us", table_name="gaps")
    op.drop_table("gaps")
    op.drop_index("ix_events_channel_id_msgid", table_name="events")
    # plain ALTER TABLE DROP COLUMN (SQLite >= 3.35): a batch copy of events would lose
    # the full-text triggers
    op.drop_column("events", "backfilled")
    op.drop_column("events", "msgid")
