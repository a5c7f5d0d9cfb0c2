"""Which occurrence of a series a dated meeting stands for, when its YAML does not say (`overrides:`).

A series whose dates the source does not give yet publishes a placeholder each time (October 2010, October
2012, …); the real meeting, once announced, is loaded as a meeting of that series. Without `overrides:` it
would be published beside the placeholder, so the calendar would show the meeting twice. A meeting falls on an
occurrence in the same month for a placeholder series, on the same day for a series with exact dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from dateutil.rrule import rrulestr
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tracker.core.models import Meeting, MeetingSeries, Precision
from tracker.core.timing import local_date


@dataclass(frozen=True)
class Dated:
    """A meeting of a series being loaded: its first local day, and the occurrence it says it overrides."""

    slug: str
    series: MeetingSeries
    day: date
    overrides: date | None
    own_uid: bool


@dataclass(frozen=True)
class Finding:
    """A loaded meeting that falls on an occurrence nothing overrides: `inferred` when it alone falls there (and
    so becomes the override), else `meetings` names all that do. `text` is the `overrides:` value to write."""

    slug: str
    series: str
    text: str
    inferred: bool
    meetings: tuple[str, ...]


def occurrences_near(series: MeetingSeries, day: date) -> list[date]:
    """The first days of the series' occurrences a meeting starting on local `day` falls on."""
    if series.precision == Precision.month:
        begin = day.replace(day=1)
        end = (begin + timedelta(days=32)).replace(day=1)
    else:
        begin, end = day, day + timedelta(days=1)
    rule = rrulestr(series.rrule, dtstart=datetime.combine(local_date(series.start, series.tz), time()))
    found = rule.between(datetime.combine(begin, time()), datetime.combine(end, time()), inc=True)
    return [d.date() for d in found if d.date() < end]


def overrides_text(series: MeetingSeries, occurrence: date) -> str:
    """The `overrides:` value that names `occurrence`, as the YAML writes it (a month for a placeholder)."""
    return f"{occurrence:%Y-%m}" if series.precision == Precision.month else occurrence.isoformat()


def findings(session: Session, loading: list[Dated]) -> list[Finding]:
    """What to say about each meeting of `loading` without `overrides` that falls on an occurrence of its series
    that nothing overrides (in this load or in the database): infer the override when it alone falls there, has
    no uid of its own and falls on that one occurrence only; else warn, naming every meeting that falls there."""
    taken = {(m.series.slug, m.overrides) for m in loading if m.overrides is not None}
    falling: dict[tuple[str, date], list[str]] = {}
    near = {m.slug: occurrences_near(m.series, m.day) for m in loading if m.overrides is None}
    for m in loading:
        for occurrence in near.get(m.slug, []):
            falling.setdefault((m.series.slug, occurrence), []).append(m.slug)
    others = select(Meeting).where(Meeting.series_id.is_not(None), Meeting.slug.not_in([m.slug for m in loading]))
    for row in session.scalars(others.options(selectinload(Meeting.series))):
        if row.recurrence_id is not None:
            taken.add((row.series.slug, local_date(row.recurrence_id, row.series.tz)))
        else:
            for occurrence in occurrences_near(row.series, local_date(row.start, row.tz)):
                falling.setdefault((row.series.slug, occurrence), []).append(row.slug)
    found = []
    for m in loading:
        for occurrence in near.get(m.slug, []):
            if (m.series.slug, occurrence) in taken:
                continue
            meetings = tuple(falling[(m.series.slug, occurrence)])
            alone = meetings == (m.slug,) and not m.own_uid and len(near[m.slug]) == 1
            found.append(Finding(m.slug, m.series.slug, overrides_text(m.series, occurrence), alone, meetings))
    return found
