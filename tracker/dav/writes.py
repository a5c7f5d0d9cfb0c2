"""A task sent back by a CalDAV app, turned into the register's own calls (items.edit, items.add), in the
caller's one transaction, with history "caldav" by the person.

Apps disagree on how a task is completed: STATUS:COMPLETED, PERCENT-COMPLETE:100 or a COMPLETED time, any of
them, marks an item done; a done item stays done only while all that are present still say so (an app that
unticks a task clears one of them). A percentage between 0 and 100, or STATUS:IN-PROCESS, is in progress.
The title, due date and priority change as `tracker edit` would, if the person may change the item. What the
register makes itself (the description with its facts and source) cannot be changed here, and saying so is
better than dropping the change: it is refused, and so is a task from someone who may not change it."""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo
from typing import Any

from icalendar import Calendar, Todo
from icalendar.timezone import tzp
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.calendars import ics, ics_import
from tracker.core import rules
from tracker.core.clock import zone
from tracker.core.errors import Conflict, Forbidden, InvalidInput
from tracker.core.models import Item, Person, Status
from tracker.register import items
from tracker.register.access import Viewer, require

HOW = "caldav"
PRIORITIES = {range(1, 5): "high", range(5, 6): "medium", range(6, 10): "low"}  # RFC 5545 §3.8.1.9
REPEATING = ("RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
# The facts the register adds to a task's DESCRIPTION (ics._item_description, in English): they change with the
# item (a rename, its status), so a task an app sends back is compared without them.
FACTS = re.compile(r"^(Owner|Committee|Due|Status|tracker id): .*$", re.MULTILINE)


def read_todo(text: str) -> Todo:
    """The one VTODO of a resource an app sent (its VTIMEZONEs aside)."""
    try:
        calendar = Calendar.from_ical(text)
    except ValueError as e:
        raise InvalidInput(f"not an iCalendar object: {rules.one_line(str(e))[:200]}") from None
    todos = [c for c in calendar.subcomponents if c.name == "VTODO"]
    if len(todos) != 1 or any(c.name not in ("VTODO", "VTIMEZONE") for c in calendar.subcomponents):
        raise Forbidden("A task list holds tasks (one VTODO per resource) only.")
    if any(name in todos[0] for name in REPEATING):
        raise Forbidden("A repeating task cannot be an item of the register: make one task per deadline.")
    _read_due_by_own_zone(todos[0], calendar)
    return todos[0]


def _read_due_by_own_zone(todo: Todo, calendar: Calendar) -> None:
    """A DUE whose TZID is no IANA zone is read by this resource's own VTIMEZONE, never by one icalendar kept from
    another request (it keeps the first definition of such a name it meets, for the whole process)."""
    due = todo.get("DUE")
    own = _own_zones(calendar).get(str(due.params.get("TZID", ""))) if due is not None else None
    if own is not None and isinstance(due.dt, datetime):
        due.dt = due.dt.replace(tzinfo=own)


def _own_zones(calendar: Calendar) -> dict[str, tzinfo]:
    """The zones this resource defines under names that are no IANA zone, each made from its own VTIMEZONE."""
    found = {}
    for vtimezone in calendar.walk("VTIMEZONE"):
        name = str(vtimezone.get("TZID", ""))
        if name and not _iana(name):
            try:
                found[name] = vtimezone.to_tz(tzp, lookup_tzid=False)
            except (ValueError, KeyError, TypeError):
                raise InvalidInput(f"VTIMEZONE {rules.shown(name)}: not a time zone definition") from None
    return found


def _iana(name: str) -> bool:
    try:
        zone(name)
    except InvalidInput:
        return False
    return True


def _percent(todo: Todo) -> int | None:
    if "PERCENT-COMPLETE" not in todo:
        return None
    try:
        return int(todo["PERCENT-COMPLETE"])
    except (TypeError, ValueError):
        raise InvalidInput(f"PERCENT-COMPLETE: not a number: {rules.shown(str(todo['PERCENT-COMPLETE']))}") from None


def wanted_status(todo: Todo, current: Status | None) -> Status:
    """The status the task says, read against the item's `current` status (None for a new task)."""
    status = str(todo.get("STATUS", "")).upper()
    percent = _percent(todo)
    says_done = [status == "COMPLETED"] if status else []
    says_done += [percent >= 100] if percent is not None else []
    says_done.append("COMPLETED" in todo)
    done = all(says_done) if current is Status.done else any(says_done)
    if done:
        return Status.done
    if status == "CANCELLED":
        return Status.cancelled
    if status == "IN-PROCESS" or (percent is not None and 0 < percent < 100):
        return Status.in_progress
    return Status.open


def _priority(todo: Todo, default: str) -> str:
    """high, medium or low; `default` for a task with none, or 0 ("undefined"): every item has one."""
    try:
        value = int(todo.get("PRIORITY", 0))
    except (TypeError, ValueError):
        raise InvalidInput(f"PRIORITY: not a number: {rules.shown(str(todo['PRIORITY']))}") from None
    if not 0 <= value <= 9:
        raise InvalidInput(f"PRIORITY: 0-9 (1-4 high, 5 medium, 6-9 low), not {value}")
    return next((name for span, name in PRIORITIES.items() if value in span), default)


def _due(todo: Todo, tz: str) -> date | datetime | None:
    """The task's DUE: a date, or an aware date-time (a floating one is read in the item's zone `tz`)."""
    if "DUE" not in todo:
        return None
    due = todo.decoded("DUE")
    if isinstance(due, datetime):
        return due if due.tzinfo else due.replace(tzinfo=zone(tz))
    if isinstance(due, date):
        return due
    raise InvalidInput("DUE: not a date or date-time")


def _same_due(item: Item, due: date | datetime | None) -> bool:
    """Whether `due` is the item's due as served: the same date, or the same instant."""
    served = ics.due_value(item) if item.due is not None else None
    return type(served) is type(due) and served == due


def _due_text(due: date | datetime | None) -> str:
    """A DUE as `tracker edit --due` takes it: a date, or a date-time with its offset (unambiguous in a repeated
    hour); "" for none."""
    return "" if due is None else due.isoformat()


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", FACTS.sub("", text)).strip()


def _summary(todo: Todo) -> str:
    return str(todo.get("SUMMARY", "")).strip()


def changes(item: Item, todo: Todo) -> dict[str, Any]:
    """The fields the task changes, as items.edit takes them; Forbidden for a change the register keeps."""
    served = ics.item_todo(item)
    if _words(str(todo.get("DESCRIPTION", ""))) != _words(str(served.get("DESCRIPTION", ""))):
        raise Forbidden("The description is made by the register from the item's fields and source: change the "
                        f"item on the desk or with `tracker edit {item.slug}`, not in the task app.")  # fmt: skip
    wanted: dict[str, Any] = {}
    if _summary(todo) != item.title:
        wanted["title"] = _summary(todo)
    due = _due(todo, item.tz)
    if not _same_due(item, due):
        wanted["due"] = _due_text(due)
    # An app that clears the priority (Apple's "None") or drops it still completes the task; the item keeps its
    # own, and the app, answered without an ETag, fetches it back.
    priority = _priority(todo, default=item.priority)
    if priority != item.priority:
        wanted["priority"] = priority
    status = wanted_status(todo, item.status)
    if status != item.status:
        wanted["status"] = status.value
    return wanted


def update(session: Session, writer: Viewer, item: Item, todo: Todo, now: datetime) -> Item:
    """Apply what the task changes to `item`, as `writer` (refused if their role may not change it)."""
    wanted = changes(item, todo)
    if wanted:
        require(writer.can_change(item), f"change item {item.id}")
        done_at = ics_import.completed_at(todo, item, now) if wanted.get("status") == Status.done.value else None
        items.edit(session, item.id, now, by=writer.name, how=HOW, done_at=done_at, **wanted)
    return item


def create(
    session: Session, writer: Viewer, todo: Todo, href: str, now: datetime, default_tz: str,
    owner: str | None = None, committee: str | None = None,
) -> Item:  # fmt: skip
    """A new item from a task created in an app, owned by `owner` (or in `committee`), keeping the app's UID and
    href so that the app finds it again where it put it."""
    require(writer.can_create_items, "create items")
    uid = rules.one_line(str(todo.get("UID", "")))
    if not uid or len(uid) > 300:
        raise InvalidInput("UID: a task needs a UID of at most 300 characters")
    if session.scalars(select(Item.id).where(Item.uid == uid)).first() is not None:
        raise Conflict("A task with this UID is already in the register, in another list.")
    if not _summary(todo):
        raise InvalidInput("SUMMARY: a task needs a title")
    fields = {"priority": _priority(todo, default="medium")}
    if "DESCRIPTION" in todo:
        fields["description"] = str(todo["DESCRIPTION"])
    tz = items.lookup(session, Person, owner).tz if owner else default_tz
    item = items.add(session, now, _summary(todo), by=writer.name, default_tz=default_tz, tz=tz, how=HOW, uid=uid,
                     dav_name=href, owners=[owner] if owner else [], committee=committee,
                     due=_due_text(_due(todo, tz)) or None, **fields)  # fmt: skip
    status = wanted_status(todo, None)
    if status is not Status.open:
        items.set_status(session, item.slug, status, now, by=writer.name, how=HOW)
    session.flush()
    return item
