"""External .ics → meetings, series and items, upserted by UID (+ RECURRENCE-ID), idempotently.

Everything is parsed and checked before the first write; the caller's transaction makes a failure leave the
database as it was. Our own exported UIDs map back to their rows, so re-importing an export is a no-op.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Component
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import items as items_module
from tracker.clock import start_of_day
from tracker.dataset import update_row
from tracker.errors import InvalidInput
from tracker.models import Item, Meeting, MeetingSeries, Precision
from tracker.vocab import CATEGORIES

STATUS_FROM_ICS = {"NEEDS-ACTION": "open", "IN-PROCESS": "in_progress", "COMPLETED": "done", "CANCELLED": "cancelled"}
CATEGORY_FROM_LABEL = {label: slug for slug, label in CATEGORIES.items()}


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def _slug_for(uid: str, prefix: str, summary: str) -> str:
    """Our own UIDs give back their slug; a foreign UID gets a stable slug from its summary and a hash."""
    local, _, domain = uid.partition("@")
    if domain == "tracker" and local.startswith(f"{prefix}-"):
        return local.removeprefix(f"{prefix}-")
    digest = hashlib.sha256(uid.encode()).hexdigest()[:8]
    return f"{items_module.slugify(summary)[:50]}-{digest}"


def _zone_name(value: date | datetime) -> str:
    tzinfo = getattr(value, "tzinfo", None)
    return getattr(tzinfo, "key", None) or "UTC"


def _instant(value: date | datetime, tz: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=ZoneInfo(tz)) if value.tzinfo is None else value.astimezone(UTC)
    return start_of_day(value, ZoneInfo(tz))


def _stamp(component: Component, now: datetime) -> datetime:
    for name in ("LAST-MODIFIED", "DTSTAMP"):
        if name in component and isinstance(component.decoded(name), datetime):
            return component.decoded(name).astimezone(UTC)
    return now


def _span(component: Component, where: str) -> tuple[datetime, datetime, bool, str]:
    if "DTSTART" not in component:
        raise InvalidInput(f"{where}: DTSTART: missing")
    start = component.start
    end = component.end
    tz = _zone_name(start)
    all_day = not isinstance(start, datetime)
    if end is None:
        end = start + timedelta(days=1) if all_day else start
    if end < start:
        raise InvalidInput(f"{where}: DTEND: before DTSTART")
    return _instant(start, tz), _instant(end, tz), all_day, tz


def parse(path: Path) -> Calendar:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InvalidInput(f"{path}: cannot read: {e.strerror}") from None
    try:
        return Calendar.from_ical(raw)
    except (ValueError, IndexError, KeyError) as e:
        raise InvalidInput(f"{path}: not a valid iCalendar file: {e}") from None


def import_ics(session: Session, path: str | Path, now: datetime) -> ImportResult:
    """Upsert the VEVENTs and VTODOs of `path`. Call inside store.transaction()."""
    path = Path(path)
    calendar = parse(path)
    if calendar.name != "VCALENDAR":
        raise InvalidInput(f"{path}: not a VCALENDAR")
    result = ImportResult()
    events = list(calendar.walk("VEVENT"))
    # Series first, then the rest, so that RECURRENCE-ID overrides find their series.
    events.sort(key=lambda e: ("RRULE" not in e, "RECURRENCE-ID" in e))
    for n, event in enumerate(events, 1):
        result.count(_import_event(session, event, f"{path}: VEVENT #{n} {event.get('UID', '')}".strip(), now))
    for n, todo in enumerate(calendar.walk("VTODO"), 1):
        result.count(_import_todo(session, todo, f"{path}: VTODO #{n} {todo.get('UID', '')}".strip(), now))
    return result


def _require_uid(component: Component, where: str) -> str:
    uid = str(component.get("UID", "")).strip()
    if not uid:
        raise InvalidInput(f"{where}: UID: missing (tracker upserts by UID)")
    return uid


def _is_ours(uid: str) -> bool:
    return uid.endswith("@tracker")


def _import_event(session: Session, event: Component, where: str, now: datetime) -> str:
    uid = _require_uid(event, where)
    if _is_ours(uid):
        return "unchanged"  # our own export: the database is already the source of these events
    summary = str(event.get("SUMMARY", "")).strip() or uid
    start, end, all_day, tz = _span(event, where)
    if "RRULE" in event:
        return _upsert_series(session, event, uid, summary, start, end, tz, where, now)
    values: dict[str, Any] = {
        "title": summary,
        "start": start,
        "end": end,
        "all_day": all_day,
        "tz": tz,
        "precision": Precision.day,
        "place": str(event.get("LOCATION", "")),
        "description": str(event.get("DESCRIPTION", "")),
        "cancelled": str(event.get("STATUS", "")).upper() == "CANCELLED",
    }
    recurrence_id = None
    if "RECURRENCE-ID" in event:
        series = session.scalars(select(MeetingSeries).where(MeetingSeries.uid == uid)).one_or_none()
        if series is None:
            raise InvalidInput(f"{where}: RECURRENCE-ID: no series with UID {uid!r} in the file or the database")
        recurrence_id = _instant(event.decoded("RECURRENCE-ID"), series.tz)
        values["series"] = series
    row = session.scalars(
        select(Meeting).where(Meeting.uid == uid, Meeting.recurrence_id.is_(None) if recurrence_id is None
                              else Meeting.recurrence_id == recurrence_id)
    ).one_or_none()  # fmt: skip
    if row is None:
        slug = _slug_for(uid, "meeting", summary)
        if recurrence_id is not None:
            slug = f"{slug}-{recurrence_id:%Y%m%d}"
        session.add(Meeting(slug=slug, uid=uid, recurrence_id=recurrence_id, updated_at=_stamp(event, now), **values))
        session.flush()
        return "created"
    return update_row(row, values, now)


def _upsert_series(
    session: Session, event: Component, uid: str, summary: str, start: datetime, end: datetime, tz: str,
    where: str, now: datetime,
) -> str:  # fmt: skip
    if not isinstance(event.start, date) or isinstance(event.start, datetime):
        raise InvalidInput(f"{where}: DTSTART: tracker keeps recurring meetings as all-day series")
    values = {
        "title": summary,
        "rrule": event["RRULE"].to_ical().decode(),
        "tz": tz,
        "start": start,
        "days": max(1, (end - start).days),
        "description": str(event.get("DESCRIPTION", "")),
    }
    row = session.scalars(select(MeetingSeries).where(MeetingSeries.uid == uid)).one_or_none()
    if row is None:
        slug = _slug_for(uid, "series", summary)
        session.add(MeetingSeries(slug=slug, uid=uid, updated_at=_stamp(event, now), **values))
        session.flush()
        return "created"
    return update_row(row, values, now)


def _todo_values(todo: Component, where: str) -> dict[str, Any]:
    status = STATUS_FROM_ICS.get(str(todo.get("STATUS", "NEEDS-ACTION")).upper(), "open")
    if status == "open" and ("COMPLETED" in todo or str(todo.get("PERCENT-COMPLETE", "")) == "100"):
        status = "done"  # clients disagree on which of the three fields means done; any of them does
    priority = int(todo.get("PRIORITY", 0) or 0)
    categories = [str(c) for prop in _as_list(todo.get("CATEGORIES")) for c in prop.cats]
    values: dict[str, Any] = {
        "title": str(todo.get("SUMMARY", "")).strip() or str(todo["UID"]),
        "description": str(todo.get("DESCRIPTION", "")),
        "status": status,
        "priority": "high" if 1 <= priority <= 4 else ("low" if priority >= 6 else "medium"),
        "category": next((CATEGORY_FROM_LABEL[c] for c in categories if c in CATEGORY_FROM_LABEL), None),
        "due": None,
        "due_all_day": True,
    }
    if "DUE" in todo:
        due = todo.decoded("DUE")
        tz = _zone_name(due)
        values.update(due=_instant(due, tz).isoformat(), due_all_day=not isinstance(due, datetime), tz=tz)
    return values


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _import_own_todo(
    session: Session, todo: Component, item: Item | None, status: str, where: str, now: datetime
) -> str:
    """Our own export coming back from a client: only completion returns (the rest is a rendering), and only
    when the file is not older than the item (a stale file must not undo what was done in tracker since)."""
    if item is None:
        raise InvalidInput(f"{where}: UID: a tracker item that is not in this database")
    if int(todo.get("SEQUENCE", 0)) < item.sequence:
        return "unchanged"
    changed = items_module.apply_changes(session, item, {"status": status}, now, by="ics", how="ics")
    return "updated" if changed else "unchanged"


def _import_todo(session: Session, todo: Component, where: str, now: datetime) -> str:
    uid = _require_uid(todo, where)
    values = _todo_values(todo, where)
    existing = session.scalars(select(Item).where(Item.uid == uid)).one_or_none()
    if _is_ours(uid):
        return _import_own_todo(session, todo, existing, values["status"], where, now)
    slug = existing.slug if existing else _slug_for(uid, "item", values["title"])
    values.setdefault("tz", existing.tz if existing else "UTC")
    if existing is None:
        item_uid_taken = session.scalars(select(Item.id).where(Item.slug == slug)).first() is not None
        if item_uid_taken:
            raise InvalidInput(f"{where}: UID: slug {slug!r} is already used by another item")
    outcome = items_module.merge_loaded(session, slug, values, _stamp(todo, now), now, uid=uid, how="ics")
    session.flush()
    return outcome
