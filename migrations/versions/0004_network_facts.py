"""network_facts: what a network's servers announced about it (ISUPPORT CRAWLER).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

One row per network and fact, the latest announced; the web archive reads it (a network
whose server announces ``CRAWLER=index:deny`` is never indexed by search engines). A new,
small table: no existing row is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "network_facts",
        sa.Column("network", sa.String(100), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("network", "name", name="pk_network_facts"),
    )


def downgrade() -> None:
    op.drop_table("network_facts")
