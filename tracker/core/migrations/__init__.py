"""The schema's history, as Alembic revisions in `versions/`; `tracker.core.store.init` applies them.

Every command brings an older database up to date itself (a desk has no one to run a separate upgrade step, and a
revision runs in one transaction under the write lock, so a failed one changes nothing), and refuses a database
that a newer tracker has migrated further. A change to the schema is a new revision:
`.venv/bin/python -m tracker.core.migrations "what changed"` writes one from the difference between
`tracker.core.models` and a database at head; read it, then test it with `tests/test_migrations.py`.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from tracker.core.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

# tracker 0.1 created this schema without Alembic and recorded meta.schema_version = 1; such a database is
# stamped with the first revision, then upgraded like any other.
LEGACY_REVISION = "0001"
# Our own name, not Alembic's default: a PostgreSQL database may be shared with another Alembic-managed app.
VERSION_TABLE = "tracker_alembic_version"
# Revisions are numbered (`python -m tracker.core.migrations` writes versions/NNNN_what.py with revision id NNNN), so
# the head is the highest number: known without importing Alembic, which every command would pay for otherwise
# (about 0.1 s) although only an upgrade needs it. tests/test_migrations.py checks Alembic agrees.
_REVISION_FILE = re.compile(r"(\d{4})_\w+\.py")


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "tracker.core:migrations")
    config.attributes["connection"] = connection
    return config


def _context(connection: Connection) -> MigrationContext:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})


@functools.cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


@functools.cache
def head() -> str:
    """The newest revision: the highest-numbered file in versions/."""
    names = (_REVISION_FILE.fullmatch(path.name) for path in (Path(__file__).parent / "versions").iterdir())
    return max(found[1] for found in names if found)


def schema_version() -> int:
    """The head revision as a number, also kept in meta.schema_version: tracker 0.1 refuses a database whose
    number is above its own 1."""
    return int(head())


def recorded(connection: Connection) -> str | None:
    """The database's revision: None for an empty database, LEGACY_REVISION for one tracker 0.1 made.

    :raises ConfigError: a revision this tracker does not know, i.e. a newer tracker migrated it.
    """
    heads = _context(connection).get_current_heads()
    if not heads:
        return LEGACY_REVISION if _made_by_tracker_0_1(connection) else None
    known = {script.revision for script in _scripts().walk_revisions()}
    unknown = [rev for rev in heads if rev not in known]
    if unknown or len(heads) > 1:
        raise ConfigError(
            f"the database's schema is at revision {', '.join(heads)}, which this tracker does not know (its newest "
            f"is {head()}): a newer tracker upgraded it, so upgrade tracker to use this database"
        )
    return heads[0]


def _made_by_tracker_0_1(connection: Connection) -> bool:
    if not inspect(connection).has_table("meta"):
        return False
    version = connection.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
    if version is not None and version != "1":
        raise ConfigError(f"the database has schema version {version} but no migration record: not tracker's")
    return version is not None


def is_current(connection: Connection) -> bool:
    """Whether the database records the head revision (a tracker 0.1 database is not: it must be stamped).

    :raises ConfigError: as `recorded`."""
    if _stored_heads(connection) == [head()]:
        return True
    recorded(connection)
    return False


def _stored_heads(connection: Connection) -> list[str]:
    """The version table's rows, read with plain SQL (what Alembic's MigrationContext reads, without Alembic)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return []
    return list(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def upgrade(connection: Connection) -> None:
    """Apply every revision the database lacks, in the caller's transaction (which holds the write lock)."""
    from alembic import command

    config = _config(connection)
    if not _context(connection).get_current_heads() and recorded(connection) == LEGACY_REVISION:
        command.stamp(config, LEGACY_REVISION)
    command.upgrade(config, "head")
    version = {"v": str(schema_version())}
    if connection.execute(text("UPDATE meta SET value = :v WHERE key = 'schema_version'"), version).rowcount == 0:
        connection.execute(text("INSERT INTO meta (key, value) VALUES ('schema_version', :v)"), version)
