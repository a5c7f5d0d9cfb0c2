"""task apps over CalDAV: per-person app passwords (app_passwords), the state behind each sync token
(dav_sync_states), the name an item was created under by a CalDAV app (items.dav_href), and the data version
of an item's last change (items.version: what changed since a sync token).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 05:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "app_passwords",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(op.f("ix_app_passwords_person_id"), "app_passwords", ["person_id"], unique=False)
    op.create_table(
        "dav_sync_states",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("collection", sa.String(length=300), nullable=False),
        sa.Column("mark", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token"),
    )
    op.create_index(op.f("ix_dav_sync_states_created_at"), "dav_sync_states", ["created_at"], unique=False)
    op.create_index(op.f("ix_dav_sync_states_mark"), "dav_sync_states", ["mark"], unique=False)
    # A plain ADD COLUMN (SQLite: no copy of items, which other rows refer to), made unique by an index.
    op.add_column("items", sa.Column("dav_href", sa.String(length=255), nullable=True))
    op.create_index(op.f("ix_items_dav_href"), "items", ["dav_href"], unique=True)
    op.add_column("items", sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(op.f("ix_items_version"), "items", ["version"], unique=False)
