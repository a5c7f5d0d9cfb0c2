"""The `meeting` group: add, edit, announce and cancel meetings and series outside the YAML (register.meeting_records).
`tracker meetings` (register_commands) lists their occurrences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from tracker.cli.base import AppContext, cli, complete, json_option, pass_app
from tracker.cli.output import message, render_json, render_table


@cli.group()
def meeting() -> None:
    """Add, edit, announce and cancel meetings and series (as data/meetings.yaml would).

    \b
    Example:
        tracker meeting add "SME Innovation Forum" --start 2009-05-12 --tz Asia/Taipei --place Taipei
        tracker meeting announce apec-smewg 2027-03 --start 2027-03-09 --end 2027-03-11 --place Lima
        tracker meeting cancel apec-smewg 2027-09
    """


def _fields(f: Callable) -> Callable:
    """The record's fields as options (the YAML's names, with - for _; lists repeat)."""
    options = [
        click.option("--start", help="Date (2009-03-09), month (2009-03) or date-time (2009-03-09T09:30)."),
        click.option("--end", help="Last day or end time [default: one day; a moved start keeps its length]."),
        click.option("--tz", "meeting_tz", help="IANA zone of the dates [default: the series', else --tz]."),
        click.option("--number", type=int, help="Its number (the 28th: 28)."),
        click.option("--place"),
        click.option("--host"),
        click.option("--theme"),
        click.option("--subtheme", "subthemes", multiple=True, help="A sub-theme (repeat for several)."),
        click.option("--attendee", "attendees", multiple=True, help="Person slug (repeat for several).",
                     shell_complete=complete("person")),
        click.option("--our-role", help="What the delegation does there."),
        click.option("--description"),
        click.option("--source", help="The source quote."),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


def _record(
    meeting_tz: str | None, subthemes: tuple[str, ...], attendees: tuple[str, ...], **fields: Any
) -> dict[str, Any]:
    """The options as a record's fields: None (not given) is left to the core; lists only when given."""
    return fields | {"tz": meeting_tz, "subthemes": list(subthemes) or None, "attendees": list(attendees) or None}


def _show(command: str, app: AppContext, record: dict[str, Any], as_json: bool, said: str) -> None:
    if as_json:
        render_json(command, app.now, record)
        return
    message(said)
    columns = (
        ["slug", "start", "rrule"] if record["kind"] == "series" else ["slug", "start", "end", "place", "cancelled"]
    )
    render_table(command, [*columns, "sequence"], [record])


@meeting.command("add")
@click.argument("title")
@click.option("--slug", help="Stable id [default: from the title].")
@click.option("--series", help="The series it belongs to (announce replaces an occurrence).",
              shell_complete=complete("series"))  # fmt: skip
@click.option("--rrule", help="Make a series: an RFC 5545 RRULE (FREQ=MONTHLY;INTERVAL=6) from --start.")
@click.option("--days", type=int, help="A series: how many days each occurrence lasts [default: 1].")
@_fields
@json_option
@pass_app
def meeting_add(app: AppContext, title: str, rrule: str | None, days: int | None, as_json: bool,
                **options: Any) -> None:  # fmt: skip
    """Add a meeting, or with --rrule a series.

    \b
    Example:
        tracker meeting add "SME Innovation Forum" --start 2009-05-12 --end 2009-05-13 --tz Asia/Taipei
        tracker meeting add "APEC SMEWG" --rrule "FREQ=MONTHLY;INTERVAL=6" --start 2009-03 --slug smewg
    """
    from tracker.core import store
    from tracker.register import meeting_records

    fields = _record(**options) | {"title": title}
    with store.transaction(app.engine, write=True) as session:
        if rrule is None and days is None:
            row = meeting_records.add_meeting(session, app.now, {"tz": app.settings.tz} | _given(fields))
        else:
            row = meeting_records.add_series(session, app.now, {"tz": app.settings.tz} | _given(fields) |
                                             _given({"rrule": rrule, "days": days}))  # fmt: skip
        record = meeting_records.as_dict(row)
    _show("meeting add", app, record, as_json, f"added {record['kind']} {record['slug']}")


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


@meeting.command("edit")
@click.argument("slug", shell_complete=complete("meeting-or-series"))
@click.option("--title")
@click.option("--rrule", help="A series: its new RRULE.")
@click.option("--days", type=int, help="A series: how many days each occurrence lasts.")
@_fields
@json_option
@pass_app
def meeting_edit(app: AppContext, slug: str, as_json: bool, **options: Any) -> None:
    """Change fields of a meeting or series; a real change raises its calendar SEQUENCE.

    \b
    Example:
        tracker meeting edit apec-smewg-28 --place "Bangkok, Thailand"
    """
    from tracker.core import store
    from tracker.register import meeting_records

    fields = _record(**options)
    with store.transaction(app.engine, write=True) as session:
        before = meeting_records.as_dict(meeting_records.get(session, slug))["sequence"]
        record = meeting_records.as_dict(meeting_records.edit(session, slug, app.now, fields))
    said = "changed" if record["sequence"] != before else "nothing to change in"
    _show("meeting edit", app, record, as_json, f"{said} {record['kind']} {slug}")


@meeting.command("announce")
@click.argument("series", shell_complete=complete("series"))
@click.argument("occurrence")
@click.option("--title", help="[default: the series' title]")
@click.option("--slug", help="Stable id, the first time [default: SERIES-OCCURRENCE].")
@_fields
@json_option
@pass_app
def meeting_announce(app: AppContext, series: str, occurrence: str, as_json: bool, **options: Any) -> None:
    """Give an occurrence of a series its real date, place, host…: OCCURRENCE is its date, or its month for a
    placeholder ("2027-03 (day TBC)" → 2027-03). Again, it moves it: same UID and RECURRENCE-ID, SEQUENCE up.

    \b
    Example:
        tracker meeting announce apec-smewg 2027-03 --start 2027-03-09 --end 2027-03-11 --place Lima --number 64
    """
    from tracker.core import store
    from tracker.register import meeting_records

    fields = _record(**options)
    with store.transaction(app.engine, write=True) as session:
        record = meeting_records.as_dict(meeting_records.announce(session, series, occurrence, app.now, fields))
    said = f"announced the {record['recurrence_id']} occurrence of {series}: {record['slug']} from {record['start']}"
    _show("meeting announce", app, record, as_json, said)


@meeting.command("cancel")
@click.argument("slug", shell_complete=complete("meeting-or-series"))
@click.argument("occurrence", required=False)
@json_option
@pass_app
def meeting_cancel(app: AppContext, slug: str, occurrence: str | None, as_json: bool) -> None:
    """Cancel a meeting, one OCCURRENCE of a series (its date, or month), or a series from now on (its rule ends
    with the last occurrence that has begun). Calendars show STATUS:CANCELLED.

    \b
    Example:
        tracker meeting cancel apec-smewg 2027-09
    """
    from tracker.core import store
    from tracker.register import meeting_records

    with store.transaction(app.engine, write=True) as session:
        record = meeting_records.as_dict(meeting_records.cancel(session, slug, app.now, occurrence))
    what = f"the {occurrence} occurrence of {slug}" if occurrence else f"{record['kind']} {slug}"
    ended = f" (its rule now ends: {record['rrule']})" if record["kind"] == "series" else ""
    _show("meeting cancel", app, record, as_json, f"cancelled {what}{ended}")


@meeting.command("restore")
@click.argument("slug", shell_complete=complete("meeting-or-series"))
@click.argument("occurrence", required=False)
@json_option
@pass_app
def meeting_restore(app: AppContext, slug: str, occurrence: str | None, as_json: bool) -> None:
    """Undo a cancel: a meeting, or one OCCURRENCE of a series, is held again (calendars follow).

    \b
    Example:
        tracker meeting restore apec-smewg 2027-09
    """
    from tracker.core import store
    from tracker.register import meeting_records

    with store.transaction(app.engine, write=True) as session:
        record = meeting_records.as_dict(meeting_records.restore(session, slug, app.now, occurrence))
    what = f"the {occurrence} occurrence of {slug}" if occurrence else f"meeting {slug}"
    _show("meeting restore", app, record, as_json, f"restored {what}")
