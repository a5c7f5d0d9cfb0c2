"""Which occurrence of a series a dated meeting stands for, when its YAML does not say (`overrides:`).

A series whose dates the source does not give yet publishes a placeholder each time (October 2010, October
2012, …); the real meeting, once announced, is loaded as a meeting of that series. Without `overrides:` it
would be published beside the placeholder, so the calendar would show the meeting twice. The loader asks here
which occurrence the meeting falls in: the one in its month for a placeholder series, the one on its day for a
series with exact dates.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from dateutil.rrule import rrulestr

from tracker.models import MeetingSeries, Precision
from tracker.timing import local_date


def occurrences_near(series: MeetingSeries, day: date) -> list[date]:
    """The series' occurrences (their first days) that a meeting starting on local `day` may stand for: those in
    the same month for a placeholder series (precision month), those on `day` otherwise."""
    if series.precision == Precision.month:
        begin = day.replace(day=1)
        end = (begin + timedelta(days=32)).replace(day=1)
    else:
        begin, end = day, day + timedelta(days=1)
    first = local_date(series.start, series.tz)
    rule = rrulestr(series.rrule, dtstart=datetime.combine(first, time()))
    found = rule.between(datetime.combine(begin, time()), datetime.combine(end, time()), inc=True)
    return [d.date() for d in found if d.date() < end]


def overrides_text(series: MeetingSeries, occurrence: date) -> str:
    """The `overrides:` value that names `occurrence`, as the YAML writes it (a month for a placeholder)."""
    return f"{occurrence:%Y-%m}" if series.precision == Precision.month else occurrence.isoformat()
