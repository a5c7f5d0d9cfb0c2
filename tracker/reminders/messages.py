"""What a reminder says: subject, text and HTML, the .ics of its item or meeting, and its links."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
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
from tracker.core.i18n import Language, language
from tracker.core.models import Item, Meeting, MeetingSeries, Person, Reminder
from tracker.register import items
from tracker.reminders import invitations, planning
from tracker.reminders.channels import Message

# The templates ship with the package: no need to look for changes on disk at every message (auto_reload). They
# are translated per message: each render gets its recipient's gettext (i18n.Language.template_context); no
# translation is installed here, so a render without one fails rather than fall back to English unnoticed.
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]),
    auto_reload=False, extensions=["jinja2.ext.i18n"],
)  # fmt: skip
TEMPLATES.policies["ext.i18n.trimmed"] = True  # as babel.cfg extracts {% trans %} blocks


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


def _item_subject(reminder: Reminder, item: Item, lang: Language) -> str:
    days = reminder.payload.get("days") or reminder.payload.get("days_overdue")
    title = item.title
    if reminder.kind == "item-before":
        subject = lang.ngettext("Due in %(num)s day: %(title)s", "Due in %(num)s days: %(title)s", days, title=title)
    elif reminder.kind == "item-due":
        subject = lang.gettext("Due today: %(title)s", title=title)
    elif reminder.kind == "item-overdue":
        subject = lang.ngettext("Overdue by %(num)s day: %(title)s", "Overdue by %(num)s days: %(title)s", days,
                                title=title)  # fmt: skip
    else:
        subject = lang.gettext("Reminder: %(title)s", title=title)
    if reminder.escalation:
        subject += lang.gettext(" (copied to you: %(owner)s is the owner)", owner=reminder.payload.get("owner"))
    return subject


# Composing these reads the database; the others use what is loaded.
QUERYING_KINDS = ("meeting-before", "digest", *invitations.KINDS)


def compose(session: Session, reminder: Reminder, person: Person, recipient: str, now: datetime,
            settings: Settings, sign: Signing | None = None) -> Message | None:  # fmt: skip
    """The message for one recipient, or None when there is nothing to say (an empty digest). A sender composing
    a batch passes the batch's `sign`; without it, it is read for this message alone. It is written in the
    person's language (Person.locale; English when they have none)."""
    if sign is None:
        sign = Signing.read(session, settings, [reminder.item_id] if reminder.item_id is not None else [])
    lang = language(person.locale)
    if reminder.kind.startswith("item-"):
        return _item_message(sign, reminder, person, recipient, now, lang)
    if reminder.kind in invitations.KINDS:
        return _invitation_message(session, sign, reminder, person, recipient, now, settings, lang)
    if reminder.kind == "meeting-before":
        return _meeting_message(session, sign, reminder, person, recipient, now, lang)
    if reminder.kind == "digest":
        return _digest_message(session, sign, reminder, person, recipient, now, lang)
    return _catchup_message(sign, reminder, person, recipient, now, lang)


def _message(reminder: Reminder, person: Person, recipient: str, now: datetime, subject: str, template: str,
             context: dict[str, Any], data: dict[str, Any], lang: Language,
             ics_bytes: bytes | None = None) -> Message:  # fmt: skip
    subject = rules.one_line(subject)  # headers are one line, whatever the stored titles and names hold
    context = {"person": person, "subject": subject, **context, **lang.template_context()}
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


def _item_message(sign: Signing, reminder: Reminder, person: Person, recipient: str, now: datetime,
                  lang: Language) -> Message:  # fmt: skip
    item = reminder.item
    row = items.as_dict(item, now)
    served = item.serves_meeting or item.serves_series or item.meeting
    context = {"item": row, "served": served.title if served else None,
               "links": links(sign, now, person, item, reminder), "reminder": reminder}  # fmt: skip
    attachment = _calendar_bytes([ics.item_todo(item, lang=lang), ics.item_deadline_event(item, lang)])
    data = {"item": {k: row[k] for k in ("id", "slug", "uid", "title", "due", "due_utc", "status", "owners",
                                         "overdue", "days_overdue", "source_quote")}}  # fmt: skip
    data["links"] = {k: v for k, v in context["links"].items() if k != "settings"}
    return _message(reminder, person, recipient, now, _item_subject(reminder, item, lang), "reminder_item", context,
                    data, lang, attachment)  # fmt: skip


def _meeting_message(session: Session, sign: Signing, reminder: Reminder, person: Person, recipient: str,
                     now: datetime, lang: Language) -> Message:  # fmt: skip
    day = datetime.fromisoformat(reminder.occurrence).replace(tzinfo=now.tzinfo)
    found = [o for o in meetings.meetings(session, day - timedelta(days=2), day + timedelta(days=2), now)
             if o["uid"] == reminder.meeting_uid and o["start_local"] == reminder.occurrence]  # fmt: skip
    title = reminder.payload.get("title") or lang.gettext("meeting")
    occurrence = found[0] if found else {"title": title, "date": reminder.occurrence}
    when, until = occurrence["date"], None  # a meeting no longer found is named as its reminder recorded it
    if found:
        when = lang.when(occurrence["date"], occurrence["tz"])
        if occurrence.get("end_date") and occurrence["end_date"] != occurrence["date"]:
            until = lang.when(occurrence["end_date"], occurrence["tz"])
    days = reminder.payload.get("days")
    subject = lang.ngettext("In %(num)s day: %(title)s (%(when)s)", "In %(num)s days: %(title)s (%(when)s)", days,
                            title=occurrence["title"], when=when)  # fmt: skip
    context = {"meeting": occurrence, "when": when, "until": until, "days": days,
               "links": links(sign, now, person, None)}  # fmt: skip
    return _message(reminder, person, recipient, now, subject, "reminder_meeting", context,
                    {"meeting": occurrence}, lang, _meeting_ics(session, reminder.meeting_uid, lang))  # fmt: skip


def _invitation_subject(reminder: Reminder, invited: invitations.Invited, when: str, lang: Language) -> str:
    title = invited.title
    if reminder.kind == invitations.CANCEL and invited.cancelled:
        return lang.gettext("Cancelled: %(title)s (%(when)s)", title=title, when=when)
    if reminder.kind == invitations.CANCEL:
        return lang.gettext("No longer invited: %(title)s (%(when)s)", title=title, when=when)
    if reminder.payload.get("update"):
        return lang.gettext("Updated invitation: %(title)s (%(when)s)", title=title, when=when)
    return lang.gettext("Invitation: %(title)s (%(when)s)", title=title, when=when)


def _invitation_message(session: Session, sign: Signing, reminder: Reminder, person: Person, recipient: str,
                        now: datetime, settings: Settings, lang: Language) -> Message | None:  # fmt: skip
    """The meeting as an iMIP invitation (or its cancellation); None when a later change superseded it, the
    meeting has passed, or e-mail is no longer configured (the ledger then records it skipped)."""
    sender = invitations.organizer(settings)
    invited = invitations.still_wanted(session, reminder, now)
    if sender is None or invited is None:
        return None
    when = lang.when(invited.starts, invited.tz)
    subject = _invitation_subject(reminder, invited, lang.when(invited.starts, invited.tz, inline=True), lang)
    context = {"meeting": invited, "when": when, "series": isinstance(invited.row, MeetingSeries),
               "tentative": invitations.tentative(invited), "cancel": reminder.kind == invitations.CANCEL,
               "links": links(sign, now, person, None)}  # fmt: skip
    data = {"meeting": {"uid": invited.uid, "recurrence_id": invited.recurrence_id, "sequence": invited.sequence,
                        "title": invited.title, "starts": invited.starts},
            "method": invitations.METHODS[reminder.kind]}  # fmt: skip
    message = _message(reminder, person, recipient, now, subject, "invitation", context, data, lang)
    return replace(message, invitation=invitations.calendar(invited, reminder.kind, person, sender, lang, now),
                   method=invitations.METHODS[reminder.kind])  # fmt: skip


def _meeting_ics(session: Session, uid: str | None, lang: Language) -> bytes | None:
    series = session.scalars(select(MeetingSeries).where(MeetingSeries.uid == uid)).first()
    rows = list(session.scalars(select(Meeting).where(Meeting.uid == uid)))
    components = ([ics.series_event(series, lang)] if series else []) + [ics.meeting_event(m, lang) for m in rows]
    return _calendar_bytes(components) if components else None


def _digest_message(session: Session, sign: Signing, reminder: Reminder, person: Person, recipient: str,
                    now: datetime, lang: Language) -> Message | None:  # fmt: skip
    mine = agenda.agenda(session, now, days=14, owner=person.slug)
    overdue, due = mine["overdue"], mine["due"]
    ahead = [o for o in meetings.meetings(session, now, now + timedelta(days=30), now) if person.slug in o["attendees"]]
    if not (overdue or due or ahead):
        return None
    subject = lang.ngettext("Weekly digest: %(overdue)s overdue, %(due)s due in 14 days, %(num)s meeting ahead",
                            "Weekly digest: %(overdue)s overdue, %(due)s due in 14 days, %(num)s meetings ahead",
                            len(ahead), overdue=lang.number(len(overdue)), due=lang.number(len(due)))  # fmt: skip
    context = {"overdue": overdue, "due": due, "meetings": ahead, "links": links(sign, now, person, None)}
    data = {"overdue": [r["slug"] for r in overdue], "due": [r["slug"] for r in due]}
    return _message(reminder, person, recipient, now, subject, "digest", context, data, lang)


def _catchup_message(sign: Signing, reminder: Reminder, person: Person, recipient: str, now: datetime,
                     lang: Language) -> Message:  # fmt: skip
    missed = reminder.payload.get("missed", [])
    about = lang.ngettext("%(num)s item or meeting", "%(num)s items and meetings", len({m["title"] for m in missed}))
    subject = lang.ngettext("Missed while reminders were off: %(num)s reminder about %(about)s",
                            "Missed while reminders were off: %(num)s reminders about %(about)s", len(missed),
                            about=about)  # fmt: skip
    shown = [{"when": lang.when(m["when"], person.tz), "what": _missed_what(m, lang)} for m in missed]
    context = {"missed": shown, "links": links(sign, now, person, None)}
    return _message(reminder, person, recipient, now, subject, "catchup", context, {"missed": missed}, lang)


def _missed_what(missed: dict[str, Any], lang: Language) -> str:
    """What a missed reminder was about, in `lang` (catch-ups summarised before they kept kind and payload say it
    in English)."""
    if "kind" not in missed:
        return missed["what"]
    what = planning.what(missed["kind"], missed["payload"], planning.DUE_THAT_DAY, lang)
    return lang.gettext("%(title)s (%(what)s)", title=missed["title"], what=what)
