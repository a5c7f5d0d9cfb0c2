"""What the commands print: `people`, item history, sentences after a change, --json times, wording, 80-column
tables."""

from __future__ import annotations

import json
import re
from datetime import date, datetime

import pytest

from tests.test_ics import SCHEDULE

PEOPLE = ["apec-officer", "bilateral-officer", "desk-lead", "forum-officer", "vice-minister-shih"]


def test_people_lists_everyone_with_their_open_items(invoke, invoke_json, loaded):
    invoke("--now", "2008-09-01", "done", "kpi-committee-volunteer")
    rows = invoke_json("people")
    assert [r["slug"] for r in rows] == PEOPLE
    assert rows[0] == {
        "slug": "apec-officer",
        "name": "APEC SMEWG officer",
        "role": "Working-group delegate; KPI committees",
        "email": "apec-officer@example.org",
        "tz": "Asia/Taipei",
        "escalation": "desk-lead",
        "open_items": 9,  # 10 open items until one was done
    }
    assert [r["open_items"] for r in rows] == [9, 6, 5, 3, 0]
    table = invoke("people", env={"COLUMNS": "200"}).stdout
    assert re.search(r"│ apec-officer +│ APEC SMEWG officer \(Working-group delegate; KPI committees\) +│ "
                     r"apec-officer@example.org +│ Asia/Taipei +│ desk-lead +│ 9 +│", table)  # fmt: skip


# --- history -------------------------------------------------------------------------------------------------


def test_history_shows_times_in_the_users_zone_and_dates_as_written(invoke, invoke_json, loaded):
    invoke("--now", "2008-09-03T09:59:40+08:00", "edit", "kpi-committee-volunteer", "--due", "2009-10-15")
    invoke("--now", "2008-09-04T10:00+08:00", "edit", "1", "--due", "2009-10-30")
    invoke("--now", "2008-09-05T10:00+08:00", "edit", "1", "--due", "2009-11-02T17:30")
    invoke("--now", "2008-09-06T10:00+08:00", "edit", "1", "--due", "2009-11-03", "--tz", "America/Lima")
    history = invoke_json("show", "1")["history"]
    dues = [(h["at"], h["old"], h["new"]) for h in history if h["field"] == "due"]
    assert dues == [
        ("2008-09-03T09:59:40+08:00", "2008-09-30", "2009-10-15"),
        ("2008-09-04T10:00:00+08:00", "2009-10-15", "2009-10-30"),
        ("2008-09-05T10:00:00+08:00", "2009-10-30", "2009-11-02T17:30:00+08:00"),
        ("2008-09-06T10:00:00+08:00", "2009-11-02T17:30:00+08:00", "2009-11-03"),  # a date in Lima now
    ]
    # In another zone, the instants move and the dates stay.
    other = invoke_json("--tz", "Europe/London", "show", "1")["history"]
    assert [h["at"] for h in other if h["field"] == "due"][0] == "2008-09-03T02:59:40+01:00"
    assert [(h["old"], h["new"]) for h in other if h["field"] == "due"] == [(o, n) for _, o, n in dues]
    table = invoke("show", "1", env={"COLUMNS": "200"}).stdout
    assert "history (times in Asia/Taipei)" in table
    assert re.search(r"│ 2008-09-03 10:00 │ tester +│ via CLI +│ due +│ 2008-09-30 +│ 2009-10-15 +│", table)  # rounded
    assert re.search(r"│ 2008-09-05 10:00 │ tester +│ via CLI +│ due +│ 2009-10-30 +│ 2009-11-02 17:30 Asia/Taipei +│",
                     table)  # fmt: skip
    assert re.search(r"│ due +│ 2009-11-02 17:30 Asia/Taipei +│ 2009-11-03 +│", table)
    assert "T16:00:00+00:00" not in table and "+00:00" not in table


def test_creation_is_the_first_entry_of_the_history(invoke, invoke_json, loaded, tmp_path):
    invoke("--now", "2008-09-02T10:00+08:00", "load", str(loaded))  # reloading creates nothing
    first = invoke_json("show", "kpi-committee-volunteer")["history"]
    assert [(h["field"], h["by"], h["how"], h["new"]) for h in first] == [
        ("created", "yaml", "yaml", "Volunteer for the KPI drafting committees")
    ]
    added = invoke_json("--now", "2008-09-03T10:00+08:00", "add", "Send KPI draft", "--due", "2009-02-15")
    assert [(h["field"], h["at"]) for h in invoke_json("show", added["slug"])["history"]] == [
        ("created", "2008-09-03T10:00:00+08:00")
    ]
    path = tmp_path / "schedule.ics"
    path.write_text(SCHEDULE.replace("\n", "\r\n"))
    invoke("--now", "2008-09-04T10:00+08:00", "import", str(path))
    invoke("--now", "2008-09-05T10:00+08:00", "import", str(path))
    paper = next(i for i in invoke_json("items", "--category", "innovation") if i["title"].startswith("Submit"))
    assert [(h["field"], h["how"], h["at"]) for h in invoke_json("show", str(paper["id"]))["history"]] == [
        ("created", "ics", "2008-09-04T10:00:00+08:00")
    ]


# --- the sentence first --------------------------------------------------------------------------------------


def test_changes_say_what_they_did_in_a_sentence_first(invoke, loaded):
    def said(*args: str) -> str:
        result = invoke("--now", "2008-09-02T10:00+08:00", *args, env={"COLUMNS": "200"})
        assert result.stdout.startswith(args[0])  # then the details: the item's row
        return result.stderr.strip()

    assert said("done", "1") == 'Marked #1 "Volunteer for the KPI drafting committees" done.'
    assert said("done", "1") == '#1 "Volunteer for the KPI drafting committees" is already done: nothing changed.'
    assert said("reopen", "1") == 'Reopened #1 "Volunteer for the KPI drafting committees".'
    assert said("cancel", "kpi-committee-volunteer") == 'Cancelled #1 "Volunteer for the KPI drafting committees".'
    assert said("add", "Send KPI draft", "--due", "2009-02-15") == 'Added #24 "Send KPI draft", due 2009-02-15.'
    assert said("add", "Call Lima") == 'Added #25 "Call Lima", with no due date.'
    assert said("edit", "24", "--due", "2009-02-20") == 'Changed #24 "Send KPI draft": due 2009-02-15 → 2009-02-20.'
    assert said("edit", "24", "--due", "2009-02-20T17:00", "--priority", "high", "--owner", "apec-officer") == (
        'Changed #24 "Send KPI draft": due 2009-02-20 → 2009-02-20 17:00 Asia/Taipei; owners none → apec-officer; '
        "priority medium → high."
    )
    assert said("edit", "24", "--priority", "high") == 'Nothing changed on #24 "Send KPI draft".'
    assert said("edit", "24", "--title", "Send the KPI draft", "--description", "As agreed", "--note", "why") == (
        'Changed #24 "Send KPI draft": title "Send KPI draft" → "Send the KPI draft"; description changed.'
    )


def test_json_after_a_change_is_only_the_document(invoke, loaded):
    result = invoke("--now", "2008-09-02", "done", "1", "--json")
    assert json.loads(result.stdout)["results"]["status"] == "done" and result.stderr == ""


# --- every --json time has an offset -------------------------------------------------------------------------

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MONTH = re.compile(r"\d{4}-\d{2}")
# The fields that may hold a date without a time (README "--json"): what the source gives as a date.
DATES = {"due", "date", "end_date", "old", "new", "start_local"}


def times(value, key=None):
    """Every (key, text) in a JSON document that begins like a date."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from times(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from times(v, key)
    elif isinstance(value, str) and re.match(r"\d{4}-\d{2}", value):
        yield key, value


def check_times(document) -> int:
    found = list(times(document))
    for key, text in found:
        if DAY.fullmatch(text) or MONTH.fullmatch(text):
            assert key in DATES, (key, text)
            date.fromisoformat(text) if DAY.fullmatch(text) else date.fromisoformat(f"{text}-01")
        else:
            assert datetime.fromisoformat(text).tzinfo is not None, (key, text)
    return len(found)


ITEM_KEYS = {"category", "committee", "completed_at", "completed_by", "completed_how", "days_overdue", "description",
             "decision", "due", "due_all_day", "due_note", "due_utc", "id", "meeting", "note", "overdue", "owners",
             "priority", "sequence", "serves", "slug", "source_quote", "status", "title", "tz", "uid",
             "updated_at"}  # fmt: skip
MEETING_KEYS = {"attendees", "cancelled", "date", "end_date", "end_utc", "from_rule", "number", "past", "place",
                "series", "slug", "start_local", "start_utc", "tentative", "title", "tz", "uid"}  # fmt: skip


def test_every_json_time_is_iso_8601_with_an_offset(invoke, loaded, tmp_path):
    def run(*args: str):
        document = json.loads(invoke("--now", "2009-09-28T10:00+08:00", *args, "--json").stdout)
        assert set(document) == {"command", "now", "results"}
        assert document["now"] == "2009-09-28T02:00:00+00:00"
        assert check_times(document) >= 1
        return document["results"]

    timed = run("add", "Call the Peruvian desk", "--due", "2009-09-30T17:00", "--owner", "apec-officer")
    assert set(timed) == ITEM_KEYS
    assert (timed["due"], timed["tz"], timed["due_utc"]) == (
        "2009-09-30T17:00:00+08:00", "Asia/Taipei", "2009-09-30T09:00:00+00:00")  # fmt: skip
    assert set(run("edit", str(timed["id"]), "--due", "2009-09-30T18:00")) == ITEM_KEYS
    done = run("done", "forum-host-2009")
    assert set(done) == ITEM_KEYS and done["due"] == "2009-12-31"
    assert all(set(row) == ITEM_KEYS for row in run("items", "--status", "all"))
    shown = run("show", str(timed["id"]))
    assert set(shown) == ITEM_KEYS | {"history"}
    assert [h["field"] for h in shown["history"]] == ["created", "due"]
    assert set(shown["history"][1]) == {"at", "by", "how", "field", "old", "new", "note"}
    agenda = run("agenda", "--days", "400")
    assert set(agenda) == {"overdue", "due", "meetings"} and timed["slug"] in [r["slug"] for r in agenda["due"]]
    assert all(set(row) == MEETING_KEYS for row in agenda["meetings"])
    meetings = run("meetings", "--from", "2008-01-01", "--to", "2012-12-31")
    tentative = [m for m in meetings if m["tentative"]]
    assert tentative and all(MONTH.fullmatch(m["date"]) for m in tentative)  # the report gives only the month
    path = tmp_path / "schedule.ics"
    path.write_text(SCHEDULE.replace("\n", "\r\n"))
    run("import", str(path))
    timed_meeting = next(m for m in run("meetings", "--from", "2009-09-30", "--to", "2009-10-02"))
    assert (timed_meeting["date"], timed_meeting["tz"]) == ("2009-10-01T09:00:00+08:00", "Asia/Singapore")
    assert all(set(r) == {"slug", "name", "role", "email", "tz", "escalation", "open_items"} for r in run("people"))
    plan = run("remind", "plan", "--days", "30")
    assert {"when", "send_at", "tz", "when_utc"} <= set(plan[0])
    sent = json.loads(invoke("--now", "2009-09-28T10:00+08:00", "remind", "send-due", "--json").stdout)
    assert check_times(sent) == 1  # only `now`: the counts have no times
    history = run("remind", "history")
    keys = {"id", "when", "fire_at", "tz", "to", "recipient", "channel", "status", "attempts", "error", "kind",
            "about", "next_attempt_at"}  # fmt: skip
    assert history and all(set(row) == keys for row in history)
    assert {(row["tz"], row["fire_at"][-6:]) for row in history} == {("Asia/Taipei", "+08:00")}


# --- wording -------------------------------------------------------------------------------------------------


def test_counts_agree_with_their_nouns(invoke, loaded):
    agenda = invoke("--now", "2008-10-02T10:00+08:00", "agenda", "--days", "1", env={"COLUMNS": "200"}).stdout
    assert "2008-09-30 (1 day overdue)" in agenda and "due in the next 1 day" in agenda
    assert "1 days" not in agenda


def test_a_co_owner_who_is_also_the_escalation_contact_is_reminded_once(invoke, invoke_json, loaded):
    # kpi-lead-management-entrepreneurship is owned by apec-officer and desk-lead, apec-officer's escalation contact.
    rows = invoke_json("--now", "2008-09-01", "remind", "plan", "--days", "400")
    mine = [r for r in rows if r["item"] and r["item_id"] == 2]
    assert {r["to"] for r in mine} == {"apec-officer", "desk-lead"}
    assert not [r for r in mine if r["escalation"]]
    late = [(r["to"], r["when"]) for r in mine if r["kind"] == "item-overdue"]
    assert len(late) == len(set(late))
    # Its 91-days-overdue reminder fell due on 2009-05-31, more than 48 hours before: a catch-up message.
    sent = invoke("--now", "2009-06-04T10:00+08:00", "remind", "send-due", "--verbose").stdout
    catch_up = sent.split("--- reminder for APEC SME desk lead")[-1]
    assert catch_up.startswith(" <desk-lead@example.org>: Missed while reminders were off")
    title = invoke_json("show", "2")["title"]
    assert catch_up.count(f"{title} (91 days overdue") == 1, catch_up


def test_an_item_created_after_its_reminder_times_gets_one_honest_overdue_reminder(invoke, invoke_json, loaded):
    now = "2026-11-25T15:00+08:00"
    added = invoke_json("--now", now, "add", "File the 2009 report", "--due", "2009-10-15", "--owner",
                        "forum-officer")  # fmt: skip
    rows = [r for r in invoke_json("--now", now, "remind", "plan", "--days", "3") if r["item_id"] == added["id"]]
    assert [(r["when"], r["to"], r["kind"], r["what"], r["will"]) for r in rows] == [
        ("2026-11-25T15:00:00+08:00", "desk-lead", "item-overdue", "6250 days overdue; escalation copy", "send"),
        ("2026-11-25T15:00:00+08:00", "forum-officer", "item-overdue", "6250 days overdue", "send"),
    ]  # the next weekly repeat waits a week
    sent = invoke("--now", now, "remind", "send-due", "--verbose").stdout
    assert "Overdue by 6250 days: File the 2009 report" in sent
    assert "not running" not in sent.split("File the 2009 report")[0].rsplit("Subject:", 1)[-1]
    later = invoke("--now", "2026-11-25T16:00+08:00", "remind", "send-due", "--verbose").stdout
    assert "File the 2009 report" not in later  # sent once


def test_an_item_due_today_when_created_is_due_today_not_missed(invoke, invoke_json, loaded):
    now = "2008-09-02T15:00+08:00"
    added = invoke_json("--now", now, "add", "Reply to Lima", "--due", "2008-09-02", "--owner", "apec-officer")
    rows = [r for r in invoke_json("--now", now, "remind", "plan", "--days", "3") if r["item_id"] == added["id"]]
    assert [(r["when"], r["kind"], r["late"]) for r in rows] == [("2008-09-02T15:00:00+08:00", "item-due", False)]


def test_plan_shows_what_is_late_as_going_out_now(invoke, invoke_json, loaded):
    now = "2008-10-08T12:00+08:00"
    rows = invoke_json("--now", now, "remind", "plan", "--days", "14")
    late = [r for r in rows if r["late"]]
    assert late and {r["send_at"] for r in late} == {"2008-10-08T12:00:00+08:00"}
    assert all(r["when"] < r["send_at"] for r in late)
    assert all(r["send_at"] == r["when"] for r in rows if not r["late"])
    table = invoke("--now", now, "remind", "plan", "--days", "14", env={"COLUMNS": "200"}).stdout
    assert re.search(r"│ now +│ apec-officer +│ Volunteer for the KPI drafting committees \(due in 7 days\) +│ "
                     r"catch-up message \(fell due 2008-09-23 09:00\) +│", table)  # fmt: skip
    dated = [line.split("│")[1].strip() for line in table.splitlines() if re.match(r"│ \d{4}-", line)]
    assert dated and min(dated) >= "2008-10-08 12:00"  # nothing shown as going out before now


# --- 80 columns ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ("items", "--status", "all"), ("agenda", "--days", "400"), ("meetings", "--from", "2008-01-01"), ("people",),
    ("remind", "plan", "--days", "400"), ("show", "kpi-lead-management-entrepreneurship"),
])  # fmt: skip
def test_tables_at_80_columns_keep_every_slug_whole(invoke, invoke_json, loaded, args):
    slugs = PEOPLE + [s["slug"] for s in invoke_json("meetings", "--from", "2008-01-01") if s["slug"]]
    slugs += [m["series"] for m in invoke_json("meetings", "--from", "2008-01-01") if m["series"]]
    wide = invoke("--now", "2008-09-01", *args, env={"COLUMNS": "250"}).stdout
    narrow = invoke("--now", "2008-09-01", *args, env={"COLUMNS": "80"}).stdout
    assert max(len(line) for line in narrow.splitlines()) <= 80
    for slug in set(slugs):
        whole = re.compile(rf"(?<![\w@.-]){re.escape(slug)}(?![\w@.-])")  # not inside an e-mail address
        assert len(whole.findall(narrow)) >= len(whole.findall(wide)), (slug, narrow)


def test_the_other_json_documents_have_only_offset_times_too(invoke, loaded, tmp_path):
    def run(*args: str):
        document = json.loads(invoke("--now", "2009-09-28T10:00+08:00", *args, "--json").stdout)
        assert set(document) == {"command", "now", "results"}
        check_times(document)
        return document["results"]

    assert {r["kind"] for r in run("load", str(loaded))} == {"people", "committees", "series", "meetings", "decisions",
                                                             "items"}  # fmt: skip
    assert all(set(r) == {"path", "bytes", "changed"} for r in run("export", "--out", str(tmp_path / "cal")))
    assert set(run("backup", str(tmp_path / "copy.db"))) == {"path", "bytes", "rows", "tables"}
    subscription = run("subscribe", "add", "--name", "phone", "--person", "apec-officer")
    assert subscription["created_at"] == "2009-09-28T02:00:00+00:00"
    assert run("subscribe", "revoke", str(subscription["id"]))["revoked_at"] == "2009-09-28T02:00:00+00:00"
    assert set(run("reopen", "1")) == set(run("cancel", "1")) == ITEM_KEYS
