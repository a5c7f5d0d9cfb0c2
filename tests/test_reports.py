"""Reports (tracker.register.reports): the register as CSV, XLSX and JSON with the filters of `tracker items`; a
meeting's promises and their status now; overdue-by-owner as of --now; and the same reports as downloads over real
HTTP, refused to whom may not have them. The XLSX is read back by openpyxl and converted by LibreOffice headless,
whose CSV holds our CSV's rows."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import date, datetime
from pathlib import Path

import httpx
import openpyxl
import pytest
import yaml
from sqlalchemy import update

from tracker.core import store
from tracker.core.models import Person
from tracker.register.listing import FORMULA_STARTS, csv_cell

FORMULAS = ('=HYPERLINK("http://evil.example","x")', "+1+2", "-3", "@SUM(A1)")
HEADER = ["id", "slug", "title", "owners", "our role", "category", "committee", "from meeting", "serves", "due",
          "status", "completed", "source quote", "last change"]  # fmt: skip
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())  # Excel reads it as UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def libreoffice_csv(xlsx: Path, tmp_path: Path) -> list[list[str]]:
    """The first sheet of `xlsx` as LibreOffice Calc (headless, its own profile) writes it to CSV: UTF-8, commas,
    each cell as shown."""
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (Debian libreoffice-calc-nogui) is needed: .ci/run installs it"
    out = tmp_path / "libreoffice"
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}", "--headless",
                    "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1", "--outdir", str(out), str(xlsx)],
                   check=True, capture_output=True, timeout=180)  # fmt: skip
    return list(csv.reader(io.StringIO((out / f"{xlsx.stem}.csv").read_text(encoding="utf-8"))))


def test_the_register_xlsx_opens_and_libreoffice_reads_the_rows_of_our_csv(loaded, invoke, invoke_json, tmp_path):
    for title in FORMULAS:
        invoke("add", "--owner", "apec-officer", "--category", "innovation", "--due", "2008-10-01", "--", title)
    invoke("add", "Timed follow-up", "--slug", "timed", "--owner", "desk-lead", "--due", "2008-11-03T09:30")
    invoke("--now", "2008-09-02T10:15:00+08:00", "done", "kpi-committee-volunteer")
    invoke("report", "register", "--status", "all", "--output", str(tmp_path / "register.csv"))
    invoke("report", "register", "--status", "all", "--output", str(tmp_path / "register.xlsx"))
    ours = read_csv((tmp_path / "register.csv").read_bytes())
    expected = invoke_json("items", "--status", "all")
    assert ours[0] == HEADER and [int(r[0]) for r in ours[1:]] == [r["id"] for r in expected]
    by_slug = {r[1]: dict(zip(HEADER, r, strict=True)) for r in ours[1:]}
    assert {by_slug[slug]["title"] for slug in by_slug if by_slug[slug]["title"].startswith("'")} == {
        "'" + t for t in FORMULAS
    }  # neutralised in the CSV, and no other cell starts a formula
    assert not any(cell.startswith(FORMULA_STARTS) for row in ours for cell in row)
    done = by_slug["kpi-committee-volunteer"]
    assert (done["status"], done["completed"], done["due"]) == ("done", "2008-09-02 10:15", "2008-09-30")
    assert done["owners"] == "APEC SMEWG officer" and done["our role"] == "lead"  # names, and our committee role
    assert by_slug["timed"]["due"] == "2008-11-03 09:30"
    assert any("會中" in row["source quote"] for row in by_slug.values())

    book = openpyxl.load_workbook(tmp_path / "register.xlsx")
    sheet = book.active
    assert [c.value for c in sheet[1]] == HEADER and all(c.font.bold for c in sheet[1]) and sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["C"].width > sheet.column_dimensions["A"].width >= 4
    cells = {row[1].value: row for row in sheet.iter_rows(min_row=2)}
    assert not any(c.data_type == "f" for row in sheet.iter_rows() for c in row)  # never a formula
    for title in FORMULAS:
        (cell,) = [row[2] for row in cells.values() if row[2].value == title]
        assert cell.data_type == "s" and cell.quotePrefix  # stored as typed, shown as text
    due, completed = cells["kpi-committee-volunteer"][9], cells["kpi-committee-volunteer"][11]
    assert due.is_date and due.value.date() == date(2008, 9, 30) and due.number_format == "yyyy-mm-dd"
    assert completed.is_date and completed.value == datetime(2008, 9, 2, 10, 15)
    assert cells["timed"][9].value == datetime(2008, 11, 3, 9, 30)

    converted = libreoffice_csv(tmp_path / "register.xlsx", tmp_path)
    assert {row[2] for row in converted} >= set(FORMULAS)  # text, not the formulas' results
    assert [[csv_cell(cell) for cell in row] for row in converted] == ours


@pytest.mark.parametrize(
    "filters",
    [("--owner", "apec-officer"), ("--category", "market-access", "--sort", "priority"), ("--overdue",),
     ("--committee", "kpi-innovation", "--status", "all"), ("--meeting", "apec-smewg-28"), ("--q", "KPI"),
     ("--due-after", "2009-01-01", "--due-before", "2010-01-01", "--order", "desc")],
)  # fmt: skip
def test_the_register_report_takes_the_items_filters(loaded, invoke, invoke_json, filters):
    at = ("--now", "2009-06-01")
    rows = invoke_json(*at, "report", "register", *filters)
    assert rows and [r["id"] for r in rows] == [r["id"] for r in invoke_json(*at, "items", *filters)]
    printed = invoke(*at, "report", "register", *filters, "--format", "csv").stdout  # no BOM on a terminal
    csv_rows = list(csv.reader(io.StringIO(printed)))
    assert [int(r[0]) for r in csv_rows[1:]] == [r["id"] for r in rows]


def test_a_bad_filter_or_format_is_one_error_line(loaded, invoke, tmp_path):
    words = invoke("items", "--owner", "apec-oficer", code=1).stderr
    assert invoke("report", "register", "--owner", "apec-oficer", code=1).stderr == words
    assert "give --output" in invoke("report", "register", "--format", "xlsx", code=1).stderr
    assert ".csv, .xlsx or .json" in invoke("report", "register", "--output", str(tmp_path / "r.txt"), code=1).stderr
    assert "no meeting or series" in invoke("report", "promised", "apec-smewg-29", code=1).stderr
    assert not (tmp_path / "r.txt").exists()


def _expected_promised(data: Path, meeting: str, series: str, now: date) -> dict[str, set[str]]:
    """From the YAML itself: the items that came from `meeting` or serve it or its series, by state at `now` (all
    the shipped items are open; a due day is late from the next day on)."""
    found: dict[str, set[str]] = {"done": set(), "open": set(), "overdue": set(), "cancelled": set()}
    for item in yaml.safe_load((data / "items.yaml").read_text())["items"]:
        if item.get("meeting") == meeting or item.get("serves") in (meeting, series):
            assert item.get("status", "open") == "open"
            late = "due" in item and date.fromisoformat(str(item["due"])) < now
            found["overdue" if late else "open"].add(item["slug"])
    return found


def test_promised_vs_status_of_the_15th_ministerial(loaded, invoke, invoke_json):
    at = ("--now", "2009-06-01T09:00:00+08:00")
    expected = _expected_promised(loaded, "apec-sme-ministerial-15", "apec-sme-ministerial", date(2009, 6, 1))
    assert len(expected["overdue"]) >= 3 and len(expected["open"]) >= 3  # the shipped data has both
    report = invoke_json(*at, "report", "promised", "apec-sme-ministerial-15")
    assert report["meeting"] == "15th APEC SME Ministerial Meeting"
    assert {k: report[k] for k in ("done", "open", "overdue", "cancelled", "total")} == {
        **{state: len(slugs) for state, slugs in expected.items()},
        "total": sum(map(len, expected.values())),
    }
    late = {r["slug"]: r["days_late"] for r in report["items"] if r["days_late"] is not None}
    assert set(late) == expected["overdue"] and late["kpi-committee-volunteer"] == 243  # 2008-09-30 to 2009-06-01

    invoke(*at, "done", "kpi-committee-volunteer")
    invoke(*at, "cancel", sorted(expected["open"])[0])
    after = invoke_json(*at, "report", "promised", "apec-sme-ministerial-15")
    assert (after["done"], after["cancelled"], after["overdue"], after["open"]) == (
        1, 1, report["overdue"] - 1, report["open"] - 1)  # fmt: skip
    table = invoke(*at, "report", "promised", "apec-sme-ministerial-15").stdout
    assert "overdue: " + str(after["overdue"]) in table and "done: 1" in table
    series = {r["slug"] for r in invoke_json(*at, "report", "promised", "apec-smewg")["items"]}
    assert {"forum-host-2009", "kpi-committee-volunteer", "attend-every-smewg-and-ministerial"} <= series


def test_overdue_by_owner_as_of_now(loaded, invoke, invoke_json):
    invoke("add", "Nobody's follow-up", "--slug", "orphan", "--due", "2008-09-15")
    now = "2008-10-08T12:00:00+08:00"
    rows = invoke_json("--now", now, "report", "overdue")
    late = invoke_json("--now", now, "items", "--overdue")
    pairs = {(o, r["id"], r["days_overdue"]) for r in late for o in r["owners"] or [None]}
    assert {(r["owner_slug"], r["id"], r["days_late"]) for r in rows} == pairs and len(rows) == len(pairs)
    assert rows[-1]["slug"] == "orphan" and rows[-1]["owner"] == "no owner"  # after everyone with a name
    named = [(r["owner"], -r["days_late"]) for r in rows[:-1]]
    assert named == sorted(named)  # owners by name, the latest item first
    days = {r["slug"]: r["days_late"] for r in rows}
    assert days["kpi-committee-volunteer"] == 7 and days["us-invite-business-alliance-conference"] == 1
    # The last minute of the due day is not late yet; the filters narrow the report.
    assert "kpi-committee-volunteer" not in {r["slug"] for r in invoke_json("--now", "2008-09-30T23:59:00+08:00",
                                                                             "report", "overdue")}  # fmt: skip
    for owner in ("bilateral-officer", "desk-lead"):  # only their rows, also of the items they share
        mine = invoke_json("--now", "2009-06-01", "report", "overdue", "--owner", owner)
        assert mine and {r["owner_slug"] for r in mine} == {owner}
    assert "--status" in invoke("report", "overdue", "--status", "all", code=2).stderr  # it takes no status


# --- the web -----------------------------------------------------------------------------------------------------


@pytest.fixture
def desk(loaded, make_server, clock):
    clock.set("2009-06-01T09:00:00+08:00")
    return make_server()


def test_the_downloads_carry_the_reports_to_the_roles_that_may_have_them(desk, desk_session, invoke_json, env):
    at = ("--now", "2009-06-01T09:00:00+08:00")
    people = (("desk-lead", "lead"), ("apec-officer", "officer"), ("forum-officer", "viewer"))
    lead, officer, viewer = (desk_session(desk, slug, role) for slug, role in people)
    anonymous = httpx.Client(base_url=desk.url)
    for path in ("/register.xlsx", "/reports/promised/apec-smewg-28.csv", "/reports/overdue.xlsx"):
        assert anonymous.get(path).status_code == 401, path
    for client in (officer, viewer):
        assert client.get("/reports/overdue.csv").status_code == 403
        assert client.get("/reports/overdue.xlsx").status_code == 403
        assert "/reports/overdue" not in client.get("/register").text + client.get("/desk").text

    sheet = viewer.get("/register.xlsx", params={"owner": "apec-officer", "status": "all"})
    assert sheet.status_code == 200 and sheet.headers["content-type"] == XLSX
    rows = list(openpyxl.load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [r["id"] for r in invoke_json(*at, "items", "--owner", "apec-officer",
                                                                     "--status", "all")]  # fmt: skip
    assert viewer.get("/register.xlsx", params={"owner": "apec-oficer"}).status_code == 400
    assert 'href="/register.xlsx?owner=apec-officer"' in viewer.get("/register?owner=apec-officer").text

    page = viewer.get("/meetings/apec-sme-ministerial-15").text
    assert "/reports/promised/apec-sme-ministerial-15.csv" in page
    promised = read_csv(viewer.get("/reports/promised/apec-sme-ministerial-15.csv").content)
    report = invoke_json(*at, "report", "promised", "apec-sme-ministerial-15")
    assert [int(r[0]) for r in promised[1:]] == [r["id"] for r in report["items"]]
    book = openpyxl.load_workbook(io.BytesIO(viewer.get("/reports/promised/apec-sme-ministerial-15.xlsx").content))
    summary = dict(book.worksheets[1].iter_rows(min_row=2, values_only=True))
    assert summary["overdue"] == report["overdue"] and summary["total"] == report["total"]
    assert viewer.get("/reports/promised/apec-smewg-29.csv").status_code == 404

    assert "/reports/overdue.xlsx" in lead.get("/desk").text and "/reports/overdue.csv?" in lead.get("/register").text
    late = read_csv(lead.get("/reports/overdue.csv").content)
    cli = invoke_json(*at, "report", "overdue")
    assert [(r[0], int(r[1]), int(r[5])) for r in late[1:]] == [(r["owner"], r["id"], r["days_late"]) for r in cli]
    narrowed = read_csv(lead.get("/reports/overdue.csv", params={"owner": "desk-lead"}).content)
    assert {r[0] for r in narrowed[1:]} == {"APEC SME desk lead"}


def test_a_chinese_reader_gets_chinese_headers_and_words(desk, desk_session, env):
    lead = desk_session(desk, "desk-lead", "lead")
    engine = store.engine(env["TRACKER_DB"])
    with store.transaction(engine, write=True) as session:
        session.execute(update(Person).where(Person.slug == "desk-lead").values(locale="zh_TW"))
    engine.dispose()
    rows = read_csv(lead.get("/reports/promised/apec-sme-ministerial-15.csv").content)
    assert rows[0][:5] == ["編號", "代號", "標題", "承辦人", "我方角色"] and "逾期天數" in rows[0]
    assert "主導" in {r[4] for r in rows[1:]}  # our role in the committee, in Chinese
    book = openpyxl.load_workbook(io.BytesIO(lead.get("/reports/overdue.xlsx").content))
    assert book.active.title == "各承辦人逾期事項" and book.active["A1"].value == "承辦人"
