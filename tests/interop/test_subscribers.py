"""Real subscribers: vdirsyncer pulls the feed over HTTP into a vdir that khal and todoman read; Chromium
renders the subscription page."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.icsutil import BIN, khal, todoman

pytestmark = pytest.mark.interop
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def vdirsyncer(conf: Path, *args: str) -> None:
    out = subprocess.run([BIN / "vdirsyncer", "-c", conf, *args], capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)  # fmt: skip
    assert out.returncode == 0, out.stderr


def test_vdirsyncer_khal_and_todoman_follow_the_feed(loaded, make_server, subscribe, invoke, tmp_path):
    server = make_server()
    token, _ = subscribe("--name", "khal", "--calendar", "all")
    vdir = tmp_path / "vdir" / "tracker"
    vdir.mkdir(parents=True)
    conf = tmp_path / "vdirsyncer.conf"
    conf.write_text(f"""[general]
status_path = "{tmp_path / "status"}/"
[pair tracker]
a = "tracker_remote"
b = "tracker_local"
collections = null
conflict_resolution = "a wins"
[storage tracker_remote]
type = "http"
url = "{server.url}/feeds/{token}.ics"
[storage tracker_local]
type = "filesystem"
path = "{vdir}"
fileext = ".ics"
""")
    vdirsyncer(conf, "discover")
    vdirsyncer(conf, "sync")
    assert len(list(vdir.glob("*.ics"))) == 11 + 23 + 13  # one file per UID

    events = khal(tmp_path, vdir, "list", "--day-format", "", "--format", "{start-date} {title}", "2009-01-01",
                  "2010-12-31")  # fmt: skip
    assert "2009-10-04 16th APEC SME Ministerial Meeting" in events
    assert "2010-10-01 APEC SME Ministerial Meeting (date TBC)" in events
    todos = todoman(tmp_path, tmp_path / "vdir", "list")
    assert re.search(r"\[ \] \d+ .*2008-09-30 Volunteer for the KPI drafting committees", todos)

    invoke("--now", "2008-09-20", "done", "kpi-committee-volunteer")
    vdirsyncer(conf, "sync")
    after = todoman(tmp_path, tmp_path / "vdir", "list", "--status", "ANY")
    assert re.search(r"\[X\] \d+ .*2008-09-30 Volunteer for the KPI drafting committees", after)
    assert "Volunteer for the KPI" not in todoman(tmp_path, tmp_path / "vdir", "list")


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is installed by .ci/run")
def test_the_page_in_headless_chromium(loaded, make_server, subscribe, tmp_path):
    from playwright.sync_api import sync_playwright

    server = make_server()
    token, _ = subscribe("--name", "officer", "--person", "apec-officer")
    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)
        page = browser.new_page(viewport={"width": 390, "height": 844}, java_script_enabled=False)
        page.goto(f"{server.url}/s/{token}/")
        assert "Volunteer for the KPI drafting committees" in page.locator("#due").inner_text()
        ahead = page.locator("#meetings").inner_text()  # the meetings of this person's calendar only
        assert "28th APEC SME Working Group meeting" in ahead and "Taiwan Business Alliance" not in ahead
        assert page.locator(".area").count() >= 3
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
        hrefs = [page.locator("#subscribe a").nth(i).get_attribute("href") for i in range(4)]
        page.screenshot(path=str(ARTIFACTS / "subscription-page-phone.png"), full_page=True)
        browser.close()
    webcal, google, https, download = hrefs
    assert webcal == f"webcal://{server.url.removeprefix('http://')}/feeds/{token}.ics"
    assert google.startswith("https://calendar.google.com/calendar/r?cid=webcal%3A%2F%2F")
    for url in (https, webcal.replace("webcal://", "http://"), download):
        response = httpx.get(url)
        assert response.status_code == 200 and response.headers["content-type"] == "text/calendar; charset=utf-8"
