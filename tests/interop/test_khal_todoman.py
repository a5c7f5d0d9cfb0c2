"""Real calendar clients read what `tracker export` writes: khal the meetings, todoman the action items."""

from __future__ import annotations

import re

import pytest

from tests.icsutil import khal, todoman, write_vdir

pytestmark = pytest.mark.interop


def test_khal_lists_meetings_with_series_and_overrides(invoke, loaded, tmp_path):
    invoke("export", "--out", str(tmp_path / "cal"))
    vdir = tmp_path / "vdir" / "tracker"
    assert (
        write_vdir((tmp_path / "cal" / "meetings.ics").read_bytes(), vdir) == 11
    )  # 2 series + 10 meetings, one of them an override sharing its series UID
    fmt = "{start-date}|{end-date}|{title}|{location}"
    out = khal(tmp_path, vdir, "list", "--day-format", "", "--format", fmt, "2008-08-01", "2012-12-31")
    rows = [line.split("|") for line in out.strip().splitlines()]
    assert ["2008-08-28", "2008-08-29", "15th APEC SME Ministerial Meeting", "Chiclayo, Peru"] in rows
    assert ["2009-10-04", "2009-10-09", "16th APEC SME Ministerial Meeting", "Singapore"] in rows
    assert ["2009-03-01", "2009-03-01", "28th APEC SME Working Group meeting (date TBC)", "Bangkok, Thailand"] in rows
    placeholders = [r[0] for r in rows if r[2] == "APEC SME Ministerial Meeting (date TBC)"]
    assert placeholders == ["2010-10-01", "2012-10-01"]
    working = [r[0] for r in rows if r[2] == "APEC SME Working Group meeting (date TBC)"]
    assert working == ["2009-09-01", "2010-03-01", "2010-09-01", "2011-03-01", "2011-09-01", "2012-03-01",
                       "2012-09-01"]  # fmt: skip


def test_todoman_lists_open_items_and_shows_done_ones_as_done(invoke, loaded, tmp_path):
    invoke("--now", "2008-09-25", "done", "kpi-committee-volunteer")
    invoke("export", "--out", str(tmp_path / "cal"))
    write_vdir((tmp_path / "cal" / "action-items.ics").read_bytes(), tmp_path / "vdir" / "tracker")
    open_list = todoman(tmp_path, tmp_path / "vdir", "list")
    assert "Volunteer for the KPI drafting committees" not in open_list
    assert re.search(r"\[ \] \d+ .*2008-10-06 Invite a US delegation to the Taiwan Business Alliance", open_list)
    assert re.search(r"\[ \] \d+ .*2009-03-01 Lead the KPI committee", open_list)
    everything = todoman(tmp_path, tmp_path / "vdir", "list", "--status", "ANY")
    assert re.search(r"\[X\] \d+ .*2008-09-30 Volunteer for the KPI drafting committees", everything)
    assert len(re.findall(r"^\[[ X]\]", everything, re.M)) == 23


def test_done_in_todoman_comes_back_with_import(invoke, invoke_json, loaded, tmp_path):
    invoke("export", "--out", str(tmp_path / "cal"))
    vdir = tmp_path / "vdir" / "tracker"
    write_vdir((tmp_path / "cal" / "action-items.ics").read_bytes(), vdir)
    listing = todoman(tmp_path, tmp_path / "vdir", "list")
    todo_id = re.search(r"^\[ \] (\d+) .*Invite Singapore to the Taiwan Business", listing, re.M)[1]
    todoman(tmp_path, tmp_path / "vdir", "done", todo_id)
    done_file = next(p for p in vdir.iterdir() if "singapore-invite" in p.name)
    invoke("--now", "2008-10-01", "import", str(done_file))
    item = invoke_json("show", "singapore-invite-business-alliance-conference")
    assert item["status"] == "done" and item["completed_how"] == "ics"
