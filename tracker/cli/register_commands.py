"""Setting up and reading the register: init, load, people, meetings, agenda."""

from __future__ import annotations

from datetime import timedelta

import click

from tracker.cli.base import AppContext, cli, items_table, json_option, pass_app
from tracker.cli.output import message, render_json, render_table
from tracker.core.rules import plural


@cli.command()
@pass_app
def init(app: AppContext) -> None:
    """Create the database, or bring an older one's schema up to date (every command also does this first).

    \b
    Example:
        tracker --db sqlite:///tracker.db init
    """
    from tracker.core import migrations, store

    message(f"database ready: {store.shown_url(app.engine)} (schema revision {migrations.head()})")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--move", is_flag=True, help="Let records move here from the files they were loaded from before.")
@json_option
@pass_app
def load(app: AppContext, paths: tuple[str, ...], move: bool, as_json: bool) -> None:
    """Load YAML files or folders (default: data/) — an idempotent upsert by slug.

    A slug already loaded from another file is refused, unless --move.

    \b
    Example:
        tracker load data/
    """
    from tracker.core import store
    from tracker.register import dataset

    records = dataset.read(paths or ("data",))  # parsed and validated before the write lock is taken
    with store.transaction(app.engine, write=True) as session:
        result = dataset.load(session, records, now=app.now, move=move)
    for warning in result.warnings:
        message(f"Warning: {warning}")
    if as_json:
        render_json("load", app.now, result.rows())
    else:
        render_table("loaded", ["kind", "created", "updated", "unchanged"], result.rows())


@cli.command("people")
@json_option
@pass_app
def people_command(app: AppContext, as_json: bool) -> None:
    """List the people items and reminders go to: name, role, e-mail, zone, escalation contact, open items.

    \b
    Example:
        tracker people --json
    """
    from tracker.core import store
    from tracker.register import people

    with store.transaction(app.engine) as session:
        rows = people.people(session)
    if as_json:
        render_json("people", app.now, rows)
        return
    for row in rows:  # the role beside the name: at 80 columns every slug still fits on its line
        row["name"] += f" ({row['role']})" if row["role"] else ""
        row["open"] = row["open_items"]
    render_table("people", ["slug", "name", "email", "tz", "escalation", "open"], rows)


@cli.command("meetings")
@click.option("--from", "start", help="Window start [default: now].")
@click.option("--to", "end", help="Window end [default: a year after --from].")
@json_option
@pass_app
def meetings_command(app: AppContext, start: str | None, end: str | None, as_json: bool) -> None:
    """List meeting occurrences in a window, recurring series expanded.

    \b
    Example:
        tracker meetings --from 2008-01-01 --to 2012-12-31
    """
    from tracker.calendars import meetings
    from tracker.core import store

    begin = app.parse_time(start, "--from") or app.now
    until = app.parse_time(end, "--to") or begin + timedelta(days=365)
    with store.transaction(app.engine) as session:
        rows = meetings.meetings(session, begin, until, app.now)
    if as_json:
        render_json("meetings", app.now, rows)
        return
    rows = [meetings.readable(row) for row in rows]
    for row in rows:
        row["_style"] = "dim" if row["past"] else None
        row["when"] = row["date"] if row["end_date"] == row["date"] else f"{row['date']} – {row['end_date']}"
        notes = ("past" * row["past"], "cancelled" * row["cancelled"] or "tentative" * row["tentative"])
        row["note"] = ", ".join(n for n in notes if n)
    render_table("meetings", ["when", "title", "place", "series", "note"], rows, "none in this window")


@cli.command("agenda")
@click.option("--days", default=14, show_default=True, help="How far ahead to look.")
@json_option
@pass_app
def agenda_command(app: AppContext, days: int, as_json: bool) -> None:
    """What is overdue, what is due, and which meetings happen in the next days.

    \b
    Example:
        tracker --now 2008-09-01 agenda --days 60
    """
    from tracker.calendars import agenda, meetings
    from tracker.core import store

    with store.transaction(app.engine) as session:
        result = agenda.agenda(session, app.now, days)
    if as_json:
        render_json("agenda", app.now, result)
        return
    message(f"now: {app.now.astimezone(app.settings.zone):%Y-%m-%d %H:%M} {app.settings.tz}")
    items_table("overdue", result["overdue"])
    items_table(f"due in the next {plural(days, 'day')}", result["due"])
    ahead = [meetings.readable(row) for row in result["meetings"]]
    for row in ahead:
        row["when"] = row["date"] if row["end_date"] == row["date"] else f"{row['date']} – {row['end_date']}"
    render_table(f"meetings in the next {plural(days, 'day')}", ["when", "title", "place"], ahead)
