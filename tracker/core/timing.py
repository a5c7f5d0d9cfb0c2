"""Dates as people write them ("2008-09-30", "2009-03", "2008-10-06T09:30") turned into stored instants."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from tracker.core.clock import start_of_day
from tracker.core.models import Precision
from tracker.core.rules import check_date, check_wall_time

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class When:
    """A written date, date-time or month, read in a zone: `at` is aware UTC."""

    at: datetime
    all_day: bool
    precision: Precision

    def local_date(self, tz: ZoneInfo) -> date:
        return self.at.astimezone(tz).date()


def parse_when(text: str, tz: ZoneInfo) -> When:
    """Read `text` in `tz`; raise ValueError with a short reason for anything else (dates outside the years
    tracker stores among them)."""
    text = str(text).strip()
    month = _MONTH.match(text)
    if month:
        day = check_date(date(int(month[1]), int(month[2]), 1))
        return When(start_of_day(day, tz), True, Precision.month)
    if "T" not in text and " " not in text:
        return When(start_of_day(check_date(date.fromisoformat(text)), tz), True, Precision.day)
    value = datetime.fromisoformat(text)
    check_date(value.date())
    if value.tzinfo is None:
        value = check_wall_time(value.replace(tzinfo=tz))
    return When(value.astimezone(UTC), False, Precision.day)


def local_date(at: datetime, tz: str) -> date:
    return at.astimezone(ZoneInfo(tz)).date()


def day_after(at: datetime, tz: str) -> datetime:
    """Local midnight after the local day of `at`: the end of an all-day span."""
    return start_of_day(local_date(at, tz) + timedelta(days=1), ZoneInfo(tz))


def iso(at: datetime | None, all_day: bool, tz: str, precision: Precision = Precision.day) -> str | None:
    """How --json gives a stored instant: a date ("2008-09-30") or a month ("2009-03") where that is all the
    source says, else ISO-8601 with the offset of `tz` ("2008-10-06T09:30:00+08:00")."""
    if at is None:
        return None
    local = at.astimezone(ZoneInfo(tz))
    if precision == Precision.month:
        return f"{local:%Y-%m}"
    return local.date().isoformat() if all_day else local.isoformat()


def readable(value: str | None, tz: str) -> str:
    """How a person reads what `iso` gives: "2008-09-30", "2009-03 (day TBC)", "2008-10-06 09:30 Asia/Taipei"."""
    if not value:
        return ""
    if _MONTH.match(value):
        return f"{value} (day TBC)"
    if len(value) == len("2008-09-30"):
        return value
    return f"{datetime.fromisoformat(value).astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} {tz}"


def minute(at: datetime, tz: ZoneInfo) -> str:
    """An instant as a person reads it in a table: local time in `tz`, to the nearest minute."""
    return f"{(at + timedelta(seconds=30)).astimezone(tz):%Y-%m-%d %H:%M}"


def describe(at: datetime | None, all_day: bool, tz: str, precision: Precision = Precision.day) -> str:
    """How a person reads a stored instant (see `readable`)."""
    return readable(iso(at, all_day, tz, precision), tz)
