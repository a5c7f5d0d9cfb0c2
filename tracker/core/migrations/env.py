"""Alembic's entry point, run inside the unit of work `tracker.core.store` opens (it holds the write lock), so
migrations use that connection and transaction; there is no alembic.ini and no offline mode."""

from alembic import context

from tracker.core.migrations import VERSION_TABLE
from tracker.core.models import Base

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters a table by copying it; Alembic's batch mode does that
    compare_type=True,
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
