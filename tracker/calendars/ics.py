"""Database → iCalendar, with the icalendar library, byte-deterministic.

A calendar's bytes are its header, then one VTIMEZONE per TZID used, then its components sorted by
(UID, RECURRENCE-ID), each serialised on its own. Because a component's bytes depend only on its row
(DTSTAMP and LAST-MODIFIED are the row's last change, never "now"), they can be cached by UID + SEQUENCE
and a feed reassembled without re-serialising what did not change — and the result is the same bytes as
a full build, since a full build is the same assembly.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Component, Event, Todo
from icalendar.prop import vDuration, vRecur
from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session, selectinload

from tracker.calendars import vtimezones
from tracker.core import files
from tracker.core.i18n import ENGLISH, Language
from tracker.core.models import Committee, Item, ItemOwner, Meeting, MeetingSeries, Person, Precision, Status
from tracker.core.policy import DEFAULT, Policy, item_alarm_triggers, load_policies, policy_for
from tracker.core.timing import local_date
from tracker.core.vocab import N_

PRODID = "-//tracker//follow-up and meeting calendars//EN"
END = b"END:VCALENDAR\r\n"
TODO_STATUS = {
    Status.open: "NEEDS-ACTION",
    Status.in_progress: "IN-PROCESS",
    Status.done: "COMPLETED",
    Status.cancelled: "CANCELLED",
}
PRIORITY = {"high": 1, "medium": 5, "low": 9}
GLYPH = {Status.open: "☐", Status.in_progress: "▶", Status.done: "✔", Status.cancelled: "✖"}
SOURCE_LABEL = N_("Source (report on the 2008 APEC SME Ministerial Meeting)")


def _in_zone(at: datetime, tz: str) -> datetime:
    """`at` as a local time of `tz`, or in UTC where that local time is ambiguous (in the hour repeated when the
    clocks go back): RFC 5545 reads such a time as its first occurrence, ical.js as its second."""
    local = at.astimezone(ZoneInfo(tz))
    return local if local.replace(fold=1 - local.fold).utcoffset() == local.utcoffset() else at.astimezone(UTC)


def _span(start: datetime, end: datetime, all_day: bool, tz: str) -> tuple[date | datetime, date | datetime]:
    if all_day:
        return local_date(start, tz), local_date(end, tz)
    return _in_zone(start, tz), _in_zone(end, tz)


def _description(*parts: str) -> str | None:
    """The non-empty parts, or None (no DESCRIPTION: libical rejects an empty one)."""
    return "\n\n".join(p for p in parts if p) or None


def _quote(text: str, lang: Language) -> str:
    return f"{lang.gettext(SOURCE_LABEL)}:\n「{text}」" if text else ""


def _tbc(lang: Language) -> str:
    return lang.gettext(" (date TBC)")


# The texts a component adds around the register's own (labels, categories, "date TBC") are in `lang`: the feeds,
# shared by all their subscribers, keep English; a reminder's attachment speaks its recipient's language.


def series_event(series: MeetingSeries, lang: Language = ENGLISH) -> Event:
    """The master VEVENT of a recurring series (placeholder dates are TENTATIVE and say so)."""
    first = local_date(series.start, series.tz)
    tentative = series.precision == Precision.month
    event = Event.new(
        uid=series.uid,
        summary=series.title + (_tbc(lang) if tentative else ""),
        start=first,
        end=first + timedelta(days=series.days),
        stamp=series.updated_at,
        last_modified=series.updated_at,
        sequence=series.sequence,
        description=_description(series.description, _quote(series.source_quote, lang)),
        categories=[lang.gettext("Meeting")],
    )
    event.add("RRULE", vRecur.from_ical(series.rrule))
    if tentative:
        event.add("STATUS", "TENTATIVE")
    return event


def meeting_event(meeting: Meeting, lang: Language = ENGLISH) -> Event:
    """A dated meeting; an override of a series occurrence carries the series UID and RECURRENCE-ID."""
    start, end = _span(meeting.start, meeting.end, meeting.all_day, meeting.tz)
    tentative = meeting.precision == Precision.month
    details = [
        lang.gettext("Theme: %(theme)s", theme=meeting.theme) if meeting.theme else "",
        lang.gettext("Sub-themes:") + "\n" + "\n".join(f"({n}) {t}" for n, t in enumerate(meeting.subthemes, 1))
        if meeting.subthemes
        else "",
        lang.gettext("Host: %(host)s", host=meeting.host) if meeting.host else "",
        lang.gettext("Our delegation: %(role)s", role=meeting.our_role) if meeting.our_role else "",
        lang.gettext("The source gives only the month; the day is a placeholder.") if tentative else "",
    ]
    event = Event.new(
        uid=meeting.uid,
        summary=meeting.title + (_tbc(lang) if tentative else ""),
        start=start,
        end=end,
        stamp=meeting.updated_at,
        last_modified=meeting.updated_at,
        sequence=meeting.sequence,
        location=meeting.place or None,
        description=_description(
            meeting.description, "\n".join(d for d in details if d), _quote(meeting.source_quote, lang)
        ),
        categories=[lang.gettext("Meeting")],
    )
    if meeting.recurrence_id is not None and meeting.series is not None:
        event.add("RECURRENCE-ID", local_date(meeting.recurrence_id, meeting.series.tz))
    if meeting.cancelled or tentative:
        event.add("STATUS", "CANCELLED" if meeting.cancelled else "TENTATIVE")
    return event


def _item_related(item: Item) -> str | None:
    target = item.serves_meeting or item.meeting
    if target is not None:
        return target.uid
    return item.serves_series.uid if item.serves_series is not None else None


def _item_categories(item: Item, lang: Language) -> list[str]:
    return [lang.gettext("Action item")] + ([lang.category(item.category)] if item.category else [])


def _committee_role(committee: Committee, lang: Language) -> str:
    if committee.role.value == "lead":
        return lang.pgettext("committee role", "lead")
    return lang.pgettext("committee role", "member")


def _item_description(item: Item, lang: Language) -> str | None:
    owners = ", ".join(p.name for p in item.owners)
    committee = item.committee
    facts = [
        lang.gettext("Owner: %(owners)s", owners=owners) if owners else "",
        lang.gettext("Committee: %(name)s (%(role)s)", name=committee.name, role=_committee_role(committee, lang))
        if committee
        else "",
        lang.gettext("Due: %(note)s", note=item.due_note) if item.due_note else "",
        lang.gettext("Status: %(status)s", status=lang.status(item.status.value)),
        lang.gettext("tracker id: %(id)s (%(slug)s)", id=item.id, slug=item.slug),
    ]
    return _description(item.description, "\n".join(f for f in facts if f), _quote(item.source_quote, lang))


def due_value(item: Item) -> date | datetime:
    return local_date(item.due, item.tz) if item.due_all_day else _in_zone(item.due, item.tz)


def item_todo(item: Item, alarms: bool = False, policy: Policy = DEFAULT, lang: Language = ENGLISH) -> Todo:
    """The VTODO of an action item; VALARMs (the lead times of the item's reminder `policy`) only when asked."""
    todo = Todo.new(
        uid=item.uid,
        summary=item.title,
        stamp=item.updated_at,
        last_modified=item.updated_at,
        created=item.created_at,
        sequence=item.sequence,
        priority=PRIORITY[item.priority],
        categories=_item_categories(item, lang),
        description=_item_description(item, lang),
        related_to=_item_related(item),
    )
    todo.add("STATUS", TODO_STATUS[item.status])
    todo.add("PERCENT-COMPLETE", 100 if item.status == Status.done else 0)
    if item.completed_at is not None and item.status == Status.done:
        todo.add("COMPLETED", item.completed_at)
    if item.due is not None:
        todo.add("DUE", due_value(item))
        if alarms and item.status not in (Status.done, Status.cancelled):
            for alarm in _alarms(lang.gettext("Reminder: %(title)s", title=item.title),
                                 item_alarm_triggers(item.due_all_day, policy)):  # fmt: skip
                todo.add_component(alarm)
    return todo


def _alarms(description: str, triggers: Iterable[timedelta]) -> list[Alarm]:
    alarms = []
    for trigger in triggers:
        alarm = Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("DESCRIPTION", description)
        alarm.add("TRIGGER", trigger, parameters={"RELATED": "END"})
        alarms.append(alarm)
    return alarms


def item_deadline_event(item: Item, lang: Language = ENGLISH) -> Event | None:
    """The item as an event on its due date, for clients that ignore VTODO (Google, Outlook)."""
    if item.due is None:
        return None
    due = due_value(item)
    event = Event.new(
        uid=f"deadline-{item.uid}",
        summary=f"{GLYPH[item.status]} " + lang.gettext("Due: %(title)s", title=item.title),
        start=due,
        end=due + timedelta(days=1) if item.due_all_day else None,
        stamp=item.updated_at,
        last_modified=item.updated_at,
        sequence=item.sequence,
        categories=_item_categories(item, lang),
        description=_item_description(item, lang),
        related_to=_item_related(item),
        transparency="TRANSPARENT",
    )
    if item.status == Status.cancelled:
        event.add("STATUS", "CANCELLED")
    return event


# --- assembling calendars --------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def vtimezone(tzid: str, since: int) -> bytes:
    """The VTIMEZONE bytes of one IANA zone for times from 1 January `since` on (see tracker.calendars.vtimezones)."""
    return vtimezones.vtimezone(tzid, since).to_ical()


def header(name: str, refresh: timedelta) -> Calendar:
    """The calendar's own properties. No calendar-level UID (RFC 7986): vdirsyncer copies these properties
    into every item it splits out and keys items on the first UID line, which collapsed a feed into one item."""
    cal = Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", PRODID)
    cal.add("CALSCALE", "GREGORIAN")
    cal.add("NAME", name)
    cal.add("X-WR-CALNAME", name)
    cal.add("REFRESH-INTERVAL", refresh, parameters={"VALUE": "DURATION"})
    cal.add("X-PUBLISHED-TTL", vDuration(refresh))
    return cal


def _sort_key(component: Component) -> tuple[str, str]:
    rid = component.get("RECURRENCE-ID")
    return str(component["UID"]), rid.to_ical().decode() if rid is not None else ""


def assemble(head: Calendar, parts: list[Part]) -> bytes:
    """Header + VTIMEZONEs (each from the earliest year a part needs) + the parts in key order + END."""
    head_bytes = head.to_ical()
    since: dict[str, int] = {}
    for _, _, years in parts:
        for tzid, year in years:
            since[tzid] = min(since.get(tzid, year), year)
    zones = b"".join(vtimezone(tzid, since[tzid]) for tzid in sorted(since))
    ordered = sorted(parts, key=lambda p: p[0])
    return head_bytes[: -len(END)] + zones + b"".join(p[1] for p in ordered) + END


def part(component: Component) -> Part:
    """One component's sort key, bytes, and the TZIDs it uses with the first year each is needed."""
    return _sort_key(component), component.to_ical(), frozenset(vtimezones.first_years(component).items())


# --- which rows go into which calendar -------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarSpec:
    """A published calendar: its file stem, display name, and which components it holds."""

    slug: str
    name: str
    meetings: bool = False
    todos: bool = False
    deadlines: bool = False
    person: str | None = None
    committee: str | None = None
    alarms: bool = False
    subject: str = ""  # the name of the person or committee whose calendar it is

    def title(self, lang: Language) -> str:
        """Its name in `lang` (`name` is the English the feeds carry)."""
        return calendar_title(self.slug, self.subject, lang)


TITLES = {
    "all": N_("APEC SME follow-ups: everything"),
    "meetings": N_("APEC SME meetings"),
    "action-items": N_("APEC SME action items"),
    "deadlines": N_("APEC SME deadlines"),
}


def calendar_title(slug: str, subject: str, lang: Language = ENGLISH) -> str:
    """A calendar's name: a fixed calendar's, or that of the person or committee named `subject`."""
    if slug in TITLES:
        return lang.gettext(TITLES[slug])
    if slug.startswith("people/"):
        return lang.gettext("APEC SME follow-ups: %(name)s", name=subject)
    return lang.gettext("APEC SME: %(name)s", name=subject)


def person_spec(slug: str, name: str) -> CalendarSpec:
    return CalendarSpec(f"people/{slug}", calendar_title(f"people/{slug}", name), True, True, True, person=slug,
                        subject=name)  # fmt: skip


def committee_spec(committee: Committee) -> CalendarSpec:
    slug = f"committees/{committee.slug}"
    return CalendarSpec(slug, calendar_title(slug, committee.name), True, True, True, committee=committee.slug,
                        subject=committee.name)  # fmt: skip


def specs(session: Session) -> list[CalendarSpec]:
    """Every calendar `export` writes: the four fixed ones, then one per owner and per committee."""
    fixed = [
        CalendarSpec("all", calendar_title("all", ""), meetings=True, todos=True, deadlines=True),
        CalendarSpec("meetings", calendar_title("meetings", ""), meetings=True),
        CalendarSpec("action-items", calendar_title("action-items", ""), todos=True, alarms=True),
        CalendarSpec("deadlines", calendar_title("deadlines", ""), deadlines=True),
    ]
    owners = session.scalars(select(Person).where(Person.id.in_(select(ItemOwner.person_id))).order_by(Person.slug))
    people = [person_spec(p.slug, p.name) for p in owners]
    committees = [committee_spec(c) for c in session.scalars(select(Committee).order_by(Committee.slug))]
    return fixed + people + committees


def for_spec(query: Select, spec: CalendarSpec) -> Select:
    if spec.person:
        query = query.where(Item.owner_links.any(ItemOwner.person.has(Person.slug == spec.person)))
    if spec.committee:
        query = query.where(Item.committee.has(Committee.slug == spec.committee))
    return query.order_by(Item.id)


def load_items(session: Session, spec: CalendarSpec, ids: set[int] | None = None) -> list[Item]:
    """The items of `spec` with everything their components show (only those in `ids`, if given)."""
    query = select(Item).options(
        selectinload(Item.owner_links).selectinload(ItemOwner.person),
        selectinload(Item.meeting),
        selectinload(Item.serves_meeting),
        selectinload(Item.serves_series),
        selectinload(Item.committee),
    )
    if ids is not None:
        query = query.where(Item.id.in_(ids))
    return list(session.scalars(for_spec(query, spec)))


def item_keys(session: Session, spec: CalendarSpec) -> list[Row]:
    """What decides an item's components, without loading the items: cheap enough for every rebuild."""
    columns = (Item.id, Item.sequence, Item.due.is_not(None).label("dated"), Item.meeting_id,
               Item.serves_meeting_id, Item.serves_series_id)  # fmt: skip
    return list(session.execute(for_spec(select(*columns), spec)))


def load_meetings(session: Session, spec: CalendarSpec, rows: list[Row]) -> tuple[list[MeetingSeries], list[Meeting]]:
    """All meetings; for a committee's calendar the meetings and series its items serve or came from; for a
    person's, those and the ones they attend."""
    series = list(session.scalars(select(MeetingSeries).order_by(MeetingSeries.id)))
    meetings = list(session.scalars(select(Meeting).options(selectinload(Meeting.series)).order_by(Meeting.id)))
    if spec.person or spec.committee:
        meeting_ids = {m for r in rows for m in (r.meeting_id, r.serves_meeting_id) if m is not None}
        series_ids = {r.serves_series_id for r in rows if r.serves_series_id is not None}
        if spec.person:  # and the meetings the person attends
            meeting_ids |= {m.id for m in meetings if spec.person in m.attendees}
            series_ids |= {s.id for s in series if spec.person in s.attendees}
        series_ids |= {m.series_id for m in meetings if m.id in meeting_ids and m.recurrence_id is not None}
        series = [s for s in series if s.id in series_ids]
        meetings = [m for m in meetings if m.id in meeting_ids or (m.recurrence_id and m.series_id in series_ids)]
    return series, meetings


Source = tuple[tuple, Callable[[], Component]]
Part = tuple[tuple[str, str], bytes, frozenset[tuple[str, int]]]


def sources(session: Session, spec: CalendarSpec, alarms: bool = False, cached: Container = ()) -> list[Source]:
    """(cache key, builder) for every component of `spec`; the key changes whenever the bytes would. Items are
    loaded only where a key is not in `cached`."""
    rows = item_keys(session, spec)
    out: list[Source] = []
    if spec.meetings:
        series, meetings = load_meetings(session, spec, rows)
        out += [(("series", s.id, s.sequence), lambda s=s: series_event(s)) for s in series]
        out += [(("meeting", m.id, m.sequence), lambda m=m: meeting_event(m)) for m in meetings]
    base, categories = load_policies(session)
    # The VALARMs follow the reminder plan, so the plan's own settings are part of the VTODO's cache key.
    plan_tag = hash((base, json.dumps(categories, sort_keys=True)))
    todo_keys = [(("todo", r.id, r.sequence, alarms, plan_tag), r.id) for r in rows] if spec.todos else []
    deadline_keys = [(("deadline", r.id, r.sequence), r.id) for r in rows if r.dated] if spec.deadlines else []
    need = {item_id for key, item_id in todo_keys + deadline_keys if key not in cached}
    found = load_items(session, spec, None if len(need) == len(rows) else need) if need else []
    by_id = {item.id: item for item in found}

    def todo(item: Item) -> Todo:
        owner = item.owners[0] if item.owners else None
        plan = policy_for(base, categories, item, owner) if owner else base.merged(item.reminder_policy)
        return item_todo(item, alarms, plan)

    out += [(key, lambda i=i: todo(by_id[i])) for key, i in todo_keys]
    out += [(key, lambda i=i: item_deadline_event(by_id[i])) for key, i in deadline_keys]
    return out


def build(
    session: Session,
    spec: CalendarSpec,
    refresh: timedelta = timedelta(hours=1),
    alarms: bool | None = None,
    cache: dict[tuple, Part] | None = None,
) -> bytes:
    """The calendar `spec` as bytes (VALARMs per `alarms`, default the spec's). With `cache`, components whose
    key is cached are not re-serialised."""
    parts = []
    for key, make in sources(session, spec, spec.alarms if alarms is None else alarms, cache or ()):
        found = cache.get(key) if cache is not None else None
        if found is None:
            found = part(make())
            if cache is not None:
                cache[key] = found
        parts.append(found)
    return assemble(header(spec.name, refresh), parts)


def export(session: Session, out: str | Path = "calendars", refresh: timedelta = timedelta(hours=1)) -> list[dict]:
    """Write every calendar of `specs()` under `out` (made if missing), each file atomically, only when its bytes
    change; returns what was written (path, bytes, changed).
    :raises InvalidInput: `out` cannot be made or written."""
    out = Path(out)
    written = []
    for spec in specs(session):
        path = out / f"{spec.slug}.ics"
        data = build(session, spec, refresh)
        changed = files.write_if_changed(path, data, "export")
        written.append({"path": str(path), "bytes": len(data), "changed": changed})
    return written
