"""Timed items and meetings in zones with and without daylight saving, read back by four independent parsers
through the calendar's own VTIMEZONEs: each must resolve every DUE, DTSTART and DTEND to the instant tracker
stores. Mozilla ical.js (Thunderbird) runs under node; libical (Evolution) under Debian's python3 with gi; the
PyPI `ical` package and icalendar in this venv. .ci/run installs all of them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar
from sqlalchemy import select

from tracker.core import store
from tracker.core.models import Item, Meeting
from tracker.core.timing import local_date

pytestmark = pytest.mark.interop

HERE = Path(__file__).parent
ICAL_JS = HERE / "js" / "resolve.mjs"
LIBICAL = HERE / "libical_resolve.py"
SYSTEM_PYTHON = "/usr/bin/python3"

# Local times per zone: summer, winter, each change day just before and in the hour after the change, both
# occurrences of a time in the hour repeated when clocks go back, a change under an older rule, and after 2038.
TIMES = {
    "America/New_York": ["2009-07-01T09:30", "2009-01-20T10:15", "2009-03-08T01:30", "2009-03-08T03:30",
                         "2009-11-01T00:30", "2009-11-01T01:30", "2009-11-01T01:30-05:00", "2009-11-01T02:30",
                         "2006-04-02T03:30", "2006-10-29T02:30", "2040-03-11T03:30", "2040-11-04T02:30",
                         "2040-07-01T09:30"],
    "Europe/London": ["2009-06-10T14:00", "2009-01-20T10:15", "2009-03-29T00:30", "2009-03-29T02:30",
                      "2009-10-25T00:30", "2009-10-25T01:30", "2009-10-25T02:30", "2040-03-25T02:30",
                      "2040-10-28T01:30", "2040-07-01T09:30"],
    "Australia/Lord_Howe": ["2009-01-20T10:15", "2009-07-01T09:30", "2009-04-05T01:45", "2009-04-05T01:45+10:30",
                            "2009-04-05T02:15", "2009-10-04T01:45", "2009-10-04T02:45", "2007-10-28T02:45",
                            "2008-04-06T02:15", "2040-04-01T02:15", "2040-10-07T02:45", "2040-01-20T10:15"],
    "Asia/Taipei": ["2009-07-01T09:30", "2009-01-20T10:15", "2008-09-30T17:00", "2040-07-01T09:30"],
    "America/Lima": ["2009-07-01T09:30", "2009-01-20T10:15", "2008-08-28T09:00", "2040-07-01T09:30"],
}  # fmt: skip
# Meetings across a change: (zone, start, end); the last one moves the 2040 occurrence of a yearly series held in
# New York (series are published as all-day events; the moved occurrence is timed, with a RECURRENCE-ID).
MEETINGS = [
    ("America/New_York", "2009-03-08T01:00", "2009-03-08T04:00"),
    ("Europe/London", "2040-10-28T00:30", "2040-10-28T03:00"),
    ("Australia/Lord_Howe", "2009-10-04T01:00", "2009-10-04T03:00"),
    ("America/Lima", "2009-11-16T09:00", "2009-11-16T17:30"),
    ("America/New_York", "2040-03-11T01:30", "2040-03-11T03:30"),
]
# Zones first used far ahead, each by its own person, so that people/<slug>.ics first uses the zone in that year:
# summer and winter of that year and of each later one, up to the last year tracker accepts.
FAR_ZONES = ("America/New_York", "Europe/London", "Australia/Lord_Howe")
FAR_YEARS = (2100, 2125, 2200)
SERIES = {"slug": "tz-series", "title": "Yearly in New York", "rrule": "FREQ=YEARLY", "start": "2009-03-08",
          "tz": "America/New_York"}  # fmt: skip
Key = tuple[str, str, str]  # (UID, RECURRENCE-ID digits, property)


def write_dataset(folder: Path) -> Path:
    slugs = (f"tz-{n}" for n in range(1000))
    data = {
        "items": [{"slug": next(slugs), "title": f"Due {when} {zone}", "tz": zone, "due": when}
                  for zone, times in TIMES.items() for when in times],
        "series": [SERIES],
        "meetings": [{"slug": next(slugs), "title": f"Meeting {start} {zone}", "tz": zone, "start": start,
                      "end": end} for zone, start, end in MEETINGS],
    }  # fmt: skip
    data["meetings"][-1] |= {"series": SERIES["slug"], "overrides": "2040-03-08"}
    path = folder / "timed.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def write_far_dataset(folder: Path) -> Path:
    people, items = [], []
    for zone in FAR_ZONES:
        for first in FAR_YEARS:
            person = f"far-{zone.rsplit('/', 1)[1].lower().replace('_', '-')}-{first}"
            people.append({"slug": person, "name": person, "email": f"{person}@example.org", "tz": zone})
            items += [
                {"slug": f"{person}-{when[:10]}", "title": f"Due {when} {zone}", "owners": [person], "due": when}
                for year in FAR_YEARS
                if year >= first
                for when in (f"{year}-01-20T10:15", f"{year}-07-01T09:30")
            ]
    path = folder / "far.yaml"
    path.write_text(yaml.safe_dump({"people": people, "items": items}), encoding="utf-8")
    return path


def stored(db_url: str) -> dict[Key, datetime]:
    """What tracker stores: each item's due (its VTODO's DUE, its deadline VEVENT's DTSTART), each timed
    meeting's start and end."""
    with store.transaction(store.engine(db_url)) as session:
        out: dict[Key, datetime] = {}
        for item in session.scalars(select(Item).where(Item.due_all_day.is_(False))):
            out[(item.uid, "", "DUE")] = out[(f"deadline-{item.uid}", "", "DTSTART")] = item.due
        for meeting in session.scalars(select(Meeting).where(Meeting.all_day.is_(False))):
            rid = f"{local_date(meeting.recurrence_id, SERIES['tz']):%Y%m%d}" if meeting.recurrence_id else ""
            out[(meeting.uid, rid, "DTSTART")], out[(meeting.uid, rid, "DTEND")] = meeting.start, meeting.end
        return {key: value.astimezone(UTC) for key, value in out.items()}


def embedded_only(data: bytes) -> bytes:
    """The calendar with each TZID renamed to one no zone database knows, so that every parser must read the
    calendar's own VTIMEZONE (ical, icalendar and libical would otherwise look an IANA name up themselves). The
    names differ on every call: icalendar keeps the first definition it reads of a name it does not know for the
    whole process, and two calendars may define one zone over different years."""
    prefix = f"/tracker-test-{uuid.uuid4().hex[:12]}/".encode()
    return re.sub(rb"TZID([:=])", rb"TZID\1" + prefix, data)


def key(uid: str, rid: str, name: str) -> Key:
    return uid, re.sub(r"\D", "", rid)[:8], name


def missing(reason: str) -> None:
    """Skip on a developer's machine without the tool; fail on CI, where .ci/run installs it."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def read_ical_js(path: Path) -> dict[Key, datetime]:
    node = shutil.which("node")
    if node is None or not (HERE / "js" / "node_modules" / "ical.js").is_dir():
        missing("ical.js is not installed: .ci/run installs node and runs npm ci in tests/interop/js")
    out = subprocess.run([node, ICAL_JS, path], capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    return {key(r["uid"], r["recurrence_id"], r["name"]): datetime.fromisoformat(r["utc"]) for r in rows}


def read_libical(path: Path) -> tuple[list[str], dict[Key, datetime]]:
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('ICalGLib', '3.0')"],
                           capture_output=True)  # fmt: skip
    if probe.returncode != 0:
        missing("libical's Python binding is missing: apt-get install python3-gi gir1.2-ical-3.0 (.ci/run does)")
    out = json.loads(subprocess.run([SYSTEM_PYTHON, LIBICAL, path], capture_output=True, text=True, check=True,
                                    timeout=60).stdout)  # fmt: skip
    rows = out["times"]
    return out["errors"], {key(r["uid"], r["recurrence_id"], r["name"]): datetime.fromisoformat(r["utc"]) for r in rows}


def read_ical(data: bytes) -> dict[Key, datetime]:
    calendar = IcsCalendarStream.calendar_from_ics(data.decode())
    out = {}
    for todo in calendar.todos:
        if isinstance(todo.due, datetime):
            out[key(todo.uid, "", "DUE")] = todo.due.astimezone(UTC)
    for event in calendar.events:
        rid = str(event.recurrence_id or "")
        for name, value in (("DTSTART", event.dtstart), ("DTEND", event.dtend)):
            if isinstance(value, datetime):
                out[key(event.uid, rid, name)] = value.astimezone(UTC)
    return out


def read_icalendar(data: bytes) -> dict[Key, datetime]:
    out = {}
    for component in Calendar.from_ical(data).walk():
        if component.name not in ("VTODO", "VEVENT"):
            continue
        rid = component.get("RECURRENCE-ID")
        for name in ("DUE", "DTSTART", "DTEND"):
            value = component.decoded(name) if name in component else None
            if isinstance(value, datetime):
                assert value.tzinfo is not None, (component["UID"], name)
                out[key(str(component["UID"]), rid.to_ical().decode() if rid else "", name)] = value.astimezone(UTC)
    return out


@pytest.fixture
def exported(invoke, env, tmp_path: Path) -> tuple[bytes, dict[Key, datetime]]:
    """all.ics of a database with the timed items and meetings above, and what the database stores."""
    invoke("load", str(write_dataset(tmp_path)))
    invoke("export", "--out", str(tmp_path / "cal"))
    return (tmp_path / "cal" / "all.ics").read_bytes(), stored(env["TRACKER_DB"])


def test_tracker_stores_the_instants_the_issue_names(exported):
    """The reference the parsers are held to is itself right (zoneinfo's reading of the local times)."""
    _, instants = exported
    dues = [value for (_, _, name), value in instants.items() if name == "DUE"]
    expected = {datetime(2009, 7, 1, 13, 30, tzinfo=UTC), datetime(2009, 1, 19, 23, 15, tzinfo=UTC),
                datetime(2009, 6, 10, 13, 0, tzinfo=UTC), datetime(2009, 3, 8, 7, 30, tzinfo=UTC),
                datetime(2040, 3, 11, 7, 30, tzinfo=UTC)}  # fmt: skip
    assert expected <= set(dues)
    assert len(dues) == sum(len(times) for times in TIMES.values())


def read_embedded(reader: str, data: bytes, path: Path) -> dict[Key, datetime]:
    """The times `reader` reads in calendar `data` through its own VTIMEZONEs (written to `path` for the readers
    that run outside this process)."""
    embedded = embedded_only(data)
    path.write_bytes(embedded)
    if reader == "libical":
        errors, times = read_libical(path)
        assert errors == [], (path.name, errors)
        return times
    return {
        "ical.js": lambda: read_ical_js(path),
        "ical": lambda: read_ical(embedded),
        "icalendar": lambda: read_icalendar(embedded),
    }[reader]()


@pytest.mark.parametrize("reader", ["ical.js", "libical", "ical", "icalendar"])
def test_every_parser_reads_every_time_as_stored(exported, tmp_path: Path, reader: str):
    data, instants = exported
    assert len(instants) == 2 * sum(len(times) for times in TIMES.values()) + 2 * len(MEETINGS)
    read = read_embedded(reader, data, tmp_path / "embedded.ics")
    wrong = {k: (read.get(k), v) for k, v in instants.items() if read.get(k) != v}
    assert not wrong, f"{reader} read {len(wrong)} of {len(instants)} times differently (read, stored): {wrong}"
    assert set(read) == set(instants)


@pytest.mark.parametrize("reader", ["ical.js", "libical", "ical", "icalendar"])
def test_zones_first_used_far_ahead_are_read_as_stored(invoke, env, tmp_path: Path, reader: str):
    """A calendar whose first use of a zone is in 2100, 2125 or 2200 still carries the zone's current rule: every
    parser reads each time, in that year and the later ones, as the database stores it."""
    invoke("load", str(write_far_dataset(tmp_path)))
    invoke("export", "--out", str(tmp_path / "cal"))
    instants = stored(env["TRACKER_DB"])
    files = sorted((tmp_path / "cal" / "people").glob("far-*.ics"))
    assert len(files) == len(FAR_ZONES) * len(FAR_YEARS)
    read: dict[Key, datetime] = {}
    for path in files:
        read |= read_embedded(reader, path.read_bytes(), tmp_path / f"embedded-{path.name}")
    wrong = {k: (read.get(k), v) for k, v in instants.items() if read.get(k) != v}
    assert not wrong, f"{reader} read {len(wrong)} of {len(instants)} times differently (read, stored): {wrong}"
    assert set(read) == set(instants)


def test_libical_accepts_every_component(exported, tmp_path: Path):
    data, _ = exported
    for name, body in (("as-published.ics", data), ("embedded.ics", embedded_only(data))):
        (tmp_path / name).write_bytes(body)
        errors, _ = read_libical(tmp_path / name)
        assert errors == [], name


def test_vtimezones_are_written_as_every_parser_reads_them(exported):
    """The shapes that parsers misread are absent: one onset per RDATE line, no COMMENT in VTIMEZONE, onsets in
    local time before the change, and yearly rules without end for zones that still change."""
    data, _ = exported
    zones = {str(tz["TZID"]): tz for tz in Calendar.from_ical(data).walk("VTIMEZONE")}
    assert set(zones) == set(TIMES)
    text = data.decode()
    assert not re.search(r"^RDATE[^\r\n]*,", text, re.M)
    assert all("COMMENT" not in tz for tz in zones.values())
    new_york = {(o.name, o["DTSTART"].to_ical().decode()): o for o in zones["America/New_York"].subcomponents}
    spring = new_york[("DAYLIGHT", "20070311T020000")]
    assert spring["RRULE"].to_ical() == b"FREQ=YEARLY;BYDAY=2SU;BYMONTH=3" and "UNTIL" not in spring["RRULE"]
    assert spring["TZOFFSETFROM"].to_ical() == "-0500" and spring["TZOFFSETTO"].to_ical() == "-0400"
    assert [o.name for o in zones["Asia/Taipei"].subcomponents] == ["STANDARD"]


def test_a_reminder_email_carries_the_same_vtimezones(invoke, loaded, smtpd, mail_config, tmp_path: Path):
    """A reminder's .ics attachment (tracker.reminders.messages) has the same VTIMEZONEs: libical accepts it, and
    ical.js reads the due time, the hour after New York springs forward, through it."""
    # Made before its reminders fall due: nothing is planned before an item exists.
    invoke("--now", "2009-03-01T00:00+08:00", "add", "Send the New York summary", "--owner", "apec-officer", "--due",
           "2009-03-08T03:30", "--tz", "America/New_York", env=mail_config)  # fmt: skip
    invoke("--now", "2009-03-05T00:00+08:00", "remind", "send-due", env=mail_config)  # the shipped data's catch-up
    invoke("--now", "2009-03-08T20:00+08:00", "remind", "send-due", env=mail_config)
    mails = [m for m in smtpd.messages if "Send the New York summary" in m["Subject"]]
    assert mails, [m["Subject"] for m in smtpd.messages]
    attachment = next(p for p in mails[-1].iter_attachments() if p.get_content_type() == "text/calendar")
    data = attachment.get_payload(decode=True)
    assert b"TZID:America/New_York" in data and b"COMMENT" not in data
    path = tmp_path / "attachment.ics"
    path.write_bytes(data)
    errors, _ = read_libical(path)
    assert errors == []
    path.write_bytes(embedded_only(data))
    due = datetime(2009, 3, 8, 7, 30, tzinfo=UTC)
    assert read_ical_js(path)[("item-send-the-new-york-summary@tracker", "", "DUE")] == due
