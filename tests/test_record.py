"""Came home from a meeting (`tracker record FILE.yaml`, register.records): the meeting, its outcome and its
follow-ups in one transaction, all or nothing; the follow-ups then in the register, the exported calendars and the
reminder plan; every problem named by its row and field (and file:line), the database untouched."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from icalendar import Calendar

from tests.conftest import dump
from tracker.core import store
from tracker.core.clock import parse_instant, zone
from tracker.core.errors import Forbidden
from tracker.register import records

CAME_HOME = """\
meeting:
  slug: smewg-kpi-workshop-2008
  title: SMEWG KPI workshop
  start: 2008-09-10
  end: 2008-09-11
  tz: Asia/Taipei
  place: Taipei
outcome: |
  The economies agreed on a first KPI set.
  Chinese Taipei drafts it.
follow_ups:
  - title: Draft the KPI set
    owners: [apec-officer]
    due: 2008-10-01
    category: management-entrepreneurship
    committee: kpi-management-entrepreneurship
    source: "to work with the lead economy to draft KPIs"
    priority: high
    serves: apec-smewg-28
  - title: Book the venue for the next workshop
    owners: [forum-officer, apec-officer]
    due: 2008-09-20T17:00
  - title: Circulate the minutes
    owners: [apec-officer]
    due: 2008-09-15
    decision: kpis-decided-at-smewg-28
"""


def write(tmp_path: Path, text: str, name: str = "came-home.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_new_meeting_with_its_outcome_and_follow_ups(invoke, invoke_json, loaded, tmp_path):
    result = invoke_json("record", str(write(tmp_path, CAME_HOME)))
    assert (result["meeting"], result["meeting_created"]) == ("smewg-kpi-workshop-2008", True)
    assert result["outcome"] == "The economies agreed on a first KPI set.\nChinese Taipei drafts it."
    assert [i["slug"] for i in result["items"]] == ["draft-the-kpi-set", "book-the-venue-for-the-next-workshop",
                                                    "circulate-the-minutes"]  # fmt: skip
    # In the register, coming from the meeting, with every field given.
    listed = {i["slug"]: i for i in invoke_json("items", "--meeting", "smewg-kpi-workshop-2008")}
    assert listed.keys() == {i["slug"] for i in result["items"]}
    draft = listed["draft-the-kpi-set"]
    assert {k: draft[k] for k in ("title", "owners", "due", "category", "committee", "source_quote", "priority",
                                  "serves", "meeting", "status", "tz")} == {  # fmt: skip
        "title": "Draft the KPI set", "owners": ["apec-officer"], "due": "2008-10-01",
        "category": "management-entrepreneurship", "committee": "kpi-management-entrepreneurship",
        "source_quote": "to work with the lead economy to draft KPIs", "priority": "high", "serves": "apec-smewg-28",
        "meeting": "smewg-kpi-workshop-2008", "status": "open", "tz": "Asia/Taipei",
    }  # fmt: skip
    assert listed["book-the-venue-for-the-next-workshop"]["owners"] == ["forum-officer", "apec-officer"]
    assert listed["book-the-venue-for-the-next-workshop"]["due"] == "2008-09-20T17:00:00+08:00"
    assert {slug: item["decision"] for slug, item in listed.items()} == {
        "draft-the-kpi-set": None, "book-the-venue-for-the-next-workshop": None,
        "circulate-the-minutes": "kpis-decided-at-smewg-28"}  # fmt: skip
    # The history says who recorded it, and how.
    history = invoke_json("show", "draft-the-kpi-set")["history"]
    assert [(h["field"], h["by"], h["how"]) for h in history] == [("created", "tester", "cli")]
    # The meeting as given: dates, place, zone.
    shown = {m["slug"]: m for m in invoke_json("meetings", "--from", "2008-09-01", "--to", "2008-10-01")}
    meeting = shown["smewg-kpi-workshop-2008"]
    assert (meeting["date"], meeting["end_date"], meeting["place"]) == ("2008-09-10", "2008-09-11", "Taipei")


def test_the_follow_ups_are_in_the_calendars_and_the_reminder_plan(invoke, invoke_json, loaded, tmp_path):
    plan = lambda: [r for r in invoke_json("remind", "plan", "--days", "60") if r["item"]]  # noqa: E731
    before = plan()
    invoke("record", str(write(tmp_path, CAME_HOME)))
    invoke("export", "--out", str(tmp_path / "calendars"))
    todos = Calendar.from_ical((tmp_path / "calendars" / "action-items.ics").read_bytes()).walk("VTODO")
    by_uid = {str(t["UID"]): t for t in todos}
    assert str(by_uid["item-draft-the-kpi-set@tracker"]["SUMMARY"]) == "Draft the KPI set"
    assert {"item-book-the-venue-for-the-next-workshop@tracker", "item-circulate-the-minutes@tracker"} <= set(by_uid)
    added = [r for r in plan() if r not in before]
    assert {(r["item"], r["to"]) for r in added} >= {
        ("Draft the KPI set", "apec-officer"),
        ("Book the venue for the next workshop", "forum-officer"),
        ("Book the venue for the next workshop", "apec-officer"),
        ("Circulate the minutes", "apec-officer"),
    }


def test_one_bad_follow_up_saves_nothing(invoke, loaded, tmp_path, db_url):
    before = dump(db_url)
    bad = CAME_HOME.replace("owners: [apec-officer]\n    due: 2008-09-15", "owners: [apec-oficer]\n    due: 2008-09-15")
    path = write(tmp_path, bad)
    result = invoke("record", str(path), code=1)
    assert result.stderr == (f"Error: {path}:24: follow_ups[3].owners: no person with slug 'apec-oficer' (did you "
                             "mean 'apec-officer' or 'bilateral-officer'?)\n")  # fmt: skip
    assert dump(db_url) == before  # not the meeting, not the first two follow-ups


@pytest.mark.parametrize(
    ("change", "line", "place", "problem"),
    [
        (("due: 2008-09-15", "due: 2008-09-31"), 25, "follow_ups[3].due", "2008-09-31: September 2008 has 30 days"),
        (
            ("due: 2008-09-15", "due: 2008-09"),
            25,
            "follow_ups[3].due",
            "a due date needs a day, not only a month: '2008-09'",
        ),
        (
            ("  - title: Circulate the minutes\n", "  - title: Circulate the minutes\n    colour: red\n"),
            24,
            "follow_ups[3].colour",
            "unknown field",
        ),
        (
            ("  - title: Circulate the minutes\n", "  - title: Circulate the minutes\n    status: done\n"),
            24,
            "follow_ups[3].status",
            "set by the record: a follow-up is new, and comes from the meeting recorded",
        ),
        (
            ("category: management-entrepreneurship", "category: kpi"),
            15,
            "follow_ups[1].category",
            "unknown category; use one of business-environment, market-access, management-entrepreneurship, "
            "innovation, financing, sustainable-practices",
        ),
        (
            ("serves: apec-smewg-28", "serves: apec-smewg-99"),
            19,
            "follow_ups[1].serves",
            "no meeting or series with slug 'apec-smewg-99' (did you mean 'apec-smewg', 'apec-smewg-28' or "
            "'apec-smewg-27'?)",
        ),
        (
            ("decision: kpis-decided-at-smewg-28", "decision: kpis-at-smewg-28"),
            26,
            "follow_ups[3].decision",
            "no decision with slug 'kpis-at-smewg-28' (did you mean 'kpis-decided-at-smewg-28'",
        ),
        (("  start: 2008-09-10\n", "  start: 2008-09-12\n"), 5, "meeting.end", "the meeting ends before it starts"),
        (("  tz: Asia/Taipei\n", "  tz: Asia/Taipeh\n"), 6, "meeting.tz", None),
    ],
)
def test_each_problem_names_its_row_and_field_and_line(invoke, loaded, tmp_path, db_url, change, line, place,
                                                       problem):  # fmt: skip
    before = dump(db_url)
    path = write(tmp_path, CAME_HOME.replace(*change))
    error = invoke("record", str(path), code=1).stderr
    assert error.startswith(f"Error: {path}:{line}: {place}: {problem or ''}"), error
    assert dump(db_url) == before


def test_every_problem_is_named_at_once(loaded, env, clock):
    """The web form shows each problem beside its field: the record names them all, not only the first."""
    document = {
        "meeting": {"title": "No date"},
        "outcome": "fine",
        "follow_ups": [
            {"title": "Fine", "owners": ["apec-officer"]},
            {"title": "", "due": "someday", "priority": "urgent"},
            "not a mapping",
            {"title": "Twice", "slug": "twice"},
            {"title": "Twice again", "slug": "twice", "owners": ["nobody"]},
        ],
        "minutes": "?",
    }
    with pytest.raises(records.Refused) as refused, _session(env) as session:
        records.record(session, document, clock(), by="desk-lead", how="web", default_tz="Asia/Taipei")
    assert refused.value.problems == {
        "minutes": "unknown section",
        "meeting.start": "required field is missing",  # its slug is made from its title
        "meeting.tz": "required field is missing",
        "follow_ups[2].title": "Value should have at least 1 item after validation, not 0",
        "follow_ups[2].due": "not a date (2008-09-30), month (2009-03) or date-time (2008-10-06T09:30): 'someday'",
        "follow_ups[2].priority": "Input should be 'high', 'medium' or 'low'",
        "follow_ups[3]": "a follow-up is a mapping of fields, not 'not a mapping'",
        "follow_ups[5].slug": "the slug of follow-up 4 too",
        "follow_ups[5].owners": "no person with slug 'nobody'",  # said with the row's other problem, not after it
    }
    also = "(also: meeting.start, meeting.tz, follow_ups[2].title, "
    assert str(refused.value).startswith(f"minutes: unknown section {also}")


def _session(env):
    return store.transaction(store.engine(env["TRACKER_DB"]), write=True)


def test_an_existing_meeting_gets_its_outcome_and_follow_ups(invoke, invoke_json, loaded, tmp_path):
    path = write(
        tmp_path,
        """\
        meeting: apec-smewg-27
        outcome: KPI drafting committees formed.
        follow_ups:
          - title: Send the KPI volunteers' names
            owners: [apec-officer]
            due: 2008-09-05
    """,
    )
    result = invoke_json("record", str(path))
    assert (result["meeting"], result["meeting_created"], result["outcome"]) == (
        "apec-smewg-27", False, "KPI drafting committees formed.")  # fmt: skip
    assert [i["meeting"] for i in result["items"]] == ["apec-smewg-27"]
    # Again, without an outcome: the outcome stays (the same title is refused: test_…_recorded_twice_…).
    path.write_text(path.read_text().replace("outcome: KPI drafting committees formed.\n", "")
                    .replace("Send the KPI volunteers' names", "Thank the KPI volunteers"))  # fmt: skip
    again = invoke_json("record", str(path))
    assert again["outcome"] == "KPI drafting committees formed."
    assert again["items"][0]["slug"] == "thank-the-kpi-volunteers"


def test_an_occurrence_of_a_series_becomes_its_override_once(invoke, invoke_json, loaded, tmp_path):
    path = write(
        tmp_path,
        """\
        meeting: {series: apec-smewg, occurrence: 2027-03}
        follow_ups:
          - {title: Report the 2027 KPI figures, owners: [apec-officer], due: 2027-04-30}
    """,
    )
    first = invoke_json("record", str(path))
    assert (first["meeting"], first["meeting_created"]) == ("apec-smewg-2027-03", True)
    path.write_text(path.read_text().replace("KPI figures", "KPI targets"))
    second = invoke_json("record", str(path))
    assert (second["meeting"], second["meeting_created"]) == ("apec-smewg-2027-03", False)
    # The occurrence is published once, now by its override (the series' UID with a RECURRENCE-ID).
    march = invoke_json("meetings", "--from", "2027-03-01", "--to", "2027-04-01")
    assert [(m["slug"], m["series"], m["date"]) for m in march] == [("apec-smewg-2027-03", "apec-smewg", "2027-03")]
    # A day the series does not meet on is refused, naming the field.
    path.write_text(path.read_text().replace("2027-03}", "2027-05}"))
    error = invoke("record", str(path), code=1).stderr
    assert error.startswith(f"Error: {path}:1: meeting.occurrence: '2027-05' is no occurrence of apec-smewg (its rule "
                            "FREQ=MONTHLY;INTERVAL=6); the nearest: 2027-03 or 2027-09"), error  # fmt: skip


def test_refusals_of_the_meeting_part(invoke, loaded, tmp_path, db_url):
    before = dump(db_url)
    cases = {
        "meeting: apec-smewg-99\n": "meeting: no meeting with slug 'apec-smewg-99' (did you mean 'apec-smewg-28', "
                                    "'apec-smewg-27' or 'apec-smewg-26'?)",
        "meeting: apec-smewg\n": "meeting: apec-smewg is a series: give {series: apec-smewg, occurrence: its date}",
        "outcome: no meeting\n": "meeting: required: a meeting's slug, {series: …, occurrence: …}, or a new meeting's",
        "meeting: {slug: apec-smewg-27, title: Again, start: 2008-08-01, tz: UTC}\n":
            "meeting.slug: a meeting with slug 'apec-smewg-27' already exists: to record it, give its slug alone",
        "meeting: [1, 2]\n": "meeting: a meeting's slug or fields, not '[1, 2]'",
    }  # fmt: skip
    for text, problem in cases.items():
        path = write(tmp_path, text)
        assert problem in invoke("record", str(path), code=1).stderr
    syntax = write(tmp_path, "meeting: apec-smewg-27\nfollow_ups:\n  - title: [unclosed\n")
    assert f"Error: {syntax}:4: YAML syntax" in invoke("record", str(syntax), code=1).stderr
    assert "no such file" in invoke("record", str(tmp_path / "missing.yaml"), code=1).stderr
    assert dump(db_url) == before


def test_a_follow_up_whose_slug_is_taken_saves_nothing(invoke, loaded, tmp_path, db_url):
    """What items.add refuses (a slug already an item's) is named by the row, and the new meeting goes too."""
    before = dump(db_url)
    taken = "  - title: Circulate the minutes\n    slug: kpi-committee-volunteer\n"
    path = write(tmp_path, CAME_HOME.replace("  - title: Circulate the minutes\n", taken))
    error = invoke("record", str(path), code=1).stderr
    assert error.startswith(f"Error: {path}:24: follow_ups[3].slug: an item with slug 'kpi-committee-volunteer' "
                            "already exists"), error  # fmt: skip
    assert dump(db_url) == before


def test_the_json_envelope(invoke, loaded, tmp_path):
    path = write(tmp_path, "meeting: apec-smewg-27\noutcome: nothing to do\n")
    out = json.loads(invoke("record", str(path), "--json").stdout)
    assert out == {"command": "record", "now": out["now"],
                   "results": {"meeting": "apec-smewg-27", "meeting_created": False, "outcome": "nothing to do",
                               "items": []}}  # fmt: skip
    assert parse_instant(out["now"], zone("UTC"))


def test_the_readme_example_records(invoke_json, loaded, tmp_path):
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("## After a meeting: record what came home", 1)[1].split("```yaml\n", 1)[1].split("```")[0]
    result = invoke_json("record", str(write(tmp_path, example)))
    assert (result["meeting"], [i["slug"] for i in result["items"]]) == ("apec-smewg-27", ["draft-the-kpi-set"])


def test_a_follow_up_may_serve_the_new_meeting_it_comes_from(invoke_json, loaded, tmp_path):
    path = write(
        tmp_path,
        """\
        meeting: {slug: kpi-drafting-day-1, title: KPI drafting day 1, start: 2008-09-10, tz: Asia/Taipei}
        follow_ups:
          - {title: Bring the drafts to day 2, owners: [apec-officer], due: 2008-09-10, serves: kpi-drafting-day-1}
    """,
    )
    item = invoke_json("record", str(path))["items"][0]
    assert (item["meeting"], item["serves"]) == ("kpi-drafting-day-1", "kpi-drafting-day-1")


def test_without_may_change_meetings_the_meeting_must_exist_and_its_outcome_stays(loaded, env, clock):
    """An officer on the desk: follow-ups of a meeting that exists, yes; a new meeting, an occurrence's own, or an
    outcome, no (the meeting forms are a lead's)."""
    follow_ups = [{"title": "Officer's follow-up", "owners": ["apec-officer"], "due": "2008-09-30"}]
    refused = [
        {"meeting": {"title": "Officer's meeting", "start": "2008-09-10", "tz": "UTC"}},
        {"meeting": {"series": "apec-smewg", "occurrence": "2009-09"}},
        {"meeting": "apec-smewg-27", "outcome": "An officer's outcome"},
    ]
    for document in refused:
        with pytest.raises(Forbidden), _session(env) as session:
            records.record(session, document | {"follow_ups": follow_ups}, clock(), by="apec-officer", how="web",
                           default_tz="UTC", may_change_meetings=False)  # fmt: skip
    with _session(env) as session:
        document = {"meeting": "apec-smewg-27", "follow_ups": follow_ups}
        recorded = records.record(session, document, clock(), by="apec-officer", how="web", default_tz="UTC",
                                  may_change_meetings=False)  # fmt: skip
        assert [i.title for i in recorded.items] == ["Officer's follow-up"]


def test_the_same_came_home_recorded_twice_adds_nothing_the_second_time(invoke, invoke_json, loaded, tmp_path,
                                                                        db_url):  # fmt: skip
    """A second run of the same file (or a form sent twice) names each follow-up already recorded, and saves nothing."""
    path = write(tmp_path, CAME_HOME)
    invoke("record", str(path))
    again = write(tmp_path, CAME_HOME.replace(CAME_HOME.split("outcome:")[0], "meeting: smewg-kpi-workshop-2008\n"))
    before = dump(db_url)
    error = invoke("record", str(again), code=1).stderr
    assert "follow_ups[1].title: already recorded from smewg-kpi-workshop-2008 as item draft-the-kpi-set" in error
    assert dump(db_url) == before
    # Another title is another follow-up.
    invoke("record", str(write(tmp_path, "meeting: smewg-kpi-workshop-2008\nfollow_ups:\n  - title: Draft it again\n"
                                         "    owners: [apec-officer]\n")))  # fmt: skip
    assert "draft-it-again" in {i["slug"] for i in invoke_json("items", "--meeting", "smewg-kpi-workshop-2008")}


def test_a_row_s_unknown_people_are_named_with_its_other_problems(invoke, loaded, tmp_path, db_url):
    """A bad category does not hide an unknown owner in the same row until the next try."""
    path = write(
        tmp_path,
        CAME_HOME.replace("category: management-entrepreneurship", "category: colour").replace(
            "owners: [apec-officer]\n    due: 2008-10-01", "owners: [apec-oficer]\n    due: 2008-10-01"
        ),
    )
    before = dump(db_url)
    error = invoke("record", str(path), code=1).stderr
    assert "follow_ups[1].owners: no person with slug 'apec-oficer'" in error or (
        "follow_ups[1].owners" in error.split("(also:")[1]), error  # fmt: skip
    assert "follow_ups[1].category" in error and dump(db_url) == before
