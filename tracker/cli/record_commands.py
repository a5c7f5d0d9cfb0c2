"""Came home from a meeting: `tracker record FILE.yaml` records the meeting, its outcome and its follow-ups."""

from __future__ import annotations

import click

from tracker.cli.base import AppContext, cli, items_table, json_option, pass_app
from tracker.cli.output import message, render_json
from tracker.core.rules import plural


@cli.command()
@click.argument("path", type=click.Path())
@json_option
@pass_app
def record(app: AppContext, path: str, as_json: bool) -> None:
    """Record what came home from a meeting, all or nothing: the meeting (by slug, a series' occurrence, or a new
    one), its outcome, and its follow-ups, each an item that comes from it.

    \b
    PATH is a YAML file:
        meeting: apec-smewg-27        # or {series: apec-smewg, occurrence: 2009-03}, or a new meeting's fields
        outcome: What the delegation came home with.
        follow_ups:
          - title: Circulate the KPI draft
            owners: [apec-officer]
            due: 2008-09-30
            category: management-entrepreneurship
            source: "the quote of the report that asks for it"

    \b
    Example:
        tracker record came-home-smewg-27.yaml
    """
    from tracker.core import store
    from tracker.register import records

    document = records.read(path)
    with store.transaction(app.engine, write=True) as session:
        recorded = records.record(session, document, app.now, by=app.actor, how="cli", default_tz=app.settings.tz,
                                  source=path)  # fmt: skip
        result = recorded.as_dict(app.now)
    if as_json:
        render_json("record", app.now, result)
        return
    made = "new meeting" if result["meeting_created"] else "meeting"
    message(f"recorded {made} {result['meeting']} with {plural(len(result['items']), 'follow-up')}")
    items_table("follow-ups", result["items"])
