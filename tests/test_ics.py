"""The published calendars, read back by icalendar, vobject and recurring-ical-events."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import recurring_ical_events
import vobject
from icalendar import Calendar

from tests.conftest import ROOT, dump
from tests.icsutil import components

CALENDARS = ROOT / "calendars"


def export(invoke, out: Path, *now: str) -> dict[str, bytes]:
    invoke(*now, "export", "--out", str(out))
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.ics"))}


STALE = ("is not the export of data/: run scripts/regen-calendars, or `git checkout calendars/` if you exported "
         "your own database into it")  # fmt: skip


def test_committed_calendars_are_the_export_of_the_shipped_data(invoke, loaded, tmp_path):
    """A fresh export of data/ (a copy, loaded into the test's own database) against calendars/: nothing in the
    user's default database takes part (tests/test_readme.py: following the README leaves calendars/ alone)."""
    fresh = export(invoke, tmp_path / "cal")
    committed = {str(p.relative_to(CALENDARS)): p.read_bytes() for p in sorted(CALENDARS.rglob("*.ics"))}
    assert sorted(fresh) == sorted(committed), f"calendars/ {STALE}"
    for name, data in fresh.items():
        assert data == committed[name], f"calendars/{name} {STALE}"


def test_export_is_byte_deterministic_across_runs_and_databases(invoke, loaded, tmp_path, env):
    first = export(invoke, tmp_path / "a", "--now", "2026-01-01")
    second = export(invoke, tmp_path / "b", "--now", "2027-06-01")
    other_env = {**env, "TRACKER_DB": f"sqlite:///{tmp_path / 'other.db'}"}
    invoke("load", str(loaded), env=other_env)
    invoke("export", "--out", str(tmp_path / "c"), env=other_env)
    third = {str(p.relative_to(tmp_path / "c")): p.read_bytes() for p in sorted((tmp_path / "c").rglob("*.ics"))}
    assert first == second == third
    assert set(first) >= {
        "all.ics",
        "meetings.ics",
        "action-items.ics",
        "deadlines.ics",
        "people/apec-officer.ics",
        "committees/kpi-innovation.ics",
    }


def test_one_change_changes_only_that_items_components(invoke, loaded, tmp_path):
    before = components(export(invoke, tmp_path / "a")["all.ics"])
    invoke("--now", "2008-09-25T10:00+08:00", "done", "kpi-committee-volunteer")
    after = components(export(invoke, tmp_path / "b")["all.ics"])
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {
        ("VTODO", "item-kpi-committee-volunteer@tracker", ""),
        ("VEVENT", "deadline-item-kpi-committee-volunteer@tracker", ""),
    }
    todo = Calendar.from_ical(after[("VTODO", "item-kpi-committee-volunteer@tracker", "")])
    assert todo["SEQUENCE"] == 1
    assert todo.decoded("LAST-MODIFIED") == datetime.fromisoformat("2008-09-25T02:00:00+00:00")
    assert todo.decoded("DTSTAMP") == todo.decoded("LAST-MODIFIED")
    assert str(todo["STATUS"]) == "COMPLETED" and todo["PERCENT-COMPLETE"] == 100
    assert todo.decoded("COMPLETED") == datetime.fromisoformat("2008-09-25T02:00:00+00:00")


def test_every_calendar_has_the_headers_clients_need(invoke, loaded, tmp_path):
    invoke("add", "Call the Lima embassy", "--owner", "desk-lead", "--due", "2008-11-15T10:00", "--tz", "America/Lima")
    for name, data in export(invoke, tmp_path / "cal").items():
        cal = Calendar.from_ical(data)
        assert cal["VERSION"] == "2.0" and cal["PRODID"].startswith("-//tracker//"), name
        assert cal["X-WR-CALNAME"] and cal["NAME"] == cal["X-WR-CALNAME"], name
        assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in data and b"X-PUBLISHED-TTL:PT1H\r\n" in data, name
        assert cal.get_missing_tzids() == set(), name
        lines = data.split(b"\r\n")
        assert lines[-1] == b"" and all(len(line) <= 75 for line in lines), name
        assert b"\n" not in data.replace(b"\r\n", b""), name
    timed = Calendar.from_ical((tmp_path / "cal" / "people" / "desk-lead.ics").read_bytes())
    assert "America/Lima" in {str(tz["TZID"]) for tz in timed.timezones}


def test_a_second_parser_reads_the_same_calendar(invoke, loaded, tmp_path):
    data = export(invoke, tmp_path / "cal")["all.ics"]
    ours = Calendar.from_ical(data)
    theirs = vobject.readOne(data.decode("utf-8"))
    mine = sorted(str(c["SUMMARY"]) for c in ours.subcomponents if c.name in ("VEVENT", "VTODO"))
    other = sorted(c.summary.value for c in theirs.getChildren() if c.name in ("VEVENT", "VTODO"))
    assert mine == other and len(mine) == 2 + 10 + 23 + 13
    descriptions = [c.description.value for c in theirs.getChildren() if c.name == "VTODO"]
    assert any("「會中並鼓勵各會員體自願在9月底前參加各項KPIs制訂小組」" in d for d in descriptions)


def test_recurring_ical_events_expands_the_published_series(invoke, loaded, tmp_path):
    cal = Calendar.from_ical(export(invoke, tmp_path / "cal")["meetings.ics"])
    found = recurring_ical_events.of(cal).between(date(2008, 1, 1), date(2017, 1, 1))
    ministerial = sorted(e.start for e in found if "SME Ministerial Meeting" in str(e["SUMMARY"]))
    assert ministerial == [date(2008, 8, 28), date(2009, 10, 4)] + [date(y, 10, 1) for y in range(2010, 2017, 2)]
    working = [e for e in found if str(e["UID"]) == "series-apec-smewg@tracker"]
    assert sorted(e.start for e in working) == [date(y, m, 1) for y in range(2009, 2017) for m in (3, 9)]
    bangkok = next(e for e in working if e.start == date(2009, 3, 1))
    assert "28th" in str(bangkok["SUMMARY"]) and str(bangkok["LOCATION"]) == "Bangkok, Thailand"
    singapore = next(e for e in found if str(e["SUMMARY"]).startswith("16th"))
    assert (singapore.start, singapore.end) == (date(2009, 10, 4), date(2009, 10, 10))  # DTEND exclusive
    assert (
        str(singapore["LOCATION"]) == "Singapore" and "Helping SMEs Access Global Markets" in singapore["DESCRIPTION"]
    )


def test_vtodo_fields_and_alarms(invoke, loaded, tmp_path):
    invoke("--now", "2008-09-25", "done", "us-invite-business-alliance-conference")
    invoke("--now", "2008-09-25", "cancel", "peru-itri-cooperation")
    cal = Calendar.from_ical(export(invoke, tmp_path / "cal")["action-items.ics"])
    todos = {str(t["UID"]).removeprefix("item-").removesuffix("@tracker"): t for t in cal.todos}
    kpi = todos["kpi-committee-volunteer"]
    assert kpi.decoded("DUE") == date(2008, 9, 30) and str(kpi["STATUS"]) == "NEEDS-ACTION"
    assert (
        kpi["PRIORITY"] == 1
        and str(kpi["RELATED-TO"]) == "meeting-apec-smewg-28@tracker"
        or str(kpi["RELATED-TO"]) == "series-apec-smewg@tracker"
    )
    assert kpi.categories == ["Action item", "Building management capability and promoting entrepreneurship"]
    triggers = sorted(a.decoded("TRIGGER") for a in kpi.walk("VALARM"))
    assert triggers == [
        timedelta(days=-29, hours=-15),
        timedelta(days=-6, hours=-15),
        timedelta(hours=-15),
        timedelta(hours=9),
    ]
    assert not list(todos["us-invite-business-alliance-conference"].walk("VALARM"))
    assert str(todos["us-invite-business-alliance-conference"]["STATUS"]) == "COMPLETED"
    assert str(todos["peru-itri-cooperation"]["STATUS"]) == "CANCELLED"
    deadlines = Calendar.from_ical((tmp_path / "cal" / "deadlines.ics").read_bytes())
    assert not list(deadlines.walk("VALARM"))
    event = next(e for e in deadlines.events if "KPI drafting" in str(e["SUMMARY"]))
    assert (event.start, event.end) == (date(2008, 9, 30), date(2008, 10, 1))
    assert str(event["TRANSP"]) == "TRANSPARENT"


def test_special_characters_survive_the_round_trip(invoke, loaded, tmp_path):
    title = "Commas, semicolons; back\\slash: 「中文」 " + "long " * 40 + "end"
    description = "line one\nline two, with; punctuation\n\n第三行"
    invoke(
        "add",
        title,
        "--slug",
        "special",
        "--owner",
        "apec-officer",
        "--due",
        "2009-01-05",
        "--description",
        description,
    )
    data = export(invoke, tmp_path / "cal")["action-items.ics"]
    ours = next(t for t in Calendar.from_ical(data).todos if str(t["UID"]) == "item-special@tracker")
    theirs = next(
        c
        for c in vobject.readOne(data.decode()).getChildren()
        if c.name == "VTODO" and c.uid.value == "item-special@tracker"
    )
    assert str(ours["SUMMARY"]) == theirs.summary.value == title
    assert ours["DESCRIPTION"].startswith(description) and theirs.description.value.startswith(description)


def test_writes_are_atomic_renames(invoke, loaded, tmp_path, monkeypatch):
    import os

    out = tmp_path / "cal"
    export(invoke, out)
    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renamed.append((Path(a).name, Path(b).name)), real_replace(a, b)))
    invoke("--now", "2008-09-25", "done", "1")
    export(invoke, out)
    assert all(src.startswith(".") and src.endswith(".tmp") for src, _ in renamed)
    assert {dst for _, dst in renamed} >= {"all.ics", "action-items.ics", "deadlines.ics"}
    assert not list(out.rglob("*.tmp"))


# --- import ------------------------------------------------------------------------------------------------

SCHEDULE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//APEC//schedule//EN
BEGIN:VEVENT
UID:smewg-29@apec.example
SUMMARY:29th SMEWG meeting
DTSTART;TZID=Asia/Singapore:20091001T090000
DTEND;TZID=Asia/Singapore:20091001T180000
LOCATION:Singapore
DESCRIPTION:Plenary, day one
END:VEVENT
BEGIN:VEVENT
UID:abac-dialogue@apec.example
SUMMARY:ABAC dialogue
DTSTART;VALUE=DATE:20100301
DTEND;VALUE=DATE:20100302
RRULE:FREQ=YEARLY
END:VEVENT
BEGIN:VEVENT
UID:abac-dialogue@apec.example
RECURRENCE-ID;VALUE=DATE:20110301
SUMMARY:ABAC dialogue (moved)
DTSTART;VALUE=DATE:20110315
DTEND;VALUE=DATE:20110316
END:VEVENT
BEGIN:VTODO
UID:paper-29@apec.example
SUMMARY:Submit the 29th SMEWG paper
DUE;VALUE=DATE:20090915
PRIORITY:2
CATEGORIES:Innovation
STATUS:NEEDS-ACTION
END:VTODO
END:VCALENDAR
"""


def test_import_upserts_by_uid_and_is_idempotent(invoke, invoke_json, loaded, tmp_path, db_url):
    path = tmp_path / "schedule.ics"
    path.write_text(SCHEDULE.replace("\n", "\r\n"))
    assert invoke_json("import", str(path)) == {"created": 4, "updated": 0, "unchanged": 0}
    before = dump(db_url)
    assert invoke_json("import", str(path)) == {"created": 0, "updated": 0, "unchanged": 4}
    assert dump(db_url) == before
    rows = invoke_json("meetings", "--from", "2009-09-30", "--to", "2011-12-31")
    titles = [(r["date"], r["title"]) for r in rows]
    assert ("2009-10-01T09:00:00+08:00", "29th SMEWG meeting") in titles
    assert ("2010-03-01", "ABAC dialogue") in titles and ("2011-03-15", "ABAC dialogue (moved)") in titles
    item = next(i for i in invoke_json("items", "--category", "innovation") if i["title"].startswith("Submit"))
    assert (item["title"], item["due"], item["priority"]) == ("Submit the 29th SMEWG paper", "2009-09-15", "high")
    path.write_text(SCHEDULE.replace("Plenary, day one", "Plenary, moved").replace("\n", "\r\n"))
    assert invoke_json("import", str(path)) == {"created": 0, "updated": 1, "unchanged": 3}


def test_malformed_ics_is_one_line_and_changes_nothing(invoke, loaded, tmp_path, db_url):
    before = dump(db_url)
    cases = {
        "garbage.ics": ("this is not a calendar", "not a valid iCalendar file"),
        "no-uid.ics": (SCHEDULE.replace("UID:paper-29@apec.example\n", ""), "VTODO #1: UID: missing"),
        "orphan.ics": (
            SCHEDULE.replace(
                "UID:abac-dialogue@apec.example\nSUMMARY:ABAC dialogue\n",
                "UID:other@apec.example\nSUMMARY:ABAC dialogue\n",
            ),
            "RECURRENCE-ID: no series with UID 'abac-dialogue@apec.example'",
        ),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text)
        result = invoke("import", str(tmp_path / name), code=1)
        assert result.stderr.startswith(f"Error: {tmp_path / name}") and expected in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert dump(db_url) == before


def test_reimporting_our_export_brings_back_only_completion(invoke, invoke_json, loaded, tmp_path, db_url):
    data = export(invoke, tmp_path / "cal")["action-items.ics"]
    before = dump(db_url)
    assert invoke_json("import", str(tmp_path / "cal" / "all.ics"))["updated"] == 0
    assert dump(db_url) == before
    done = data.replace(b"STATUS:NEEDS-ACTION\r\nSUMMARY:Volunteer", b"STATUS:COMPLETED\r\nSUMMARY:Volunteer")
    (tmp_path / "done.ics").write_bytes(done)
    assert invoke_json("--now", "2008-09-29", "import", str(tmp_path / "done.ics"))["updated"] == 1
    item = invoke_json("show", "kpi-committee-volunteer")
    assert item["status"] == "done" and item["completed_how"] == "ics"
    assert item["description"].startswith("Economies are encouraged")
    # A stale file (older SEQUENCE) does not undo what was done in tracker since.
    invoke("--now", "2008-09-30", "reopen", "kpi-committee-volunteer")
    invoke("--now", "2008-10-01", "import", str(tmp_path / "done.ics"))
    assert invoke_json("show", "kpi-committee-volunteer")["status"] == "open"


@pytest.mark.parametrize(("completed", "kept"), [
    ("20080920T030000Z", "2008-09-20T11:00:00+08:00"),  # ticked on the 20th, the file imported on the 29th
    ("20081231T000000Z", "2008-09-29T00:00:00+08:00"),  # a clock ahead: not later than the import
])  # fmt: skip
def test_a_reimported_completion_is_dated_when_the_app_says(invoke, invoke_json, loaded, tmp_path, completed, kept):
    """The same rule as CalDAV's (tracker.dav.writes): an app's COMPLETED is when the task was done."""
    data = export(invoke, tmp_path / "cal")["action-items.ics"]
    done = data.replace(b"STATUS:NEEDS-ACTION\r\nSUMMARY:Volunteer",
                        b"COMPLETED:" + completed.encode() + b"\r\nSTATUS:COMPLETED\r\nSUMMARY:Volunteer")  # fmt: skip
    (tmp_path / "done.ics").write_bytes(done)
    assert invoke_json("--now", "2008-09-29", "import", str(tmp_path / "done.ics"))["updated"] == 1
    item = invoke_json("show", "kpi-committee-volunteer")
    assert (item["status"], datetime.fromisoformat(item["completed_at"])) == ("done", datetime.fromisoformat(kept))
