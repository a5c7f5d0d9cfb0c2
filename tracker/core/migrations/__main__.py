"""`python -m tracker.core.migrations "message"`: write the next revision from the difference between the models and
a scratch SQLite database brought to head (for developers; review what it writes)."""

import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from tracker.core.migrations import _config, head, upgrade


def main(message: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        with engine.begin() as connection:
            upgrade(connection)
            command.revision(_config(connection), message=message, autogenerate=True, rev_id=f"{int(head()) + 1:04d}")
        engine.dispose()


if __name__ == "__main__":
    main(" ".join(sys.argv[1:]) or "describe the change")
