"""Loading data/*.yaml: the shipped dataset, idempotency, three-way reloads and validation errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import DATA, dump


def _records():
    for path in sorted(DATA.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for section, rows in document.items():
            if isinstance(rows, list):
                yield from ((path.name, section, row) for row in rows)


def test_every_source_quote_is_verbatim_in_the_report():
    report = re.sub(r"\s+", "", (DATA / "source" / "apec-sme-ministerial-2008-report.txt").read_text(encoding="utf-8"))
    quoted = [(f, s, r) for f, s, r in _records() if s != "people"]
    assert len(quoted) == 59
    for filename, section, row in quoted:
        assert row.get("source"), f"{filename} {section} {row['slug']} has no source quote"
        assert re.sub(r"\s+", "", row["source"]) in report, f"{filename} {section} {row['slug']}"


def test_shipped_dataset_loads_with_every_kind(invoke_json, data_copy):
    rows = {r["kind"]: r for r in invoke_json("load", str(data_copy))}
    assert rows["people"]["created"] == 5
    assert rows["committees"]["created"] == 2
    assert rows["series"]["created"] == 2
    assert rows["meetings"]["created"] == 10
    assert rows["decisions"]["created"] == 22
    assert rows["items"]["created"] == 23


def test_loading_twice_changes_nothing(invoke_json, loaded, db_url):
    before = dump(db_url)
    rows = invoke_json("load", str(loaded))
    assert all(r["created"] == 0 and r["updated"] == 0 for r in rows)
    assert dump(db_url) == before


def test_reload_keeps_status_changes_and_applies_yaml_edits(invoke, invoke_json, loaded):
    invoke("--now", "2008-09-20", "done", "kpi-committee-volunteer", "--note", "letter sent")
    items_yaml = loaded / "items.yaml"
    text = items_yaml.read_text(encoding="utf-8")
    items_yaml.write_text(
        text.replace(
            "title: Volunteer for the KPI drafting committees", "title: Volunteer for the KPI committees (edited)"
        ),
        encoding="utf-8",
    )
    invoke("--now", "2008-09-21", "load", str(loaded))
    item = invoke_json("show", "kpi-committee-volunteer")
    assert item["title"] == "Volunteer for the KPI committees (edited)"
    assert item["status"] == "done"
    assert item["completed_by"] == "tester"
    assert item["completed_at"].startswith("2008-09-19T16:00")  # 2008-09-20 00:00 Asia/Taipei
    assert item["sequence"] == 2
    assert [h["field"] for h in item["history"]] == ["created", "status", "title"]


def test_a_status_changed_in_yaml_is_applied(invoke_json, invoke, loaded):
    items_yaml = loaded / "items.yaml"
    text = items_yaml.read_text(encoding="utf-8")
    marker = "  - slug: peru-itri-cooperation\n"
    items_yaml.write_text(text.replace(marker, marker + "    status: cancelled\n"), encoding="utf-8")
    invoke("load", str(loaded))
    assert invoke_json("show", "peru-itri-cooperation")["status"] == "cancelled"


BAD = [
    (
        "due: 2008-09-30",
        "due: 2008-13-30",
        r"items\.yaml:\d+: items kpi-committee-volunteer: due: 2008-13-30: there is no month 13",
    ),
    (
        "    due_note: end of September 2008\n",
        "    due_note: x\n    colour: red\n",
        r"items\.yaml:\d+: items kpi-committee-volunteer: colour: unknown field",
    ),
    (
        "tz: America/Lima\n    place: Chiclayo",
        "tz: America/Chiclayo\n    place: Chiclayo",
        r"meetings\.yaml:\d+: meetings apec-smewg-27: tz: unknown time zone 'America/Chiclayo'",
    ),
    (
        "slug: peru-itri-cooperation",
        "slug: peru-textile-show-delegation",
        r"items\.yaml:\d+: items peru-textile-show-delegation: slug: duplicate slug .*first at .*items\.yaml:\d+",
    ),
    ("owners: [forum-officer]", "owners: [nobody]", r"items\.yaml:\d+: items forum-host-2009: owners: no person"),
    (
        "priority: high\n    category: market-access",
        "priority: urgent\n    category: market-access",
        r"items\.yaml:\d+: items forum-host-2009: priority: Input should be 'high', 'medium' or 'low'",
    ),
    ("items:\n", "items:\n  - [unclosed\n", r"items\.yaml:\d+: YAML syntax"),
]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    BAD,
    ids=["bad-date", "unknown-field", "unknown-tz", "duplicate-slug", "unknown-owner", "bad-priority", "yaml-syntax"],
)
def test_bad_input_gives_one_line_and_leaves_the_database_as_it_was(invoke, loaded, db_url, old, new, expected):
    invoke("--now", "2008-09-20", "done", "1")
    before = dump(db_url)
    for path in loaded.glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if old in text:
            path.write_text(text.replace(old, new, 1), encoding="utf-8")
            break
    else:
        pytest.fail(f"fixture text not found: {old!r}")
    # Touch every other record too: the bad record must stop all of them from being written.
    items_yaml = loaded / "items.yaml"
    items_yaml.write_text(
        items_yaml.read_text(encoding="utf-8").replace("priority: low", "priority: medium"), encoding="utf-8"
    )
    result = invoke("load", str(loaded), code=1)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert re.search(expected, lines[0]), lines[0]
    assert "Traceback" not in result.output
    assert dump(db_url) == before


def test_error_line_numbers_point_at_the_field(invoke, data_copy):
    path = data_copy / "items.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    target = next(n for n, line in enumerate(lines, 1) if line.strip() == "due: 2009-12-31")
    lines[target - 1] = lines[target - 1].replace("2009-12-31", "someday")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = invoke("load", str(data_copy), code=1)
    assert f"items.yaml:{target}: items forum-host-2009: due:" in result.stderr


def test_missing_path_is_a_clear_error(invoke, tmp_path: Path):
    result = invoke("load", str(tmp_path / "nope.yaml"), code=1)
    assert result.stderr.strip() == f"Error: {tmp_path / 'nope.yaml'}: no such file or folder"
