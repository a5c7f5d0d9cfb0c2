"""Meetings: series expanded from their RRULE, overrides in place, past occurrences flagged, the clock."""

from __future__ import annotations


def test_future_biennial_ministerials_come_from_the_rule(invoke_json, loaded):
    rows = invoke_json("--now", "2026-11-24", "meetings", "--from", "2026-01-01", "--to", "2030-12-31")
    ministerial = [r for r in rows if r["series"] == "apec-sme-ministerial"]
    assert [r["date"] for r in ministerial] == ["2026-10", "2028-10", "2030-10"]  # only the month
    assert all(r["from_rule"] and r["tentative"] for r in ministerial)
    assert [r["past"] for r in ministerial] == [True, False, False]
    working = [r["date"][:7] for r in rows if r["series"] == "apec-smewg"]
    assert working == [f"{y}-{m}" for y in range(2026, 2031) for m in ("03", "09")]


def test_real_meetings_are_on_their_dates_in_their_zones(invoke_json, loaded):
    rows = invoke_json("--now", "2026-11-24", "meetings", "--from", "2008-01-01", "--to", "2010-01-01")
    by_slug = {r["slug"]: r for r in rows if r["slug"]}
    singapore = by_slug["apec-sme-ministerial-16"]
    assert (singapore["date"], singapore["end_date"], singapore["tz"]) == ("2009-10-04", "2009-10-09", "Asia/Singapore")
    assert singapore["start_utc"] == "2009-10-03T16:00:00+00:00"
    bangkok = by_slug["apec-smewg-28"]
    assert (bangkok["date"], bangkok["place"], bangkok["tz"]) == (
        "2009-03",
        "Bangkok, Thailand",
        "Asia/Bangkok",
    )
    # The override replaces the rule's March 2009 occurrence: no second working group that month.
    assert [r["date"] for r in rows if r["date"].startswith("2009-03")] == ["2009-03"]
    assert by_slug["apec-sme-ministerial-15"]["date"] == "2008-08-28"
    assert all(r["past"] for r in rows)


def test_agenda_in_september_2008(invoke_json, invoke, loaded):
    result = invoke_json("--now", "2008-09-01", "agenda", "--days", "60")
    assert result["overdue"] == []
    assert [r["slug"] for r in result["due"]][:1] == ["kpi-committee-volunteer"]
    assert [r["slug"] for r in result["meetings"]] == [
        "taiwan-business-alliance-conference-2008",
        "taipei-textile-show-2008",
    ]
    table = invoke("--now", "2008-09-01", "agenda", "--days", "60", env={"COLUMNS": "200"}).stdout
    assert "Volunteer for the KPI drafting committees" in table and "Taiwan Business Alliance Conference" in table


def test_clock_override_by_option_and_environment_agree(invoke, loaded, env):
    by_option = invoke("--now", "2008-10-02", "items", "--overdue", "--json").stdout
    by_env = invoke("items", "--overdue", "--json", env={**env, "TRACKER_NOW": "2008-10-02"}).stdout
    assert by_option == by_env and "kpi-committee-volunteer" in by_env


def test_agenda_today_is_honest_about_the_past(invoke_json, loaded):
    result = invoke_json("--now", "2026-11-24", "agenda", "--days", "700")
    assert len(result["overdue"]) == 13
    assert result["due"] == []
    assert {r["series"] for r in result["meetings"]} == {"apec-smewg", "apec-sme-ministerial"}
