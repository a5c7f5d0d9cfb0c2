"""The `tracker` program: the root group with every command module registered on it, and main() (the console
script and `python -m tracker`)."""

import gc

# Importing a command module registers its commands on `cli`; --help lists them by name, whatever this order.
from tracker.cli import (  # noqa: F401
    access_commands,
    brief_commands,
    data_commands,
    decision_commands,
    item_commands,
    meeting_commands,
    record_commands,
    register_commands,
    report_commands,
    service_commands,
)
from tracker.cli.base import cli


def main() -> None:
    # Start-up creates a few hundred thousand objects that live as long as the process (modules, SQLAlchemy's
    # tables and mappers), and each full pass of the cycle collector on the way walks all of them again: about a
    # tenth of a short command's time. So it is paused until the command has opened its database.
    gc.disable()
    cli(prog_name="tracker")
