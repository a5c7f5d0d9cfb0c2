"""meetings drive the work: a decision log (decisions, items.decision_id), what a delegation came home with
(meetings.outcome), the load base of meetings and series for the reload's three-way merge (loaded), and a person's
opt-out of meeting invitations (people.invitations).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 01:39:43.233389
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

EMPTY_JSON = sa.text("'{}'")


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("loaded_from", sa.String(length=255), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("affects_series_id", sa.Integer(), nullable=True),
        sa.Column("affects_committee_id", sa.Integer(), nullable=True),
        sa.Column("affects_plan", sa.String(length=300), nullable=False),
        sa.Column("source_quote", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["affects_committee_id"], ["committees.id"]),
        sa.ForeignKeyConstraint(["affects_series_id"], ["meeting_series.id"]),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_meeting_id"), ["meeting_id"], unique=False)

    # SQLite: a plain ADD COLUMN … REFERENCES, as a batch would copy the items table, which the item_owners and
    # item_changes rows refer to (and Alembic adds a foreign key on SQLite only by such a copy).
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE items ADD COLUMN decision_id INTEGER REFERENCES decisions (id)")
    else:
        op.add_column("items", sa.Column("decision_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_items_decision_id_decisions", "items", "decisions", ["decision_id"], ["id"])
    op.create_index(op.f("ix_items_decision_id"), "items", ["decision_id"], unique=False)

    # Plain ADD COLUMNs with a default for the rows there (SQLite: no table copy, which rows referring to these
    # tables would refuse).
    op.add_column("meeting_series", sa.Column("loaded", sa.JSON(), nullable=False, server_default=EMPTY_JSON))
    op.add_column("meetings", sa.Column("outcome", sa.Text(), nullable=False, server_default=""))
    op.add_column("meetings", sa.Column("loaded", sa.JSON(), nullable=False, server_default=EMPTY_JSON))
    op.add_column("people", sa.Column("invitations", sa.Boolean(), nullable=False, server_default=sa.true()))
