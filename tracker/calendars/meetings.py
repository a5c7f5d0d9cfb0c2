"""Meeting occurrences in a window: the series' RRULEs expanded by recurring-ical-events over the very
VEVENTs the calendars publish, so the listing and the feed can never disagree."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import recurring_ical_events
from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tracker.calendars import ics
from tracker.core import timing
from tracker.core.clock import start_of_day, zone
from tracker.core.errors import InvalidInput
from tracker.core.models import Meeting, MeetingSeries, Precision
from tracker.core.timing import local_date

MAX_WINDOW = timedelta(days=100 * 365 + 25)
MAX_OCCURRENCES = 5_000
CHUNK = timedelta(days=366)


def _calendar(series: list[MeetingSeries], meetings: list[Meeting]) -> Calendar:
    cal = Calendar()
    for s in series:
        cal.add_component(ics.series_event(s))
    for m in meetings:
        cal.add_component(ics.meeting_event(m))
    return cal


def _instant(value: date | datetime, tz: str) -> datetime:
    if isinstance(value, datetime):
        return value
    return start_of_day(value, zone(tz))


def meetings(session: Session, start: datetime, end: datetime, now: datetime) -> list[dict[str, Any]]:
    """Every occurrence overlapping [start, end), earliest first; each says whether it is past. The window is
    at most MAX_WINDOW long, and series are at most daily (rules.check_rrule), so the expansion is bounded."""
    if end <= start:
        raise InvalidInput("--to must be after --from")
    if end - start > MAX_WINDOW:
        raise InvalidInput(f"--from/--to: a window of at most {MAX_WINDOW.days // 365} years")
    series = list(session.scalars(select(MeetingSeries)))
    rows = list(session.scalars(select(Meeting).options(selectinload(Meeting.series))))
    by_uid = {m.uid: m for m in rows if m.recurrence_id is None}
    overrides = {(m.uid, local_date(m.recurrence_id, m.series.tz)): m for m in rows if m.recurrence_id is not None}
    series_by_uid = {s.uid: s for s in series}
    found = []
    query = recurring_ical_events.of(_calendar(series, rows))
    # The window is walked a year at a time and the walk stops past MAX_OCCURRENCES, so a listing stays
    # bounded however many daily series there are. A day of margin on each side catches all-day events whose
    # local date straddles the UTC window edge; the exact filter below trims them (and a chunk's overlaps).
    chunk_start = start - timedelta(days=1)
    while chunk_start < end + timedelta(days=1):
        chunk_end = min(chunk_start + CHUNK, end + timedelta(days=1))
        found += [_occurrence(e, by_uid, overrides, series_by_uid, now) for e in query.between(chunk_start, chunk_end)]
        if len(found) > MAX_OCCURRENCES:
            raise InvalidInput(f"--from/--to: more than {MAX_OCCURRENCES:,} meeting occurrences from "
                               f"{start:%Y-%m-%d} to {end:%Y-%m-%d}; ask for a shorter window")  # fmt: skip
        chunk_start = chunk_end
    # An occurrence spanning two chunks is in both; two occurrences of a series held on the same day are two.
    unique = {(o["uid"], o["_rid"], o["_start"]): o for o in found}
    found = [o for o in unique.values() if o["_start"] < end and o["_end"] > start]
    found.sort(key=lambda o: (o["_start"], o["title"]))
    for o in found:
        del o["_start"], o["_end"], o["_rid"]
    return found


def _occurrence(event: Any, by_uid: dict, overrides: dict, series_by_uid: dict, now: datetime) -> dict[str, Any]:
    uid = str(event["UID"])
    rid = event.get("RECURRENCE-ID")
    meeting = by_uid.get(uid)
    rid_date = (rid.dt.date() if isinstance(rid.dt, datetime) else rid.dt) if rid is not None else None
    if meeting is None and rid is not None:
        meeting = overrides.get((uid, rid_date))
    series = series_by_uid.get(uid)
    source = meeting if meeting is not None else series
    tz = source.tz
    start = _instant(event.start, tz)
    end = _instant(event.end, tz)
    all_day = not isinstance(event.start, datetime)
    precision = source.precision
    return {
        "_start": start,
        "_end": end,
        "_rid": rid_date,
        "date": timing.iso(start, all_day, tz, precision),
        "end_date": timing.iso(end - timedelta(days=1) if all_day else end, all_day, tz, precision),
        "start_utc": start.astimezone(UTC).isoformat(),
        "end_utc": end.astimezone(UTC).isoformat(),
        "title": meeting.title if meeting else series.title,
        "slug": meeting.slug if meeting else None,
        "series": (meeting.series.slug if meeting and meeting.series else (series.slug if series else None)),
        "number": meeting.number if meeting else None,
        "place": meeting.place if meeting else "",
        "tz": tz,
        "tentative": precision == Precision.month,
        "from_rule": meeting is None,
        "cancelled": bool(meeting and meeting.cancelled),
        "past": end <= now,
        "uid": uid,
        "start_local": start.astimezone(zone(tz)).date().isoformat(),
        "attendees": (meeting.attendees if meeting and meeting.attendees else (series.attendees if series else []))
        or (meeting.series.attendees if meeting and meeting.series else []),
    }


def readable(row: dict[str, Any]) -> dict[str, Any]:
    """An occurrence (a row of `meetings`) as people read it: "2009-03 (day TBC)", "2008-10-06 09:30 Asia/Taipei"."""
    return row | {key: timing.readable(row[key], row["tz"]) for key in ("date", "end_date")}
