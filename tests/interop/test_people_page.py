"""The People page in headless Chromium at a phone's width, without JavaScript: a lead adds a person through the
form and finds them in the list, which fits 390 px; screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.test_subscribers import ARTIFACTS, CHROMIUM, FLAGS
from tracker.web import auth

pytestmark = [pytest.mark.interop, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]


def test_a_lead_adds_a_person_on_a_phone(loaded, make_server, desk_session, invoke_json):
    from playwright.sync_api import sync_playwright

    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
            context.add_cookies([{"name": auth.COOKIE, "value": lead.cookies[auth.COOKIE], "url": server.url}])
            page = context.new_page()
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
        finally:
            browser.close()
    assert "trade-officer" in {p["slug"] for p in invoke_json("people")}
