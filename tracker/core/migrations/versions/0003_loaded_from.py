"""loaded_from: the data file each loaded record came from (a second file claiming its slug is refused).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 19:08:36.498086

Existing rows get NULL: the next load that names them claims them for its file.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

TABLES = ("people", "committees", "meeting_series", "meetings", "items")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:  # SQLite: a plain ADD COLUMN, no table copy
            batch_op.add_column(sa.Column("loaded_from", sa.String(length=255), nullable=True))
