"""Moving the data in and out: export (ICS), dump (YAML), backup, copy-to, import (ICS)."""

from __future__ import annotations

import click

from tracker.cli.base import AppContext, cli, json_option, pass_app
from tracker.cli.output import message, render_json, render_table
from tracker.core.rules import plural


@cli.command()
@click.option("--out", default="calendars", show_default=True, type=click.Path(file_okay=False))
@json_option
@pass_app
def export(app: AppContext, out: str, as_json: bool) -> None:
    """Write the ICS calendars (all, meetings, action items, deadlines, per owner, per committee).

    \b
    Example:
        tracker export --out calendars/
    """
    from tracker.calendars import ics
    from tracker.core import store
    from tracker.core.config import refresh_interval

    with store.transaction(app.engine) as session:
        written = ics.export(session, out, refresh_interval(app.settings))
    if as_json:
        render_json("export", app.now, written)
    else:
        render_table("calendars", ["path", "bytes", "changed"], written)


@cli.command()
@click.argument("directory", type=click.Path())
@json_option
@pass_app
def dump(app: AppContext, directory: str, as_json: bool) -> None:
    """Write the database back as data/-style YAML that `tracker load` reads: people.yaml, committees.yaml,
    meetings.yaml, items.yaml (items with their current status), in the order they were created: the same
    database gives the same bytes.

    DIRECTORY is created if missing; those four files in it are replaced (each atomically), anything else is
    left alone, but any other *.yaml/*.yml file there is refused (load would read it beside the dump). Not
    written: history, subscriptions, reminders and deliveries, comments.

    \b
    Example:
        tracker dump data/ && git -C data diff
    """
    from tracker.core import store
    from tracker.register import dumping

    with store.transaction(app.engine) as session:
        written = dumping.dump(session, directory)
    if as_json:
        render_json("dump", app.now, written)
        return
    for row in written:
        row["records"] = ", ".join(f"{n} {kind}" for kind, n in row["records"].items())
    render_table(f"dumped into {directory}", ["path", "records", "bytes", "changed"], written)


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@json_option
@pass_app
def backup(app: AppContext, path: str, force: bool, as_json: bool) -> None:
    """Copy the database to a file, safely while other tracker processes run.

    Only committed changes are copied: SQLite into one self-contained SQLite file, PostgreSQL with pg_dump's
    custom format (restore with pg_restore; README "Backups").

    \b
    Example:
        tracker backup ~/backups/tracker-2008-09-01.db
    """
    from tracker.core import store

    result = store.backup(app.engine, path, force=force)
    if as_json:
        render_json("backup", app.now, result)
    else:
        message(f"backed up {plural(result['rows'], 'row')} in {plural(result['tables'], 'table')} to "
                f"{result['path']} ({plural(result['bytes'], 'byte')})")  # fmt: skip


@cli.command("copy-to")
@click.argument("url")
@json_option
@pass_app
def copy_to(app: AppContext, url: str, as_json: bool) -> None:
    """Copy the whole database (history, subscriptions, reminders and links included) into an empty one.

    For moving a desk from SQLite to PostgreSQL, or back. Stop `serve` and `remind run` first: what they write
    after the copy has begun stays behind. Then point TRACKER_DB at URL.

    \b
    Example:
        tracker copy-to 'postgresql+psycopg://tracker@db.example.org/tracker'
    """
    from tracker.core import store, transfer

    target = store.engine(url, option="copy-to URL")
    try:
        result = transfer.copy_to(app.engine, target)
    finally:
        target.dispose()
    if as_json:
        render_json("copy-to", app.now, result)
    else:
        copied = plural(sum(result["rows"].values()), "row")
        message(f"copied {copied} in {plural(result['tables'], 'table')} to {result['target']}")


@cli.command("import")
@click.argument("path", type=click.Path())
@json_option
@pass_app
def import_command(app: AppContext, path: str, as_json: bool) -> None:
    """Import meetings (VEVENT) and action items (VTODO) from an .ics file, upserting by UID.

    Re-importing tracker's own export brings back only the items' completion status.

    \b
    Example:
        tracker import official-schedule.ics
    """
    from tracker.calendars import ics_import
    from tracker.core import store

    with store.transaction(app.engine, write=True) as session:
        result = ics_import.import_ics(session, path, now=app.now, tz=app.settings.tz)
    row = {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
    if as_json:
        render_json("import", app.now, row)
    else:
        render_table(f"imported {path}", ["created", "updated", "unchanged"], [row])
