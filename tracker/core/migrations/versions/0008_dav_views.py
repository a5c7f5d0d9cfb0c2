"""how each person's app shows a CalDAV collection: the properties it sets with PROPPATCH (dav_views).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 08:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "dav_views",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("collection", sa.String(length=300), nullable=False),
        sa.Column("props", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id", "collection"),
    )
