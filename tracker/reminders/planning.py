"""The reminder plan: when who is reminded of what. One source of truth for the reminders tracker sends and
for the VALARMs the calendars carry.

The lead times come from `tracker.core.policy`. `desired()` turns the data into
Planned reminders (pure: it takes `now`), and `sync_plan()` makes the reminders table match, keeping rows that
are unchanged, adding new ones and dropping unsent ones that no longer apply (done item, moved due date).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from tracker.calendars import meetings as meetings_module
from tracker.core.errors import InvalidInput
from tracker.core.i18n import ENGLISH, Language
from tracker.core.models import OPEN_STATUSES, Delivery, Item, ItemOwner, Person, Reminder, Snooze
from tracker.core.policy import Policy, load_policies, policy_for
from tracker.core.vocab import N_
from tracker.register import dataset
from tracker.reminders import invitations

LOOKAHEAD = timedelta(days=1)  # how far ahead the reminders table is filled; `plan` looks further
MEETING_LOOKBACK = timedelta(days=90)


@dataclass(frozen=True)
class Planned:
    key: str
    kind: str
    fire_at: datetime
    person_id: int
    item_id: int | None = None
    meeting_uid: str | None = None
    occurrence: str | None = None
    escalation: bool = False
    payload: dict[str, Any] = field(default_factory=dict)


def _clock(text: str) -> time:
    hour, minute = map(int, text.split(":"))
    return time(hour, minute)


def quiet_adjusted(at: datetime, person: Person) -> datetime:
    """Move an instant out of the person's quiet hours (e.g. "20:00-08:00") to the hour they end, local time."""
    if not person.quiet_hours:
        return at
    start_text, end_text = person.quiet_hours.split("-")
    start, end = _clock(start_text), _clock(end_text)
    zone = ZoneInfo(person.tz)
    local = at.astimezone(zone)
    now_t = local.time()
    quiet = (start <= now_t or now_t < end) if start > end else (start <= now_t < end)
    if not quiet:
        return at
    day = local.date() if now_t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone).astimezone(at.tzinfo)


def _local(day: date, at: str, tz: str) -> datetime:
    """A wall-clock time on a day in a zone (zoneinfo applies that day's offset, DST included)."""
    return datetime.combine(day, _clock(at), tzinfo=ZoneInfo(tz))


def _item_plan(item: Item, person: Person, policy: Policy, now: datetime) -> list[Planned]:
    """30/7/1 days before and on the due day at 09:00 in the owner's zone; then every 7 days while overdue
    (only the latest past one and the next one: older repeats are superseded), copying the escalation
    contact from 14 days overdue (unless they own the item too: they have their own). Nothing is planned
    before the item existed (see `_since_created`)."""
    out: list[Planned] = []
    owner_tz = person.tz
    due_day = item.due.astimezone(ZoneInfo(item.tz)).date() if item.due else None

    def add(name: str, kind: str, at: datetime, escalation: bool = False, to: Person = person, **payload: Any) -> None:
        fire = quiet_adjusted(at, to)
        tag = "cc" if escalation else "to"
        out.append(Planned(f"item:{item.id}:{name}:{tag}:{to.id}:{fire.isoformat()}", f"item-{kind}", fire, to.id,
                           item_id=item.id, escalation=escalation, payload=payload))  # fmt: skip

    if due_day is not None:
        for days in policy.item_before_days:
            if item.due_all_day:
                at = _local(due_day - timedelta(days=days), policy.due_day_at, owner_tz)
            else:
                at = item.due - timedelta(days=days)
            add(f"before{days}", "before", at, days=days)
        add("due", "due", _local(due_day, policy.due_day_at, owner_tz))
        if policy.overdue_every_days > 0:
            _overdue_plan(item, person, policy, due_day, now, add)
    for text in policy.at:
        at = datetime.fromisoformat(text)
        add(f"at@{text}", "at", at if at.tzinfo else at.replace(tzinfo=ZoneInfo(owner_tz)))
    return _since_created(item, person, policy, due_day, out)


def _since_created(item: Item, person: Person, policy: Policy, due_day: date | None,
                   plan: list[Planned]) -> list[Planned]:  # fmt: skip
    """An item's reminders from its creation on: none fell due while tracker was not running before the item
    existed. If it was already due or overdue when created, the last such reminder before then (the due-day
    one, or the latest overdue repeat with its copy) fires at the creation instead, once, keeping its key (its
    identity in the ledger: a database that sent it before this rule does not send it again); the next overdue
    repeat then waits its full interval."""
    created = item.created_at
    before = [p for p in plan if p.fire_at < created]
    if not before:
        return plan
    last = max(p.fire_at for p in before)
    people = {p.id: p for p in (person, person.escalation) if p is not None}
    carried = [_at_creation(p, people[p.person_id], due_day, created) for p in before
               if p.fire_at == last and p.kind in ("item-due", "item-overdue")]  # fmt: skip
    overdue = any(p.kind == "item-overdue" for p in carried)
    repeats_from = created + timedelta(days=policy.overdue_every_days) if overdue else created
    return carried + [p for p in plan if p.fire_at >= (repeats_from if p.kind == "item-overdue" else created)]


def _at_creation(planned: Planned, to: Person, due_day: date | None, created: datetime) -> Planned:
    """`planned`, which fell due before its item was created, at the creation instead, saying how late it is."""
    fire = quiet_adjusted(created, to)
    late = (created.astimezone(ZoneInfo(to.tz)).date() - due_day).days if due_day else 0
    if late < 1:
        return replace(planned, fire_at=fire)
    return replace(planned, kind="item-overdue", fire_at=fire, payload={**planned.payload, "days_overdue": late})


def _overdue_plan(item: Item, person: Person, policy: Policy, due_day: date, now: datetime, add: Any) -> None:
    step = policy.overdue_every_days
    elapsed = (now.astimezone(ZoneInfo(person.tz)).date() - due_day).days
    latest = max(1, elapsed // step)  # the latest repeat already due (or the first one)
    for k in {latest, latest + 1}:
        days_over = k * step
        at = _local(due_day + timedelta(days=days_over), policy.due_day_at, person.tz)
        add(f"overdue{days_over}", "overdue", at, days_overdue=days_over)
        contact = person.escalation
        if days_over >= policy.escalate_after_days and contact is not None and contact not in item.owners:
            add(f"overdue{days_over}", "overdue", at, escalation=True, to=contact, days_overdue=days_over,
                owner=person.slug)  # fmt: skip


def _snoozed(plan: list[Planned], snoozes: dict[tuple[int, int], datetime], now: datetime) -> list[Planned]:
    """Within a snooze, a person's reminders of that item wait: the ones before `until` become one at `until`."""
    out, moved = [], set()
    for p in plan:
        until = snoozes.get((p.item_id, p.person_id)) if p.item_id else None
        if until is None or until <= now or not (now <= p.fire_at < until):
            out.append(p)
        elif (p.item_id, p.person_id) not in moved:
            moved.add((p.item_id, p.person_id))
            out.append(replace(p, key=f"snooze:{p.item_id}:{p.person_id}:{until.isoformat()}", kind="item-snoozed",
                               fire_at=until, escalation=False))  # fmt: skip
    return out


def _meeting_plan(session: Session, people: dict[str, Person], base: Policy, categories: dict, now: datetime,
                  until: datetime) -> list[Planned]:  # fmt: skip
    """60/14/1 days before each meeting occurrence, at 09:00 in each attendee's zone."""
    out = []
    longest = max([*base.meeting_before_days, 0])
    start = now - MEETING_LOOKBACK
    for occ in meetings_module.meetings(session, start, until + timedelta(days=longest + 1), now):
        if occ["cancelled"]:
            continue
        first_day = date.fromisoformat(occ["start_local"])
        for slug in occ["attendees"]:
            person = people.get(slug)
            if person is None:
                continue
            policy = policy_for(base, categories, None, person)
            for days in policy.meeting_before_days:
                fire = quiet_adjusted(_local(first_day - timedelta(days=days), policy.meeting_at, person.tz), person)
                if start <= fire <= until:
                    key = f"meeting:{occ['uid']}:{occ['start_local']}:before{days}:{person.id}:{fire.isoformat()}"
                    out.append(Planned(key, "meeting-before", fire, person.id, meeting_uid=occ["uid"],
                                       occurrence=occ["start_local"], payload={"days": days,
                                                                                "title": occ["title"]}))  # fmt: skip
    return out


def _digest_plan(person: Person, policy: Policy, now: datetime) -> list[Planned]:
    """The weekly digest (Monday 08:00 local): the latest past one and the next one."""
    if not policy.digest:
        return []
    local_today = now.astimezone(ZoneInfo(person.tz)).date()
    last = local_today - timedelta(days=(local_today.weekday() - policy.digest_weekday) % 7)
    out = []
    for day in (last, last + timedelta(days=7)):
        fire = quiet_adjusted(_local(day, policy.digest_at, person.tz), person)
        out.append(Planned(f"digest:{person.id}:{day.isoformat()}", "digest", fire, person.id,
                           payload={"week_of": day.isoformat()}))  # fmt: skip
    return out


def _invitation_plan(session: Session, people: dict[str, Person], now: datetime) -> list[Planned]:
    """The meetings ahead sent as invitations (tracker.reminders.invitations), each when it last changed."""
    return [Planned(w.key, w.kind, w.invited.changed_at, w.person.id, meeting_uid=w.invited.uid,
                    occurrence=w.invited.recurrence_id, payload=w.payload())
            for w in invitations.plan(session, people, now)]  # fmt: skip


def desired(session: Session, now: datetime, until: datetime, overrides: dict | None = None,
            invite: bool = False) -> list[Planned]:  # fmt: skip
    """Every reminder the data asks for that fires up to `until` (past ones included: the sender decides
    what is late), and with `invite` (e-mail is configured) the invitations to the meetings ahead. Done and
    cancelled items plan nothing."""
    base, categories = load_policies(session)
    base = base.merged(overrides)
    people = {p.slug: p for p in session.scalars(select(Person).options(selectinload(Person.escalation)))}
    open_items = session.scalars(
        select(Item).where(Item.status.in_(OPEN_STATUSES)).options(
            selectinload(Item.owner_links).selectinload(ItemOwner.person).selectinload(Person.escalation))
    )  # fmt: skip
    plan: list[Planned] = []
    involved: set[int] = set()
    for item in open_items:
        for person in item.owners:
            involved.add(person.id)
            policy = policy_for(base, categories, item, person).merged(overrides)
            plan += _item_plan(item, person, policy, now)
    snoozes = {(s.item_id, s.person_id): s.until for s in session.scalars(select(Snooze))}
    plan = _snoozed(plan, snoozes, now)
    meeting_plan = _meeting_plan(session, people, base, categories, now, until)
    involved |= {p.person_id for p in meeting_plan}
    plan += meeting_plan
    if invite:
        plan += _invitation_plan(session, people, now)
    for person in people.values():
        if person.id in involved:
            plan += _digest_plan(person, policy_for(base, categories, None, person).merged(overrides), now)
    return sorted((p for p in plan if p.fire_at <= until), key=lambda p: (p.fire_at, p.key))


def sync_plan(session: Session, now: datetime, invite: bool = False) -> dict[str, int]:
    """Make the reminders table match the plan up to now + LOOKAHEAD (with invitations when `invite`). Sent
    history is never touched; an invitation not yet queued when its meeting changes again is dropped here."""
    wanted = {p.key: p for p in desired(session, now, now + LOOKAHEAD, invite=invite)}
    existing = {key: (rid, state) for key, rid, state in session.execute(select(Reminder.key, Reminder.id,
                                                                                 Reminder.state))}  # fmt: skip
    stale = [rid for key, (rid, state) in existing.items() if key not in wanted and state == "planned"]
    if stale:
        started = set(session.scalars(select(Delivery.reminder_id).where(Delivery.reminder_id.in_(stale))))
        stale = [rid for rid in stale if rid not in started]
        session.execute(delete(Reminder).where(Reminder.id.in_(stale)))
    new = [p for key, p in wanted.items() if key not in existing]
    session.add_all(
        Reminder(key=p.key, kind=p.kind, fire_at=p.fire_at, person_id=p.person_id, item_id=p.item_id,
                 meeting_uid=p.meeting_uid, occurrence=p.occurrence, escalation=p.escalation, payload=p.payload)
        for p in new
    )  # fmt: skip
    session.flush()
    return {"added": len(new), "dropped": len(stale)}


KINDS = {
    "item-due": N_("due today"),
    "item-snoozed": N_("snoozed"),
    "digest": N_("weekly digest"),
    invitations.REQUEST: N_("invitation"),
    invitations.CANCEL: N_("cancellation"),
}
DUE_THAT_DAY = N_("due that day")  # what a catch-up says of a missed due-day reminder


def what(kind: str, payload: dict[str, Any], due: str = KINDS["item-due"], lang: Language = ENGLISH) -> str:
    """What a reminder says about its item or meeting, in a few words: "due in 7 days", "14 days overdue" (in
    `lang`; `due` is the catalog text for the due day)."""
    days = payload.get("days") or payload.get("days_overdue") or 0
    if kind == "item-before":
        said = lang.ngettext("due in %(num)s day", "due in %(num)s days", days)
    elif kind == "item-overdue":
        said = lang.ngettext("%(num)s day overdue", "%(num)s days overdue", days)
    elif kind == "meeting-before":
        said = lang.ngettext("%(num)s day before", "%(num)s days before", days)
    else:
        message = due if kind == "item-due" else KINDS.get(kind, N_("reminder"))
        said = lang.gettext(message)
    return said + (lang.gettext("; escalation copy") if payload.get("owner") else "")


def plan_rows(
    session: Session, now: datetime, days: int, overrides: dict | None = None,
    channels: Iterable[str] = ("console",), grace: timedelta = timedelta(hours=48),
) -> list[dict[str, Any]]:  # fmt: skip
    """What will be sent in the next `days`, and what is due and unsent (sent late, or folded into one catch-up
    message when older than `grace`), for people and --json: `when` it fell or falls due and `send_at`, when it
    goes out (`now` for what is late), in the recipient's zone `tz`. `overrides` follow the YAML's rules. With
    an e-mail channel, the invitations to meetings ahead are listed too (they are never folded into a catch-up)."""
    if not 1 <= days <= meetings_module.MAX_WINDOW.days:
        raise InvalidInput(f"--days: from 1 to {meetings_module.MAX_WINDOW.days}")
    overrides = dataset.check_policy(overrides or {}, {"item_before_days": "--lead-days", "due_day_at": "--due-at"})
    channels = list(channels)
    people = {p.id: p for p in session.scalars(select(Person))}
    titles = dict(session.execute(select(Item.id, Item.title)).all())
    sent = set(session.scalars(select(Reminder.key).where(Reminder.state != "planned")))
    rows = []
    for p in desired(session, now, now + timedelta(days=days), overrides, invite="email" in channels):
        if p.key in sent:
            continue
        person = people[p.person_id]
        rows.append({
            "when": p.fire_at.astimezone(ZoneInfo(person.tz)).isoformat(),
            "send_at": max(p.fire_at, now).astimezone(ZoneInfo(person.tz)).isoformat(),
            "tz": person.tz,
            "when_utc": p.fire_at.astimezone(UTC).isoformat(),
            "to": person.slug,
            "email": person.email,
            "kind": p.kind,
            "escalation": p.escalation,
            "item": titles.get(p.item_id) if p.item_id else None,
            "item_id": p.item_id,
            "what": what(p.kind, p.payload),
            "meeting": p.payload.get("title") if p.meeting_uid else None,
            "channels": list(channels),
            "late": p.fire_at < now,
            "will": "send" if p.fire_at >= now else ("send now" if p.fire_at >= now - grace
                                                     or p.kind in invitations.KINDS else "catch-up message"),
        })  # fmt: skip
    return rows


def snooze_target(session: Session, item: Item, person: Person, after: datetime, days: int = 7) -> datetime:
    """Where "remind me in 7 days" on the reminder that fired at `after` moves this person's reminders of `item`:
    the first one planned after it (snoozes aside), `days` later. A function of `after` and the data alone, so
    pressing the same link again gives the same answer, and an older link an earlier one."""
    base, categories = load_policies(session)
    upcoming = [p.fire_at for owner in item.owners
                for p in _item_plan(item, owner, policy_for(base, categories, item, owner), after)
                if p.person_id == person.id and p.fire_at > after]  # fmt: skip
    return (min(upcoming) if upcoming else after) + timedelta(days=days)


def snooze(session: Session, item: Item, person: Person, until: datetime) -> datetime:
    """Hold this person's reminders of `item` until `until` (the due date stays), unless they are already held
    as long or longer: a snooze only ever moves forward. Returns the snooze in force."""
    found = session.get(Snooze, (item.id, person.id))
    if found is None:
        session.add(Snooze(item_id=item.id, person_id=person.id, until=until))
    elif found.until < until:
        found.until = until
    else:
        return found.until
    session.flush()
    return until
