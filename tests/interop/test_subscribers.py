"""Real subscribers: vdirsyncer pulls the feed over HTTP into a vdir that khal and todoman read; Chromium
renders the subscription page."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.icsutil import BIN, khal, todoman

pytestmark = pytest.mark.interop
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def vdirsyncer(conf: Path, *args: str) -> None:
    out = subprocess.run([BIN / "vdirsyncer", "-c", conf, *args], capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL)  # fmt: skip
    assert out.returncode == 0, out.stderr


def vdirsyncer_config(tmp_path: Path, pair: str, remote: str, local: str) -> Path:
    """A vdirsyncer config in tmp_path of one pair (`pair`: its collections and other options) of a remote storage
    (`remote`: its type and options) and a filesystem vdir at `local`, the remote winning conflicts."""
    conf = tmp_path / "vdirsyncer.conf"
    conf.write_text(f"""[general]
status_path = "{tmp_path / "status"}/"
[pair tracker]
a = "tracker_remote"
b = "tracker_local"
conflict_resolution = "a wins"
{pair}
[storage tracker_remote]
{remote}
[storage tracker_local]
type = "filesystem"
path = "{local}"
fileext = ".ics"
""")
    return conf


def sync_config(tmp_path: Path, feed: str) -> tuple[Path, Path]:
    """A vdirsyncer pair pulling `feed` into a vdir, tmp_path/vdir/tracker; returns its config and the vdir."""
    vdir = tmp_path / "vdir" / "tracker"
    vdir.mkdir(parents=True)
    return vdirsyncer_config(tmp_path, "collections = null", f'type = "http"\nurl = "{feed}"', str(vdir)), vdir


def test_vdirsyncer_khal_and_todoman_follow_the_feed(loaded, make_server, subscribe, invoke, tmp_path):
    server = make_server()
    token, _ = subscribe("--name", "khal", "--calendar", "all")
    conf, vdir = sync_config(tmp_path, f"{server.url}/feeds/{token}.ics")
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
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


@contextmanager
def on_a_phone(url: str, javascript: bool = False) -> Iterator[Any]:
    """`url` opened in headless Chromium at a phone's width (390 px); yields the Playwright page."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, java_script_enabled=javascript)
            page.goto(url)
            yield page
        finally:
            browser.close()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is installed by .ci/run")
def test_the_page_in_headless_chromium(loaded, make_server, subscribe, tmp_path):
    server = make_server()
    token, _ = subscribe("--name", "officer", "--person", "apec-officer")
    with on_a_phone(f"{server.url}/s/{token}/") as page:
        assert "Volunteer for the KPI drafting committees" in page.locator("#due").inner_text()
        ahead = page.locator("#meetings").inner_text()  # the meetings of this person's calendar only
        assert "28th APEC SME Working Group meeting" in ahead and "Taiwan Business Alliance" not in ahead
        assert page.locator(".area").count() >= 3
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
        buttons = page.locator("#subscribe a")
        hrefs = {buttons.nth(i).inner_text(): buttons.nth(i).get_attribute("href") for i in range(buttons.count())}
        page.screenshot(path=str(ARTIFACTS / "subscription-page-phone.png"), full_page=True)
    # The server is plain http: the web link says so, and Google (which subscribes only over https) is not offered.
    assert sorted(hrefs) == ["Apple Calendar", "Download .ics", "Outlook (plain http link)", "Thunderbird"]
    webcal, https, download = hrefs["Apple Calendar"], hrefs["Outlook (plain http link)"], hrefs["Download .ics"]
    assert webcal == hrefs["Thunderbird"] == f"webcal://{server.url.removeprefix('http://')}/feeds/{token}.ics"
    for url in (https, webcal.replace("webcal://", "http://"), download):
        response = httpx.get(url)
        assert response.status_code == 200 and response.headers["content-type"] == "text/calendar; charset=utf-8"


# Every element and every run of text inside a card must lie within the card: a list of what does not.
OUTSIDE_THE_CARDS = """() => {
  const out = [];
  const describe = (node) => (node.nodeType === 3 ? node.parentElement : node).outerHTML.slice(0, 80);
  for (const card of document.querySelectorAll("main, section")) {
    const box = card.getBoundingClientRect();
    const walker = document.createTreeWalker(card, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of node.nodeType === 3 ? range.getClientRects() : [node.getBoundingClientRect()]) {
        if (r.width > 0 && (r.left < box.left - 0.5 || r.right > box.right + 0.5)) {
          out.push(`${Math.round(r.left)}..${Math.round(r.right)} outside ${Math.round(box.left)}..`
                   + `${Math.round(box.right)}: ${describe(node)}`);
        }
      }
      if (node.nodeType === 1 && node.scrollWidth > node.clientWidth + 1 && node.clientWidth > 0) {
        out.push(`scrollWidth ${node.scrollWidth} > ${node.clientWidth}: ${describe(node)}`);
      }
    }
  }
  return out;
}"""


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is installed by .ci/run")
def test_the_page_at_390px_keeps_long_text_in_its_cards_and_lists_overdue_by_due_date(loaded, make_server, subscribe,
                                                                                       invoke, tmp_path):  # fmt: skip
    unbroken = "https://www.apec.org/Publications/SMEWG28/KPIDraftingCommitteesInnovationPriorityAreaMembership.pdf"
    colleague = "liaison-officer-for-the-kpi-drafting-committees-of-the-innovation-and-market-access-areas-2009"
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "people.yaml").write_text(f"people:\n  - {{slug: {colleague}, name: Liaison, tz: UTC}}\n")
    invoke("load", str(tmp_path / "more"))
    # Added in this order, due in the other: the page must list them by due date, as `tracker items` does.
    invoke("add", f"Later {unbroken}", "--owner", "apec-officer", "--owner", colleague, "--due", "2008-08-25")
    invoke("add", "Earlier", "--slug", "earlier", "--owner", "apec-officer", "--due", "2008-07-01")
    invoke("add", "Middle", "--slug", "middle", "--owner", "apec-officer", "--due", "2008-08-01T17:00")
    base = "https://calendars.apec-sme-desk.example.org/tracker-subscriptions-for-the-delegation-desk"
    server = make_server(base_url=base)  # links as long as a real proxied address makes them
    token, _ = subscribe("--name", "officer " + "y" * 180, "--person", "apec-officer")
    with on_a_phone(f"{server.url}/s/{token}/", javascript=True) as page:  # scripts measure the layout
        page.screenshot(path=str(ARTIFACTS / "subscription-page-390px-long-text.png"), full_page=True)
        overdue = page.locator("#overdue > li").all_inner_texts()
        outside = page.evaluate(OUTSIDE_THE_CARDS)
        width = page.evaluate("document.documentElement.scrollWidth")
        buttons = page.locator("#subscribe a")
        hrefs = {buttons.nth(i).inner_text(): buttons.nth(i).get_attribute("href") for i in range(buttons.count())}
    titles = [text.split("\n")[0] for text in overdue]
    assert titles.index("Earlier") < titles.index("Middle") < titles.index(f"Later {unbroken}")
    assert outside == [] and width <= 390, "\n".join(outside)
    # An https base URL: the web link says https, Google is offered, Thunderbird gets webcals:// (its https).
    feed = f"{base.removeprefix('https://')}/feeds/{token}.ics"
    assert hrefs["Outlook (https link)"] == f"https://{feed}"
    assert hrefs["Apple Calendar"] == f"webcal://{feed}" and hrefs["Thunderbird"] == f"webcals://{feed}"
    assert hrefs["Google Calendar"].startswith("https://calendar.google.com/calendar/r?cid=webcal%3A%2F%2F")
