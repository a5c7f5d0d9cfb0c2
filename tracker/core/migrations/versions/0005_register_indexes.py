"""register indexes: the web register's filters and sorts (owner, priority area, last change) and My desk's "what
changed since my last visit" read indexes rather than every row, so a page of 50 of 10,000 items stays quick.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 22:53:40.465277
"""

from alembic import op

revision = "0005"
down_revision = "0004"

INDEXES = {  # table: columns, each indexed alone (named as the models' index=True names them)
    "item_changes": ("at",),
    "item_owners": ("person_id",),
    "items": ("category", "updated_at"),
}


def upgrade() -> None:
    for table, columns in INDEXES.items():
        with op.batch_alter_table(table, schema=None) as batch_op:  # SQLite: CREATE INDEX, no table copy
            for column in columns:
                batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)
