"""tracker.calendars.vtimezones against zoneinfo, in zones whose rules are unusual, read by the `ical` package and
icalendar: every local time gets the offset zoneinfo gives it, from the first year asked for to the end of 2200, the
last year tracker accepts."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from ical.calendar_stream import IcsCalendarStream
from ical.timezone import IcsTimezoneInfo
from icalendar import Timezone
from icalendar.timezone import tzp

from tracker.calendars import vtimezones
from tracker.core.rules import LATEST_YEAR

ZONES = [
    ("America/New_York", 2005),  # the 2007 rule change inside the span
    ("Europe/London", 1970),
    ("Australia/Lord_Howe", 2000),  # half-hour daylight saving
    ("Asia/Taipei", 2008),  # no change since 1979
    ("America/Lima", 1990),  # daylight saving until 1994
    ("America/Santiago", 2008),  # Sunday on or after the 2nd, rules changing often
    ("America/Nuuk", 2020),  # Saturday 22:00 changes, a new standard offset in 2023
    ("Europe/Dublin", 2008),  # negative daylight saving in tzdata
    ("Africa/Casablanca", 2018),  # Ramadan changes listed to 2087, no rule
    ("America/Port-au-Prince", 2012),  # a year without daylight saving between years with it
    ("America/Sao_Paulo", 2008),  # daylight saving abolished in 2019
    ("Pacific/Chatham", 2008),  # +1245 / +1345
    ("Pacific/Apia", 2008),  # the date line moved in 2011
    ("Asia/Kathmandu", 1980),
    ("Etc/GMT+5", 2008),  # never changes
]
# Zones first used far ahead (up to the last year tracker accepts): each must still get its current rule.
FAR = [(tzid, since) for tzid in ("America/New_York", "Europe/London", "Australia/Lord_Howe")
       for since in (2100, 2125, LATEST_YEAR)]  # fmt: skip
END = datetime(LATEST_YEAR + 1, 1, 1, tzinfo=UTC)


def local_times(tzid: str, since: int) -> list[datetime]:
    """Unambiguous local times (naive) a minute and an hour either side of each change of the zone, and at
    random, from `since` on."""
    zone, start = ZoneInfo(tzid), datetime(since, 1, 1, tzinfo=UTC)
    rng = random.Random(tzid)
    instants = [start + (END - start) * rng.random() for _ in range(400)]
    day = start
    while day < END:
        low, high = day, day + timedelta(days=1)
        if low.astimezone(zone).utcoffset() != high.astimezone(zone).utcoffset():
            while high - low > timedelta(seconds=1):  # the change's exact second
                middle = low + (high - low) / 2
                low, high = (middle, high) if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset() \
                    else (low, middle)  # fmt: skip
            instants += [high + timedelta(minutes=m) for m in (-60, -1, 0, 1, 59)]
        day += timedelta(days=1)
    out = []
    for instant in instants:
        local = instant.astimezone(zone)
        if local.replace(fold=1 - local.fold).utcoffset() == local.utcoffset():
            out.append(local.replace(tzinfo=None))
    return out


def wrong_offsets(tzid: str, since: int, offset_of) -> list:
    zone = ZoneInfo(tzid)
    return [(local, offset_of(local), local.replace(tzinfo=zone).utcoffset()) for local in local_times(tzid, since)
            if offset_of(local) != local.replace(tzinfo=zone).utcoffset()][:5]  # fmt: skip


@pytest.mark.parametrize(("tzid", "since"), ZONES)
def test_the_ical_package_reads_zoneinfos_offsets(tzid, since):
    text = vtimezones.vtimezone(tzid, since).to_ical().decode()
    calendar = IcsCalendarStream.calendar_from_ics(
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{text}END:VCALENDAR\r\n"
    )
    info = IcsTimezoneInfo.from_timezone(calendar.timezones[0])
    assert wrong_offsets(tzid, since, info.utcoffset) == []


@pytest.mark.parametrize(("tzid", "since"), [z for z in ZONES if z[0] != "Pacific/Apia"])
def test_icalendar_reads_zoneinfos_offsets(tzid, since):
    """(Not Apia: icalendar's own reader fails on its 24-hour jump, whatever the VTIMEZONE.)"""
    parsed = Timezone.from_ical(vtimezones.vtimezone(tzid, since).to_ical()).to_tz(tzp, lookup_tzid=False)
    assert wrong_offsets(tzid, since, lambda local: local.replace(tzinfo=parsed).utcoffset()) == []


@pytest.mark.parametrize(("tzid", "since"), FAR)
def test_a_zone_first_used_far_ahead_keeps_its_rule(tzid, since):
    """The current rule is found in the years before HORIZON, so the VTIMEZONE begins there, before its first use,
    and both readers give zoneinfo's offset to the end of 2200."""
    text = vtimezones.vtimezone(tzid, since).to_ical()
    assert text.count(b"RRULE:") == 2
    calendar = IcsCalendarStream.calendar_from_ics(
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{text.decode()}END:VCALENDAR\r\n"
    )
    info = IcsTimezoneInfo.from_timezone(calendar.timezones[0])
    parsed = Timezone.from_ical(text).to_tz(tzp, lookup_tzid=False)
    assert wrong_offsets(tzid, since, info.utcoffset) == []
    assert wrong_offsets(tzid, since, lambda local: local.replace(tzinfo=parsed).utcoffset()) == []


@pytest.mark.parametrize("tzid", ["Etc/GMT+5", "Asia/Taipei"])
def test_a_zone_without_changes_first_used_far_ahead_has_its_offset(tzid):
    text = vtimezones.vtimezone(tzid, LATEST_YEAR).to_ical()
    parsed = Timezone.from_ical(text).to_tz(tzp, lookup_tzid=False)
    assert b"BEGIN:STANDARD" in text
    assert wrong_offsets(tzid, LATEST_YEAR, lambda local: local.replace(tzinfo=parsed).utcoffset()) == []


def test_current_rules_are_yearly_rrules_and_history_one_rdate_a_line():
    text = vtimezones.vtimezone("America/New_York", 2005).to_ical().decode()
    assert "COMMENT" not in text and "UNTIL" not in text
    assert "DTSTART:20070311T020000\r\nRRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3\r\n" in text
    assert "DTSTART:20071104T020000\r\nRRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11\r\n" in text
    assert "RDATE:20050403T020000\r\nRDATE:20060402T020000\r\n" in text  # the older rule: first Sunday in April
    santiago = vtimezones.vtimezone("America/Santiago", 2008).to_ical().decode()
    assert "RRULE:FREQ=YEARLY;BYDAY=SU;BYMONTHDAY=2,3,4,5,6,7,8;BYMONTH=9\r\n" in santiago


def test_the_same_zone_gives_the_same_bytes_in_another_process():
    code = (
        "import sys, tracker.calendars.vtimezones as v; "
        "sys.stdout.buffer.write(v.vtimezone(sys.argv[1], 2008).to_ical())"
    )
    runs = {subprocess.run([sys.executable, "-c", code, "Europe/London"], capture_output=True, check=True).stdout
            for _ in range(2)}  # fmt: skip
    assert runs == {vtimezones.vtimezone("Europe/London", 2008).to_ical()}
