"""Issue 11 §2: what a user can get wrong is one `Error:` line that names the option, variable, file or field and
says what to do, the database is left as it was, and nothing is accepted silently."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.conftest import dump
from tracker.vocab import CATEGORIES

# --- §2.7: times, dates, fields and YAML syntax, said in plain words ---------------------------------------


def error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "extra", "expected"),
    [
        (["--now", "garbage"], {}, "Error: --now: not an ISO-8601 date or date-time: 'garbage'"),
        ([], {"TRACKER_NOW": "garbage"}, "Error: TRACKER_NOW: not an ISO-8601 date or date-time: 'garbage'"),
        (["--now", "2009-02-30"], {}, "Error: --now: 2009-02-30: February 2009 has 28 days"),
        ([], {"TRACKER_NOW": "2008-02-30T10:00"}, "Error: TRACKER_NOW: 2008-02-30: February 2008 has 29 days"),
        (["--now", "0001-01-01"], {}, "Error: --now: dates must lie in the years 1900–2200, not 1: '0001-01-01'"),
        (["--now", "yesterday"], {}, "Error: --now: not an ISO-8601 date or date-time: 'yesterday'"),
        (
            ["--tz", "Mars/Base"],
            {},
            "Error: --tz: unknown time zone 'Mars/Base' (use an IANA name such as Asia/Taipei)",
        ),
    ],
)
def test_a_bad_global_setting_names_the_option_or_the_variable(invoke, env, args, extra, expected):
    assert error_line(invoke(*args, "items", code=2, env={**env, **extra})) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["add", "x", "--due", "2009-02-30"], "Error: --due: 2009-02-30: February 2009 has 28 days"),
        (["edit", "1", "--due", "2009-04-31T10:00"], "Error: --due: 2009-04-31: April 2009 has 30 days"),
        (["add", "x", "--due", "2009-13-01"], "Error: --due: 2009-13-01: there is no month 13 (months are 01–12)"),
        (["items", "--due-before", "2010-02-29"], "Error: --due-before: 2010-02-29: February 2010 has 28 days"),
    ],
)
def test_a_day_that_does_not_exist_is_said_so_on_the_command_line(invoke, loaded, db_url, args, expected):
    before = dump(db_url)
    assert error_line(invoke(*args, code=1)) == expected
    assert dump(db_url) == before


def test_a_day_that_does_not_exist_is_said_so_in_yaml_and_ics(invoke, db_url, tmp_path):
    (tmp_path / "a.yaml").write_text("items:\n  - slug: a\n    title: A\n    tz: UTC\n    due: 2009-02-30\n")
    result = invoke("load", str(tmp_path / "a.yaml"), code=1)
    assert error_line(result) == f"Error: {tmp_path / 'a.yaml'}:5: items a: due: 2009-02-30: February 2009 has 28 days"
    calendar = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VTODO", "UID:t",
                            "DUE;VALUE=DATE:20090230", "END:VTODO", "END:VCALENDAR", ""])  # fmt: skip
    (tmp_path / "a.ics").write_text(calendar)
    result = invoke("import", str(tmp_path / "a.ics"), code=1)
    assert error_line(result).endswith("a.ics: not a valid iCalendar file: 20090230: February 2009 has 28 days")


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("    owner: [p1]\n", "5: items a: owner: unknown field (did you mean 'owners'?)"),
        ("    titel: B\n", "5: items a: titel: unknown field (did you mean 'title'?)"),
        (
            "    reminders: {due_day: '10:00'}\n",
            "5: items a: reminders.due_day: unknown field (did you mean 'due_day_at'?)",
        ),
        ("    colour: red\n", "5: items a: colour: unknown field"),
    ],
)
def test_an_unknown_field_suggests_the_known_one(invoke, db_url, tmp_path, record, expected):
    path = tmp_path / "a.yaml"
    path.write_text("items:\n  - slug: a\n    title: A\n    tz: UTC\n" + record)
    assert error_line(invoke("load", str(path), code=1)) == f"Error: {path}:{expected}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("    title: Plan: phase 2\n", ':3: YAML syntax: a colon followed by a space inside a value: put the value in '
         'quotes (title: "Plan: phase 2"), or the line is indented too far (the parser says: mapping values are '
         'not allowed here)'),
        ("\ttitle: A\n", ":3: YAML syntax: a tab character: indent with spaces only (the parser says: found "
         "character '\\t' that cannot start any token)"),
        ("    title: A\n   tz: UTC\n", ":4: YAML syntax: the indentation does not line up with the lines above (the "
         "parser says: expected <block end>, but found '<block mapping start>')"),
        ("    title: A\n    owners: [p1\n", ":5: YAML syntax: a [list] is not closed with ], or a comma is missing "
         "(the parser says: expected ',' or ']', but got '<stream end>')"),
        ('    title: "A\n', ":4: YAML syntax: a quote is not closed (the parser says: found unexpected end of stream)"),
    ],
)  # fmt: skip
def test_yaml_syntax_errors_say_what_to_look_at(invoke, db_url, tmp_path, text, expected):
    path = tmp_path / "a.yaml"
    path.write_text("items:\n  - slug: a\n" + text)
    assert error_line(invoke("load", str(path), code=1)) == f"Error: {path}{expected}"


# --- §2.3: a load that finds nothing to load says so -------------------------------------------------------


def test_loading_a_folder_without_yaml_is_an_error(invoke, loaded, db_url, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no data here")
    before = dump(db_url)
    result = invoke("load", str(tmp_path / "notes"), code=1)
    assert (
        error_line(result) == f"Error: {tmp_path / 'notes'}: no *.yaml or *.yml file in this folder, so nothing to load"
    )
    assert dump(db_url) == before


@pytest.mark.parametrize("content", ["", "# only a comment\n", "recorded: 2008-08-29\nitems: []\n"])
def test_loading_only_empty_files_is_an_error(invoke, loaded, db_url, tmp_path, content):
    (tmp_path / "new.yaml").write_text(content)
    before = dump(db_url)
    result = invoke("load", str(tmp_path / "new.yaml"), code=1)
    assert error_line(result) == f"Error: nothing to load: {tmp_path / 'new.yaml'} has no records"
    assert dump(db_url) == before


def test_an_empty_file_beside_records_is_a_warning(invoke, invoke_json, db_url, tmp_path):
    (tmp_path / "a.yaml").write_text("people:\n  - {slug: p1, name: P, tz: UTC}\n")
    (tmp_path / "b.yaml").write_text("")
    result = invoke("load", str(tmp_path), "--json")
    assert result.stderr == f"Warning: {tmp_path / 'b.yaml'}: no records (an empty file?)\n"
    assert {r["kind"]: r["created"] for r in json.loads(result.stdout)["results"]}["people"] == 1


# --- §2.4: an unknown slug in a filter is an error with the closest known ones -----------------------------

AREAS = ", ".join(CATEGORIES)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["items", "--owner", "apec-oficer"], "no person with slug 'apec-oficer' (did you mean 'apec-officer' or "
         "'bilateral-officer'?)"),
        (["items", "--owner", "nobody"], "no person with slug 'nobody'"),
        (["items", "--meeting", "apec-smewg-29"], "no meeting or series with slug 'apec-smewg-29' (did you mean "
         "'apec-smewg-28', 'apec-smewg-27' or 'apec-smewg-26'?)"),
        (["items", "--meeting", "apec-sme-ministeral"], "no meeting or series with slug 'apec-sme-ministeral' (did "
         "you mean 'apec-sme-ministerial'"),
        (["items", "--category", "financeing"], f"--category: no priority area 'financeing' (did you mean "
         f"'financing'?); the areas are {AREAS}"),
        (["add", "x", "--category", "inovation"], "--category: no priority area 'inovation' (did you mean "
         "'innovation'?)"),
        (["add", "x", "--committee", "kpi-inovation"], "no committee with slug 'kpi-inovation' (did you mean "
         "'kpi-innovation'?)"),
        (["edit", "1", "--owner", "desk-leed"], "no person with slug 'desk-leed' (did you mean 'desk-lead'?)"),
        (["show", "kpi-comittee-volunteer"], "no item with id or slug 'kpi-comittee-volunteer' (did you mean "
         "'kpi-committee-volunteer'?)"),
        (["done", "kpi-comittee-volunteer"], "no item with id or slug 'kpi-comittee-volunteer' (did you mean "
         "'kpi-committee-volunteer'?) (see `tracker items --status all`)"),
        (["subscribe", "add", "--name", "x", "--person", "desk-leed"], "no person with slug 'desk-leed' (did you "
         "mean 'desk-lead'?)"),
        (["subscribe", "add", "--name", "x", "--calendar", "meeting"], "--calendar: no calendar 'meeting' (did you "
         "mean 'meetings'?)"),
    ],
)  # fmt: skip
def test_an_unknown_slug_is_an_error_that_suggests_the_closest(invoke, loaded, db_url, args, expected):
    before = dump(db_url)
    line = error_line(invoke(*args, code=1))
    assert line.startswith(f"Error: {expected}"), line
    assert dump(db_url) == before


def test_the_check_is_the_core_s_so_every_front_end_has_it(invoke, loaded, db_url):
    from tracker import items, store
    from tracker.errors import NotFound

    engine = store.engine(db_url)
    with store.transaction(engine) as session, pytest.raises(NotFound, match=r"did you mean 'apec-officer'"):
        items.items(session, datetime(2008, 9, 1, tzinfo=UTC), owner="apec-oficer")
    engine.dispose()
