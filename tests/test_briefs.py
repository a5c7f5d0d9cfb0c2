"""The brief of a meeting occurrence (calendars.briefs): `tracker brief` as JSON, Markdown and PDF, and the desk's
page and downloads over real HTTP."""

from __future__ import annotations

import html
import json
import re
import subprocess
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import dump
from tracker.core import store
from tracker.core.models import Decision, Meeting

KPI_ITEMS = {"kpi-lead-management-entrepreneurship", "kpi-join-innovation-committee"}
CHINESE_QUOTE = "我國業爭取擔任「建立管理能力與促進創業家精神」關鍵指標委員會之領導會員體"  # the KPI lead's source


def brief(invoke, *args: str) -> dict:
    return json.loads(invoke("brief", *args, "--format", "json").stdout)["results"]


def slugs(rows: list[dict]) -> set[str]:
    return {row["slug"] for row in rows}


def add_decision(db_url: str, slug: str, meeting: str, title: str, quote: str) -> None:
    """A Decision row, as the decision log will load it (the "decisions" part of the issue fills data/)."""
    engine = store.engine(db_url)
    try:
        with store.transaction(engine, write=True) as session:
            decided_by = session.scalars(select(Meeting).where(Meeting.slug == meeting)).one()
            at = datetime(2008, 8, 29, tzinfo=UTC)
            session.add(Decision(slug=slug, title=title, meeting=decided_by, source_quote=quote, created_at=at,
                                 updated_at=at))  # fmt: skip
    finally:
        engine.dispose()


def test_the_28th_smewg_brief_carries_the_kpi_items_from_the_15th_ministerial(invoke, invoke_json, loaded, db_url):
    add_decision(db_url, "forum-project-reported", "apec-smewg-27", "Our 2009–2011 forum project was reported",
                 "續規劃辦理明年於我國舉辦之APEC中小企業全球競爭力論壇案")  # fmt: skip
    add_decision(db_url, "not-the-previous-meeting", "apec-sme-ministerial-16", "Decided elsewhere", "")
    result = brief(invoke, "--now", "2009-02-15", "apec-smewg-28")
    carried = {row["slug"]: row for row in result["carried_over"]}
    assert KPI_ITEMS <= set(carried)
    for slug in KPI_ITEMS:
        assert carried[slug]["meeting"] == "apec-sme-ministerial-15"
        assert carried[slug]["came_from"] == "15th APEC SME Ministerial Meeting"
        assert carried[slug]["open_days"] == (datetime(2009, 2, 15) - datetime(2008, 8, 29)).days  # recorded: in YAML
        assert carried[slug]["carried"] == 0  # no SMEWG meeting since the ministerial recorded them
    assert {"forum-host-2009", "forum-case-study-book"} <= set(carried)  # the 27th SMEWG's own follow-ups
    assert slugs(result["open"]) == {"apec-projects-follow-priorities", "attend-every-smewg-and-ministerial"}
    assert result["occurrence"]["place"] == "Bangkok, Thailand"
    assert "we lead the KPI committee" in result["occurrence"]["our_role"]
    assert result["previous"]["slug"] == "apec-smewg-27"
    # The previous meeting's decisions, then the ministerial's about the working group (its plan, its KPIs, …).
    about_the_series = [d["slug"] for d in invoke_json("decisions", "--affects", "apec-smewg")]
    assert "kpis-decided-at-smewg-28" in about_the_series
    assert [d["slug"] for d in result["decisions"]] == ["forum-project-reported", *about_the_series]
    areas = {a["category"]: a for a in result["progress"]}
    assert areas["innovation"] == {"category": "innovation", "open": 1, "overdue": 0, "done": 0, "cancelled": 0,
                                   "total": 1}  # fmt: skip
    markdown = invoke("--now", "2009-02-15", "brief", "apec-smewg-28").stdout
    assert "## Carried over from earlier meetings" in markdown
    assert "- Attending: APEC SMEWG officer, APEC SME desk lead\n" in markdown  # people by name, as the owners
    assert "**Join the Innovation KPI committee and help draft its indicators**" in markdown
    assert "Came from: 15th APEC SME Ministerial Meeting" in markdown and "> " + CHINESE_QUOTE in markdown
    assert "Our 2009–2011 forum project was reported" in markdown


def smewg_2027(invoke, *args: str) -> dict:
    return brief(invoke, "--now", "2026-11-24", *args)


def content(result: dict) -> dict:
    """A brief without its occurrence's date and place: what announcing or moving the meeting must not change."""
    return {key: value for key, value in result.items() if key != "occurrence"} | {"key": result["occurrence"]["key"]}


def test_the_2027_03_smewg_brief_lists_every_open_item_of_the_series_with_meetings_carried(invoke, invoke_json,
                                                                                             loaded):  # fmt: skip
    result = smewg_2027(invoke, "apec-smewg", "--occurrence", "2027-03")
    listed = {row["slug"]: row for row in result["carried_over"] + result["open"]}
    register = invoke_json("--now", "2026-11-24", "items", "--status", "open,in_progress")
    for_series = {row["slug"] for row in register if row["serves"] in ("apec-smewg", "apec-smewg-28")}
    assert for_series == KPI_ITEMS | {"kpi-committee-volunteer", "apec-projects-follow-priorities",
                                      "attend-every-smewg-and-ministerial"}  # fmt: skip
    assert for_series <= set(listed)
    held = [row for row in invoke_json("meetings", "--from", "2008-08-29", "--to", "2027-03-01")
            if row["series"] == "apec-smewg"]  # fmt: skip
    assert len(held) == 36  # March and September, 2009 to 2026
    assert {row["carried"] for row in listed.values()} == {len(held)}  # all recorded 2008-08-29
    assert result["occurrence"]["key"] == "series-apec-smewg@tracker/2027-03-01"
    assert result["previous"]["original"] == "2026-09-01"
    assert result["done_since"] == [] and result["new_since"] == []
    # Without --occurrence: the series' next occurrence as of --now, the same one.
    assert invoke_json("--now", "2026-11-24", "brief", "apec-smewg") == result


ANNOUNCED = """meetings:
  - slug: apec-smewg-64
    title: 64th APEC SME Working Group meeting
    series: apec-smewg
    overrides: 2027-03
    number: 64
    start: {start}
    tz: America/Lima
    place: {place}
    host: Peru
    our_role: We report on the KPIs
    source: 我方將加強參與一年兩次之工作小組會議
"""


def test_announcing_and_moving_the_occurrence_leaves_its_brief_as_it_was(invoke, loaded, tmp_path):
    before = smewg_2027(invoke, "apec-smewg", "--occurrence", "2027-03")
    announced = tmp_path / "announced.yaml"
    announced.write_text(ANNOUNCED.format(start="2027-03-15", place="Lima"), encoding="utf-8")
    invoke("--now", "2026-11-25", "load", str(announced))
    after = smewg_2027(invoke, "apec-smewg", "--occurrence", "2027-03")
    assert after["occurrence"]["date"] == "2027-03-15" and after["occurrence"]["place"] == "Lima"
    assert content(after) == content(before)
    assert smewg_2027(invoke, "apec-smewg-64") == after  # the same brief by the meeting's own slug
    announced.write_text(ANNOUNCED.format(start="2027-04-02", place="Arequipa"), encoding="utf-8")
    invoke("--now", "2026-11-26", "load", str(announced))
    moved = smewg_2027(invoke, "apec-smewg", "--occurrence", "2027-03-01")
    assert moved["occurrence"]["date"] == "2027-04-02" and moved["occurrence"]["place"] == "Arequipa"
    assert content(moved) == content(before)
    assert smewg_2027(invoke, "apec-smewg", "--occurrence", "2027-04-02") == moved  # the day it is now held
    assert smewg_2027(invoke, "apec-smewg", "--occurrence", "2027-09")["previous"]["slug"] == "apec-smewg-64"


def test_an_item_done_moves_to_done_since_and_a_new_one_is_new_since(invoke, loaded):
    invoke("--now", "2026-10-01", "add", "Bring the KPI report", "--slug", "kpi-report-2027", "--owner",
           "apec-officer", "--serves", "apec-smewg")  # fmt: skip
    invoke("--now", "2026-11-20", "done", "attend-every-smewg-and-ministerial")
    result = smewg_2027(invoke, "apec-smewg", "--occurrence", "2027-03")
    assert "attend-every-smewg-and-ministerial" not in slugs(result["open"] + result["carried_over"])
    assert slugs(result["done_since"]) == {"attend-every-smewg-and-ministerial"}
    assert slugs(result["new_since"]) == {"kpi-report-2027"}
    new = next(row for row in result["open"] if row["slug"] == "kpi-report-2027")
    assert new["carried"] == 0 and new["open_days"] == 54  # 2026-10-01 to 2026-11-24, Asia/Taipei
    # A brief as of before the completion was recorded still has it done (the register has no past states) but
    # not "since": the previous meeting of the 2026-09 occurrence is 2026-03.
    earlier = smewg_2027(invoke, "apec-smewg", "--occurrence", "2026-09")
    assert "attend-every-smewg-and-ministerial" in slugs(earlier["done_since"])


def test_the_pdf_holds_the_items_and_a_chinese_quote(invoke, loaded, tmp_path):
    pdf = tmp_path / "brief.pdf"
    invoke("--now", "2009-02-15", "brief", "apec-smewg-28", "--format", "pdf", "--output", str(pdf), "--locale",
           "zh_TW")  # fmt: skip
    assert pdf.read_bytes().startswith(b"%PDF-")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    flat = "".join(text.split())  # titles and quotes wrap within their cells
    assert "會前簡報：28thAPECSMEWorkingGroupmeeting" in flat and "先前會議延續事項" in flat
    for title in ("Lead the KPI committee", "Join the Innovation KPI committee", "Plan and host the APEC SME"):
        assert "".join(title.split()) in flat
    assert CHINESE_QUOTE in flat


def test_brief_errors_are_one_line(invoke, loaded, db_url):
    before = dump(db_url)
    cases = [
        (("brief", "apec-smewg-99"), "Error: no meeting or series with slug 'apec-smewg-99'"),
        (("brief", "apec-smewg", "--occurrence", "2027-03-02"), "Error: apec-smewg has no occurrence on 2027-03-02"),
        (("brief", "apec-smewg", "--occurrence", "March"), "Error: --occurrence: 'March' is no date"),
        (("brief", "apec-smewg-28", "--occurrence", "2009-03"), "Error: --occurrence: apec-smewg-28 is a meeting"),
        (("brief", "apec-smewg-28", "--format", "pdf"), "Error: --output: a PDF goes to a file"),
    ]
    for args, error in cases:
        assert invoke(*args, code=1).stderr.startswith(error), args
    assert dump(db_url) == before


@pytest.fixture
def desk(loaded, make_server, desk_session, clock):
    clock.set("2009-02-15T09:00:00+08:00")
    server = make_server()
    return server, desk_session(server, "forum-officer", "viewer")  # a viewer reads briefs


def test_the_brief_page_needs_a_session_and_escapes_what_people_typed(desk, invoke):
    server, viewer = desk
    for path in ("/meetings/apec-smewg-28/brief", "/meetings/apec-smewg/2009-03-01/brief?format=pdf"):
        response = httpx.get(server.url + path)
        assert response.status_code == 401 or (
            response.status_code in (302, 303) and "/sign-in" in response.headers["location"]
        ), path
    invoke("--now", "2009-01-10", "add", "<script>alert(1)</script> *bold*", "--slug", "typed", "--owner",
           "apec-officer", "--serves", "apec-smewg-28", "--source", "<b>quoted</b>")  # fmt: skip
    page = viewer.get("/meetings/apec-smewg-28/brief")
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt; *bold*" in page.text
    assert "&lt;b&gt;quoted&lt;/b&gt;" in page.text and "<b>quoted" not in page.text
    assert "Lead the KPI committee on building management capability" in page.text
    assert "@media print" in page.text
    assert 'href="/meetings/apec-smewg-28/brief?format=pdf"' in page.text
    assert 'href="/meetings/apec-smewg-28/brief?format=md"' in page.text
    promised = re.search(r'id="promised-xlsx" href="([^"]+)"', page.text)[1]
    assert promised == "/reports/promised/apec-smewg-28.xlsx"
    workbook = viewer.get(promised)
    assert workbook.status_code == 200 and workbook.content.startswith(b"PK")  # a zip: the XLSX the reports make
    markdown = viewer.get("/meetings/apec-smewg-28/brief?format=md")
    assert markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert 'filename="brief-apec-smewg-28-2009-03-01.md"' in markdown.headers["content-disposition"]
    assert r"\<script\>alert\(1\)\</script\> \*bold\*" in markdown.text  # no markup of its own
    assert viewer.get("/meetings/apec-smewg/2009-03-01/brief").text == page.text.replace(
        'href="/meetings/apec-smewg-28/brief', 'href="/meetings/apec-smewg/2009-03-01/brief'
    )
    for path, status in (("/meetings/apec-smewg/2009-03-02/brief", 404), ("/meetings/nothing/brief", 404),
                         ("/meetings/apec-smewg-28/2009-03-01/brief", 404),
                         ("/meetings/apec-smewg-28/brief?format=xls", 400)):  # fmt: skip
        assert viewer.get(path).status_code == status, path


def test_the_brief_in_chinese_and_as_a_pdf_download(desk, desk_session):
    server, _ = desk
    reader = desk_session(server, "desk-lead", "lead")
    page = reader.get("/meetings/apec-smewg-28/brief", headers={"Accept-Language": "zh-TW"})
    assert "先前會議延續事項" in page.text and "下載 PDF" in page.text
    pdf = reader.get("/meetings/apec-smewg-28/brief?format=pdf", headers={"Accept-Language": "zh-TW"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")


def test_every_kind_of_meeting_page_links_to_a_brief_that_opens(desk):
    _, viewer = desk
    expected = {  # page: the brief's heading
        "/meetings/apec-smewg-28": "28th APEC SME Working Group meeting",  # an announced occurrence
        "/meetings/apec-smewg/2009-09-01": "APEC SME Working Group meeting",  # a placeholder occurrence
        "/meetings/apec-smewg": "APEC SME Working Group meeting",  # a series: its next meeting
        "/meetings/taipei-textile-show-2008": "2008 Taipei Innovative Textile Application Show",  # a one-off meeting
    }
    for page, heading in expected.items():
        found = re.search(r'<p id="brief-link"><a href="([^"]+)"', viewer.get(page).text)
        assert found, page
        brief = viewer.get(html.unescape(found.group(1)))
        assert brief.status_code == 200, (page, found.group(1))
        assert re.search(rf"<h1>[^<]*{re.escape(heading)}", brief.text), (page, found.group(1))
