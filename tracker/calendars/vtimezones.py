"""VTIMEZONE components read from the installed tz database, written so that every parser reads them alike.

icalendar's `Timezone.from_tzinfo` writes several onsets in one RDATE (Mozilla's ical.js reads only the first),
a COMMENT directly in VTIMEZONE (libical rejects it), spring-forward onsets an hour late, and stops in 2038. No
maintained library writes better ones from tzdata: the packaged vzic files (ics-vtimezones) are frozen at an old
tzdata, and the `ical` package's Timezone.from_tzif gives only the current rule, back-dated. So a zone is read
here from zoneinfo itself, the same rules tracker converts instants with, and written as:

- the observance in effect on 1 January of the first year the calendar needs, with its real onset, or of
  RULE_SINCE if that is earlier: the current rule is found only in the years before HORIZON, so a calendar that
  begins later starts its VTIMEZONE there (valid: a VTIMEZONE may begin before its first use);
- each change up to the zone's current rule as an onset of its observance (one RDATE line each, the first too);
- the current rule, if the zone has one, as yearly RRULE observances without end (as vzic and tzurl write them).

Every onset is the local time before the change (RFC 5545 §3.6.5): 02:00 for New York's spring-forward.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from icalendar import Calendar, Component, Timezone, TimezoneDaylight, TimezoneStandard
from icalendar.prop import vRecur

# Changes are looked for up to here: RULE_YEARS past the last one tzdata lists (Morocco's and Gaza's Ramadan
# changes, to 2087), so that a zone's current rule is seen running on its own.
HORIZON = 2120
# A yearly rule must hold this long to be published without end: 28 years show it on every weekday and in
# leap and common years, so the day rule (2nd Sunday, last Sunday, Sunday on or after the 2nd) is unambiguous.
RULE_YEARS = 28
RULE_SINCE = HORIZON - RULE_YEARS  # a VTIMEZONE starts no later than this year, to show its current rule
EARLIEST = datetime(1800, 1, 1, tzinfo=UTC)  # looking back for the onset of a zone's first observance stops here
DAY = timedelta(days=1)
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class Change:
    """One change of a zone's offset, name or daylight flag."""

    at: datetime  # UTC
    before: timedelta
    after: timedelta
    daylight: bool
    name: str

    @property
    def onset(self) -> datetime:
        """The local time just before the change, as RFC 5545 writes DTSTART and RDATE in an observance."""
        return (self.at + self.before).replace(tzinfo=None)

    @property
    def kind(self) -> tuple[bool, timedelta, timedelta, str]:
        return self.daylight, self.before, self.after, self.name


def _state(zone: ZoneInfo, at: datetime) -> tuple[timedelta, bool, str]:
    local = at.astimezone(zone)
    return local.utcoffset(), local.dst() > timedelta(0), local.tzname() or ""


def _first_different(zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The first second in (low, high] whose state differs from low's (high's differs)."""
    was = _state(zone, low)
    while high - low > timedelta(seconds=1):
        middle = low + timedelta(seconds=(high - low).total_seconds() // 2)  # whole seconds: changes are on them
        if _state(zone, middle) == was:
            low = middle
        else:
            high = middle
    return high


def _changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[Change]:
    """Every change in [start, end), looked for day by day (no zone changes twice within a day)."""
    changes, at, state = [], start, _state(zone, start)
    while at < end:
        step = min(at + DAY, end)
        if _state(zone, step) == state:
            at = step
            continue
        at = _first_different(zone, at, step)
        new = _state(zone, at)
        changes.append(Change(at, state[0], new[0], new[1], new[2]))
        state = new
    return changes


def _last_change_before(zone: ZoneInfo, at: datetime) -> datetime | None:
    """A time just before the last change before `at` (None if the zone never changed since EARLIEST)."""
    state, day = _state(zone, at), at
    while day > EARLIEST:
        day -= DAY
        if _state(zone, day) != state:
            return day
    return None


@dataclass(frozen=True)
class DayRule:
    """Which day of a month a yearly change falls on, as RRULE parts."""

    month: int
    weekday: int | None  # None: a fixed day of the month
    first_day: int  # the change falls on `weekday` in [first_day, first_day + 6], or on first_day if fixed
    last: bool = False  # the last `weekday` of the month

    def matches(self, day: date) -> bool:
        if day.month != self.month:
            return False
        if self.weekday is None:
            return day.day == self.first_day
        if self.last:
            return day.weekday() == self.weekday and day.day > calendar.monthrange(day.year, day.month)[1] - 7
        return day.weekday() == self.weekday and self.first_day <= day.day <= self.first_day + 6

    def recur(self) -> vRecur:
        parts: dict = {"FREQ": "YEARLY", "BYMONTH": [self.month]}
        if self.weekday is None:
            parts["BYMONTHDAY"] = [self.first_day]
        elif self.last:
            parts["BYDAY"] = [f"-1{WEEKDAYS[self.weekday]}"]
        elif self.first_day % 7 == 1:  # Sunday>=1, >=8, >=15, >=22: the 1st to 4th Sunday
            parts["BYDAY"] = [f"{self.first_day // 7 + 1}{WEEKDAYS[self.weekday]}"]
        else:  # e.g. Sunday>=2 (Chile): BYMONTHDAY=2,...,8;BYDAY=SU
            parts["BYMONTHDAY"] = list(range(self.first_day, self.first_day + 7))
            parts["BYDAY"] = [WEEKDAYS[self.weekday]]
        return vRecur(parts)


def _day_rule(days: list[date]) -> DayRule | None:
    """The simplest rule every day in `days` (one per year, same month) follows, if any: the nth or last weekday
    of the month, a weekday on or after a day, or a fixed day."""
    month, weekday = days[0].month, days[0].weekday()
    on_or_after = max(max(d.day for d in days) - 6, 1)
    nth = (min(d.day for d in days) - 1) // 7 * 7 + 1
    candidates = (DayRule(month, weekday, nth), DayRule(month, weekday, 1, last=True),
                  DayRule(month, weekday, on_or_after), DayRule(month, None, days[0].day))  # fmt: skip
    return next((rule for rule in candidates if all(rule.matches(d) for d in days)), None)


def _yearly_rule(changes: list[Change]) -> tuple[int, list[DayRule]]:
    """The zone's current rule: where in `changes` it begins, and its changes of a year as day rules (none if the
    zone ends on one offset, or on changes that follow no yearly rule)."""
    by_year: dict[int, list[Change]] = defaultdict(list)
    for change in changes:
        by_year[change.onset.year].append(change)

    def shape(year: int) -> list[tuple]:
        return [(c.kind, c.onset.month, c.onset.time()) for c in by_year.get(year, [])]

    window = range(HORIZON - RULE_YEARS, HORIZON)
    if not by_year.get(HORIZON - 1) or any(shape(year) != shape(HORIZON - 1) for year in window):
        return len(changes), []
    # rules[i % count] is the rule of changes[i]: the list ends with whole years of the rule.
    count = len(by_year[HORIZON - 1])
    rules = [_day_rule([by_year[year][(i - len(changes)) % count].onset.date() for year in window])
             for i in range(count)]  # fmt: skip
    if None in rules:
        return len(changes), []
    # Walk back change by change while each still follows its rule: a rule may begin mid-year, or before the span.
    start = len(changes) - count
    while start > 0 and _a_year_before(changes[start - 1], changes[start - 1 + count], rules[(start - 1) % count]):
        start -= 1
    return start, rules


def _a_year_before(change: Change, like: Change, rule: DayRule) -> bool:
    """Whether `change` is the change `like` the year before, by the same rule."""
    same = (change.kind, change.onset.time(), change.onset.year + 1) == (like.kind, like.onset.time(), like.onset.year)
    return same and rule.matches(change.onset.date())


def _observance(first: Change) -> TimezoneStandard | TimezoneDaylight:
    observance = TimezoneDaylight() if first.daylight else TimezoneStandard()
    observance.add("TZNAME", first.name)
    observance.add("TZOFFSETFROM", first.before)
    observance.add("TZOFFSETTO", first.after)
    observance.add("DTSTART", first.onset)
    return observance


@lru_cache(maxsize=256)
def _zone_changes(tzid: str, since: int) -> tuple[Change, ...]:
    """The zone's changes, from the onset of the observance in effect on 1 January `since` to HORIZON."""
    zone = ZoneInfo(tzid)
    start = datetime(since, 1, 1, tzinfo=UTC) - DAY  # before local midnight in every zone
    before = _last_change_before(zone, start)
    changes = _changes(zone, before or start, datetime(HORIZON, 1, 1, tzinfo=UTC))
    if not changes:  # a zone that never changed (UTC, Etc/GMT+5): one observance from `since`
        offset, daylight, name = _state(zone, start)
        changes = [Change(start + DAY - offset, offset, offset, daylight, name)]
    return tuple(c for c in changes if c.onset.year < HORIZON)


def vtimezone(tzid: str, since: int) -> Timezone:
    """The VTIMEZONE of IANA zone `tzid` for anything from 1 January `since` on, without end."""
    changes = list(_zone_changes(tzid, min(since, RULE_SINCE)))
    start, rules = _yearly_rule(changes)
    onsets: dict[tuple, list[Change]] = defaultdict(list)
    for change in changes[:start]:
        onsets[change.kind].append(change)
    tz = Timezone()
    tz.add("TZID", tzid)
    for same in onsets.values():
        observance = _observance(same[0])
        for change in same:  # the first too, as vzic does: the `ical` package reads no onset from DTSTART alone
            observance.add("RDATE", change.onset)
        tz.add_component(observance)
    for index in range(start, start + len(rules)):
        observance = _observance(changes[index])
        observance.add("RRULE", rules[index % len(rules)].recur())
        tz.add_component(observance)
    return tz


def first_years(component: Component) -> dict[str, int]:
    """Each TZID used in `component` (and its subcomponents), with the year of its earliest local time."""
    years: dict[str, int] = {}
    for _name, value in component.property_items(sorted=False):
        tzid = getattr(value, "params", {}).get("TZID")
        if tzid:
            for moment in _moments(value):
                years[tzid] = min(years.get(tzid, moment.year), moment.year)
    return years


def _moments(value: object) -> Iterable[date]:
    listed = getattr(value, "dts", None)
    return [v.dt for v in listed] if listed is not None else [value.dt]


def add_timezones(cal: Calendar) -> None:
    """Put a VTIMEZONE for each TZID `cal` uses at its start, covering every time in it (the replacement of
    icalendar's add_missing_timezones)."""
    years = first_years(cal)
    cal.subcomponents[:0] = [vtimezone(tzid, years[tzid]) for tzid in sorted(years)]
