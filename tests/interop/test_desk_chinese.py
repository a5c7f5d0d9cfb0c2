"""My desk and an item page in Traditional Chinese, in headless Chromium at a phone's width (390 px): Chinese text
wraps differently from English (no spaces to break at, wider glyphs), and neither page scrolls sideways.
Screenshots go to test-artifacts/ (desk-zh-*.png)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.test_people_page import signed_in_phone
from tests.interop.test_subscribers import ARTIFACTS, CHROMIUM
from tests.test_i18n import set_locale

pytestmark = [pytest.mark.interop, pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")]

OVERFLOWING = """() => [...document.querySelectorAll('main *')]
  .filter(n => n.getBoundingClientRect().right > document.documentElement.clientWidth + 1
               && !n.closest('.table-wrap'))
  .map(n => n.tagName + '.' + n.className + ': ' + n.textContent.trim().slice(0, 60))"""


@pytest.mark.parametrize(("path", "name", "heading"), [
    ("/desk", "desk-zh-390px.png", "我的工作台"),
    ("/items/1", "desk-zh-item-390px.png", "歷程"),
])  # fmt: skip
def test_the_chinese_desk_fits_a_phone(loaded, env, make_server, desk_session, invoke, clock, path, name, heading):
    clock.set("2008-10-10T09:00:00+08:00")  # items overdue, and a change since the last visit
    invoke("--now", "2008-10-10T08:00:00+08:00", "done", "kpi-join-innovation-committee")
    server = make_server()
    officer = desk_session(server, "apec-officer", "officer")
    set_locale(env, "apec-officer", "zh_TW")
    with signed_in_phone(server, officer) as page:
        page.goto(f"{server.url}{path}")
        assert heading in page.inner_text("main") and page.get_attribute("html", "lang") == "zh-TW"
        page.screenshot(path=str(ARTIFACTS / name), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        assert page.evaluate(OVERFLOWING) == []  # nothing runs out past the screen's edge (tables scroll inside)
