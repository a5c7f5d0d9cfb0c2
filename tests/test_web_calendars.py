"""My calendars over real HTTP: an officer makes, rotates and revokes their own feed subscriptions (the feed answers,
then stops), sees the secret address once and never in a desk URL; another person's subscriptions are refused
(403), a viewer's every subscription route too; a lead manages anyone's."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import dump

FEED = re.compile(r"http://127\.0\.0\.1:\d+/feeds/([A-Za-z0-9_-]{43})\.ics")


@pytest.fixture
def server(loaded, make_server):
    return make_server()


def _post(client, path: str, fields: dict | None = None) -> httpx.Response:
    return client.post(path, data={**(fields or {}), "csrf": client.csrf})


def _token(answer: httpx.Response) -> str:
    tokens = set(FEED.findall(answer.text))
    assert len(tokens) == 1, answer.text
    return tokens.pop()


def _feed(server, token: str) -> int:
    return httpx.get(f"{server.url}/feeds/{token}.ics").status_code


def _id(invoke_json, name: str) -> int:
    return next(s["id"] for s in invoke_json("subscribe", "list") if s["name"] == name)


def test_an_officer_makes_rotates_and_revokes_their_own_subscription(server, desk_session, invoke_json):
    officer = desk_session(server, "apec-officer", "officer")
    made = _post(officer, "/calendars", {"name": "Phone"})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    token = _token(made)
    assert f"webcal://127.0.0.1:{server.port}/feeds/{token}.ics" in made.text  # the subscribe buttons
    feed = httpx.get(f"{server.url}/feeds/{token}.ics")
    assert feed.status_code == 200 and "Volunteer for the KPI drafting committees" in feed.text
    record = next(s for s in invoke_json("subscribe", "list") if s["name"] == "Phone")
    assert record["person"] == "apec-officer" and record["calendar"] == "people/apec-officer" and record["alarms"]
    listing = officer.get("/calendars")
    assert "Phone" in listing.text and token not in listing.text  # shown once only

    rotated = _post(officer, f"/calendars/{record['id']}/rotate")
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    new_token = _token(rotated)
    assert new_token != token and _feed(server, token) == 404 and _feed(server, new_token) == 200

    revoked = _post(officer, f"/calendars/{record['id']}/revoke")
    assert revoked.status_code == 303 and revoked.headers["location"] == "/calendars"
    assert _feed(server, new_token) == 404
    assert _id(invoke_json, "Phone") == record["id"]
    assert "revoked" in officer.get("/calendars").text


def test_an_officer_cannot_touch_another_persons_subscriptions(server, desk_session, subscribe, invoke_json, db_url):
    token, theirs = subscribe("--name", "Forum phone", "--person", "forum-officer")
    shared, wall = subscribe("--name", "Wall screen", "--calendar", "meetings")
    officer = desk_session(server, "apec-officer", "officer")
    before = dump(db_url)
    page = officer.get("/calendars").text
    assert "Forum phone" not in page and "Wall screen" not in page and 'name="person"' not in page
    for sub in (theirs, wall):
        for action in ("rotate", "revoke"):
            assert _post(officer, f"/calendars/{sub['id']}/{action}").status_code == 403, (sub["name"], action)
    for person in ("forum-officer", "-"):
        assert _post(officer, "/calendars", {"name": "Sneaky", "person": person}).status_code == 403
    assert _post(officer, "/calendars/99999/rotate").status_code == 404
    assert dump(db_url) == before
    assert _feed(server, token) == 200 and _feed(server, shared) == 200


def test_a_viewer_gets_403_on_every_subscription_route_and_posts_need_the_csrf_token(server, desk_session,
                                                                                    subscribe, db_url):  # fmt: skip
    _, own = subscribe("--name", "Viewer phone", "--person", "forum-officer")
    viewer = desk_session(server, "forum-officer", "viewer")
    officer = desk_session(server, "apec-officer", "officer")
    before = dump(db_url)
    page = viewer.get("/calendars")  # the page is theirs for app passwords (tests/test_app_passwords.py) only
    assert page.status_code == 200 and 'id="task-apps"' in page.text
    assert "Viewer phone" not in page.text and 'action="/calendars"' not in page.text and "/rotate" not in page.text
    for path in ("/calendars", f"/calendars/{own['id']}/rotate", f"/calendars/{own['id']}/revoke"):
        assert _post(viewer, path, {"name": "x"}).status_code == 403, path
        assert officer.post(path, data={"name": "x"}).status_code == 403, path  # no csrf field
    with httpx.Client(base_url=server.url) as stranger:
        assert stranger.get("/calendars").status_code in (303, 401)
    assert dump(db_url) == before


def test_a_lead_manages_anyones_subscriptions(server, desk_session, subscribe, invoke_json):
    token, theirs = subscribe("--name", "Forum phone", "--person", "forum-officer")
    lead = desk_session(server, "desk-lead", "lead")
    assert "Forum phone" in lead.get("/calendars").text
    assert "Forum phone" not in lead.get("/calendars", params={"person": "apec-officer"}).text
    assert "Forum phone" in lead.get("/calendars", params={"person": "forum-officer"}).text
    made = _post(lead, "/calendars", {"name": "Wall", "person": "-", "calendar": "meetings"})
    assert made.status_code == 200 and _feed(server, _token(made)) == 200
    wall = next(s for s in invoke_json("subscribe", "list") if s["name"] == "Wall")
    assert wall["person"] is None and wall["calendar"] == "meetings"
    assert "Wall" in lead.get("/calendars", params={"person": "-"}).text
    assert _post(lead, f"/calendars/{theirs['id']}/revoke").status_code == 303 and _feed(server, token) == 404


def test_refused_fields_use_the_cli_words_and_change_nothing(server, desk_session, db_url, invoke):
    lead = desk_session(server, "desk-lead", "lead")
    before = dump(db_url)
    cli_words = invoke("subscribe", "add", "--name", "x", "--calendar", "people/nobody", code=1).stderr
    answer = _post(lead, "/calendars", {"name": "x", "calendar": "people/nobody"})
    assert answer.status_code == 400
    shown = re.search(r'id="calendar-error">([^<]*)<', answer.text).group(1).replace("&#39;", "'")
    assert cli_words.strip() == f"Error: --calendar: {shown}"
    blank = _post(lead, "/calendars", {"name": " "})
    assert blank.status_code == 400 and 'id="name-error">must not be empty<' in blank.text
    unknown = _post(lead, "/calendars", {"name": "x", "person": "apec-oficer"})
    assert unknown.status_code == 400 and "did you mean &#39;apec-officer&#39;" in unknown.text
    assert dump(db_url) == before
