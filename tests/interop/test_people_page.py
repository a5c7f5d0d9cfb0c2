"""The People and My calendars pages in headless Chromium at a phone's width, without JavaScript: a lead adds a
person through the form and finds them in the list; an officer makes a subscription and gets its address once.
Every page fits 390 px; screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.interop.test_subscribers import ARTIFACTS, CHROMIUM, FLAGS
from tracker.web import auth

pytestmark = [pytest.mark.interop, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]


@contextmanager
def signed_in_phone(server, client) -> Iterator[Any]:
    """A Chromium page at 390 px without JavaScript, carrying the session cookie of `client` (a desk_session)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
            context.add_cookies([{"name": auth.COOKIE, "value": client.cookies[auth.COOKIE], "url": server.url}])
            yield context.new_page()
        finally:
            browser.close()


def test_a_lead_adds_a_person_on_a_phone(loaded, make_server, desk_session, invoke_json):
    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    with signed_in_phone(server, lead) as page:
        page.goto(f"{server.url}/people/new")
        page.fill("#slug", "trade-officer")
        page.fill("#name", "Trade officer 貿易")
        page.fill("#email", "trade@example.org")
        page.fill("#tz", "Mars/Base")
        page.select_option("#escalation", "desk-lead")
        page.select_option("#locale", "zh_TW")
        page.check("input[name=committees][value=kpi-innovation]")
        page.click("main form button[type=submit]")
        assert "unknown time zone" in page.locator("#tz-error").inner_text()  # beside its field, typed text kept
        assert page.input_value("#name") == "Trade officer 貿易"
        page.screenshot(path=str(ARTIFACTS / "person-form-390px-refused.png"), full_page=True)
        page.fill("#tz", "Asia/Taipei")
        page.click("main form button[type=submit]")
        page.wait_for_url(f"{server.url}/people")
        row = page.locator("#person-trade-officer").inner_text()
        assert "Trade officer 貿易" in row and "kpi-innovation" in row and "officer" in row
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        page.screenshot(path=str(ARTIFACTS / "people-390px.png"), full_page=True)
    assert "trade-officer" in {p["slug"] for p in invoke_json("people")}


def test_an_officer_makes_a_subscription_on_a_phone(loaded, make_server, desk_session):
    server = make_server()
    officer = desk_session(server, "apec-officer", "officer")
    with signed_in_phone(server, officer) as page:
        page.goto(f"{server.url}/calendars")
        page.fill("#name", "Phone")
        page.click("main form button[type=submit]")
        address = page.input_value("#feed-url")
        assert re.fullmatch(rf"{server.url}/feeds/[A-Za-z0-9_-]{{43}}\.ics", address)
        assert page.url == f"{server.url}/calendars"  # the secret is in the page, not in its address
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(ARTIFACTS / "calendar-link-390px.png"), full_page=True)
        assert httpx.get(address).status_code == 200
        page.goto(f"{server.url}/calendars")
        assert "Phone" in page.locator("table.subs").inner_text() and address not in page.content()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(ARTIFACTS / "calendars-390px.png"), full_page=True)
