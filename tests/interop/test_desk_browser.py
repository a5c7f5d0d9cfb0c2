"""The desk end to end in headless Chromium (Debian's, through Playwright), over a live server and a real SMTP
server (aiosmtpd): a lead signs in with a password and adds an officer and a viewer on the People page; the officer
signs in through an e-mailed link, makes a feed subscription and marks an item done, and the feed (an ETag poll,
then vdirsyncer and todoman) shows it completed; the viewer sees no controls and a forged POST is refused; a save
against a stale version is refused with both versions shown. Every page of the scenario fits 390 px; screenshots
at 390 px and 1280 px go to test-artifacts/desk-*.png."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar

from tests.conftest import dump
from tests.icsutil import todoman
from tests.interop.test_subscribers import ARTIFACTS, CHROMIUM, FLAGS, sync_config, vdirsyncer
from tests.test_web_security import email_channel, link_in, received
from tracker.web import auth

pytestmark = [pytest.mark.interop, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}
LEAD_PASSWORD, VIEWER_PASSWORD = "lanterns over the harbour", "tea on the terrace at four"
OFFICER = {"slug": "trade-officer", "name": "Trade officer 貿易", "email": "trade@example.org", "access": "officer"}
VIEWER = {"slug": "desk-reader", "name": "Desk reader", "email": "reader@example.org", "access": "viewer"}
ITEM, OTHER, CONTESTED = "kpi-committee-volunteer", "forum-host-2009", "forum-case-study-book"
TITLE = "Volunteer for the KPI drafting committees"


# The comparison's field names (its row headers) that the browser laid out on more than one line.
WRAPPED_ROW_NAMES = """() => [...document.querySelectorAll("#compare th[scope=row]")].filter((th) => {
  const range = document.createRange();
  range.selectNodeContents(th);
  return range.getClientRects().length > 1;
}).map((th) => th.textContent)"""


def shots(page: Any, name: str) -> None:
    """The page at a phone's width, where it must not scroll sideways, and at a desktop's: saved as
    desk-NAME-390px.png and desk-NAME-1280px.png. The page is left at the desktop width."""
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.scrollingElement.scrollWidth")
    page.screenshot(path=str(ARTIFACTS / f"desk-{name}-390px.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(ARTIFACTS / f"desk-{name}-1280px.png"), full_page=True)
    assert width <= 390, f"{name} scrolls sideways at 390 px ({width} px wide)"


def press(page: Any, selector: str) -> int:
    """Click a form's submit button; the status of the POST it sends (the browser then follows any redirect)."""
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click(selector)
    page.wait_for_load_state()
    return posted.value.status


def sign_in_with_password(page: Any, url: str, login: str, password: str) -> None:
    page.fill("#login", login)
    page.fill("#password", password)
    assert press(page, "form:has(#password) button[type=submit]") == 303
    page.wait_for_url(url)


def who(page: Any) -> str:
    """The name in the desk's header: who this browser is signed in as."""
    return page.locator(".desk-header .who").inner_text()


def add_person(page: Any, server: Any, person: dict[str, str]) -> None:
    """Through the People page's "Add a person" form, as a lead does."""
    page.click("a[href='/people/new']")
    page.wait_for_url(f"{server.url}/people/new")
    for field in ("slug", "name", "email"):
        page.fill(f"#{field}", person[field])
    page.select_option("#access", person["access"])
    assert press(page, "main form button[type=submit]") == 303
    page.wait_for_url(f"{server.url}/people")
    row = page.locator(f"#person-{person['slug']}").inner_text()
    assert person["name"] in row and person["email"] in row and person["access"] in row and "active" in row


def form_fields(page: Any, action: str) -> dict[str, list[str]]:
    """What the page's form posting to `action` would send, as the browser builds it (FormData)."""
    pairs = page.evaluate("(a) => [...new FormData(document.querySelector(`form[action='${a}']`))]", action)
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


def feed_todo(body: bytes, title: str) -> str:
    """The STATUS of the feed's VTODO titled `title`."""
    todos = [c for c in Calendar.from_ical(body).walk("VTODO") if str(c["SUMMARY"]) == title]
    assert len(todos) == 1, f"{len(todos)} VTODOs titled {title!r}"
    return str(todos[0]["STATUS"])


def test_the_desk_end_to_end_in_chromium(loaded, invoke, invoke_json, make_server, smtpd, db_url, tmp_path):
    from playwright.sync_api import sync_playwright

    invoke("user", "role", "desk-lead", "lead")
    invoke("user", "set-password", "desk-lead", "--password-stdin", input=LEAD_PASSWORD + "\n")
    server = make_server(channels=email_channel(smtpd.port))
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            new_page = lambda: browser.new_context(viewport=DESKTOP).new_page()  # noqa: E731 - one browser each
            lead = new_page()

            # 1. The lead opens People, signs in with the password on the way, and adds an officer and a viewer.
            lead.goto(f"{server.url}/people")
            assert lead.url == f"{server.url}/sign-in?next=%2Fpeople"
            shots(lead, "sign-in")
            sign_in_with_password(lead, f"{server.url}/people", "desk-lead", LEAD_PASSWORD)
            add_person(lead, server, OFFICER)
            add_person(lead, server, VIEWER)
            shots(lead, "people")
            # ... and makes the item the officer's, on its edit page.
            lead.goto(f"{server.url}/items/{ITEM}/edit")
            lead.check(f"input[name=owners][value={OFFICER['slug']}]")
            lead.fill("#note", "yours from now on")
            assert press(lead, "main form[action$='/edit'] button[type=submit]") == 303
            assert OFFICER["name"] in lead.locator("#owners").inner_text()

            # 2. The officer opens the sign-in page, asks for a link by e-mail, and lands signed in on My desk.
            officer = new_page()
            officer.goto(f"{server.url}/sign-in")
            officer.fill("#link-login", OFFICER["email"])
            assert press(officer, "form:has(#link-login) button[type=submit]") == 200
            assert "a sign-in link is on its way" in officer.locator("#notice").inner_text()
            message = received(smtpd, 1)[0]
            assert smtpd.recipients == [[OFFICER["email"]]]
            officer.goto(server.url + link_in(message))
            assert who_is_nobody(officer)  # opening the link alone signs no one in (mail scanners open links)
            assert press(officer, "main form button[type=submit]") == 303
            officer.wait_for_url(f"{server.url}/desk")
            assert who(officer) == OFFICER["name"] and TITLE in officer.locator("main").inner_text()
            shots(officer, "my-desk")
            officer.click(".desk-header a[href='/calendars']")
            officer.wait_for_url(f"{server.url}/calendars")

            # 3. A feed of their own, polled with its ETag and synced by vdirsyncer before the change ...
            officer.fill("#name", "My phone")
            assert press(officer, "main form button[type=submit]") == 200
            feed = officer.input_value("#feed-url")
            before = httpx.get(feed)
            assert before.status_code == 200 and feed_todo(before.content, TITLE) == "NEEDS-ACTION"
            etag = before.headers["etag"]
            assert httpx.get(feed, headers={"If-None-Match": etag}).status_code == 304  # nothing new yet
            conf, vdir = sync_config(tmp_path, feed)
            vdirsyncer(conf, "discover")
            vdirsyncer(conf, "sync")
            assert re.search(rf"\[ \] \d+ .*{TITLE}", todoman(tmp_path, vdir.parent, "list"))
            # ... then the officer marks the item done with a note.
            officer.goto(f"{server.url}/items/{ITEM}")
            assert officer.locator("#actions").count() == 1 and not no_controls(officer)
            shots(officer, "item-officer")
            officer.fill("#status_note", "volunteered in writing")
            assert press(officer, "#actions button[formaction$='/done']") == 303
            assert officer.url.startswith(f"{server.url}/items/")
            assert "volunteered in writing" in officer.locator("#history").inner_text()
            after = httpx.get(feed, headers={"If-None-Match": etag})
            assert after.status_code == 200 and after.headers["etag"] != etag
            assert feed_todo(after.content, TITLE) == "COMPLETED"
            vdirsyncer(conf, "sync")
            assert re.search(rf"\[X\] \d+ .*{TITLE}", todoman(tmp_path, vdir.parent, "list", "--status", "ANY"))
            assert TITLE not in todoman(tmp_path, vdir.parent, "list")

            # 4. The viewer (password set by the CLI) reads the item and another one, and finds no controls.
            invoke("user", "set-password", VIEWER["slug"], "--password-stdin", input=VIEWER_PASSWORD + "\n")
            viewer = new_page()
            viewer.goto(f"{server.url}/items/{ITEM}")
            sign_in_with_password(viewer, f"{server.url}/items/{ITEM}", VIEWER["email"], VIEWER_PASSWORD)
            assert who(viewer) == VIEWER["name"]
            assert OFFICER["name"] in viewer.locator("#completed").inner_text()  # by name, as in the history
            # No feeds of their own, but My calendars holds their app passwords for task apps: one, shown once.
            viewer.click(".desk-header a[href='/calendars']")
            assert viewer.locator("#name").count() == 0 and viewer.locator("#task-apps").count() == 1
            viewer.fill("#label", "Viewer's phone")
            assert press(viewer, "#task-apps form button[type=submit]") == 200
            app_password = viewer.locator("#app-password").inner_text()
            assert re.fullmatch(r"[a-z2-9]{4}(?:-[a-z2-9]{4}){4}", app_password)
            shots(viewer, "app-password")
            viewer.goto(f"{server.url}/calendars")
            assert app_password not in viewer.content()
            assert "Viewer's phone" in viewer.locator("#task-apps").inner_text()
            shots(viewer, "calendars-viewer")
            assert opens_every_page_offered(viewer, server), "the header offers the viewer a page they may not open"
            for ref in (ITEM, OTHER):
                viewer.goto(f"{server.url}/items/{ref}")
                assert viewer.locator("#title").count() == 1
                assert no_controls(viewer), f"the viewer is offered a change on {ref}"
            viewer.goto(f"{server.url}/items/{ITEM}")
            shots(viewer, "item-viewer")
            # A forged POST: the lead's own forms, sent with the viewer's session and CSRF token, is refused.
            lead.goto(f"{server.url}/items/{OTHER}/edit")
            edit = form_fields(lead, f"/items/{lead_item_id(lead)}/edit") | {"title": ["Forged title"]}
            lead.goto(f"{server.url}/items/{OTHER}")
            done = form_fields(lead, f"/items/{lead_item_id(lead)}/done")
            token = viewer.input_value(".desk-header input[name=csrf]")
            cookie = next(c["value"] for c in viewer.context.cookies(server.url) if c["name"] == auth.COOKIE)
            unchanged = dump(db_url)
            with httpx.Client(base_url=server.url, cookies={auth.COOKIE: cookie},
                              headers={"Origin": server.url}) as forger:  # fmt: skip
                for path, fields in ((f"/items/{OTHER}/edit", edit), (f"/items/{OTHER}/done", done)):
                    forged = forger.post(path, data=fields | {"csrf": [token]})
                    assert forged.status_code == 403, (path, forged.status_code)
                assert dump(db_url) == unchanged
                # Refused for the role, not the token: the same session and token sign the viewer out.
                assert forger.post("/sign-out", data={"csrf": token}).status_code == 303

            # 5. The lead in two browsers opens the same edit page; the first saves, the second is refused.
            second = new_page()
            second.goto(f"{server.url}/items/{CONTESTED}/edit")
            sign_in_with_password(second, f"{server.url}/items/{CONTESTED}/edit", "desk-lead", LEAD_PASSWORD)
            lead.goto(f"{server.url}/items/{CONTESTED}/edit")
            lead.fill("#title", "Case study book, first")
            second.fill("#title", "Case study book, second")
            assert press(lead, "main form[action$='/edit'] button[type=submit]") == 303
            assert press(second, "main form[action$='/edit'] button[type=submit]") == 409
            compared = second.locator("#compare").inner_text()
            assert "Case study book, first" in compared and "Case study book, second" in compared
            second.set_viewport_size(PHONE)
            assert second.evaluate(WRAPPED_ROW_NAMES) == [], "field names broken over lines at 390 px"
            shots(second, "conflict")
        finally:
            browser.close()
    assert invoke_json("show", CONTESTED)["title"] == "Case study book, first"
    assert invoke_json("show", OTHER)["status"] == "open"


def opens_every_page_offered(page: Any, server: Any) -> bool:
    """Every page the desk's header links to opens (200) for this browser's person."""
    links = page.locator(".desk-header nav a")
    paths = [links.nth(i).get_attribute("href") for i in range(links.count())]
    return len(paths) >= 3 and all(page.goto(server.url + path).status == 200 for path in paths)


def who_is_nobody(page: Any) -> bool:
    return page.locator(".desk-header").count() == 0


def lead_item_id(page: Any) -> str:
    """The item's number, from the page the lead has open (/items/N or /items/N/edit forms post to /items/N/…)."""
    return re.search(r"/items/(\d+)/", page.locator("main form[method=post]").first.get_attribute("action")).group(1)


def no_controls(page: Any) -> bool:
    """The page offers no change: no form but the header's sign-out, no edit link, no action section."""
    forms = page.locator("form[method=post]")
    actions = {forms.nth(i).get_attribute("action") for i in range(forms.count())}
    return actions <= {"/sign-out"} and page.locator("a[href$='/edit'], #actions, textarea").count() == 0
