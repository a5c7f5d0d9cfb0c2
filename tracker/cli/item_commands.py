"""The action-item commands: items, show, add, edit, done, reopen, cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from tracker.cli.base import (
    AppContext,
    cli,
    complete,
    complete_category,
    items_table,
    json_option,
    pass_app,
    register_filters,
)
from tracker.cli.output import message, render_json, render_record, render_table
from tracker.core.vocab import CATEGORIES, PRIORITIES


@cli.command("items")
@register_filters()
@json_option
@pass_app
def items_command(app: AppContext, as_json: bool, **options: Any) -> None:
    """List action items (open ones unless --status says otherwise), filtered and sorted as the register page.

    \b
    Example:
        tracker items --overdue
        tracker items --status all --owner apec-officer --json
        tracker items --q KPI --committee smewg --sort priority
    """
    from tracker.core import store
    from tracker.register import items, listing

    view = listing.view(options, app.settings.zone)
    with store.transaction(app.engine) as session:
        rows = [items.as_dict(i, app.now) for i in listing.every(session, app.now, view)]
    if as_json:
        render_json("items", app.now, rows)
    else:
        items_table("items", rows)


@cli.command()
@click.argument("ref", shell_complete=complete("item"))
@json_option
@pass_app
def show(app: AppContext, ref: str, as_json: bool) -> None:
    """Show one item, with its source quote and history. REF is the numeric id or the slug.

    \b
    Example:
        tracker show kpi-committee-volunteer
    """
    from tracker.core import store
    from tracker.register import history, items

    with store.transaction(app.engine) as session:
        item = items.get(session, ref)
        record = items.as_dict(item, app.now)
        changes = history.entries(item, app.settings.zone, for_people=not as_json)
    if as_json:
        render_json("show", app.now, record | {"history": changes})
        return
    shown = items.readable(record, app.settings.zone)
    if shown["completed_how"]:
        shown["completed_how"] = history.way(shown["completed_how"])
    render_record(f"#{record['id']} {record['title']}", shown)
    changes = [change | {"how": history.way(change["how"])} for change in changes]
    render_table(f"history (times in {app.settings.tz})", ["at", "by", "how", "field", "old", "new", "note"], changes)


def _item_options(f: Callable) -> Callable:
    options = [
        click.option(
            "--owner",
            "owners",
            multiple=True,
            help="Owner person slug (repeat for several).",
            shell_complete=complete("person"),
        ),
        click.option("--due", help="Due date (2009-03-01) or date-time (2009-03-01T17:00)."),
        click.option("--tz", "item_tz", help="IANA zone of the due date [default: first owner's, else --tz]."),
        click.option("--priority", type=click.Choice(PRIORITIES)),
        click.option("--category", help=f"Priority area: {', '.join(CATEGORIES)}.", shell_complete=complete_category),
        click.option("--meeting", help="Slug of the meeting the item came from.", shell_complete=complete("meeting")),
        click.option(
            "--serves",
            help="Slug of the meeting or series the item serves.",
            shell_complete=complete("meeting-or-series"),
        ),
        click.option("--committee", help="Committee slug.", shell_complete=complete("committee")),
        click.option(
            "--decision",
            help="Slug of the decision the item carries out (see `tracker decisions`).",
            shell_complete=complete("decision"),
        ),
        click.option("--description"),
        click.option("--source", "source_quote", help="The source quote."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@cli.command()
@click.argument("title")
@click.option("--slug", help="Stable id [default: from the title].")
@_item_options
@json_option
@pass_app
def add(app: AppContext, title: str, slug: str | None, owners: tuple[str, ...], due: str | None,
        item_tz: str | None, as_json: bool, **fields: Any) -> None:  # fmt: skip
    """Add an action item.

    \b
    Example:
        tracker add "Send KPI draft to the lead economy" --owner apec-officer --due 2009-02-15
    """
    from tracker.core import store
    from tracker.register import items

    fields = {k: v for k, v in fields.items() if v is not None}
    with store.transaction(app.engine, write=True) as session:
        item = items.add(
            session, app.now, title, by=app.actor, default_tz=app.settings.tz, tz=item_tz, slug=slug,
            owners=list(owners), due=due, **fields,
        )  # fmt: skip
        record = items.as_dict(item, app.now)
    _show_changed("add", app, None, record, as_json)


def _show_changed(command: str, app: AppContext, before: dict[str, Any] | None, record: dict[str, Any],
                  as_json: bool) -> None:  # fmt: skip
    if as_json:
        render_json(command, app.now, record)
        return
    from tracker.register import history

    message(history.sentence(command, before, record))
    items_table(command, [record])


@cli.command()
@click.argument("ref", shell_complete=complete("item"))
@click.option("--title")
@click.option("--status", type=click.Choice(["open", "in_progress", "done", "cancelled"]))
@click.option("--note", help="Why; kept in the history.")
@_item_options
@json_option
@pass_app
def edit(app: AppContext, ref: str, owners: tuple[str, ...], item_tz: str | None, note: str | None,
         as_json: bool, **fields: Any) -> None:  # fmt: skip
    """Change fields of an item; each change is kept in its history and raises its calendar SEQUENCE.

    \b
    Example:
        tracker edit 3 --due 2009-03-15 --note "moved by the lead economy"
    """
    from tracker.core import store
    from tracker.register import items

    with store.transaction(app.engine, write=True) as session:
        before = items.as_dict(items.get(session, ref), app.now)
        item = items.edit(
            session,
            ref,
            app.now,
            by=app.actor,
            owners=list(owners) or None,
            tz=item_tz,
            note=note or "",
            **fields,
        )
        record = items.as_dict(item, app.now)
    _show_changed("edit", app, before, record, as_json)


def _status_command(name: str, summary: str, candidates: tuple[str, ...]) -> None:
    """The command `name`, which calls items.<name>; Tab offers the items of `candidates` statuses."""

    @cli.command(name, help=f'{summary}\n\n\b\nExample:\n    tracker {name} 3 --note "..."')
    @click.argument("ref", shell_complete=complete("item", candidates))
    @click.option("--note", default="", help="Why; kept in the history.")
    @json_option
    @pass_app
    def command(app: AppContext, ref: str, note: str, as_json: bool) -> None:
        from tracker.core import store
        from tracker.register import items

        with store.transaction(app.engine, write=True) as session:
            before = items.as_dict(items.get(session, ref), app.now)
            item = getattr(items, name)(session, ref, app.now, by=app.actor, note=note)
            record = items.as_dict(item, app.now)
        _show_changed(name, app, before, record, as_json)


_status_command("done", "Mark an item done (again: no change). REF is the id or slug.", ("open", "in_progress"))
_status_command("reopen", "Reopen a done or cancelled item.", ("done", "cancelled"))
_status_command("cancel", "Cancel an item: it stays in the record, and reminders stop.", ("open", "in_progress"))
