"""The item commands: filters, add/edit, done/reopen/cancel, overdue honesty, errors."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, dump


def slugs(rows):
    return [r["slug"] for r in rows]


def test_default_listing_is_open_items_soonest_first(invoke_json, loaded):
    rows = invoke_json("--now", "2008-09-01", "items")
    assert len(rows) == 23
    assert rows[0]["slug"] == "kpi-committee-volunteer"
    dated = [r["due_utc"] for r in rows if r["due_utc"]]
    assert dated == sorted(dated)
    assert rows[-1]["due"] is None  # standing commitments come last


def test_filters(invoke_json, loaded):
    assert set(slugs(invoke_json("items", "--owner", "forum-officer"))) == {
        "forum-host-2009",
        "forum-case-study-book",
        "forum-align-with-2009-theme",
    }
    assert slugs(invoke_json("items", "--category", "innovation")) == [
        "kpi-join-innovation-committee",
        "daegu-innovation-self-assessment",
    ]
    assert slugs(invoke_json("items", "--meeting", "apec-smewg-28")) == [
        "kpi-committee-volunteer",
        "kpi-lead-management-entrepreneurship",
        "kpi-join-innovation-committee",
    ]
    assert slugs(invoke_json("items", "--due-after", "2008-10-06", "--due-before", "2008-10-07")) == [
        "us-invite-business-alliance-conference",
        "singapore-invite-business-alliance-conference",
    ]
    assert invoke_json("items", "--meeting", "apec-smewg") != []  # a series slug works too


def test_overdue_is_computed_from_now_in_the_items_zone(invoke_json, loaded):
    # Due 2008-09-30 in Asia/Taipei: still due at 23:59 that day, overdue from midnight.
    assert invoke_json("--now", "2008-09-30T23:59+08:00", "items", "--overdue") == []
    rows = invoke_json("--now", "2008-10-01T00:00+08:00", "items", "--overdue")
    assert slugs(rows) == ["kpi-committee-volunteer"]
    today = invoke_json("--now", "2026-11-24", "items", "--overdue")
    assert len(today) == 13  # every dated item is overdue by 2026 until someone marks it
    assert today[0]["days_overdue"] > 6000


def test_done_reopen_and_history(invoke, invoke_json, loaded, db_url):
    done = invoke_json("--now", "2008-09-25T10:00", "done", "kpi-committee-volunteer", "--note", "letter sent")
    assert done["status"] == "done" and done["completed_how"] == "cli" and done["sequence"] == 1
    assert "kpi-committee-volunteer" not in slugs(invoke_json("items"))
    before = dump(db_url)
    again = invoke_json("--now", "2008-09-26", "done", "1")
    assert again["completed_at"] == done["completed_at"] and again["sequence"] == 1
    assert dump(db_url) == before  # a repeated done changes nothing
    invoke("--now", "2008-09-27", "reopen", "1")
    shown = invoke_json("show", "1")
    assert shown["status"] == "open" and shown["completed_at"] is None and shown["sequence"] == 2
    assert [(h["field"], h["old"], h["new"], h["note"]) for h in shown["history"]] == [
        ("created", None, "Volunteer for the KPI drafting committees", ""),
        ("status", "open", "done", "letter sent"),
        ("status", "done", "open", ""),
    ]


def test_add_and_edit(invoke_json, loaded):
    added = invoke_json(
        "--now",
        "2008-09-02",
        "add",
        "Send KPI draft to Thailand",
        "--owner",
        "apec-officer",
        "--due",
        "2009-02-15",
        "--priority",
        "high",
        "--serves",
        "apec-smewg-28",
    )
    assert added["slug"] == "send-kpi-draft-to-thailand" and added["tz"] == "Asia/Taipei"
    assert added["due"] == "2009-02-15" and added["serves"] == "apec-smewg-28"
    edited = invoke_json(
        "--now", "2008-09-03", "edit", added["slug"], "--due", "2009-02-20T17:00", "--note", "moved by the lead"
    )
    assert edited["due"] == "2009-02-20T17:00:00+08:00" and edited["due_utc"] == "2009-02-20T09:00:00+00:00"
    assert edited["sequence"] == 1


def test_an_empty_due_removes_the_due_date(invoke_json, loaded):
    """As the web's edit form does when its date is emptied; the history keeps the date it had."""
    edited = invoke_json("--now", "2008-09-03", "edit", "kpi-committee-volunteer", "--due", "", "--note", "no date")
    assert (edited["due"], edited["sequence"]) == (None, 1)
    change = invoke_json("show", "kpi-committee-volunteer")["history"][-1]
    assert (change["field"], change["old"], change["new"], change["note"]) == ("due", "2008-09-30", None, "no date")


def test_user_mistakes_are_one_line_errors(invoke, loaded, db_url):
    before = dump(db_url)
    cases = [
        (("show", "999"), "Error: no item with id or slug '999'"),
        (("items", "--status", "finished"), "Error: --status: use all or some of"),
        (("add", "x", "--owner", "nobody"), "Error: no person with slug 'nobody'"),
        (("add", "x", "--slug", "forum-host-2009"), "Error: an item with slug 'forum-host-2009' already exists"),
        (("edit", "1", "--due", "soon"), "Error: --due: not a date or date-time: 'soon'"),
        (("meetings", "--from", "2010-01-01", "--to", "2009-01-01"), "Error: --to must be after --from"),
    ]
    for args, expected in cases:
        result = invoke(*args, code=1)
        assert result.stderr.startswith(expected), (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    assert dump(db_url) == before


def test_bad_database_url_is_a_usage_error(invoke):
    result = invoke("--db", "nonsense://", "items", code=2)
    assert result.stderr.startswith("Error: --db")


def test_python_dash_m_matches_the_console_script(invoke):
    out = subprocess.run([sys.executable, "-m", "tracker", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    assert out.stdout == invoke("--version").stdout


def test_every_command_has_help_with_an_example():
    from tracker.cli.main import cli

    for name, command in cli.commands.items():
        assert command.help and "Example" in command.help, name
