"""A brief per meeting occurrence: what the desk promised for it and where that stands, as of `now`.

An occurrence is named by its identity, never by its date: a meeting of its own by its UID, an occurrence of a
series by the series' UID and the day it was first scheduled (its RECURRENCE-ID once a meeting overrides it). So
announcing a placeholder's real date, or moving it again, leaves its brief where it was.

What the brief of occurrence O of series S holds (a meeting outside any series: the items that serve it):

- in scope: the items that serve O's meeting, the series S, or an earlier meeting of S, and the items that came
  from an earlier meeting of S and serve nothing (a working group's follow-ups are for its next meeting);
- carried over: the open items in scope that came from an earlier meeting (of any series); the other open items
  are "also open". Each has `open_days` (days since it was recorded, as of `now`) and `carried`: how many
  occurrences of S (not cancelled, other than O) started after it was recorded and were first scheduled before O —
  the meetings it has been carried through without being done or dropped;
- done since / new since: items in scope completed / recorded from the start of the previous occurrence of S
  (the last one first scheduled before O, not cancelled) up to `now`;
- decisions: those of the previous occurrence's meeting, and those of any meeting held before O that affect S
  (a ministerial deciding its working group's plan, KPIs or rhythm);
- progress per priority area of the items in scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from tracker.calendars import meetings
from tracker.core import rules, timing
from tracker.core.clock import start_of_day, zone
from tracker.core.errors import InvalidInput, NotFound
from tracker.core.models import OPEN_STATUSES, Decision, Item, ItemOwner, Meeting, MeetingSeries, Status
from tracker.core.timing import local_date
from tracker.core.vocab import CATEGORIES
from tracker.register import decisions, items

AHEAD = timedelta(days=2 * 366)  # a series' next occurrence is looked for this far past now (and past its meetings)


@dataclass(frozen=True)
class Occurrence:
    """One occurrence, by identity (`key`, `original`), with what calendars.meetings says of it now (`row`)."""

    key: str  # "<meeting uid>" or "<series uid>/<day first scheduled>"
    original: date  # the day it was first scheduled: what orders a series' occurrences
    series: MeetingSeries | None
    meeting: Meeting | None  # its own meeting, or the one that overrides it; None: a placeholder of the series
    row: dict[str, Any]

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.row["start_utc"])

    @property
    def cancelled(self) -> bool:
        return self.row["cancelled"]


def _identity(session: Session, row: dict[str, Any], series: MeetingSeries | None) -> Occurrence:
    meeting = items.by_slug(session, Meeting, row["slug"]) if row["slug"] else None
    if meeting is None:
        original = date.fromisoformat(row["start_local"])
    elif meeting.recurrence_id is not None:
        original = local_date(meeting.recurrence_id, meeting.series.tz)
    else:
        original = local_date(meeting.start, meeting.tz)
    own = meeting is not None and meeting.recurrence_id is None
    key = meeting.uid if own else f"{series.uid}/{original.isoformat()}"
    return Occurrence(key, original, series, meeting, row)


def occurrences(session: Session, series: MeetingSeries, until: datetime, now: datetime) -> list[Occurrence]:
    """Every occurrence of `series` (its rule's, and its meetings of their own) starting before `until`, in the
    order they were first scheduled."""
    firsts = session.scalars(select(Meeting.start).where(Meeting.series_id == series.id, Meeting.start < until))
    # Over at most the longest window calendars.meetings lists: a brief a century ahead counts the meetings
    # carried over the last century.
    begin = max(min([series.start, *firsts]) - timedelta(days=1), until - meetings.MAX_WINDOW)
    rows = [r for r in meetings.meetings(session, begin, until, now) if r["series"] == series.slug]
    return sorted((_identity(session, r, series) for r in rows), key=lambda o: (o.original, o.start))


def _horizon(series: MeetingSeries, now: datetime, target: datetime | None = None) -> datetime:
    """How far a series' occurrences are listed: AHEAD past now, the series' start and the occurrence wanted (an
    announced one is held within rules.MAX_OCCURRENCE_MOVE of its day, well inside AHEAD)."""
    return max([now, series.start, *([target] if target else [])]) + AHEAD


def _day(text: str) -> tuple[date, bool]:
    """An --occurrence value: a day, or a month (True: it names the series' occurrence that month)."""
    try:
        if len(text) == len("2027-03"):
            return rules.check_date(date.fromisoformat(f"{text}-01")), True
        return rules.check_date(date.fromisoformat(text)), False
    except rules.OutOfRange as e:
        raise InvalidInput(f"--occurrence: {e}") from None
    except ValueError:
        raise InvalidInput(f"--occurrence: {text!r} is no date (YYYY-MM-DD, or YYYY-MM)") from None


def resolve(session: Session, meeting_ref: str, occurrence: str | None, now: datetime
            ) -> tuple[Occurrence, list[Occurrence]]:  # fmt: skip
    """The occurrence a brief is for: a meeting (by slug), or a series' occurrence (by slug and the day it was
    first scheduled, or the month; failing that, the day it is now held); a series without `occurrence`: its
    next one not yet over as of `now`. With it, every occurrence of its series up to it and beyond (none for a
    meeting outside any series).

    :raises NotFound: no such meeting, series or occurrence. :raises InvalidInput: a malformed `occurrence`."""
    meeting = items.by_slug(session, Meeting, meeting_ref)
    if meeting is not None:
        if occurrence is not None:
            raise InvalidInput(f"--occurrence: {meeting_ref} is a meeting, not a series")
        if meeting.series is None:
            rows = meetings.meetings(session, meeting.start, meeting.end, now)
            return _identity(session, next(r for r in rows if r["slug"] == meeting.slug), None), []
        found = occurrences(session, meeting.series, _horizon(meeting.series, now, meeting.start), now)
        return next(o for o in found if o.meeting is not None and o.meeting.id == meeting.id), found
    series = items.by_slug(session, MeetingSeries, meeting_ref)
    if series is None:
        raise items.unknown_slug(session, (Meeting, MeetingSeries), meeting_ref)
    day, month = _day(occurrence) if occurrence is not None else (None, False)
    found = occurrences(session, series, _horizon(series, now, day and start_of_day(day, zone(series.tz))), now)
    if occurrence is None:
        ahead = [o for o in found if datetime.fromisoformat(o.row["end_utc"]) > now and not o.cancelled]
        if not ahead:
            raise NotFound(f"{series.slug} has no occurrence after {now:%Y-%m-%d}; name one with --occurrence")
        return min(ahead, key=lambda o: o.start), found
    same = (lambda d: (d.year, d.month) == (day.year, day.month)) if month else (lambda d: d == day)
    held_on = [o for o in found if same(date.fromisoformat(o.row["start_local"]))]  # a moved one, by its new day
    match = [o for o in found if same(o.original)] or held_on
    if not match:
        raise NotFound(f"{series.slug} has no occurrence on {occurrence}")
    return match[0], found


def _scope(occ: Occurrence, earlier: list[int]) -> Any:  # noqa: ANN401 - a SQL clause
    if occ.series is None:
        return Item.serves_meeting_id == occ.meeting.id
    served = [*earlier, *([occ.meeting.id] if occ.meeting else [])]
    return or_(
        Item.serves_series_id == occ.series.id,
        Item.serves_meeting_id.in_(served),
        and_(Item.meeting_id.in_(earlier), Item.serves_meeting_id.is_(None), Item.serves_series_id.is_(None)),
    )


def _item(item: Item, held: list[Occurrence], now: datetime) -> dict[str, Any]:
    carried = sum(1 for o in held if o.start > item.created_at)
    return items.as_dict(item, now) | {
        "owner_names": [p.name for p in item.owners],
        "came_from": item.meeting.title if item.meeting else None,
        "for": (item.serves_meeting or item.serves_series).title if item.serves_meeting_id or item.serves_series_id
        else None,
        "recorded": item.created_at.isoformat(),
        "open_days": max(0, (now - item.created_at).days),
        "carried": carried,
    }  # fmt: skip


def _decisions(session: Session, occ: Occurrence, previous: Occurrence | None) -> list[dict]:
    clauses = []
    if previous is not None and previous.meeting is not None:
        clauses.append(Decision.meeting_id == previous.meeting.id)
    if occ.series is not None:
        # A ministerial decides what its working group does next (a plan, KPIs, its rhythm): any meeting's decision
        # about the series counts, once that meeting was held before this occurrence.
        held_before = select(Meeting.id).where(Meeting.start < occ.start)
        clauses.append(and_(Decision.affects_series_id == occ.series.id, Decision.meeting_id.in_(held_before)))
    if not clauses:
        return []
    query = select(Decision).join(Decision.meeting).where(or_(*clauses)).order_by(Meeting.start, Decision.id)
    return decisions.rows(session, list(session.scalars(query.options(selectinload(Decision.meeting)))))


def _progress(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per priority area (the plan's order, then items of none): how many items are open, overdue, done, dropped."""
    areas: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = row["category"] or ""
        area = areas.setdefault(key, {"category": key, "open": 0, "overdue": 0, "done": 0, "cancelled": 0})
        area["open" if row["status"] in {s.value for s in OPEN_STATUSES} else row["status"]] += 1
        area["overdue"] += row["overdue"]
    for area in areas.values():
        area["total"] = area["open"] + area["done"] + area["cancelled"]
    order = [*CATEGORIES, ""]
    return sorted(areas.values(), key=lambda a: order.index(a["category"]) if a["category"] in order else len(order))


def _header(occ: Occurrence) -> dict[str, Any]:
    m, s, row = occ.meeting, occ.series, occ.row
    return {
        "key": occ.key,
        "original": occ.original.isoformat(),
        "title": row["title"],
        "slug": row["slug"],
        "series": s.slug if s else None,
        "series_title": s.title if s else None,
        "number": row["number"],
        "date": row["date"],
        "end_date": row["end_date"],
        "tz": row["tz"],
        "tentative": row["tentative"],
        "cancelled": row["cancelled"],
        "place": row["place"],
        "host": m.host if m else "",
        "theme": m.theme if m else "",
        "subthemes": list(m.subthemes) if m else [],
        "our_role": m.our_role if m else "",
        "attendees": row["attendees"],
    }


def brief(session: Session, meeting_ref: str, occurrence: str | None, now: datetime) -> dict[str, Any]:
    """The brief of one occurrence (see the module's docstring) as plain data, as of `now`."""
    occ, found = resolve(session, meeting_ref, occurrence, now)
    before = [o for o in found if o.original < occ.original and o.key != occ.key and not o.cancelled]
    previous = before[-1] if before else None
    earlier = [o.meeting.id for o in before if o.meeting is not None]
    query = select(Item).where(_scope(occ, earlier), Item.created_at <= now).options(
        selectinload(Item.owner_links).selectinload(ItemOwner.person), selectinload(Item.meeting),
        selectinload(Item.serves_meeting), selectinload(Item.serves_series))  # fmt: skip
    found_items = items.by_due(session.scalars(query))
    rows = [_item(i, before, now) for i in found_items]
    since = previous.start if previous else None
    is_open = {s.value for s in OPEN_STATUSES}
    open_rows = [r for r in rows if r["status"] in is_open]
    own = occ.meeting.slug if occ.meeting else None
    return {
        "occurrence": _header(occ),
        "previous": _header(previous) if previous else None,
        "now": now.isoformat(),
        "carried_over": [r for r in open_rows if r["meeting"] and r["meeting"] != own],
        "open": [r for r in open_rows if not r["meeting"] or r["meeting"] == own],
        "done_since": [r for r in rows if r["status"] == Status.done.value and r["completed_at"]
                       and (since is None or datetime.fromisoformat(r["completed_at"]) >= since)],
        "new_since": [r for r in rows if since is not None and datetime.fromisoformat(r["recorded"]) >= since],
        "decisions": _decisions(session, occ, previous),
        "progress": _progress(rows),
    }  # fmt: skip


def when(header: dict[str, Any]) -> str:
    """An occurrence's dates as people read them ("2027-03 (day TBC)", "2008-08-28 – 2008-08-29")."""
    first, last = (timing.readable(header[k], header["tz"]) for k in ("date", "end_date"))
    return first if first == last else f"{first} – {last}"
