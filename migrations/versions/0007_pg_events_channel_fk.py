"""PostgreSQL: no foreign key from events to channels; the writer checks each batch's.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

The key's check ran once for every inserted row (a lookup of the channel and a row lock,
through the server's trigger machinery): ~3.5 us of the ~19 us a row cost the server in a
flood. The writer now locks the rows of a batch's channels (``FOR KEY SHARE``, what the
key took for each row) and checks that each still names the channel it cached, once per
batch in the batch's transaction (:mod:`logbot.storage.writer`): a database recreated
under it is noticed as before, and a channel row cannot go away before the events that
name it are committed. SQLite is unchanged (the key is declared there, not enforced).

Downgrade: the key is added back (it checks every stored row once).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# frozen here: a later rename of the constant must not change what this revision drops
_FK = "fk_events_channel_id_channels"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE events DROP CONSTRAINT IF EXISTS {_FK}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"ALTER TABLE events ADD CONSTRAINT {_FK} FOREIGN KEY (channel_id) REFERENCES channels (id)"
    )
