"""The database back as `data/`-style YAML (`tracker dump DIR`), in the format `tracker load` reads.

Five files, as in `data/`: people.yaml (people and the file-wide reminder_policy), committees.yaml,
meetings.yaml (series, then meetings), decisions.yaml and items.yaml. Records come in the order they were
created (the order of the files they were loaded from, which a fresh database loading the dump repeats, ids
included) and carry only the fields that differ from the loader's defaults, so the same database always gives
the same bytes, and load → dump → load gives the same register: an item a task app created keeps its UID and the
name the app put it under (`caldav_name:`), so the app finds it where it was. Not written: item history,
subscriptions, planned reminders and their deliveries, snoozes, a person's e-mail opt-out (their own setting, made
on their settings page), how their task apps show each CalDAV list (dav_views, also theirs), and comments.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.core import files
from tracker.core.clock import start_of_day
from tracker.core.errors import Conflict, InvalidInput
from tracker.core.models import Committee, Decision, Item, Meeting, MeetingSeries, Meta, Person, Precision, Status
from tracker.core.vocab import POLICY_KEY
from tracker.register import dataset, decisions

# file → its sections, in the loader's order
FILES = {
    "people.yaml": ("people",),
    "committees.yaml": ("committees",),
    "meetings.yaml": ("series", "meetings"),
    "decisions.yaml": ("decisions",),
    "items.yaml": ("items",),
}
HEADER = (
    '# Written by `tracker dump` from the database: `tracker load` reads it back (README "The data format").\n'
    "# Records in the order they were created; fields at their default are left out; comments are not kept.\n"
)


def dump(session: Session, directory: str | Path) -> list[dict[str, Any]]:
    """Write the register into `directory` (created if missing), each file atomically, only when its bytes
    change. Other YAML files in `directory` are refused, since `tracker load DIR` would read them with the dump.

    :returns: per file {"path", "records" (per section), "bytes", "changed"}.
    :raises InvalidInput: `directory` is not a folder or cannot be written.
    :raises Conflict: `directory` holds other *.yaml/*.yml files.
    """
    directory = Path(directory)
    _check_directory(directory)
    documents = documents_of(session)
    written = []
    for name, document in documents.items():
        path = directory / name
        data = render(document)
        changed = files.write_if_changed(path, data, "dump")
        records = {section: len(document.get(section, [])) for section in FILES[name]}
        written.append({"path": str(path), "records": records, "bytes": len(data), "changed": changed})
    return written


def _check_directory(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"dump: {directory} is not a folder; give the folder to write the YAML files into")
    if not directory.exists():
        return
    strangers = sorted(p.name for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.name not in FILES)
    if strangers:
        raise Conflict(
            f"dump: {directory} also holds {', '.join(strangers)}, which `tracker load {directory}` would read "
            "beside the dump; move those away or dump into another folder"
        )


def documents_of(session: Session) -> dict[str, dict[str, Any]]:
    """File name → the YAML document it holds."""
    people = _records(session, Person, _person, "people.yaml")
    policy = _file_policy(session)
    return {
        "people.yaml": {"people": people} | ({"reminder_policy": policy} if policy else {}),
        "committees.yaml": {"committees": _records(session, Committee, _committee, "committees.yaml")},
        "meetings.yaml": {
            "series": _records(session, MeetingSeries, series_record, "meetings.yaml"),
            "meetings": _records(session, Meeting, meeting_record, "meetings.yaml"),
        },
        "decisions.yaml": {"decisions": _records(session, Decision, _decision, "decisions.yaml")},
        "items.yaml": {"items": _records(session, Item, _item, "items.yaml")},
    }


def _records(session: Session, model: type, record: Callable[[Any], dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The rows of `model` as records of the file `name`; each keeps the file it was loaded from, when another,
    so that loading the dump back is no conflict (dataset.load)."""
    rows = session.scalars(select(model).order_by(model.id))
    return [
        record(row) | ({"loaded_from": row.loaded_from} if row.loaded_from not in (None, name) else {}) for row in rows
    ]


def _trimmed(model: type[BaseModel], fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` without those at the loader's default for `model` (the loader fills them in again)."""
    defaults = model.model_fields
    return {k: v for k, v in fields.items() if defaults[k].is_required() or v != defaults[k].default}


# --- one record per row ------------------------------------------------------------------------------------


def _person(p: Person) -> dict[str, Any]:
    fields = {
        "slug": p.slug,
        "name": p.name,
        "email": p.email,
        "tz": p.tz,
        "role": p.role,
        "escalation": p.escalation.slug if p.escalation else None,
        "quiet_hours": p.quiet_hours,
        "locale": p.locale,
        "reminders": _policy(p.reminder_policy),
        "invitations": p.invitations,
    }
    return _trimmed(dataset.PersonIn, fields)


def _committee(c: Committee) -> dict[str, Any]:
    fields = {
        "slug": c.slug,
        "name": c.name,
        "role": c.role.value,
        "category": c.category,
        "members": _Flow(p.slug for p in c.members),
        "description": c.description,
        "source": c.source_quote,
    }
    return _trimmed(dataset.CommitteeIn, fields)


def series_record(s: MeetingSeries) -> dict[str, Any]:
    """A series as its YAML record (register.meeting_records edits one by changing this and loading it back)."""
    tz = ZoneInfo(s.tz)
    fields = {
        "slug": s.slug,
        "title": s.title,
        "uid": _unless(s.uid, f"series-{s.slug}@tracker"),
        "rrule": s.rrule,
        "start": _day(s.start, tz, s.precision),
        "days": s.days,
        "tz": s.tz,
        "attendees": _Flow(s.attendees),
        "description": s.description,
        "source": s.source_quote,
        "recorded": _moment(s.updated_at, tz),
    }
    return _trimmed(dataset.SeriesIn, fields)


def meeting_record(m: Meeting) -> dict[str, Any]:
    """A meeting as its YAML record (register.meeting_records edits one by changing this and loading it back)."""
    tz = ZoneInfo(m.tz)
    start = _day(m.start, tz, m.precision) if m.all_day else _time(m.start, tz)
    if m.all_day:
        last = (m.end.astimezone(tz) - timedelta(days=1)).date().isoformat()  # the YAML's end is inclusive
        end = _unless(last, m.start.astimezone(tz).date().isoformat())
    else:
        end = _unless(_time(m.end, tz), start)
    series_tz = ZoneInfo(m.series.tz) if m.series else tz
    fields = {
        "slug": m.slug,
        "title": m.title,
        "uid": None if m.recurrence_id else _unless(m.uid, f"meeting-{m.slug}@tracker"),
        "series": m.series.slug if m.series else None,
        "overrides": _moment(m.recurrence_id, series_tz) if m.recurrence_id else None,
        "number": m.number,
        "start": start,
        "end": end,
        "tz": m.tz,
        "place": m.place,
        "host": m.host,
        "theme": m.theme,
        "subthemes": list(m.subthemes),
        "attendees": _Flow(m.attendees),
        "our_role": m.our_role,
        "description": m.description,
        "source": m.source_quote,
        "cancelled": m.cancelled,
        "recorded": _moment(m.updated_at, tz),
    }
    return _trimmed(dataset.MeetingIn, fields)


def _decision(d: Decision) -> dict[str, Any]:
    fields = {
        "slug": d.slug,
        "title": d.title,
        "meeting": d.meeting.slug,
        "category": d.category,
        "affects_series": d.affects_series.slug if d.affects_series else None,
        "affects_committee": d.affects_committee.slug if d.affects_committee else None,
        "affects_plan": d.affects_plan,
        "drops": _Flow(decisions.drops_of(d)),
        "description": d.description,
        "source": d.source_quote,
        "recorded": _moment(d.updated_at, ZoneInfo(d.meeting.tz)),
    }
    return _trimmed(dataset.DecisionIn, fields)


def _item(i: Item) -> dict[str, Any]:
    tz = ZoneInfo(i.tz)
    owners = [p.slug for p in i.owners]
    due = None
    if i.due is not None:
        due = _day(i.due, tz, Precision.day) if i.due_all_day else _time(i.due, tz)
    done = i.status == Status.done and i.completed_at is not None
    fields = {
        "slug": i.slug,
        "title": i.title,
        "uid": _unless(i.uid, f"item-{i.slug}@tracker"),
        "caldav_name": i.dav_href,  # only for a task an app created: it finds it there again after a restore
        "description": i.description,
        "owners": _Flow(owners),
        "due": due,
        "tz": _unless(i.tz, i.owners[0].tz if owners else None),
        "due_note": i.due_note,
        "status": i.status.value,
        "completed_at": _time(i.completed_at, tz) if done else None,
        "completed_by": i.completed_by if done else None,
        "completed_how": i.completed_how if done else None,
        "priority": i.priority,
        "category": i.category,
        "meeting": i.meeting.slug if i.meeting else None,
        "serves": (i.serves_meeting or i.serves_series).slug if (i.serves_meeting or i.serves_series) else None,
        "committee": i.committee.slug if i.committee else None,
        "decision": i.decision.slug if i.decision else None,
        "source": i.source_quote,
        "note": i.note,
        "reminders": _policy(i.reminder_policy),
        "recorded": _moment(i.updated_at, tz),
    }
    return _trimmed(dataset.ItemIn, fields)


def _policy(stored: dict[str, Any]) -> dict[str, Any] | None:
    """Reminder-policy overrides in the loader's field order (a JSON column need not keep key order)."""
    ordered = {name: stored[name] for name in dataset.PolicyIn.model_fields if name in stored}
    return {k: _Flow(v) if isinstance(v, list) else v for k, v in ordered.items()} or None


def _file_policy(session: Session) -> dict[str, Any] | None:
    row = session.get(Meta, POLICY_KEY)
    if row is None:
        return None
    stored = json.loads(row.value)
    policy = {
        "defaults": _policy(stored.get("defaults", {})),
        "categories": {k: _policy(v) or {} for k, v in sorted(stored.get("categories", {}).items())},
    }
    return {k: v for k, v in policy.items() if v} or None


# --- dates as the loader reads them ------------------------------------------------------------------------


def _unless(value: Any, default: Any) -> Any:
    """`value`, or None (left out) when it is what the loader would derive anyway."""
    return None if value == default else value


def _day(at: datetime, tz: ZoneInfo, precision: Precision) -> str:
    """A stored all-day instant (local midnight) as the date, or the month when the source gives no day."""
    local = at.astimezone(tz)
    return f"{local:%Y-%m}" if precision == Precision.month else local.date().isoformat()


def _time(at: datetime, tz: ZoneInfo) -> str:
    """A date-time in `tz` with its offset: exact, also in the hour a clock change repeats."""
    local = at.astimezone(tz)
    return local.isoformat(timespec="minutes" if not (local.second or local.microsecond) else "auto")


def _moment(at: datetime, tz: ZoneInfo) -> str:
    """An instant as a date when it is local midnight in `tz` (how `recorded: 2008-08-29` is read), else a
    date-time."""
    day = at.astimezone(tz).date()
    return day.isoformat() if start_of_day(day, tz) == at else _time(at, tz)


# --- YAML ----------------------------------------------------------------------------------------------------


class _Flow(list):
    """A list of slugs or numbers, written on one line as in data/: `owners: [apec-officer, desk-lead]`."""


class _Dumper(yaml.SafeDumper):
    """Block style with indented lists, multi-line text as literal blocks, dates unquoted (the loader reads them
    as text), no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


_Dumper.yaml_implicit_resolvers = dataset._Loader.yaml_implicit_resolvers
_Dumper.add_representer(
    str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)
)
_Dumper.add_representer(_Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def _yaml(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110)


def render(document: dict[str, Any]) -> bytes:
    """One file's bytes: the header, then each section, its records separated by a blank line."""
    parts = [HEADER]
    for key, value in document.items():
        if isinstance(value, list) and value:
            records = "\n".join(_yaml([record]) for record in value)
            parts.append(f"\n{key}:\n{textwrap.indent(records, '  ')}")
        else:
            parts.append("\n" + _yaml({key: value}))
    return "".join(parts).encode("utf-8")
