"""The first schema: channels, events keyed by time, the full-text index.

Revision ID: 0001
Revises:
Create Date: 2026-05-09

Frozen: this file spells its DDL out instead of importing logbot.storage, so later changes
to the code cannot change what this revision did.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNACCENT_TYPES = "word, hword, hword_part, numword, numhword, hword_numpart"


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("network", "name_key", name="uq_channels_network_name_key"),
    )
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("nick", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("target", sa.String(length=100), nullable=True),
        sa.Column("userhost", sa.String(length=300), nullable=True),
        sa.Column("received_us", sa.BigInteger(), nullable=True),
        sa.Column("own", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_events_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_channel_id_id", "events", ["channel_id", "id"])
    op.create_index("ix_events_nick_lower_id", "events", [sa.text("lower(nick)"), "id"])
    op.create_index("ix_events_kind_id", "events", ["kind", "id"])

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE events_fts USING fts5(text, content='events', "
            "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute("INSERT INTO events_fts(events_fts, rank) VALUES ('automerge', 16)")
        op.execute(
            "CREATE TRIGGER events_fts_ad AFTER DELETE ON events WHEN old.text <> '' BEGIN "
            "INSERT INTO events_fts(events_fts, rowid, text) "
            "VALUES ('delete', old.id, old.text); END"
        )
        op.execute(
            "CREATE TRIGGER events_fts_au AFTER UPDATE OF text ON events BEGIN "
            "INSERT INTO events_fts(events_fts, rowid, text) "
            "SELECT 'delete', old.id, old.text WHERE old.text <> ''; "
            "INSERT INTO events_fts(rowid, text) SELECT new.id, new.text WHERE new.text <> ''; "
            "END"
        )
    elif bind.dialect.name == "postgresql":
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
        op.execute(
            "CREATE INDEX ix_events_text_fts ON events "
            "USING gin (to_tsvector('logbot_text'::regconfig, text))"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS events_fts_au")
        op.execute("DROP TRIGGER IF EXISTS events_fts_ad")
        op.execute("DROP TABLE IF EXISTS events_fts")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_events_text_fts")
        op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS public.logbot_text")
    op.drop_index("ix_events_kind_id", table_name="events")
    op.drop_index("ix_events_nick_lower_id", table_name="events")
    op.drop_index("ix_events_channel_id_id", table_name="events")
    op.drop_table("events")
    op.drop_table("channels")
