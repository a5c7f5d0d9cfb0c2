"""The `report` group: the register, a meeting's promises and where they stand, and who is late, as a table, CSV,
XLSX or JSON (tracker.register.reports)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tracker.cli.base import AppContext, cli, complete, json_option, pass_app, register_filters
from tracker.cli.output import json_text, message, render_record, render_table
from tracker.core.errors import InvalidInput
from tracker.core.rules import plural

if TYPE_CHECKING:
    from tracker.register.reports import Report

# The columns of each report's table in the terminal (its files have every column).
TABLES = {
    "register": ["id", "title", "owners", "status", "due"],
    "promised": ["id", "title", "status", "due", "days_late"],
    "overdue": ["owner", "id", "title", "due", "days_late"],
}


@cli.group()
def report() -> None:
    """Reports to file or forward: the register, what a meeting was promised, who is late.

    Each prints a table, or with --format csv|xlsx|json (or --output FILE, its format from the file's extension)
    the whole report. Times are in --tz; "role" is our role in the item's committee (lead or member).

    \b
    Example:
        tracker report register --status all --output register.xlsx
        tracker report promised apec-sme-ministerial-15
        tracker --now 2009-06-01 report overdue --format csv
    """


def _output_options(f: Any) -> Any:  # noqa: ANN401 - a click command function
    f = click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here.")(f)
    f = click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "json"]), help="csv, xlsx or json.")(f)
    return json_option(f)


def _format(fmt: str | None, output: Path | None, as_json: bool) -> str | None:
    """The format asked for: --json, --format, else the output file's extension; None: a table."""
    if as_json:
        if fmt not in (None, "json"):
            raise InvalidInput(f"--json: the report is JSON, not {fmt}")
        return "json"
    if fmt or output is None:
        return fmt
    suffix = output.suffix.lower().removeprefix(".")
    if suffix not in ("csv", "xlsx", "json"):
        raise InvalidInput(f"--output: name a .csv, .xlsx or .json file, or give --format ({output.name})")
    return suffix


def _deliver(app: AppContext, command: str, found: Report, fmt: str | None, output: Path | None) -> None:
    """Print the report's table, or write it in `fmt` to `output` (or to stdout, except a workbook)."""
    from tracker.register import reports

    if fmt is None:
        rows = [{key: reports.text(value) for key, value in r.items()} for r in found.rows]
        if found.summary:
            render_record(found.title, {label: str(reports.text(value)) for _key, label, value in found.summary})
        render_table(f"{found.title} ({plural(len(rows), 'row')}; times in {app.settings.tz})", TABLES[found.name],
                     rows)  # fmt: skip
        return
    if fmt == "xlsx":
        data = reports.xlsx_bytes(found)
    elif fmt == "csv":
        data = reports.csv_text(found).encode("utf-8")
    else:
        data = (json_text(command, app.now, reports.as_json(found)) + "\n").encode("utf-8")
    if output is None:
        if fmt == "xlsx":
            raise InvalidInput("--format xlsx: give --output FILE (a workbook is not text for a terminal)")
        click.echo(data.decode("utf-8-sig"), nl=False)
        return
    _write(output, data)
    message(f"Wrote {output} ({plural(len(found.rows), 'row')}).")


def _write(path: Path, data: bytes) -> None:
    from tracker.core.files import atomic_write

    try:
        atomic_write(path, data)
    except OSError as e:
        raise InvalidInput(f"--output: cannot write {path}: {e.strerror or e}") from None


@report.command("register")
@register_filters()
@_output_options
@pass_app
def report_register(app: AppContext, fmt: str | None, output: Path | None, as_json: bool, **filters: Any) -> None:
    """The register, one row per item (open ones unless --status says otherwise), filtered as `tracker items`.

    \b
    Example:
        tracker report register --status all --output register.xlsx
        tracker report register --owner apec-officer --format csv
    """
    from tracker.core import store
    from tracker.register import listing, reports

    chosen = _format(fmt, output, as_json)
    view = listing.view(filters, app.settings.zone)
    with store.transaction(app.engine) as session:
        found = reports.register(session, app.now, view, app.settings.zone)
    _deliver(app, "report register", found, chosen, output)


@report.command("promised")
@click.argument("meeting", shell_complete=complete("meeting-or-series"))
@_output_options
@pass_app
def report_promised(app: AppContext, meeting: str, fmt: str | None, output: Path | None, as_json: bool) -> None:
    """What MEETING (a meeting or series slug) was promised and where it stands now: the items that came from it or
    serve it or its series, with the counts done, open (not late), overdue and cancelled.

    \b
    Example:
        tracker report promised apec-sme-ministerial-15
        tracker report promised apec-smewg --output smewg.xlsx
    """
    from tracker.core import store
    from tracker.register import reports

    chosen = _format(fmt, output, as_json)
    with store.transaction(app.engine) as session:
        found = reports.promised(session, app.now, meeting, app.settings.zone)
    _deliver(app, "report promised", found, chosen, output)


@report.command("overdue")
@register_filters("status", "overdue", "sort", "order")
@_output_options
@pass_app
def report_overdue(app: AppContext, fmt: str | None, output: Path | None, as_json: bool, **filters: Any) -> None:
    """Each owner's overdue items as of now (--now), the latest first, and how many days late; the other filters
    narrow it as in `tracker items`.

    \b
    Example:
        tracker --now 2009-06-01 report overdue
        tracker report overdue --committee kpi-innovation --output late.xlsx
    """
    from tracker.core import store
    from tracker.register import listing, reports

    chosen = _format(fmt, output, as_json)
    view = listing.view(filters, app.settings.zone)
    with store.transaction(app.engine) as session:
        found = reports.overdue(session, app.now, view, app.settings.zone)
    _deliver(app, "report overdue", found, chosen, output)
