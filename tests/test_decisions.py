"""The decision log (issue 13 §3): data/decisions.yaml loaded with the same refusals as every record, reloaded by the
three-way rule, dumped back, listed by `tracker decisions`, cited by items, dropping items, and shown on the meeting
and item pages."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markupsafe import escape
from sqlalchemy import update

from tests.conftest import DATA, dump
from tests.test_dump import files, run, same_register, second_env  # noqa: F401 - second_env is a fixture
from tracker.cli.main import cli
from tracker.core import store
from tracker.core.models import Decision
from tracker.core.vocab import CATEGORIES
from tracker.register import dataset

MINISTERIAL = "apec-sme-ministerial-15"


def shipped() -> dict[str, dataset.DecisionIn]:
    return {e.record.slug: e.record for e in dataset.read([DATA]).entries["decisions"]}


def test_the_reports_decisions_are_in_the_data_each_with_its_meeting_and_what_it_affects():
    found = shipped()
    assert len(found) == 22 and {d.meeting for d in found.values()} == {MINISTERIAL}
    plan = "SMEWG Strategic Plan 2009–2012 (Chiclayo Plan)"
    expected = {  # slug: (category, affects_series, affects_committee, affects_plan)
        "joint-statement-adopted": (None, None, None, ""),
        "joint-statement-to-lima": (None, None, None, ""),
        "strategic-plan-endorsed": (None, "apec-smewg", None, plan),
        "six-priority-areas": (None, None, None, plan),
        "work-plans-linked-to-priorities": (None, "apec-smewg", None, plan),
        "kpis-decided-at-smewg-28": (None, "apec-smewg", "kpi-management-entrepreneurship", plan),
        "ministerials-biennial-from-2010": (None, "apec-sme-ministerial", None, ""),
        "gfpn-wln-cooperation": ("management-entrepreneurship", "apec-smewg", None, ""),
        "innovation-management-daegu": ("innovation", "apec-smewg", None, ""),
        "daegu-self-assessment-2010": ("innovation", None, None, ""),
        "csr-in-smewg-activities": ("sustainable-practices", "apec-smewg", None, ""),
    }
    for slug, affects in expected.items():
        d = found[slug]
        assert (d.category, d.affects_series, d.affects_committee, d.affects_plan) == affects, slug
    assert "利馬" in found["joint-statement-to-lima"].source and "KPIs" in found["kpis-decided-at-smewg-28"].source
    assert "每2年舉辦1次" in found["ministerials-biennial-from-2010"].source
    # every one of the six priority areas is named by the decision that endorses them
    areas = "企業經營環境、市場進入與國際化、建立管理能力與促進創業家精神、創新、融資、提高企業永續經營實務意識"
    assert areas in found["six-priority-areas"].source


def test_the_shipped_items_cite_the_decisions_they_carry_out():
    cited = {e.record.slug: e.record.decision for e in dataset.read([DATA]).entries["items"] if e.record.decision}
    assert cited["lima-joint-statement"] == "joint-statement-to-lima"
    assert cited["attend-every-smewg-and-ministerial"] == "ministerials-biennial-from-2010"
    assert cited["kpi-lead-management-entrepreneurship"] == "kpis-decided-at-smewg-28"
    assert cited["daegu-innovation-self-assessment"] == "daegu-self-assessment-2010"
    assert set(cited.values()) <= set(shipped())


# --- tracker decisions --------------------------------------------------------------------------------------------


def test_decisions_json_is_the_whole_record_with_the_items_that_carry_it_out(invoke_json, loaded):
    rows = invoke_json("decisions")
    assert [r["slug"] for r in rows] == list(shipped())  # by meeting date, then as recorded
    biennial = next(r for r in rows if r["slug"] == "ministerials-biennial-from-2010")
    assert biennial == {
        "id": 12,
        "slug": "ministerials-biennial-from-2010",
        "title": "Hold the SME Ministerial Meeting every two years from 2010",
        "description": "In line with APEC's reform to hold fewer meetings with deeper agendas.",
        "meeting": MINISTERIAL,
        "meeting_title": "15th APEC SME Ministerial Meeting",
        "category": None,
        "affects_series": "apec-sme-ministerial",
        "affects_committee": None,
        "affects_plan": "",
        "affects": ["series apec-sme-ministerial"],
        "drops": [],
        "source_quote": "另為呼應APEC改革精簡會議及提升議程深度之決議，"
        "本次部長會議同意自2010年起每2年舉辦1次中小企業部長會議",
        "items": ["attend-every-smewg-and-ministerial"],
        "updated_at": "2008-08-29T05:00:00+00:00",  # recorded: 2008-08-29, in the meeting's zone (America/Lima)
    }
    kpis = next(r for r in rows if r["slug"] == "kpis-decided-at-smewg-28")
    assert kpis["items"] == ["kpi-lead-management-entrepreneurship", "kpi-join-innovation-committee"]


FILTERS = [
    (["--meeting", MINISTERIAL], 22),
    (["--meeting", "apec-sme-ministerial"], 22),  # a series: its meetings' decisions
    (["--meeting", "apec-smewg-27"], []),
    (["--category", "innovation"], ["innovation-management-daegu", "daegu-self-assessment-2010"]),
    (["--affects", "apec-sme-ministerial"], ["ministerials-biennial-from-2010", "singapore-hosts-2009-ministerial"]),
    (["--affects", "kpi-management-entrepreneurship"], ["kpis-decided-at-smewg-28", "kpi-drafting-volunteers"]),
    (["--affects", "chiclayo PLAN", "--category", "innovation"], []),
    (["--affects", "chiclayo PLAN"], ["strategic-plan-endorsed", "strategic-plan-named-chiclayo-plan",
                                      "six-priority-areas", "capacity-building-on-priorities",
                                      "work-plans-linked-to-priorities", "kpis-decided-at-smewg-28"]),
]  # fmt: skip


@pytest.mark.parametrize(("options", "expected"), FILTERS)
def test_decisions_filters(invoke_json, loaded, options, expected):
    slugs = [r["slug"] for r in invoke_json("decisions", *options)]
    assert len(slugs) == expected if isinstance(expected, int) else slugs == expected


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["--meeting", "apec-smewg-99"], "Error: no meeting or series with slug 'apec-smewg-99' (did you mean"),
        (["--affects", "apec-smew"], "Error: no series, committee or plan 'apec-smew' (did you mean 'apec-smewg'?)"),
        (["--category", "inovation"], "Error: no priority area 'inovation' (did you mean 'innovation'?)"),
    ],
)
def test_a_filter_that_names_nothing_is_an_error_not_an_empty_list(invoke, loaded, options, error):
    result = invoke("decisions", *options, code=1)
    assert result.stderr.startswith(error) and result.stderr.count("\n") == 1


def test_decisions_table_shows_slug_title_and_what_it_affects(invoke, loaded):
    table = invoke("decisions", "--affects", "apec-sme-ministerial", env={"COLUMNS": "200"}).stdout
    assert "ministerials-biennial-from-2010" in table and "Hold the SME Ministerial Meeting every two years" in table
    assert "series apec-sme-ministerial" in table and "joint-statement-adopted" not in table
    assert invoke("decisions", "--meeting", "apec-smewg-27").stdout.strip() == "decisions: none"


# --- loading: refusals, reload, drops -----------------------------------------------------------------------------

BAD = [  # (decision slug, old text, new text, field, problem)
    ("joint-statement-to-lima", "meeting: apec-sme-ministerial-15\n    description: Both",
     "meeting: lima\n    description: Both", "meeting", "no meeting with slug 'lima'"),
    ("csr-awareness", "category: sustainable-practices\n    source: 部長們歡迎",
     "category: csr\n    source: 部長們歡迎", "category", "unknown category; use one of"),
    ("abac-capacity-building", "    source: 並歡迎ABAC", "    sauce: 並歡迎ABAC", "sauce",
     "unknown field (did you mean 'source'?)"),
    ("joint-statement-to-lima", "    source: 最後並同意", "    source: ''\n    note: 最後並同意", "note",
     "unknown field"),
    ("enabling-environment", "    source: 部長們除同意", "    source: '  '\n    recorded: 2008-08-29\n    #",
     "source", "a decision quotes the words of the report that record it, verbatim"),
    ("ministerials-biennial-from-2010", "affects_series: apec-sme-ministerial\n    description: In line",
     "affects_series: ministerials\n    description: In line", "affects_series", "no series with slug 'ministerials'"),
    ("kpi-drafting-volunteers", "affects_committee: kpi-management-entrepreneurship\n    source: 會中",
     "affects_committee: kpi-innovations\n    source: 會中", "affects_committee",
     "no committee with slug 'kpi-innovations' (did you mean 'kpi-innovation'?)"),
    ("telecom-declaration-endorsed", "    description: SMEs play",
     "    drops: [no-such-item]\n    description: SMEs play", "drops", "no item with slug 'no-such-item'"),
]  # fmt: skip


BAD_IDS = ["unknown-meeting", "bad-category", "misspelt-source", "unknown-field", "blank-quote", "unknown-series",
           "unknown-committee", "drops-unknown-item"]  # fmt: skip


@pytest.mark.parametrize(
    ("slug", "old", "new", "field", "problem"),
    BAD,
    ids=BAD_IDS,
)
def test_a_bad_decision_is_one_line_naming_file_line_field_and_nothing_changes(
    invoke, loaded, db_url, slug, old, new, field, problem
):
    path = loaded / "decisions.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    changed = text.replace(old, new)
    path.write_text(changed, encoding="utf-8")
    line = next(n for n, row in enumerate(changed.splitlines(), 1) if re.match(rf"\s*{field}:", row)
                and n > changed.splitlines().index(f"  - slug: {slug}"))  # fmt: skip
    before = dump(db_url)
    result = invoke("load", str(loaded), code=1)
    assert result.stderr.startswith(f"Error: {path}:{line}: decisions {slug}: {field}: {problem}"), result.stderr
    assert result.stderr.count("\n") == 1
    assert dump(db_url) == before


def test_a_missing_quote_is_refused(invoke, loaded, db_url):
    path = loaded / "decisions.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("    source: 最後並同意將本聯合宣言提報本年11月於利馬舉行之年度部長及經濟領袖會議\n", ""),
        encoding="utf-8",
    )
    before = dump(db_url)
    stderr = invoke("load", str(loaded), code=1).stderr
    expected = "decisions joint-statement-to-lima: source: required field is missing"
    assert re.fullmatch(rf"Error: {re.escape(str(path))}:\d+: {expected}\n", stderr), stderr
    assert dump(db_url) == before


def test_an_item_citing_an_unknown_decision_is_refused(invoke, loaded, db_url):
    path = loaded / "items.yaml"
    text = path.read_text(encoding="utf-8").replace("decision: joint-statement-to-lima", "decision: statement-to-lima")
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("    decision: statement-to-lima") + 1
    before = dump(db_url)
    stderr = invoke("load", str(loaded), code=1).stderr
    assert stderr == (f"Error: {path}:{line}: items lima-joint-statement: decision: no decision with slug "
                      "'statement-to-lima' (did you mean 'joint-statement-to-lima'?)\n")  # fmt: skip
    assert dump(db_url) == before


def test_reload_is_three_way_a_change_in_the_database_stays_unless_the_yaml_changes_that_field(
    invoke, invoke_json, loaded, env
):
    engine = store.engine(env["TRACKER_DB"])
    try:
        with store.transaction(engine, write=True) as session:
            session.execute(update(Decision).where(Decision.slug == "csr-awareness").values(title="Edited in the DB"))
    finally:
        engine.dispose()
    path = loaded / "decisions.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("category: sustainable-practices\n    source: 部長們歡迎",
                        "category: business-environment\n    source: 部長們歡迎")  # fmt: skip
    path.write_text(text, encoding="utf-8")
    counts = {r["kind"]: r for r in invoke_json("--now", "2009-01-05", "load", str(loaded))}["decisions"]
    assert (counts["created"], counts["updated"], counts["unchanged"]) == (0, 1, 21)
    csr = next(r for r in invoke_json("decisions") if r["slug"] == "csr-awareness")
    assert (csr["title"], csr["category"]) == ("Edited in the DB", "business-environment")
    assert csr["updated_at"] == "2009-01-04T16:00:00+00:00"  # the load that changed it (--now, in Asia/Taipei)
    again = {r["kind"]: r for r in invoke_json("load", str(loaded))}["decisions"]
    assert again["updated"] == 0  # an unchanged file changes nothing, and the edit stays
    retitled = "Encourage businesses to adopt CSR (retitled in the YAML)"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "title: Encourage businesses to build corporate social responsibility into their operations and governance",
        f"title: {retitled}"), encoding="utf-8")  # fmt: skip
    invoke("load", str(loaded))
    assert next(r for r in invoke_json("decisions") if r["slug"] == "csr-awareness")["title"] == retitled


def _drop(path: Path, slug: str, items: str) -> None:
    text = path.read_text(encoding="utf-8")
    marker = f"  - slug: {slug}\n"
    path.write_text(text.replace(marker, f"{marker}    drops: [{items}]\n"), encoding="utf-8")


def test_a_decision_drops_items_once_with_a_note_naming_it(invoke, invoke_json, loaded):
    invoke("done", "singapore-fta-framework")
    _drop(loaded / "decisions.yaml", "telecom-declaration-endorsed", "peru-itri-cooperation, singapore-fta-framework")
    invoke("--now", "2008-10-01", "load", str(loaded))
    itri = invoke_json("show", "peru-itri-cooperation")
    assert itri["status"] == "cancelled"
    last = itri["history"][-1]
    assert (last["field"], last["old"], last["new"], last["by"], last["how"]) == ("status", "open", "cancelled",
                                                                                  "yaml", "yaml")  # fmt: skip
    assert last["note"] == (
        "dropped by decision telecom-declaration-endorsed: Agree with the 2008 APEC "
        "Telecommunications Ministerial Declaration on ICT infrastructure and the digital divide"
    )
    assert invoke_json("show", "singapore-fta-framework")["status"] == "done"  # done before: not dropped
    telecom = invoke_json("decisions", "--meeting", MINISTERIAL)[14]
    assert telecom["drops"] == ["peru-itri-cooperation", "singapore-fta-framework"]
    # Reopened, it stays open: the decision dropped it once.
    invoke("reopen", "peru-itri-cooperation", "--note", "still worth doing")
    invoke("load", str(loaded))
    assert invoke_json("show", "peru-itri-cooperation")["status"] == "open"


def test_dump_writes_decisions_and_the_items_links_back_and_loads_the_same_register(
    invoke, invoke_json, loaded, env, second_env, tmp_path  # noqa: F811 - the fixture imported above
):  # fmt: skip
    _drop(loaded / "decisions.yaml", "telecom-declaration-endorsed", "peru-itri-cooperation")
    invoke("load", str(loaded))
    invoke("add", "Report on the Daegu self-assessment", "--owner", "apec-officer", "--decision",
           "daegu-self-assessment-2010")  # fmt: skip
    invoke("edit", "forum-host-2009", "--decision", "strategic-plan-endorsed")
    first, second = tmp_path / "first", tmp_path / "second"
    invoke("dump", str(first))
    written = yaml.safe_load((first / "decisions.yaml").read_text(encoding="utf-8"))["decisions"]
    assert [d["slug"] for d in written] == list(shipped())
    assert next(d for d in written if d["slug"] == "telecom-declaration-endorsed")["drops"] == ["peru-itri-cooperation"]
    run(second_env, "load", str(first))
    run(second_env, "dump", str(second))
    same_register(env, second_env)
    assert files(second) == files(first)
    theirs = run(second_env, "decisions", "--json").stdout
    assert theirs.split('"results"')[1] == invoke("decisions", "--json").stdout.split('"results"')[1]
    assert all(r["created"] == r["updated"] == 0 for r in invoke_json("load", str(first)))


# --- items cite decisions from the command line ---------------------------------------------------------------------


def test_add_and_edit_take_a_decision_with_the_same_checks(invoke, invoke_json, loaded, db_url):
    added = invoke_json("add", "Write up the CSR ideas", "--owner", "apec-officer", "--decision", "csr-awareness")
    assert added["decision"] == "csr-awareness"
    edited = invoke_json("edit", added["slug"], "--decision", "csr-in-smewg-activities", "--note", "the SMEWG's")
    assert edited["decision"] == "csr-in-smewg-activities"
    history = invoke_json("show", added["slug"])["history"]
    assert (history[-1]["field"], history[-1]["old"], history[-1]["new"]) == ("decision", "csr-awareness",
                                                                              "csr-in-smewg-activities")  # fmt: skip
    assert "decision: csr-in-smewg-activities" in invoke("show", added["slug"]).stdout
    before = dump(db_url)
    for command in (["add", "Another", "--decision", "csr-awarenes"], ["edit", added["slug"], "--decision", "csr"]):
        stderr = invoke(*command, code=1).stderr
        assert stderr.startswith(f"Error: no decision with slug {command[-1]!r}"), stderr
    assert "(did you mean 'csr-awareness'?)" in invoke("add", "x", "--decision", "csr-awarenes", code=1).stderr
    assert dump(db_url) == before


# --- the desk --------------------------------------------------------------------------------------------------------


def test_meeting_pages_list_decisions_with_their_quotes_and_items_link_the_decision(
    loaded, make_server, desk_session, invoke, invoke_json
):
    evil = '<script>alert("d")</script> & <b>bold</b>'
    (loaded / "more.yaml").write_text(yaml.safe_dump({"decisions": [{
        "slug": "evil", "title": evil, "meeting": "apec-smewg-27", "source": evil, "affects_plan": evil,
        "description": evil}]}), encoding="utf-8")  # fmt: skip
    invoke("load", str(loaded))
    invoke("add", "Carry out the evil decision", "--slug", "evil-item", "--owner", "apec-officer", "--decision", "evil")
    client = desk_session(make_server(), "apec-officer", "officer")

    held = client.get(f"/meetings/{MINISTERIAL}").text
    section = held.split('id="decisions"', 1)[1].split("</section>", 1)[0]
    for d in invoke_json("decisions", "--meeting", MINISTERIAL):
        assert f'id="decision-{d["slug"]}"' in section
        assert str(escape(d["title"])) in section and str(escape(d["source_quote"])) in section
    assert '<a href="/items/attend-every-smewg-and-ministerial">' in section

    whole = client.get("/meetings/apec-sme-ministerial")  # its first occurrence (2010-10) is beyond the year ahead
    assert whole.status_code == 200
    series = whole.text.split('id="decisions"', 1)[1].split("</section>")[0]
    assert re.findall(r'id="decision-([\w-]+)"', series) == ["ministerials-biennial-from-2010",
                                                             "singapore-hosts-2009-ministerial"]  # fmt: skip
    assert "No decisions recorded." in client.get("/meetings/apec-smewg-28").text

    page = client.get("/meetings/apec-smewg-27").text
    assert "<script>alert" not in page and "<b>bold" not in page
    assert page.count(str(escape(evil))) == 4  # title, plan, description, quote: text, never markup

    item = client.get("/items/attend-every-smewg-and-ministerial").text
    link = item.split('id="decision"', 1)[1].split("</dd>", 1)[0]
    assert f'href="/meetings/{MINISTERIAL}#decision-ministerials-biennial-from-2010"' in link
    assert "Hold the SME Ministerial Meeting every two years from 2010" in link
    evil_item = client.get("/items/evil-item").text.split('id="decision"', 1)[1].split("</dd>", 1)[0]
    assert str(escape(evil)) in evil_item and "<script>" not in evil_item


# --- the YAML input, generated ------------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
RECORD = st.fixed_dictionaries(
    {
        "slug": st.one_of(st.sampled_from(["d-1", "d-2"]), TEXT),
        "title": TEXT,
        "meeting": st.one_of(st.sampled_from([MINISTERIAL, "apec-smewg-28"]), TEXT),
        "source": st.one_of(st.just("會議時間"), TEXT),
    },
    optional={
        "category": st.one_of(st.sampled_from(list(CATEGORIES)), TEXT),
        "affects_series": st.one_of(st.just("apec-smewg"), TEXT),
        "affects_plan": TEXT,
        "drops": st.lists(st.one_of(st.just("peru-itri-cooperation"), TEXT), max_size=2),
        "colour": TEXT,
    },
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(records=st.lists(RECORD, min_size=1, max_size=3))
@example(records=[{"slug": "d-1", "title": " Two\nlines ", "meeting": MINISTERIAL, "source": "會議時間",
                   "drops": ["peru-itri-cooperation"], "category": "financing"}])  # fmt: skip
def test_generated_decisions_load_whole_or_not_at_all(env, invoke_json, loaded, db_url, records):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.yaml"
        path.write_text(yaml.safe_dump({"decisions": records}, allow_unicode=True), encoding="utf-8")
        before = dump(db_url)
        result = CliRunner(env=env).invoke(cli, ["load", str(path)])
    if result.exit_code == 0:
        shown = {r["slug"]: r for r in invoke_json("decisions")}
        for record in records:  # the same slug twice in one file would have been refused
            valid = dataset.DecisionIn.model_validate(record)
            assert (shown[valid.slug]["title"], shown[valid.slug]["source_quote"]) == (valid.title, valid.source)
            assert shown[valid.slug]["meeting"] == valid.meeting
    else:
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.stderr.startswith(f"Error: {path}") and result.stderr.count("\n") == 1, result.stderr
        assert dump(db_url) == before
