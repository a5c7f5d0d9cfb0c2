"""The decision log: `tracker decisions`."""

from __future__ import annotations

import click

from tracker.cli.base import AppContext, cli, complete, complete_category, json_option, pass_app
from tracker.cli.output import render_json, render_table
from tracker.core.vocab import CATEGORIES


@cli.command("decisions")
@click.option(
    "--meeting",
    help="Slug of the meeting that decided (a series: its meetings).",
    shell_complete=complete("meeting-or-series"),
)
@click.option("--category", help=f"Priority area: {', '.join(CATEGORIES)}.", shell_complete=complete_category)
@click.option("--affects", help="Slug of a series or committee, or words of a plan, that decisions affect.")
@json_option
@pass_app
def decisions_command(
    app: AppContext, meeting: str | None, category: str | None, affects: str | None, as_json: bool
) -> None:
    """List what meetings decided, each with the meeting, priority area, what it affects and its source quote.

    \b
    Example:
        tracker decisions --meeting apec-sme-ministerial-15
        tracker decisions --affects apec-sme-ministerial --json
        tracker decisions --affects "Chiclayo Plan" --category innovation
    """
    from tracker.core import store
    from tracker.register import decisions

    with store.transaction(app.engine) as session:
        rows = decisions.rows(session, decisions.decisions(session, meeting, category, affects))
    if as_json:
        render_json("decisions", app.now, rows)
        return
    render_table("decisions", ["slug", "title", "category", "affects"], rows, "none")
