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

from tracker.core import rules
from tracker.core.clock import start_of_day, zone
from tracker.core.errors import InvalidInput
from tracker.core.models import Item, Meeting, MeetingSeries, Precision, Status
from tracker.core.vocab import CATEGORIES
from tracker.register import items as items_module
from tracker.register.dataset import update_row

MAX_BYTES = 20_000_000
MAX_COMPONENTS = 10_000  # events and to-dos per file: a desk's year is hundreds
MAX_DEPTH = 4  # VCALENDAR > VEVENT/VTODO > VALARM (> nothing more in a real calendar)
SINGLE_VALUED = ("UID", "DTSTART", "DTEND", "DUE", "DURATION", "RECURRENCE-ID", "RRULE", "SUMMARY", "DESCRIPTION",
                 "LOCATION", "STATUS", "PRIORITY", "SEQUENCE", "DTSTAMP", "LAST-MODIFIED", "COMPLETED",
                 "PERCENT-COMPLETE")  # fmt: skip
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


def _zone_name(value: date | datetime, floating: str) -> str:
    """The IANA name of a value's zone: the calendar's (`floating`) for a date; UTC for a zone only the file
    defines (the instant is still exact: it is converted to UTC)."""
    if not isinstance(value, datetime):
        return floating
    key = getattr(value.tzinfo, "key", None)
    try:
        return zone(key).key if key else "UTC"
    except InvalidInput:
        return "UTC"


def _floating_zone(calendar: Calendar, default: str) -> str:
    """The zone of times written without one: the calendar's X-WR-TIMEZONE (Apple, Google) if it is an IANA
    name, else `default` (tracker's --tz)."""
    named = str(calendar.get("X-WR-TIMEZONE", "")).strip()
    try:
        return zone(named).key if named else default
    except InvalidInput:
        return default


def _localise(component: Component, where: str, floating: str) -> None:
    """Date-times without a zone are read in `floating`; one whose TZID is neither an IANA name nor defined by
    the file is refused (icalendar leaves it zoneless, and reading it as UTC would move it by hours)."""
    for name in ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID"):
        prop = component.get(name)
        value = getattr(prop, "dt", None)
        if isinstance(value, datetime) and value.tzinfo is None:
            tzid = prop.params.get("TZID")
            if tzid:
                raise InvalidInput(f"{where}: {name}: unknown time zone {rules.shown(tzid)} (not an IANA name, and "
                                   "the file has no VTIMEZONE for it)")  # fmt: skip
            prop.dt = value.replace(tzinfo=ZoneInfo(floating))


def _instant(value: date | datetime, tz: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=ZoneInfo(tz)) if value.tzinfo is None else value.astimezone(UTC)
    return start_of_day(value, ZoneInfo(tz))


def _moment(component: Component, name: str, where: str) -> date | datetime | None:
    """The date or date-time of property `name` (None when absent), within the years tracker stores."""
    if name not in component:
        return None
    try:
        value = component.decoded(name)
    except (ValueError, TypeError, AttributeError):  # e.g. VALUE=TIME, which icalendar cannot decode here
        value = None
    if not isinstance(value, date):  # a PERIOD, a TIME, a DURATION, or a list of values
        raise InvalidInput(f"{where}: {name}: must be one date or date-time")
    try:
        rules.check_date(value if not isinstance(value, datetime) else value.date())
        if isinstance(value, datetime) and value.tzinfo is not None:
            rules.check_wall_time(value)
    except ValueError as e:
        raise InvalidInput(f"{where}: {name}: {e}") from None
    return value


def _stamp(component: Component, where: str, now: datetime) -> datetime:
    for name in ("LAST-MODIFIED", "DTSTAMP"):
        value = _moment(component, name, where)
        if isinstance(value, datetime):
            return _instant(value, "UTC")
    return now


def _span(component: Component, where: str, floating: str) -> tuple[datetime, datetime, bool, str]:
    start, end = _moment(component, "DTSTART", where), _moment(component, "DTEND", where)
    if start is None:
        raise InvalidInput(f"{where}: DTSTART: missing")
    all_day = not isinstance(start, datetime)
    if end is None:
        try:
            if "DURATION" in component and component.decoded("DURATION") < timedelta(0):
                raise ValueError("must not be negative")
            end = component.end  # from DURATION, or the RFC 5545 default
        except (ValueError, TypeError) as e:
            raise InvalidInput(f"{where}: DURATION: {rules.one_line(str(e))}") from None
    if isinstance(end, datetime) == all_day:
        raise InvalidInput(f"{where}: DTEND: DTSTART and DTEND must both be dates or both be date-times")
    tz = _zone_name(start, floating)
    first, last = _instant(start, tz), _instant(end, _zone_name(end, floating))
    if last < first or (all_day and last == first):  # an all-day event lasts at least its day (RFC 5545)
        raise InvalidInput(f"{where}: DTEND: {'not after' if all_day else 'before'} DTSTART")
    if last - first > timedelta(days=rules.MAX_MEETING_DAYS):
        raise InvalidInput(f"{where}: DTEND: a meeting lasts at most {rules.MAX_MEETING_DAYS} days")
    return first, last, all_day, tz


def parse(path: Path) -> Calendar:
    if not path.is_file():  # a device or a pipe could be read forever
        raise InvalidInput(f"{path}: no such file (give the path of an .ics file)")
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise InvalidInput(f"{path}: cannot read: {e.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise InvalidInput(f"{path}: larger than {MAX_BYTES // 1_000_000} MB; split the calendar")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text (RFC 5545 calendars are UTF-8)") from None
    try:
        return Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError, TypeError, OSError) as e:  # OSError: a TZID as long as a path
        if "Found no components" in str(e):
            raise InvalidInput(f"{path}: not an iCalendar file (no complete BEGIN:VCALENDAR … END:VCALENDAR)") from None
        problem = rules.date_problem(str(e)) or rules.one_line(str(e))[:200]
        raise InvalidInput(f"{path}: not a valid iCalendar file: {problem}") from None


def _check_component(component: Component, where: str) -> None:
    """Refuse what icalendar could not read, and single-valued properties given more than once."""
    for name, problem in component.errors:
        raise InvalidInput(f"{where}: {name}: {rules.one_line(str(problem))[:200]}")
    for name in SINGLE_VALUED:
        if isinstance(component.get(name), list):
            raise InvalidInput(f"{where}: {name}: given {len(component.get(name))} times (at most once)")


def _depth(component: Component) -> int:
    """How deeply components nest, found without recursion (icalendar's walk() recurses)."""
    deepest, stack = 0, [(component, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        stack += [(child, level + 1) for child in node.subcomponents]
    return deepest


def _text(component: Component, name: str, where: str, limit: int | None = None) -> str:
    """A text property by the same rules as YAML: one line (`limit` characters) or multi-line text."""
    try:
        value = str(component.get(name, ""))
        return rules.clean_line(value, limit) if limit else rules.clean_text(value)
    except ValueError as e:
        raise InvalidInput(f"{where}: {name}: {e}") from None


def import_ics(session: Session, path: str | Path, now: datetime, tz: str = "UTC") -> ImportResult:
    """Upsert the VEVENTs and VTODOs of `path`; times without a zone are read in the calendar's X-WR-TIMEZONE,
    else in `tz`. Call inside store.transaction()."""
    path = Path(path)
    calendar = parse(path)
    if calendar.name != "VCALENDAR":
        raise InvalidInput(f"{path}: not a VCALENDAR")
    if _depth(calendar) > MAX_DEPTH:
        raise InvalidInput(f"{path}: components nested deeper than {MAX_DEPTH} levels")
    if len(calendar.subcomponents) > MAX_COMPONENTS:
        raise InvalidInput(f"{path}: more than {MAX_COMPONENTS:,} components; import it in parts")
    result = ImportResult()
    floating = _floating_zone(calendar, tz)
    events = _checked(calendar, "VEVENT", path, floating)
    # Series first, then the rest, so that RECURRENCE-ID overrides find their series.
    events.sort(key=lambda e: ("RRULE" not in e[0], "RECURRENCE-ID" in e[0]))
    for event, uid, where in events:
        result.count(_import_event(session, event, uid, where, now, floating))
    for todo, uid, where in _checked(calendar, "VTODO", path, floating):
        result.count(_import_todo(session, todo, uid, where, now, floating))
    return result


def _checked(calendar: Calendar, name: str, path: Path, floating: str) -> list[tuple[Component, str, str]]:
    """The `name` components with their UID and where each is, after the checks every one must pass; a UID (with its
    RECURRENCE-ID) twice in one file is refused, not resolved by "last one wins"."""
    out, seen = [], {}
    for n, component in enumerate(calendar.walk(name), 1):
        where = f"{path}: {name} #{n}"
        uid = _require_uid(component, where)
        where = f"{where} {uid if uid.isprintable() and len(uid) <= 60 else rules.shown(uid)}"
        _check_component(component, where)
        _localise(component, where, floating)
        rid = _moment(component, "RECURRENCE-ID", where)
        key = (uid, rid.isoformat() if rid is not None else None)
        if key in seen:
            raise InvalidInput(f"{where}: UID: already in this file ({name} #{seen[key]})")
        seen[key] = n
        out.append((component, uid, where))
    return out


def _require_uid(component: Component, where: str) -> str:
    if isinstance(component.get("UID"), list):
        raise InvalidInput(f"{where}: UID: given {len(component.get('UID'))} times (at most once)")
    uid = str(component.get("UID", "")).strip()
    if not uid:
        raise InvalidInput(f"{where}: UID: missing (tracker upserts by UID)")
    if len(uid) > 255 or not uid.isprintable():
        raise InvalidInput(f"{where}: UID: {rules.shown(uid)} is not a usable UID (at most 255 printable characters)")
    return uid


def _is_ours(uid: str) -> bool:
    return uid.endswith("@tracker")


def _import_event(session: Session, event: Component, uid: str, where: str, now: datetime, floating: str) -> str:
    if _is_ours(uid):
        return "unchanged"  # our own export: the database is already the source of these events
    summary = _text(event, "SUMMARY", where, 300) or rules.clean_line(uid, 300)
    start, end, all_day, tz = _span(event, where, floating)
    if "RRULE" in event:
        return _upsert_series(session, event, uid, summary, start, end, tz, where, now)
    values: dict[str, Any] = {
        "title": summary,
        "start": start,
        "end": end,
        "all_day": all_day,
        "tz": tz,
        "precision": Precision.day,
        "place": _text(event, "LOCATION", where, 300),
        "description": _text(event, "DESCRIPTION", where),
        "cancelled": str(event.get("STATUS", "")).upper() == "CANCELLED",
    }
    recurrence_id = None
    if "RECURRENCE-ID" in event:
        series = session.scalars(select(MeetingSeries).where(MeetingSeries.uid == uid)).one_or_none()
        if series is None:
            missing = f"no series with UID {rules.shown(uid)} in the file or the database"
            raise InvalidInput(f"{where}: RECURRENCE-ID: {missing}")
        recurrence_id = _instant(_moment(event, "RECURRENCE-ID", where), series.tz)
        values["series"] = series
    row = session.scalars(
        select(Meeting).where(Meeting.uid == uid, Meeting.recurrence_id.is_(None) if recurrence_id is None
                              else Meeting.recurrence_id == recurrence_id)
    ).one_or_none()  # fmt: skip
    if row is None:
        slug = _slug_for(uid, "meeting", summary)
        if recurrence_id is not None:
            slug = f"{slug}-{recurrence_id:%Y%m%d}"
        session.add(
            Meeting(slug=slug, uid=uid, recurrence_id=recurrence_id, updated_at=_stamp(event, where, now), **values)
        )
        session.flush()
        return "created"
    return update_row(row, values, now)


def _upsert_series(
    session: Session, event: Component, uid: str, summary: str, start: datetime, end: datetime, tz: str,
    where: str, now: datetime,
) -> str:  # fmt: skip
    first = _moment(event, "DTSTART", where)
    if isinstance(first, datetime):
        raise InvalidInput(f"{where}: DTSTART: tracker keeps recurring meetings as all-day series")
    try:
        rrule = rules.check_rrule(event["RRULE"].to_ical().decode(), first)
    except ValueError as e:
        raise InvalidInput(f"{where}: RRULE: {e}") from None
    values = {
        "title": summary,
        "rrule": rrule,
        "tz": tz,
        "start": start,
        "days": max(1, (end - start).days),
        "description": _text(event, "DESCRIPTION", where),
    }
    row = session.scalars(select(MeetingSeries).where(MeetingSeries.uid == uid)).one_or_none()
    if row is None:
        slug = _slug_for(uid, "series", summary)
        session.add(MeetingSeries(slug=slug, uid=uid, updated_at=_stamp(event, where, now), **values))
        session.flush()
        return "created"
    return update_row(row, values, now)


def _todo_values(todo: Component, where: str, floating: str) -> dict[str, Any]:
    status = STATUS_FROM_ICS.get(str(todo.get("STATUS", "NEEDS-ACTION")).upper(), "open")
    if status == "open" and ("COMPLETED" in todo or str(todo.get("PERCENT-COMPLETE", "")) == "100"):
        status = "done"  # clients disagree on which of the three fields means done; any of them does
    priority = int(todo.get("PRIORITY", 0) or 0)
    categories = [str(c) for prop in _as_list(todo.get("CATEGORIES")) for c in prop.cats]
    values: dict[str, Any] = {
        "title": _text(todo, "SUMMARY", where, 500) or rules.clean_line(str(todo["UID"]), 500),
        "description": _text(todo, "DESCRIPTION", where),
        "status": status,
        "priority": "high" if 1 <= priority <= 4 else ("low" if priority >= 6 else "medium"),
        "category": next((CATEGORY_FROM_LABEL[c] for c in categories if c in CATEGORY_FROM_LABEL), None),
        "due": None,
        "due_all_day": True,
    }
    due = _moment(todo, "DUE", where)
    if due is not None:
        tz = _zone_name(due, floating)
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
    done_at = completed_at(todo, item, now) if status == Status.done.value else None
    changed = items_module.apply_changes(session, item, {"status": status}, now, by="ics", how="ics", done_at=done_at)
    return "updated" if changed else "unchanged"


def completed_at(todo: Component, item: Item, now: datetime) -> datetime | None:
    """When a task app says the task was done: its COMPLETED (UTC; a floating one read in the item's zone), earlier
    than `now` for a task ticked offline. Kept between the item's last change and `now`, as a device's clock may
    be wrong; None without a date-time. CalDAV (tracker.dav.writes) reads it the same way."""
    value = todo.decoded("COMPLETED") if "COMPLETED" in todo else None
    if not isinstance(value, datetime):
        return None
    value = value if value.tzinfo else value.replace(tzinfo=zone(item.tz))
    return min(max(value, item.updated_at), now)


def _import_todo(session: Session, todo: Component, uid: str, where: str, now: datetime, floating: str) -> str:
    values = _todo_values(todo, where, floating)
    existing = session.scalars(select(Item).where(Item.uid == uid)).one_or_none()
    if _is_ours(uid):
        return _import_own_todo(session, todo, existing, values["status"], where, now)
    slug = existing.slug if existing else _slug_for(uid, "item", values["title"])
    values.setdefault("tz", existing.tz if existing else floating)
    if existing is None:
        item_uid_taken = session.scalars(select(Item.id).where(Item.slug == slug)).first() is not None
        if item_uid_taken:
            raise InvalidInput(f"{where}: UID: slug {slug!r} is already used by another item")
    outcome = items_module.merge_loaded(session, slug, values, _stamp(todo, where, now), now, uid=uid, how="ics")
    session.flush()
    return outcome
