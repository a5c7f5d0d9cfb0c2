"""The reminder plan: derived from the data, stopped by done, moved with the due date, quiet hours, zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tracker.core import store
from tracker.core.models import Person
from tracker.reminders import planning


def plan(invoke_json, now: str, days: int = 60, *extra: str):
    return invoke_json("--now", now, "remind", "plan", "--days", str(days), *extra)


def about(rows, slug_title: str):
    return [r for r in rows if r["item"] and slug_title in r["item"]]


def test_item_plan_defaults(invoke_json, loaded):
    rows = about(plan(invoke_json, "2008-08-30"), "Volunteer for the KPI drafting")
    assert [(r["when"], r["kind"], r["to"]) for r in rows] == [
        ("2008-08-31T09:00:00+08:00", "item-before", "apec-officer"),
        ("2008-09-23T09:00:00+08:00", "item-before", "apec-officer"),
        ("2008-09-29T09:00:00+08:00", "item-before", "apec-officer"),
        ("2008-09-30T09:00:00+08:00", "item-due", "apec-officer"),
        ("2008-10-07T09:00:00+08:00", "item-overdue", "apec-officer"),
        ("2008-10-14T09:00:00+08:00", "item-overdue", "desk-lead"),
        ("2008-10-14T09:00:00+08:00", "item-overdue", "apec-officer"),
    ]
    assert rows[0]["channels"] == ["console"] and {r["will"] for r in rows} == {"send"}


def test_overdue_repeats_weekly_and_escalates_after_14_days(invoke_json, loaded):
    rows = about(plan(invoke_json, "2008-10-08T12:00+08:00", 14), "Volunteer for the KPI drafting")
    assert [r["will"] for r in rows[:4]] == ["catch-up message"] * 4  # the lead-time reminders nobody sent
    assert [(r["when"][:10], r["kind"], r["to"], r["escalation"]) for r in rows[4:]] == [
        ("2008-10-07", "item-overdue", "apec-officer", False),  # 7 days overdue: sent late, not lost
        ("2008-10-14", "item-overdue", "desk-lead", True),  # 14 days overdue: the escalation contact is copied
        ("2008-10-14", "item-overdue", "apec-officer", False),
    ]


def test_done_and_cancelled_items_plan_nothing(invoke, invoke_json, loaded):
    invoke("--now", "2008-09-01", "done", "kpi-committee-volunteer")
    invoke("--now", "2008-09-01", "cancel", "us-invite-business-alliance-conference")
    rows = plan(invoke_json, "2008-09-01")
    assert not about(rows, "Volunteer for the KPI") and not about(rows, "Invite a US delegation")
    assert about(rows, "Invite Singapore")


def test_moving_the_due_date_replans(invoke, invoke_json, loaded):
    invoke("--now", "2008-09-01", "edit", "kpi-committee-volunteer", "--due", "2008-10-15")
    rows = about(plan(invoke_json, "2008-09-01"), "Volunteer for the KPI drafting")
    assert [r["when"][:10] for r in rows][:4] == ["2008-09-15", "2008-10-08", "2008-10-14", "2008-10-15"]
    assert {r["kind"] for r in rows[4:]} == {"item-overdue"}


def test_command_line_and_yaml_overrides(invoke_json, loaded):
    rows = about(plan(invoke_json, "2008-09-01", 60, "--lead-days", "3", "--due-at", "10:30"), "Volunteer for")
    assert [r["when"] for r in rows][:2] == ["2008-09-27T10:30:00+08:00", "2008-09-30T10:30:00+08:00"]
    assert rows[2]["kind"] == "item-overdue"
    policy = loaded / "policy.yaml"
    policy.write_text("reminder_policy:\n  categories:\n    management-entrepreneurship:\n"
                      "      item_before_days: [10]\n")  # fmt: skip
    invoke_json("load", str(loaded))
    rows = about(plan(invoke_json, "2008-09-01"), "Volunteer for")
    assert [r["when"][:10] for r in rows][:2] == ["2008-09-20", "2008-09-30"]
    assert rows[2]["kind"] == "item-overdue"


def test_meetings_remind_attendees_in_their_zone(invoke_json, loaded):
    rows = [r for r in plan(invoke_json, "2009-07-01", 120) if r["meeting"] == "16th APEC SME Ministerial Meeting"]
    assert {(r["when"], r["to"]) for r in rows} >= {
        ("2009-08-05T09:00:00+08:00", "desk-lead"),  # 60 days before 4 October, 09:00 in Taipei
        ("2009-09-20T09:00:00+08:00", "desk-lead"),
        ("2009-10-03T09:00:00+08:00", "vice-minister-shih"),
    }


def _person(tz: str, quiet: str = "20:00-08:00") -> Person:
    return Person(slug="p", name="P", tz=tz, quiet_hours=quiet)


@pytest.mark.parametrize(("tz", "local", "expected"), [
    ("Asia/Taipei", "2008-09-30T21:15", "2008-10-01T08:00"),   # evening → next morning
    ("Asia/Taipei", "2008-09-30T03:00", "2008-09-30T08:00"),   # small hours → same morning
    ("Asia/Taipei", "2008-09-30T12:00", "2008-09-30T12:00"),   # daytime untouched
    ("America/Lima", "2008-11-20T22:00", "2008-11-21T08:00"),
    ("Europe/Berlin", "2009-03-28T23:30", "2009-03-29T08:00"),  # the night clocks go forward: 08:00 CEST
    ("America/New_York", "2009-10-31T20:00", "2009-11-01T08:00"),  # the night clocks go back: 08:00 EST
])  # fmt: skip
def test_quiet_hours_across_zones_and_dst(tz, local, expected):
    zone = ZoneInfo(tz)
    moved = planning.quiet_adjusted(datetime.fromisoformat(local).replace(tzinfo=zone).astimezone(UTC), _person(tz))
    assert moved.astimezone(zone).replace(tzinfo=None) == datetime.fromisoformat(expected)
    assert moved.astimezone(zone).utcoffset() == zone.utcoffset(datetime.fromisoformat(expected))


def test_due_day_hour_follows_dst(env, loaded):
    engine = store.engine(env["TRACKER_DB"])
    with store.transaction(engine) as session:
        person = session.query(Person).filter_by(slug="apec-officer").one()
        person.tz = "Europe/Berlin"
        now = datetime(2009, 3, 1, tzinfo=UTC)
        due = [p for p in planning.desired(session, now, now + timedelta(days=60))
               if p.item_id and p.kind == "item-due" and p.person_id == person.id]  # fmt: skip
        hours = {p.fire_at.astimezone(ZoneInfo("Europe/Berlin")).hour for p in due}
        assert hours == {9}  # 09:00 local both in winter (UTC+1) and summer (UTC+2) time
