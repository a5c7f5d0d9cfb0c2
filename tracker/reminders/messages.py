"""What a reminder says: subject, text and HTML, the .ics of its item or meeting, and its links."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from icalendar import Calendar
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.calendars import agenda, ics, meetings, vtimezones
from tracker.core import addresses, rules, signing
from tracker.core.config import Settings
from tracker.core.models import Item, Meeting, MeetingSeries, Person, Reminder
from tracker.core.rules import plural
from tracker.register import items
from tracker.reminders.channels import Message

# The templates ship with the package: no need to look for changes on disk at every message (auto_reload).
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]),
    auto_reload=False,
)  # fmt: skip
TEMPLATES.filters["plural"] = plural


def message_id(reminder: Reminder, recipient: str) -> str:
    """The same for every attempt at one delivery, so a duplicate after a crash is recognisable as one."""
    digest = hashlib.sha256(f"{reminder.key}|{recipient}".encode()).hexdigest()[:32]
    return f"<{digest}@tracker>"


@dataclass(frozen=True)
class Signing:
    """What the links of a batch of messages are made with, read once for the batch: the secret, the status
    marks of the batch's items (read with the items, so a link is bound to the status it was sent for) and the
    base URL they point at (tracker.core.addresses)."""

    key: str
    marks: Mapping[int, int]
    base: str

    @classmethod
    def read(cls, session: Session, settings: Settings, item_ids: Iterable[int]) -> Signing:
        return cls(signing.secret(session, settings.secret), signing.status_marks(session, item_ids),
                   addresses.base_url(session, settings).url.rstrip("/"))  # fmt: skip


def links(sign: Signing, now: datetime, person: Person, item: Item | None,
          reminder: Reminder | None = None) -> dict[str, str]:  # fmt: skip
    """The signed links of a message. Done and snooze are bound to the item's status as it is now (a later
    reopen makes them stale) and snooze to the reminder they come with (its target is computed from that)."""
    key, base = sign.key, sign.base
    out = {"settings": f"{base}/settings/{signing.make(key, 'settings', now, p=person.id)}"}
    if item is not None:
        mark = sign.marks.get(item.id, 0)
        fired = int((reminder.fire_at if reminder is not None else now).timestamp())
        out["done"] = f"{base}/done/{signing.make(key, 'done', now, i=item.id, p=person.id, s=mark)}"
        out["snooze"] = f"{base}/snooze/{signing.make(key, 'snooze', now, i=item.id, p=person.id, s=mark, f=fired)}"
    return out


def _calendar_bytes(components: list) -> bytes:
    cal = Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", ics.PRODID)
    cal.add("METHOD", "PUBLISH")
    for component in components:
        if component is not None:
            cal.add_component(component)
    vtimezones.add_timezones(cal)
    return cal.to_ical()


def _item_subject(reminder: Reminder, item: Item) -> str:
    days = reminder.payload.get("days") or reminder.payload.get("days_overdue")
    subject = {
        "item-before": f"Due in {plural(days, 'day')}: {item.title}",
        "item-due": f"Due today: {item.title}",
        "item-overdue": f"Overdue by {plural(days, 'day')}: {item.title}",
    }.get(reminder.kind, f"Reminder: {item.title}")
    if reminder.escalation:
        subject += f" (copied to you: {reminder.payload.get('owner')} is the owner)"
    return subject


QUERYING_KINDS = ("meeting-before", "digest")  # composing these reads the database; the others use what is loaded


def compose(session: Session, reminder: Reminder, person: Person, recipient: str, now: datetime,
            settings: Settings, sign: Signing | None = None) -> Message | None:  # fmt: skip
    """The message for one recipient, or None when there is nothing to say (an empty digest). A sender composing
    a batch passes the batch's `sign`; without it, it is read for this message alone."""
    if sign is None:
        sign = Signing.read(session, settings, [reminder.item_id] if reminder.item_id is not None else [])
    if reminder.kind.startswith("item-"):
        return _item_message(sign, reminder, person, recipient, now)
    if reminder.kind == "meeting-before":
        return _meeting_message(session, sign, reminder, person, recipient, now)
    if reminder.kind == "digest":
        return _digest_message(session, sign, reminder, person, recipient, now)
    return _catchup_message(sign, reminder, person, recipient, now)


def _message(reminder: Reminder, person: Person, recipient: str, now: datetime, subject: str, template: str,
             context: dict[str, Any], data: dict[str, Any], ics_bytes: bytes | None = None) -> Message:  # fmt: skip
    subject = rules.one_line(subject)  # headers are one line, whatever the stored titles and names hold
    context = {"person": person, "subject": subject, **context}
    return Message(
        subject=subject,
        text=TEMPLATES.get_template(f"{template}.txt").render(context),
        html=TEMPLATES.get_template(f"{template}.html").render(context),
        message_id=message_id(reminder, recipient),
        date=now,
        data={"kind": reminder.kind, "to": person.slug, **data},
        ics=ics_bytes,
        unsubscribe=context["links"]["settings"],
        to_name=rules.one_line(person.name),
        to_email=person.email,
    )


def _item_message(sign: Signing, reminder: Reminder, person: Person, recipient: str, now: datetime) -> Message:
    item = reminder.item
    row = items.as_dict(item, now)
    served = item.serves_meeting or item.serves_series or item.meeting
    context = {"item": items.readable(row), "served": served.title if served else None,
               "links": links(sign, now, person, item, reminder), "reminder": reminder}  # fmt: skip
    attachment = _calendar_bytes([ics.item_todo(item), ics.item_deadline_event(item)])
    data = {"item": {k: row[k] for k in ("id", "slug", "uid", "title", "due", "due_utc", "status", "owners",
                                         "overdue", "days_overdue", "source_quote")}}  # fmt: skip
    data["links"] = {k: v for k, v in context["links"].items() if k != "settings"}
    return _message(reminder, person, recipient, now, _item_subject(reminder, item), "reminder_item", context, data,
                    attachment)  # fmt: skip


def _meeting_message(session: Session, sign: Signing, reminder: Reminder, person: Person, recipient: str,
                     now: datetime) -> Message:  # fmt: skip
    day = datetime.fromisoformat(reminder.occurrence).replace(tzinfo=now.tzinfo)
    found = [o for o in meetings.meetings(session, day - timedelta(days=2), day + timedelta(days=2), now)
             if o["uid"] == reminder.meeting_uid and o["start_local"] == reminder.occurrence]  # fmt: skip
    occurrence = found[0] if found else {"title": reminder.payload.get("title", "meeting"), "date": reminder.occurrence}
    shown = meetings.readable(occurrence) if found else occurrence
    days = reminder.payload.get("days")
    subject = f"In {plural(days, 'day')}: {occurrence['title']} ({shown['date']})"
    context = {"meeting": shown, "days": days, "links": links(sign, now, person, None)}
    return _message(reminder, person, recipient, now, subject, "reminder_meeting", context,
                    {"meeting": occurrence}, _meeting_ics(session, reminder.meeting_uid))  # fmt: skip


def _meeting_ics(session: Session, uid: str | None) -> bytes | None:
    series = session.scalars(select(MeetingSeries).where(MeetingSeries.uid == uid)).first()
    rows = list(session.scalars(select(Meeting).where(Meeting.uid == uid)))
    components = ([ics.series_event(series)] if series else []) + [ics.meeting_event(m) for m in rows]
    return _calendar_bytes(components) if components else None


def _digest_message(session: Session, sign: Signing, reminder: Reminder, person: Person, recipient: str,
                    now: datetime) -> Message | None:  # fmt: skip
    mine = agenda.agenda(session, now, days=14, owner=person.slug)
    overdue, due = mine["overdue"], mine["due"]
    ahead = [o for o in meetings.meetings(session, now, now + timedelta(days=30), now) if person.slug in o["attendees"]]
    if not (overdue or due or ahead):
        return None
    subject = f"Weekly digest: {len(overdue)} overdue, {len(due)} due in 14 days, {plural(len(ahead), 'meeting')} ahead"
    context = {
        "overdue": [items.readable(r) for r in overdue],
        "due": [items.readable(r) for r in due],
        "meetings": [meetings.readable(m) for m in ahead],
        "links": links(sign, now, person, None),
    }
    data = {"overdue": [r["slug"] for r in overdue], "due": [r["slug"] for r in due]}
    return _message(reminder, person, recipient, now, subject, "digest", context, data)


def _catchup_message(sign: Signing, reminder: Reminder, person: Person, recipient: str, now: datetime) -> Message:
    missed = reminder.payload.get("missed", [])
    titles = sorted({m["title"] for m in missed})
    about = "1 item or meeting" if len(titles) == 1 else f"{len(titles)} items and meetings"
    subject = f"Missed while reminders were off: {plural(len(missed), 'reminder')} about {about}"
    context = {"missed": missed, "titles": titles, "links": links(sign, now, person, None)}
    return _message(reminder, person, recipient, now, subject, "catchup", context, {"missed": missed})
