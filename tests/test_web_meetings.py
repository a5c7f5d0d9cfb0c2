"""The meeting forms over real HTTP: a lead adds, edits, cancels and announces meetings by meetings.yaml's rules (the
same core as `tracker meeting`); a refused field comes back beside itself with 400 and nothing written; the feed's
ETag follows every change; officers and viewers see no form (the 403s are in test_web_security's MATRIX)."""

from __future__ import annotations

import re
from datetime import date

import httpx
import pytest
import recurring_ical_events
from icalendar import Calendar

from tests.conftest import dump


@pytest.fixture
def server(loaded, make_server):
    return make_server()


@pytest.fixture
def lead(server, desk_session):
    return desk_session(server, "desk-lead", "lead")


def post(client, path: str, **fields: str) -> httpx.Response:
    return client.post(path, data={**fields, "csrf": client.csrf})


def form_fields(page: str) -> dict[str, str]:
    inputs = dict(re.findall(r'<input type="text" id="\w+" name="(\w+)" value="([^"]*)"', page))
    return inputs | dict(re.findall(r'<textarea id="\w+" name="(\w+)"[^>]*>([^<]*)</textarea>', page))


def test_a_lead_adds_edits_and_cancels_a_meeting(server, lead, db_url):
    form = lead.get("/meetings/new")
    assert form.status_code == 200 and 'action="/meetings/new"' in form.text
    sent = form_fields(form.text) | {"title": "SME <b>Innovation</b> Forum", "start": "2027-05-12", "end": "2027-05-13",
                                     "place": "Taipei", "number": "3"}  # fmt: skip
    made = post(lead, "/meetings/new", **sent)
    assert made.status_code == 303 and made.headers["location"] == "/meetings/sme-b-innovation-b-forum"
    page = lead.get(made.headers["location"])
    assert "SME &lt;b&gt;Innovation&lt;/b&gt; Forum" in page.text and "Taipei" in page.text  # escaped, not markup

    edit = lead.get("/meetings/sme-b-innovation-b-forum/edit")
    assert form_fields(edit.text)["place"] == "Taipei" and form_fields(edit.text)["end"] == "2027-05-13"
    moved = post(lead, "/meetings/sme-b-innovation-b-forum/edit", **form_fields(edit.text) | {"start": "2027-06-01",
                                                                                          "end": ""})  # fmt: skip
    assert moved.status_code == 303
    assert "2027-06-02" in form_fields(lead.get("/meetings/sme-b-innovation-b-forum/edit").text)["end"]  # length kept

    assert post(lead, "/meetings/sme-b-innovation-b-forum/cancel").status_code == 303
    assert "This meeting is cancelled." in lead.get("/meetings/sme-b-innovation-b-forum").text
    # A cancel clicked by mistake is undone from the same page.
    page = lead.get("/meetings/sme-b-innovation-b-forum").text
    assert 'action="/meetings/sme-b-innovation-b-forum/restore"' in page
    assert post(lead, "/meetings/sme-b-innovation-b-forum/restore").status_code == 303
    assert "This meeting is cancelled." not in lead.get("/meetings/sme-b-innovation-b-forum").text
    assert post(lead, "/meetings/sme-b-innovation-b-forum/restore").status_code == 400  # not cancelled now


@pytest.mark.parametrize(("path", "field", "value", "said"), [
    ("/meetings/new", "start", "2027-02-30", "2027-02-30: February 2027 has 28 days"),
    ("/meetings/new", "tz", "Mars/Base", "Mars/Base"),
    ("/meetings/new", "number", "many", "valid integer"),
    ("/meetings/new", "slug", "apec-smewg", "a series with slug &#39;apec-smewg&#39; already exists"),
    ("/meetings/apec-smewg-28/edit", "end", "2009-03-01", "the meeting ends before it starts"),
    ("/meetings/apec-smewg/edit", "rrule", "FREQ=SECONDLY", "FREQ must be one of"),
    ("/meetings/apec-smewg/2027-03-01/announce", "start", "", "not a date (2008-09-30)"),
    ("/meetings/new", "rrule", "FREQ=SECONDLY", "FREQ must be one of"),
])  # fmt: skip
def test_a_refused_field_is_shown_beside_it_and_nothing_is_saved(server, lead, db_url, path, field, value, said):
    fields = form_fields(lead.get(path).text) | {"title": "Forum", "start": "2027-05-12"} | {field: value}
    before = dump(db_url)
    answer = post(lead, path, **fields)
    assert answer.status_code == 400, answer.text[:500]
    beside = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', answer.text)
    assert beside and said in beside[1], answer.text
    assert f'name="{field}" value="{value}"' in answer.text or field in ("theme",)  # what was typed stays
    assert dump(db_url) == before


def test_announcing_an_occurrence_from_its_page_and_moving_it(server, lead, desk_session, subscribe):
    token, _ = subscribe("--name", "desk", "--calendar", "meetings")
    first = httpx.get(f"{server.url}/feeds/{token}.ics")
    placeholder = lead.get("/meetings/apec-smewg/2027-03-01")
    assert 'href="/meetings/apec-smewg/2027-03-01/announce"' in placeholder.text
    officer = desk_session(server, "apec-officer", "officer")
    assert "/announce" not in officer.get("/meetings/apec-smewg/2027-03-01").text  # no form for other roles

    form = form_fields(lead.get("/meetings/apec-smewg/2027-03-01/announce").text)
    assert form["title"] == "APEC SME Working Group meeting" and form["start"] == ""
    done = post(lead, "/meetings/apec-smewg/2027-03-01/announce", **form | {"start": "2027-03-09", "end": "2027-03-11",
                                                                          "place": "Lima", "number": "64"})  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/meetings/apec-smewg-2027-03"
    announced = httpx.get(f"{server.url}/feeds/{token}.ics", headers={"If-None-Match": first.headers["etag"]})
    assert announced.status_code == 200  # the feed changed with the announcement

    page = lead.get("/meetings/apec-smewg-2027-03")
    assert "Lima" in page.text and 'href="/meetings/apec-smewg/2027-03-01/announce"' in page.text  # "move" link
    again = form_fields(lead.get("/meetings/apec-smewg/2027-03-01/announce").text)
    assert (again["start"], again["place"]) == ("2027-03-09", "Lima")
    post(lead, "/meetings/apec-smewg/2027-03-01/announce", **again | {"start": "2027-03-16", "end": ""})
    moved = httpx.get(f"{server.url}/feeds/{token}.ics", headers={"If-None-Match": announced.headers["etag"]})
    assert moved.status_code == 200
    cal = Calendar.from_ical(moved.content)
    override = [e for e in cal.walk("VEVENT") if e.get("RECURRENCE-ID") and e["RECURRENCE-ID"].dt == date(2027, 3, 1)]
    before = Calendar.from_ical(announced.content)
    old = [e for e in before.walk("VEVENT") if e.get("RECURRENCE-ID") and e["RECURRENCE-ID"].dt == date(2027, 3, 1)]
    assert len(override) == 1 and override[0]["SEQUENCE"] == old[0]["SEQUENCE"] + 1
    assert [e.start for e in recurring_ical_events.of(cal).between(date(2027, 3, 1), date(2027, 4, 1))
            if str(e["UID"]) == "series-apec-smewg@tracker"] == [date(2027, 3, 16)]  # fmt: skip
    # The occurrence's own address (links and bookmarks made before) leads to the meeting now held for it.
    kept = lead.get("/meetings/apec-smewg/2027-03-01", follow_redirects=False)
    assert (kept.status_code, kept.headers["location"]) == (303, "/meetings/apec-smewg-2027-03")


def test_cancelling_an_occurrence_and_a_series(server, lead):
    assert post(lead, "/meetings/apec-smewg/2027-09-01/cancel").headers["location"] == "/meetings/apec-smewg-2027-09"
    assert "This meeting is cancelled." in lead.get("/meetings/apec-smewg-2027-09").text
    assert post(lead, "/meetings/apec-smewg/2027-10-01/cancel").status_code == 404  # no occurrence on that day
    ended = post(lead, "/meetings/apec-sme-ministerial/cancel")
    assert ended.headers["location"] == "/meetings/apec-sme-ministerial"
    assert "cancelled" in lead.get("/meetings/apec-sme-ministerial").text


def attending(page: str) -> list[str]:
    """The people ticked as attending on a meeting form."""
    return re.findall(r'<input type="checkbox" name="attendees" value="([^"]+)" checked>', page)


def test_a_lead_makes_a_series_and_chooses_who_attends(server, lead, invoke_json):
    form = lead.get("/meetings/new").text
    assert attending(form) == [] and 'name="attendees" value="apec-officer"' in form
    sent = form_fields(form) | {"title": "SME finance dialogue", "start": "2027-06", "rrule": "FREQ=YEARLY"}
    made = lead.post("/meetings/new", data={**sent, "attendees": ["apec-officer", "forum-officer"], "csrf": lead.csrf})
    assert made.status_code == 303 and made.headers["location"] == "/meetings/sme-finance-dialogue"
    listed = invoke_json("--now", "2026-11-24", "meetings", "--from", "2027-01-01", "--to", "2029-01-01")
    yearly = [(m["date"], m["attendees"]) for m in listed if m["series"] == "sme-finance-dialogue"]
    assert yearly == [("2027-06", ["apec-officer", "forum-officer"]), ("2028-06", ["apec-officer", "forum-officer"])]
    # Its edit form shows who attends; unticking one takes them off.
    edit = lead.get("/meetings/sme-finance-dialogue/edit").text
    assert attending(edit) == ["apec-officer", "forum-officer"]
    kept = form_fields(edit) | {"attendees": ["forum-officer"], "csrf": lead.csrf}
    assert lead.post("/meetings/sme-finance-dialogue/edit", data=kept).status_code == 303
    assert attending(lead.get("/meetings/sme-finance-dialogue/edit").text) == ["forum-officer"]
    # A place belongs to an occurrence's announcement, not to a series: said beside it, nothing saved.
    refused = lead.post("/meetings/new", data={**sent, "slug": "other", "place": "Lima", "csrf": lead.csrf})
    assert refused.status_code == 400 and 'id="place-error">not for a series' in refused.text
    unknown = lead.post("/meetings/new", data={**sent, "slug": "other", "attendees": "nobody", "csrf": lead.csrf})
    assert unknown.status_code == 400 and 'id="attendees-error">' in unknown.text
