"""`tracker meeting add|edit|announce|cancel`: meetings and series outside the YAML, by the YAML's rules; an announced
occurrence keeps its identity in the feeds, the reminder plan follows it, and a reload of data/ never undoes it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import recurring_ical_events
from icalendar import Calendar

from tests.conftest import dump

NOW = ("--now", "2026-11-24T10:00+08:00")


def feed(invoke, tmp_path: Path) -> Calendar:
    out = tmp_path / "calendars"
    invoke(*NOW, "export", "--out", str(out))
    return Calendar.from_ical((out / "meetings.ics").read_bytes())


def smewg_events(cal: Calendar, start: date, end: date) -> list:
    return [e for e in recurring_ical_events.of(cal).between(start, end) if "Working Group" in str(e["SUMMARY"])]


def test_announce_then_move_keeps_identity_and_the_feed_shows_the_real_dates(invoke, invoke_json, loaded, tmp_path):
    before = smewg_events(feed(invoke, tmp_path), date(2027, 3, 1), date(2027, 4, 1))
    assert [(e.start, str(e["STATUS"])) for e in before] == [(date(2027, 3, 1), "TENTATIVE")]  # the placeholder

    first = invoke_json(*NOW, "meeting", "announce", "apec-smewg", "2027-03", "--start", "2027-03-09",
                        "--end", "2027-03-11", "--place", "Lima, Peru", "--host", "Peru", "--number", "64")  # fmt: skip
    assert (first["uid"], first["recurrence_id"], first["start"], first["end"]) == (
        "series-apec-smewg@tracker", "2027-03-01", "2027-03-09", "2027-03-11")  # fmt: skip
    assert first["sequence"] > 0  # above the series' own, or clients keep the placeholder

    moved = invoke_json(*NOW, "meeting", "announce", "apec-smewg", "2027-03", "--start", "2027-03-23")
    assert (moved["slug"], moved["uid"], moved["recurrence_id"]) == (first["slug"], first["uid"], "2027-03-01")
    assert moved["sequence"] == first["sequence"] + 1
    assert (moved["start"], moved["end"], moved["place"]) == ("2027-03-23", "2027-03-25", "Lima, Peru")  # length kept

    cal = feed(invoke, tmp_path)
    overrides = [e for e in cal.walk("VEVENT") if e.get("RECURRENCE-ID") and e["RECURRENCE-ID"].dt.year == 2027]
    assert [(e["RECURRENCE-ID"].dt, e["SEQUENCE"], str(e["LOCATION"])) for e in overrides] == [
        (date(2027, 3, 1), moved["sequence"], "Lima, Peru")]  # fmt: skip
    shown = smewg_events(cal, date(2027, 3, 1), date(2027, 4, 1))
    assert [(e.start, e.end, e.get("STATUS")) for e in shown] == [(date(2027, 3, 23), date(2027, 3, 26), None)]

    # The same move again changes nothing, not even SEQUENCE.
    again = invoke_json(*NOW, "meeting", "announce", "apec-smewg", "2027-03", "--start", "2027-03-23")
    assert again["sequence"] == moved["sequence"]


def test_the_reminder_plan_follows_the_announced_date(invoke_json, loaded):
    def fires():
        rows = invoke_json(*NOW, "remind", "plan", "--days", "130")
        return sorted(
            {
                r["when"][:10]
                for r in rows
                if r["kind"] == "meeting-before" and "Working" in r["meeting"] and not r["late"]
            }
        )

    assert fires() == ["2026-12-31", "2027-02-15", "2027-02-28"]  # 60/14/1 days before the placeholder 2027-03-01
    invoke_json(*NOW, "meeting", "announce", "apec-smewg", "2027-03", "--start", "2027-03-23")
    assert fires() == ["2027-01-22", "2027-03-09", "2027-03-22"]


def test_reloading_data_keeps_what_was_announced_and_edited(invoke, invoke_json, loaded, db_url):
    invoke_json(*NOW, "meeting", "announce", "apec-smewg", "2027-03", "--start", "2027-03-09", "--place", "Lima")
    invoke_json(*NOW, "meeting", "edit", "apec-smewg-28", "--place", "Bangkok (Centara Grand)")
    invoke_json(*NOW, "meeting", "edit", "apec-smewg", "--attendee", "desk-lead")
    before = dump(db_url)
    invoke(*NOW, "load", str(loaded))
    assert dump(db_url) == before  # the unchanged files undo nothing

    # A field the YAML itself changes takes the YAML's value; the others stay as edited.
    text = (loaded / "meetings.yaml").read_text()
    (loaded / "meetings.yaml").write_text(text.replace("    number: 28\n", "    number: 280\n", 1))
    invoke(*NOW, "load", str(loaded))
    meetings = {m["slug"]: m for m in invoke_json(*NOW, "meetings", "--from", "2009-01-01", "--to", "2027-12-31")}
    assert meetings["apec-smewg-28"]["number"] == 280
    assert meetings["apec-smewg-28"]["place"] == "Bangkok (Centara Grand)"
    assert meetings["apec-smewg-2027-03"]["place"] == "Lima"
    assert invoke_json("meeting", "edit", "apec-smewg")["attendees"] == ["desk-lead"]


def test_a_meeting_made_here_is_dumped_and_loads_back(invoke, invoke_json, loaded, tmp_path, env, db_url):
    invoke_json(*NOW, "meeting", "add", "SME Innovation Forum", "--start", "2027-05-12T09:30", "--end",
                "2027-05-12T17:00", "--tz", "Asia/Taipei", "--place", "Taipei", "--attendee", "desk-lead",
                "--subtheme", "Start-ups", "--source", "our own")  # fmt: skip
    invoke_json(*NOW, "meeting", "announce", "apec-smewg", "2027-03", "--start", "2027-03-09")
    invoke_json(*NOW, "meeting", "cancel", "apec-smewg", "2027-09")
    first, second = tmp_path / "first", tmp_path / "second"
    invoke("dump", str(first))
    assert "slug: sme-innovation-forum" in (first / "meetings.yaml").read_text()
    fresh = {**env, "TRACKER_DB": f"sqlite:///{tmp_path / 'fresh.db'}"}
    from click.testing import CliRunner

    from tracker.cli.main import cli

    runner = CliRunner(env=fresh)
    assert runner.invoke(cli, ["load", str(first)]).exit_code == 0
    assert runner.invoke(cli, ["dump", str(second)]).exit_code == 0
    assert (first / "meetings.yaml").read_bytes() == (second / "meetings.yaml").read_bytes()


def test_add_edit_and_cancel_a_meeting_and_a_series(invoke, invoke_json, loaded, tmp_path):
    added = invoke_json(*NOW, "meeting", "add", "SME Innovation Forum", "--start", "2027-05-12", "--end",
                        "2027-05-13", "--place", "Taipei")  # fmt: skip
    assert (added["slug"], added["tz"], added["sequence"]) == ("sme-innovation-forum", "Asia/Taipei", 0)
    edited = invoke_json(*NOW, "meeting", "edit", "sme-innovation-forum", "--start", "2027-05-19", "--host", "SMEA")
    assert (edited["start"], edited["end"], edited["host"], edited["sequence"]) == ("2027-05-19", "2027-05-20",
                                                                                    "SMEA", 1)  # fmt: skip
    cancelled = invoke_json(*NOW, "meeting", "cancel", "sme-innovation-forum")
    assert cancelled["cancelled"] and cancelled["sequence"] == 2
    assert invoke_json(*NOW, "meeting", "cancel", "sme-innovation-forum")["sequence"] == 2  # again: nothing

    series = invoke_json(*NOW, "meeting", "add", "Digital SME Roundtable", "--rrule", "FREQ=MONTHLY;INTERVAL=3",
                         "--start", "2026-06-02", "--slug", "roundtable")  # fmt: skip
    assert series["kind"] == "series" and series["uid"] == "series-roundtable@tracker"
    ended = invoke_json(*NOW, "meeting", "cancel", "roundtable")
    assert ended["rrule"] == "FREQ=MONTHLY;INTERVAL=3;UNTIL=20260902" and ended["sequence"] == 1
    invoke_json(*NOW, "meeting", "cancel", "apec-smewg", "2027-09")

    cal = feed(invoke, tmp_path)
    status = {(str(e["UID"]), e.start): str(e.get("STATUS")) for e in
              recurring_ical_events.of(cal).between(date(2026, 1, 1), date(2028, 1, 1))}  # fmt: skip
    assert status[("meeting-sme-innovation-forum@tracker", date(2027, 5, 19))] == "CANCELLED"
    assert status[("series-apec-smewg@tracker", date(2027, 9, 1))] == "CANCELLED"
    assert status[("series-apec-smewg@tracker", date(2027, 3, 1))] == "TENTATIVE"  # the others stay placeholders
    assert sorted(d for uid, d in status if uid == "series-roundtable@tracker") == [date(2026, 6, 2), date(2026, 9, 2)]


def test_a_series_that_has_not_met_is_cancelled_whole(invoke_json, loaded):
    invoke_json(*NOW, "meeting", "add", "Later Forum", "--rrule", "FREQ=YEARLY", "--start", "2028-04-01")
    ended = invoke_json(*NOW, "meeting", "cancel", "later-forum")
    assert ended["rrule"] == "FREQ=YEARLY;UNTIL=20280401"
    rows = invoke_json(*NOW, "meetings", "--from", "2028-01-01", "--to", "2031-01-01")
    assert [(r["date"], r["cancelled"]) for r in rows if r["series"] == "later-forum"] == [("2028-04-01", True)]


def test_refusals_name_the_option_and_change_nothing(invoke, loaded, db_url):
    before = dump(db_url)
    refusals = [
        (("announce", "apec-smewg", "2027-04", "--start", "2027-04-01"),
         "Error: OCCURRENCE: '2027-04' is no occurrence of apec-smewg (its rule FREQ=MONTHLY;INTERVAL=6); the "
         "nearest: 2027-03 or 2027-09"),
        (("announce", "apec-smewg", "soon", "--start", "2027-04-01"),
         "Error: OCCURRENCE: not a date (2027-03-09) or month (2027-03): 'soon'"),
        (("announce", "apec-smewg", "2027-03"), "Error: --start: required field is missing"),
        (("announce", "apec-smewgg", "2027-03", "--start", "2027-03-09"),
         "Error: no series with slug 'apec-smewgg' (did you mean 'apec-smewg'?)"),
        (("add", "Forum", "--start", "2027-13-01"),
         "Error: --start: 2027-13-01: there is no month 13 (months are 01–12)"),
        (("add", "Forum", "--start", "2027-05-02", "--end", "2027-05-01"),
         "Error: --end: the meeting ends before it starts"),
        (("add", "Forum", "--start", "2027-05-02", "--tz", "Mars/Base"), "Error: --tz: "),
        (("add", "Forum", "--start", "2027-05-02", "--attendee", "nobody"),
         "Error: --attendee: no person with slug 'nobody'"),
        (("add", "Forum", "--start", "2027-05-02", "--slug", "apec-smewg"),
         "Error: --slug: a series with slug 'apec-smewg' already exists"),
        (("add", "Forum", "--start", "2027-05-02", "--rrule", "FREQ=YEARLY", "--place", "Lima"),
         "Error: --place: not for a series: give it when you announce one of its occurrences"),
        (("add", "Forum", "--start", "2027-05-02", "--rrule", "FREQ=SECONDLY"), "Error: --rrule: FREQ must be"),
        (("edit", "apec-smewg-28", "--number", "-1"), "Error: --number: "),
        (("edit", "nothing-here"), "Error: no meeting or series with slug 'nothing-here'"),
        (("cancel", "apec-smewg-28", "2027-03"), "Error: OCCURRENCE: apec-smewg-28 is a meeting, not a series"),
        (("cancel", "apec-smewg", "2027-04"), "Error: OCCURRENCE: '2027-04' is no occurrence of apec-smewg"),
        # A typo of a century would stretch every listing of the series past what calendars list.
        (("announce", "apec-smewg", "2027-03", "--start", "2127-03-02"),
         "Error: --start: an occurrence is held within a year of the day it replaces (2027-03), not on 2127-03-02"),
        # /meetings/new and /meetings/record are the desk's forms, not a meeting's page.
        (("add", "Forum", "--start", "2027-05-02", "--slug", "new"), "Error: --slug: 'new' names a page of the desk"),
        (("announce", "apec-smewg", "2027-03", "--start", "2027-03-09", "--slug", "record"),
         "Error: --slug: 'record' names a page of the desk"),
    ]  # fmt: skip
    for args, said in refusals:
        result = invoke(*NOW, "meeting", *args, code=1)
        assert result.stderr.startswith(said), (args, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
    assert dump(db_url) == before


def test_a_title_that_names_a_desk_page_gets_another_slug(invoke_json, loaded):
    assert invoke_json(*NOW, "meeting", "add", "Record", "--start", "2027-05-02", "--tz", "UTC")["slug"] == "record-2"
    chinese = invoke_json(*NOW, "meeting", "add", "中小企業創新論壇", "--start", "2027-05-02", "--tz", "UTC")
    assert chinese["slug"] == "meeting"  # not "item": a title without a letter a slug can take


def test_two_occurrences_held_on_one_day_are_both_listed_and_briefed(invoke, invoke_json, loaded):
    for occurrence in ("2027-09", "2027-03"):  # the March meeting postponed onto September's day
        invoke(*NOW, "meeting", "announce", "apec-smewg", occurrence, "--start", "2027-09-14")
    held = invoke_json(*NOW, "meetings", "--from", "2027-09-14", "--to", "2027-09-15")
    assert sorted(m["slug"] for m in held) == ["apec-smewg-2027-03", "apec-smewg-2027-09"]
    for slug in ("apec-smewg-2027-03", "apec-smewg-2027-09"):
        assert invoke_json(*NOW, "brief", slug)["occurrence"]["slug"] == slug


def test_a_far_occurrence_announced_leaves_every_brief_of_the_series(invoke_json, loaded):
    invoke_json(*NOW, "meeting", "announce", "apec-smewg", "2109-03", "--start", "2109-03-02")
    assert invoke_json(*NOW, "brief", "apec-smewg-28")["occurrence"]["slug"] == "apec-smewg-28"
    far = invoke_json(*NOW, "brief", "apec-smewg", "--occurrence", "2150-09")["occurrence"]
    assert far["date"] == "2150-09"


def test_a_cancel_is_undone_by_restore(invoke, invoke_json, loaded, tmp_path):
    def occurrence_status() -> str:
        invoke(*NOW, "export", "--out", str(tmp_path))
        cal = Calendar.from_ical((tmp_path / "meetings.ics").read_bytes())
        found = [e for e in cal.walk("VEVENT") if e.get("RECURRENCE-ID") and e["RECURRENCE-ID"].dt == date(2028, 9, 1)]
        return str(found[0]["STATUS"]) if found else "(the series' own)"

    invoke(*NOW, "meeting", "cancel", "apec-smewg", "2028-09")
    assert occurrence_status() == "CANCELLED"
    restored = invoke_json(*NOW, "meeting", "restore", "apec-smewg", "2028-09")
    assert restored["cancelled"] is False and occurrence_status() == "TENTATIVE"
    assert invoke(*NOW, "meeting", "restore", "apec-smewg", "2028-09", code=1).stderr == (
        "Error: apec-smewg 2028-09 is not cancelled: nothing to restore\n")  # fmt: skip
    invoke(*NOW, "meeting", "cancel", "taipei-textile-show-2008")
    assert invoke_json(*NOW, "meeting", "restore", "taipei-textile-show-2008")["cancelled"] is False
    assert invoke(*NOW, "meeting", "restore", "apec-smewg", code=1).stderr.startswith(
        "Error: OCCURRENCE: apec-smewg is a series: name the OCCURRENCE to restore")  # fmt: skip
