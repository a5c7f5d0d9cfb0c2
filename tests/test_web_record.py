"""The came-home form (/meetings/record) over real HTTP (uvicorn on 127.0.0.1): one form records a meeting, its
outcome and its follow-ups; "Add another follow-up" shows one more row keeping what was typed, and saves nothing; a
problem in any row saves nothing and is shown beside its field in that row (400); who may use it; and a property
test of the form with generated and mutated fields (hypothesis)."""

from __future__ import annotations

import re

import httpx
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests import test_web_properties
from tests.conftest import dump
from tests.test_web_properties import (
    DIGITS,
    EXAMPLES,
    FUZZ,
    dates,
    listable_and_exportable,
    mostly,
    people,
    refused_cleanly,
    texts,
    zones,
)
from tests.test_web_security import FormFields

desk = test_web_properties.desk  # the fixture: a live server over the shipped data, the lead signed in to it


def form(client: httpx.Client, page: httpx.Response | None = None) -> dict[str, str | list[str]]:
    """The fields of the came-home form as the browser would send them (from `page`, else a fresh one)."""
    page = page or client.get("/meetings/record")
    assert page.status_code in (200, 400), page.text
    parser = FormFields("/meetings/record")
    parser.feed(page.text)
    assert parser.found
    return parser.fields


def follow_up(n: int, title: str, owners: list[str], due: str, **more: str) -> dict[str, str | list[str]]:
    return {f"f{n}_title": title, f"f{n}_owners": owners, f"f{n}_due": due, **{f"f{n}_{k}": v for k, v in more.items()}}


NEW_MEETING = {"meeting": "", "meeting_title": "Trade-show follow-up meeting", "meeting_start": "2008-10-16",
               "meeting_tz": "Asia/Taipei", "meeting_place": "Taipei World Trade Center",
               "outcome": "Three economies want a booth in 2009."}  # fmt: skip
ROWS = [
    follow_up(
        1,
        "Reserve three booths",
        ["apec-officer"],
        "2008-11-01",
        category="market-access",
        source="three economies asked for booths",
    ),  # fmt: skip
    follow_up(2, "Send the exhibitor pack", ["forum-officer"], "2008-10-31", priority="high"),
    follow_up(3, "Thank the organisers", ["apec-officer"], "2008-10-20", committee="kpi-innovation"),
]


def grow(client: httpx.Client, fields: dict, rows: int) -> dict:
    """Press "Add another follow-up" until the form has `rows` rows; each answer keeps everything typed."""
    for _ in range(rows - int(fields["rows"])):
        answer = client.post("/meetings/record", data=fields | {"action": "add_row"})
        assert answer.status_code == 200, answer.text
        kept = form(client, answer)
        assert int(kept["rows"]) == int(fields["rows"]) + 1
        assert {k: kept[k] for k in fields if k != "rows"} == {k: v for k, v in fields.items() if k != "rows"}
        fields = kept
    return fields


def test_a_lead_records_a_new_meeting_with_three_follow_ups(desk, db_url, invoke_json):
    server, lead = desk
    fields = form(lead) | NEW_MEETING | ROWS[0]
    assert fields["rows"] == "1"
    before = dump(db_url)
    fields = grow(lead, grow(lead, fields, 2) | ROWS[1], 3) | ROWS[2]
    assert fields["rows"] == "3" and dump(db_url) == before  # adding rows saves nothing
    answer = lead.post("/meetings/record", data=fields | {"action": "save"})
    assert answer.status_code == 303, answer.text
    slug = "trade-show-follow-up-meeting"
    assert answer.headers["location"] == f"/meetings/{slug}"
    page = lead.get(answer.headers["location"])
    assert "Three economies want a booth in 2009." in page.text and "Taipei World Trade Center" in page.text
    came_from = page.text.split('id="came-from"')[1].split("</section>")[0]
    for title in ("Reserve three booths", "Send the exhibitor pack", "Thank the organisers"):
        assert title in came_from
    listed = {i["title"]: i for i in invoke_json("items", "--meeting", slug)}
    assert listed["Reserve three booths"]["category"] == "market-access"
    assert listed["Send the exhibitor pack"]["priority"] == "high"
    assert listed["Thank the organisers"]["committee"] == "kpi-innovation"
    history = invoke_json("show", listed["Reserve three booths"]["slug"])["history"]
    assert [(h["by"], h["how"]) for h in history] == [("desk-lead", "web")]


def test_a_problem_in_the_third_row_saves_nothing_and_is_shown_in_that_row(desk, db_url, invoke_json):
    server, lead = desk
    fields = grow(lead, form(lead) | NEW_MEETING, 3) | ROWS[0] | ROWS[1] | ROWS[2]
    before = dump(db_url)
    wrong = fields | {"f3_title": "", "f2_owners": ["forum-officer", "nobody"], "action": "save"}
    answer = lead.post("/meetings/record", data=wrong)
    assert answer.status_code == 400
    assert dump(db_url) == before
    errors = dict(re.findall(r'<p class="error" id="([^"]*)-error">([^<]*)</p>', answer.text))
    assert errors == {"f2_owners": "no person with slug &#39;nobody&#39;",
                      "f3_title": "required field is missing"}  # fmt: skip
    assert 'id="f3_title" name="f3_title" value="" aria-invalid="true" aria-describedby="f3_title-error"' in answer.text
    kept = form(lead, answer)  # everything else as typed
    assert kept["f1_title"] == "Reserve three booths" and kept["meeting_title"] == NEW_MEETING["meeting_title"]
    fixed = lead.post("/meetings/record", data=wrong | ROWS[1] | ROWS[2])
    assert fixed.status_code == 303
    assert len(invoke_json("items", "--meeting", "trade-show-follow-up-meeting")) == 3


def test_an_existing_meeting_and_an_occurrence_of_a_series(desk, invoke_json):
    server, lead = desk
    page = lead.get("/meetings/apec-smewg-27")
    assert 'href="/meetings/record?meeting=apec-smewg-27"' in page.text
    fields = form(lead, lead.get("/meetings/record?meeting=apec-smewg-27"))
    assert fields["meeting"] == "apec-smewg-27"  # the meeting page's link picks it
    answer = lead.post("/meetings/record", data=fields | {"outcome": "Drafting committees formed.", "action": "save"}
                       | follow_up(1, "Name the KPI volunteers", ["apec-officer"], "2008-09-10"))  # fmt: skip
    assert (answer.status_code, answer.headers["location"]) == (303, "/meetings/apec-smewg-27")
    assert "Drafting committees formed." in lead.get("/meetings/apec-smewg-27").text
    # An occurrence of a series that no meeting overrides yet: its override is made, and the page is its own.
    occurrence = lead.get("/meetings/apec-smewg/2009-09-01")
    assert 'href="/meetings/record?meeting=apec-smewg/2009-09"' in occurrence.text
    fields = form(lead, lead.get("/meetings/record?meeting=apec-smewg/2009-09"))
    assert fields["meeting"] == "apec-smewg/2009-09"
    answer = lead.post("/meetings/record", data=fields | {"action": "save"}
                       | follow_up(1, "Report back on the KPI set", ["apec-officer"], "2009-10-15"))  # fmt: skip
    assert (answer.status_code, answer.headers["location"]) == (303, "/meetings/apec-smewg-2009-09")
    assert [i["meeting"] for i in invoke_json("items", "--q", "Report back on the KPI set")] == ["apec-smewg-2009-09"]


def test_who_may_record(desk, desk_session, db_url):
    server, lead = desk
    fields = form(lead) | {"meeting": "apec-smewg-27"} | follow_up(1, "By role", ["apec-officer"], "2008-09-30")
    viewer = desk_session(server, "forum-officer", "viewer")
    before = dump(db_url)
    assert viewer.get("/meetings/record").status_code == 403
    assert viewer.post("/meetings/record", data=fields | {"csrf": viewer.csrf}).status_code == 403
    assert viewer.post("/meetings/record", data=fields | {"csrf": viewer.csrf, "action": "add_row"}).status_code == 403
    assert 'id="record-link"' not in viewer.get("/meetings").text
    assert 'id="record-link"' not in viewer.get("/meetings/apec-smewg-27").text
    assert dump(db_url) == before
    # An officer records follow-ups of a meeting that exists; adding a meeting, or its outcome, is a lead's.
    officer = desk_session(server, "apec-officer", "officer")
    before = dump(db_url)
    assert 'id="record-link"' in officer.get("/meetings").text
    own = officer.get("/meetings/record").text
    assert 'id="meeting_title"' not in own and 'id="outcome"' not in own and "apec-smewg/2009-09" not in own
    assert 'id="record-link"' not in officer.get("/meetings/apec-smewg/2009-09-01").text
    for refused in ({"outcome": "An officer's outcome"}, NEW_MEETING, {"meeting": "apec-smewg/2009-09"}):
        assert officer.post("/meetings/record", data=fields | {"csrf": officer.csrf} | refused).status_code == 403
    assert dump(db_url) == before
    assert officer.post("/meetings/record", data=fields | {"csrf": officer.csrf}).status_code == 303
    with httpx.Client(base_url=server.url) as nobody:
        assert nobody.get("/meetings/record", headers={"Accept": "text/html"}).status_code in (303, 401)


# --- the form, generated and mutated (hypothesis) ----------------------------------------------------------------

MEETING_PICKS = ["", "apec-smewg-27", "apec-smewg/2009-09", "apec-smewg/2009-10", "apec-smewg", "no-such-meeting"]
CATEGORY = ["", "market-access", "innovation", "kpi"]
RECORD_FIELDS = {
    "meeting": mostly(st.sampled_from(MEETING_PICKS), texts), "meeting_title": mostly(st.just("Fuzzed meeting"), texts),
    "meeting_start": dates, "meeting_end": mostly(st.just(""), dates), "meeting_tz": zones, "rows": st.sampled_from(
    ["1", "2", "3", *DIGITS]), "outcome": texts,
    **{f"f{n}_{name}": strategy for n in (1, 2, 3) for name, strategy in {
        "title": mostly(st.just(f"Fuzzed follow-up {n}"), texts), "due": dates, "owners": people,
        "priority": mostly(st.sampled_from(["high", "medium", "low"]), texts),
        "category": mostly(st.sampled_from(CATEGORY), texts), "source": texts,
        "serves": mostly(st.sampled_from(["", "apec-smewg", "apec-smewg-28"]), texts)}.items()},
}  # fmt: skip


@settings(FUZZ, max_examples=max(1, EXAMPLES // 4))  # each saved example exports the calendars: about 1 s
@given(data=st.data())
def test_the_form_with_generated_fields(desk, db_url, env, data):
    """Whatever is sent: 200 (a row added), 303 (saved, and then listable, exportable, its page shown) or a 400
    naming fields the form has, with the database as it was; never a 500."""
    server, lead = desk
    names = data.draw(st.lists(st.sampled_from(sorted(RECORD_FIELDS)), min_size=1, max_size=8, unique=True))
    fields = {"csrf": lead.csrf, "meeting": "apec-smewg-27", "rows": "3"}
    fields |= {name: data.draw(RECORD_FIELDS[name]) for name in names}
    fields["action"] = data.draw(st.sampled_from(["save", "save", "add_row", ""]))
    before = dump(db_url)
    answer = lead.post("/meetings/record", data=fields)
    event(f"{answer.status_code}")
    assert answer.status_code in (200, 303, 400), (answer.status_code, answer.text[:2000])
    if answer.status_code == 303:
        assert lead.get(answer.headers["location"]).status_code == 200
        listable_and_exportable(env)
        return
    assert dump(db_url) == before
    if answer.status_code == 400:
        refused_cleanly(answer, set(re.findall(r'name="([^"]+)"', answer.text)))
