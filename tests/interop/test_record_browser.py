"""Came home from a meeting, in headless Chromium (Debian's, through Playwright) over a live server: a lead records
a new meeting with three follow-ups in one form, adding rows with the form's own button (no JavaScript needed); a
problem in the third follow-up saves nothing and is shown beside its field in that row; once fixed, the meeting and
its three items exist, and a subscription's feed (calendar.ics, its ETag changed) shows all four. The form fits
390 px; screenshots go to test-artifacts/desk-record-*.png."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from icalendar import Calendar

from tests.conftest import dump
from tests.interop.test_desk_browser import DESKTOP, press, shots
from tests.interop.test_subscribers import ARTIFACTS, CHROMIUM, FLAGS
from tracker.web import auth

pytestmark = [pytest.mark.interop, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

MEETING = {"#meeting_title": "Textile show debrief", "#meeting_start": "2008-10-17", "#meeting_tz": "Asia/Taipei",
           "#meeting_place": "Taipei World Trade Center",
           "#outcome": "Minister Rey's delegation wants a return visit in 2009."}  # fmt: skip
FOLLOW_UPS = [
    {"title": "Draft the return-visit programme", "owner": "apec-officer", "due": "2008-11-14",
     "category": "market-access", "source": "wants a return visit in 2009"},
    {"title": "Send thanks to the organisers", "owner": "forum-officer", "due": "2008-10-24"},
    {"title": "Book the delegation's hotel", "owner": "apec-officer", "due": "2008-12-01"},
]  # fmt: skip


def fill_row(page, n: int, row: dict[str, str], title: bool = True) -> None:  # noqa: ANN001 - a Playwright Page
    if title:
        page.fill(f"#f{n}_title", row["title"])
    page.check(f"#follow-up-{n} input[name=f{n}_owners][value={row['owner']}]")
    page.fill(f"#f{n}_due", row["due"])
    if "category" in row:
        page.select_option(f"#f{n}_category", row["category"])
    if "source" in row:
        page.fill(f"#f{n}_source", row["source"])


def feed(url: str, etag: str | None = None) -> httpx.Response:
    answer = httpx.get(url, headers={"If-None-Match": etag} if etag else {})
    assert answer.status_code == 200, answer.status_code
    return answer


def test_a_lead_records_a_meeting_and_three_follow_ups_in_chromium(loaded, make_server, desk_session, subscribe,
                                                                   invoke_json, db_url):  # fmt: skip
    from playwright.sync_api import sync_playwright

    token, _ = subscribe("--name", "Desk wall screen", "--calendar", "all")
    server = make_server()
    url = f"{server.url}/s/{token}/calendar.ics"
    etag = feed(url).headers["etag"]
    lead = desk_session(server, "desk-lead", "lead")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)  # the form needs none
            context.add_cookies([{"name": auth.COOKIE, "value": lead.cookies[auth.COOKIE], "url": server.url}])
            page = context.new_page()
            page.goto(f"{server.url}/meetings")
            page.click("#record-link")
            page.wait_for_url(f"{server.url}/meetings/record")

            # The new meeting, its outcome, and three follow-ups: rows added with the form's own button.
            for selector, value in MEETING.items():
                page.fill(selector, value)
            fill_row(page, 1, FOLLOW_UPS[0])
            for n in (2, 3):
                assert press(page, "#add-row") == 200
                assert page.locator("fieldset.follow-up").count() == n
                assert page.input_value("#f1_title") == FOLLOW_UPS[0]["title"]  # what was typed stays
                assert page.input_value("#meeting_title") == MEETING["#meeting_title"]
                fill_row(page, n, FOLLOW_UPS[n - 1])
            page.fill("#f3_title", "")  # the third follow-up lacks its title
            shots(page, "record")

            # Saving is refused, and nothing is kept: the problem shows beside the third row's title.
            before = dump(db_url)
            assert press(page, "#save") == 400
            assert dump(db_url) == before
            assert page.locator("#problems").count() == 1
            beside = page.locator("#follow-up-3 #f3_title-error")
            assert beside.inner_text() == "required field is missing"
            assert page.get_attribute("#f3_title", "aria-invalid") == "true"
            assert page.locator("p.error[id$='-error']").count() == 1  # no other field is blamed
            assert page.input_value("#f2_title") == FOLLOW_UPS[1]["title"]
            shots(page, "record-refused")

            # Fixed, saved: the browser lands on the meeting's page, which shows the outcome and the three items.
            page.fill("#f3_title", FOLLOW_UPS[2]["title"])
            assert press(page, "#save") == 303
            page.wait_for_url(f"{server.url}/meetings/textile-show-debrief")
            assert MEETING["#outcome"] in page.locator("#outcome").inner_text()
            came_from = page.locator("#came-from").inner_text()
            assert all(row["title"] in came_from for row in FOLLOW_UPS)
            shots(page, "record-saved")
        finally:
            browser.close()

    # All four records exist ...
    items = {i["title"]: i for i in invoke_json("items", "--meeting", "textile-show-debrief")}
    assert items.keys() == {row["title"] for row in FOLLOW_UPS}
    assert [items[row["title"]]["owners"] for row in FOLLOW_UPS] == [[row["owner"]] for row in FOLLOW_UPS]
    # ... and the feed shows them: its ETag changed, the meeting as a VEVENT, the follow-ups as VTODOs.
    changed = feed(url, etag)
    assert changed.headers["etag"] != etag
    calendar = Calendar.from_ical(changed.content)
    events = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert str(events["meeting-textile-show-debrief@tracker"]["SUMMARY"]) == MEETING["#meeting_title"]
    todos = {str(t["SUMMARY"]) for t in calendar.walk("VTODO")}
    assert {row["title"] for row in FOLLOW_UPS} <= todos
