"""Meetings sent to their attendees as iMIP invitations (RFC 6047 e-mail carrying RFC 5546 iTIP).

What is invited is what the feeds publish, with the same UID and SEQUENCE: a one-off meeting, a series (its
master VEVENT with the RRULE) and each override of a series occurrence (the instance, with RECURRENCE-ID). Only
those still ahead are sent. The reminder plan (tracker.reminders.planning) turns each into one reminder per
attendee whose key names the UID, the occurrence, the SEQUENCE and the method, so the ledger sends each exactly
once; a change raises the SEQUENCE and so plans a new REQUEST, and a REQUEST not yet sent when its meeting
changes again is superseded (`still_wanted` says so when it is composed). A cancelled meeting, or an attendee
taken off it, gets a CANCEL, but only where a REQUEST went out before: for an occurrence of a series, the series'
REQUEST covered it too, so cancelling an occurrence never announced on its own cancels it for those sent the series.

A series REQUEST is the whole recurring component (RFC 5546 3.2.2): the master and every override of one of its
occurrences, as the feeds publish them; otherwise a calendar that rebuilds the series from it (Outlook) brings the
moved and cancelled occurrences back. A cancelled occurrence is an EXDATE of the master there, not a VEVENT: a
REQUEST's STATUS may only be TENTATIVE or CONFIRMED (RFC 5546's table; libical refuses CANCELLED).

Invitations are planned only when e-mail is configured: its sender is the ORGANIZER (or `organizer` in
[channels.email]), and nothing else can carry one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parseaddr
from typing import Any

import recurring_ical_events
from icalendar import Calendar, Event, vCalAddress
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tracker.calendars import ics, vtimezones
from tracker.core import timing
from tracker.core.clock import start_of_day, zone
from tracker.core.config import Settings
from tracker.core.i18n import ENGLISH, Language
from tracker.core.models import Delivery, Meeting, MeetingSeries, Person, Precision, Reminder
from tracker.core.timing import local_date

REQUEST, CANCEL = "invitation-request", "invitation-cancel"
KINDS = (REQUEST, CANCEL)
METHODS = {REQUEST: "REQUEST", CANCEL: "CANCEL"}


@dataclass(frozen=True)
class Organizer:
    name: str
    address: str


def organizer(settings: Settings) -> Organizer | None:
    """Who sends the invitations: `organizer` of [channels.email], else its `from`; None without e-mail."""
    conf = settings.channels.get("email")
    if conf is None or not conf.get("enabled", True):
        return None
    name, address = parseaddr(str(conf.get("organizer") or conf.get("from") or ""))
    return Organizer(name, address) if address else None


@dataclass(frozen=True)
class Invited:
    """One thing an invitation is about: a one-off meeting, a series, or an override of one of its occurrences
    (`recurrence_id`, the overridden day). `starts` is when it (next) takes place, as timing.iso gives it."""

    uid: str
    recurrence_id: str | None
    sequence: int
    title: str
    attendees: tuple[str, ...]
    cancelled: bool
    changed_at: datetime
    starts: str
    tz: str
    place: str
    row: Meeting | MeetingSeries

    def event(self, lang: Language = ENGLISH) -> Event:
        """The VEVENT the feeds publish for it (texts around the register's own in `lang`)."""
        if isinstance(self.row, MeetingSeries):
            return ics.series_event(self.row, lang)
        return ics.meeting_event(self.row, lang)


def _next_start(series: MeetingSeries, now: datetime) -> datetime | date | None:
    """The start of the series' first occurrence that has not ended by `now` (None: the rule has run out)."""
    cal = Calendar()
    cal.add_component(ics.series_event(series))
    for occurrence in recurring_ical_events.of(cal).after(now):
        return occurrence.start
    return None


def _from_series(series: MeetingSeries, now: datetime) -> Invited | None:
    start = _next_start(series, now)
    if start is None:
        return None
    at = start if isinstance(start, datetime) else start_of_day(start, zone(series.tz))
    return Invited(series.uid, None, series.sequence, series.title, tuple(series.attendees), False,
                   series.updated_at, timing.iso(at, True, series.tz, series.precision) or "", series.tz, "",
                   series)  # fmt: skip


def _from_meeting(meeting: Meeting, now: datetime) -> Invited | None:
    if meeting.end <= now:
        return None
    series = meeting.series
    override = meeting.recurrence_id is not None and series is not None
    rid = local_date(meeting.recurrence_id, series.tz).isoformat() if override else None
    attendees = meeting.attendees or (series.attendees if series is not None else [])
    starts = timing.iso(meeting.start, meeting.all_day, meeting.tz, meeting.precision) or ""
    return Invited(meeting.uid, rid, meeting.sequence, meeting.title, tuple(attendees), meeting.cancelled,
                   meeting.updated_at, starts, meeting.tz, meeting.place, meeting)  # fmt: skip


def ahead(session: Session, now: datetime, uid: str | None = None) -> list[Invited]:
    """Every meeting, series and override that has not ended by `now` (only those of `uid`, if given). A meeting
    of a series that overrides no occurrence is a one-off of its own (it has its own UID)."""
    series_query = select(MeetingSeries).order_by(MeetingSeries.id)
    meeting_query = select(Meeting).options(selectinload(Meeting.series)).order_by(Meeting.id)
    if uid is not None:
        series_query, meeting_query = (
            series_query.where(MeetingSeries.uid == uid),
            meeting_query.where(Meeting.uid == uid),
        )
    found = [_from_series(s, now) for s in session.scalars(series_query)]
    found += [_from_meeting(m, now) for m in session.scalars(meeting_query)]
    return [f for f in found if f is not None]


Sent = dict[tuple[str, str | None, int], str]  # (uid, occurrence, person id) → kind of the last invitation sent


def sent(session: Session, uid: str | None = None) -> Sent:
    """What each person was last sent of each meeting: the kind of their latest invitation that went out."""
    query = (select(Reminder.meeting_uid, Reminder.occurrence, Reminder.person_id, Reminder.kind)
             .where(Reminder.kind.in_(KINDS), Reminder.id.in_(select(Delivery.reminder_id)
                                                               .where(Delivery.status == "sent")))
             .order_by(Reminder.id))  # fmt: skip
    if uid is not None:
        query = query.where(Reminder.meeting_uid == uid)
    return {(u, occurrence, person): kind for u, occurrence, person, kind in session.execute(query)}


def invitees(invited: Invited, people: dict[str, Person]) -> list[Person]:
    """The attendees an invitation goes to: those with an e-mail address who have not opted out."""
    if invited.cancelled:
        return []
    found = (people.get(slug) for slug in invited.attendees)
    return [p for p in found if p is not None and p.email and p.invitations]


@dataclass(frozen=True)
class Wanted:
    """One invitation message the data asks for."""

    invited: Invited
    person: Person
    kind: str
    update: bool  # they were sent a REQUEST for it before

    @property
    def key(self) -> str:
        uid = self.invited.uid
        named = uid if len(uid) <= 200 else hashlib.sha256(uid.encode()).hexdigest()[:32]  # keys hold 300
        method = METHODS[self.kind].lower()
        return (
            f"invitation:{named}:{self.invited.recurrence_id or '-'}:{self.invited.sequence}:{method}:{self.person.id}"
        )

    def payload(self) -> dict[str, Any]:
        return {"title": self.invited.title, "sequence": self.invited.sequence, "method": METHODS[self.kind],
                "update": self.update}  # fmt: skip


def wanted(invited: Invited, people: dict[str, Person], history: Sent) -> list[Wanted]:
    """A REQUEST to each invitee; a CANCEL to each person whose last invitation to it was a REQUEST and who is
    invited no more (it was cancelled, or they were taken off it) unless they opted out of invitations."""
    going = invitees(invited, people)
    out = [Wanted(invited, p, REQUEST, history.get((invited.uid, invited.recurrence_id, p.id)) == REQUEST)
           for p in going]  # fmt: skip
    by_id = {p.id: p for p in people.values()}
    left = _asked(invited, history) - {p.id for p in going}
    for pid in sorted(left):
        person = by_id.get(pid)
        if person is not None and person.email and person.invitations:
            out.append(Wanted(invited, person, CANCEL, True))
    return out


def _asked(invited: Invited, history: Sent) -> set[int]:
    """Who holds a REQUEST for it: their last invitation to it was one, or, for an occurrence of a series never
    sent to them on its own, their last invitation to the series was (that one covered every occurrence)."""

    def last(rid: str | None) -> dict[int, str]:
        return {pid: kind for (uid, r, pid), kind in history.items() if uid == invited.uid and r == rid}

    found = last(invited.recurrence_id)
    if invited.recurrence_id is not None:
        found = last(None) | found
    return {pid for pid, kind in found.items() if kind == REQUEST}


def plan(session: Session, people: dict[str, Person], now: datetime) -> list[Wanted]:
    """Every invitation the data asks for now; the ledger leaves out those already sent (their keys)."""
    history = sent(session)
    return [w for invited in ahead(session, now) for w in wanted(invited, people, history)]


def still_wanted(session: Session, reminder: Reminder, now: datetime) -> Invited | None:
    """What `reminder` invites to, if it is still to be sent: the meeting is ahead, its SEQUENCE has not risen
    since it was planned, and the data still asks for this method to this person. Otherwise it was superseded."""
    people = {p.slug: p for p in session.scalars(select(Person))}
    history = sent(session, reminder.meeting_uid)
    for invited in ahead(session, now, reminder.meeting_uid):
        if invited.recurrence_id == reminder.occurrence and invited.sequence == reminder.payload.get("sequence"):
            keys = {w.key for w in wanted(invited, people, history)}
            return invited if reminder.key in keys else None
    return None


def calendar(invited: Invited, kind: str, person: Person, sender: Organizer, lang: Language, now: datetime) -> bytes:
    """The iTIP message made at `now` (its DTSTAMP): METHOD, the feeds' VEVENT with ORGANIZER and the recipient as
    ATTENDEE (a REQUEST asks for a reply), for a series REQUEST followed by its overrides likewise (the cancelled
    ones EXDATEs of the master), and the VTIMEZONEs they use. A CANCEL to one attendee taken off a meeting says
    nothing of the meeting's STATUS (RFC 5546 3.2.5)."""
    events = [invited.event(lang)]
    if kind == REQUEST and isinstance(invited.row, MeetingSeries):
        overrides = _overrides(invited.row)
        cancelled = [local_date(m.recurrence_id, invited.tz) for m in overrides if m.cancelled]  # their RECURRENCE-ID
        if cancelled:
            events[0].add("EXDATE", cancelled)
        events += [ics.meeting_event(m, lang) for m in overrides if not m.cancelled]
    elif kind == CANCEL and not invited.cancelled:
        events[0].pop("STATUS", None)
    cal = Calendar()
    cal.add("PRODID", ics.PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("METHOD", METHODS[kind])
    for event in events:
        _addressed(event, kind, person, sender, now)
        cal.add_component(event)
    vtimezones.add_timezones(cal)
    return cal.to_ical()


def _overrides(series: MeetingSeries) -> list[Meeting]:
    """The meetings that override occurrences of `series`, in the feeds' order (by RECURRENCE-ID)."""
    found = [m for m in series.occurrences if m.recurrence_id is not None]
    return sorted(found, key=lambda m: m.recurrence_id)


def _addressed(event: Event, kind: str, person: Person, sender: Organizer, now: datetime) -> None:
    """`event` as an iTIP message carries it: from the ORGANIZER to the recipient, stamped when it is made (the
    feeds stamp a VEVENT with its row's last change, so that their bytes can be cached)."""
    event.pop("DTSTAMP", None)
    event.add("DTSTAMP", now.astimezone(UTC))
    event.add("ORGANIZER", _address(sender.address, sender.name))
    attendee = _address(person.email or "", person.name)
    attendee.params.update({"ROLE": "REQ-PARTICIPANT", "CUTYPE": "INDIVIDUAL"})
    if kind == REQUEST:
        attendee.params.update({"PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE"})
    event.add("ATTENDEE", attendee)


def _address(address: str, name: str) -> vCalAddress:
    found = vCalAddress(f"mailto:{address}")
    if name:
        found.params["CN"] = name
    return found


def tentative(invited: Invited) -> bool:
    return invited.row.precision == Precision.month
