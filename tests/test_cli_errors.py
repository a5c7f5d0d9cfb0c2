"""Issue 11 §2: what a user can get wrong is one `Error:` line that names the option, variable, file or field and
says what to do, the database is left as it was, and nothing is accepted silently."""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from tests.conftest import DATA, ROOT, dump
from tracker.cli.main import cli
from tracker.core.vocab import CATEGORIES

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


def test_a_misspelled_required_field_is_named_as_misspelled_not_missing(invoke, db_url, tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("items:\n  - slug: a\n    titel: A\n    tz: UTC\n")
    expected = f"Error: {path}:3: items a: titel: unknown field (did you mean 'title'?)"
    assert error_line(invoke("load", str(path), code=1)) == expected


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
        (["add", "x", "--serves", "apec-smewg-29"], "no meeting or series with slug 'apec-smewg-29' (did you mean "
         "'apec-smewg-28', 'apec-smewg-27' or 'apec-smewg-26'?)"),
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
    from tracker.core import store
    from tracker.core.errors import NotFound
    from tracker.register import items

    engine = store.engine(db_url)
    with store.transaction(engine) as session, pytest.raises(NotFound, match=r"did you mean 'apec-officer'"):
        items.items(session, datetime(2008, 9, 1, tzinfo=UTC), owner="apec-oficer")
    engine.dispose()


# --- §2.1: every database failure a user can cause is one line, and changes nothing ------------------------


def test_a_file_that_is_not_a_database_is_one_line_and_left_alone(invoke, db_url, tmp_path):
    if db_url.startswith("sqlite"):
        target = tmp_path / "README.md"
        target.write_text("# tracker\n\nKeeps the promises a delegation brings home.\n" * 40)
        url, before = f"sqlite:///{target}", target.read_bytes()
    else:
        url, before = make_url(db_url).set(database="no_such_database").render_as_string(hide_password=False), None
    result = invoke("--db", url, "items", code=2)
    line = error_line(result)
    assert line.startswith("Error: cannot open the database ")
    assert "file is not a database" in line if before else 'database "no_such_database" does not exist' in line
    if before is not None:
        assert target.read_bytes() == before and sorted(p.name for p in tmp_path.glob("README*")) == ["README.md"]


def read_only(db_url: str) -> str:
    """The same database opened read-only: SQLite's mode=ro (as a file without write permission behaves, which
    root cannot make), PostgreSQL's default_transaction_read_only (as a hot standby behaves)."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///file:{db_url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    options = {"options": "-c default_transaction_read_only=on"}
    return make_url(db_url).update_query_dict(options).render_as_string(hide_password=False)


@pytest.mark.parametrize("args", [["done", "1"], ["load"], ["subscribe", "add", "--name", "x"]])
def test_a_read_only_database_is_one_line_and_left_alone(invoke, loaded, db_url, args):
    if args == ["load"]:
        args = ["load", str(loaded)]
        (loaded / "items.yaml").write_text(
            (loaded / "items.yaml").read_text().replace("priority: low", "priority: high")
        )
    before = dump(db_url)
    line = error_line(invoke("--db", read_only(db_url), *args, code=2))
    assert line.startswith("Error: the database ") and " is read-only (" in line, line
    assert line.endswith("tracker needs to write it (and, for SQLite, its folder); use a writable copy for changes")
    assert dump(db_url) == before
    assert invoke("--db", read_only(db_url), "items").stdout == invoke("items").stdout  # reading still works


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.sqlite_only
def test_a_write_the_system_refuses_is_one_line_and_changes_nothing(db_url, db_path, env):
    """A file size limit (RLIMIT_FSIZE) makes the write-ahead log's growth fail as a full disk does."""
    tracker = [sys.executable, "-m", "tracker"]
    subprocess.run([*tracker, "init"], env={**os.environ, **env}, check=True, capture_output=True)
    before = dump(db_url)
    done = subprocess.run([*tracker, "load", str(DATA)], env={**os.environ, **env}, capture_output=True, text=True,
                          preexec_fn=_limit_file_size(60_000))  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "Error: the database could not be written (disk I/O error): free some space on its disk (or lift the file "
        "size limit), then try again; nothing was changed\n"
    )
    assert dump(db_url) == before


@pytest.mark.sqlite_only
def test_a_full_disk_is_one_line_and_changes_nothing(db_url, db_path, env, tmp_path):
    """A real ENOSPC: the database on a tmpfs with room for it and 64 kB more (the load needs far more), mounted in a
    private mount namespace (no root needed where user namespaces are allowed)."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux)")
    tracker = f"{shlex.quote(sys.executable)} -m tracker"
    subprocess.run([sys.executable, "-m", "tracker", "init"], env={**os.environ, **env}, check=True)
    mnt, out = tmp_path / "mnt", tmp_path / "after"
    mnt.mkdir()
    out.mkdir()
    room = db_path.stat().st_size // 1024 + 64  # sized from the empty database, which grows with the schema
    script = (f"mount -t tmpfs -o size={room}k tmpfs {mnt} || exit 99; cp {db_path} {mnt}/; "
              f"{tracker} --db sqlite:///{mnt}/tracker.db load {DATA}; code=$?; cp {mnt}/tracker.db* {out}/; "
              "exit $code")  # fmt: skip
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], env={**os.environ, **env}, capture_output=True,
                          text=True, cwd=ROOT)  # fmt: skip
    if done.returncode == 99 or "unshare:" in done.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 1, done.stderr
    assert done.stderr == (
        "Error: the database could not be written (database or disk is full): free some space on its disk (or lift "
        "the file size limit), then try again; nothing was changed\n"
    )
    assert dump(out / "tracker.db") == dump(db_path)


# --- §2.2: only init, load and import make a database file; elsewhere a missing one is an error --------------


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A CLI with no TRACKER_DB, run in an empty working folder, with its own user data folder."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"TRACKER_TZ": "Asia/Taipei", "XDG_DATA_HOME": str(tmp_path / "xdg"), "TRACKER_DB": None})

    def run(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    return run


@pytest.mark.parametrize(
    "args",
    [["items"], ["agenda"], ["add", "x"], ["export", "--out", "cal"], ["remind", "plan"], ["subscribe", "list"],
     ["backup", "b.db"], ["dump", "out"]],
)  # fmt: skip
def test_a_missing_database_file_is_an_error_that_says_how_to_make_one(fresh, tmp_path, args):
    url = f"sqlite:///{tmp_path}/nonexistent/dir/t.db"
    result = fresh("--db", url, *args, code=2)
    assert (
        error_line(result)
        == f"Error: no database at {tmp_path}/nonexistent/dir/t.db; create it with: tracker --db {url} init"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no folder, no file, no calendars, no dump


def test_a_uri_style_url_is_read_as_sqlite_reads_it(fresh, tmp_path):
    url = "sqlite:///file:sub/t.db?uri=true"
    assert error_line(fresh("--db", url, "items", code=2)) == (
        f"Error: no database at sub/t.db; create it with: tracker --db '{url}' init"
    )
    assert list(tmp_path.iterdir()) == []  # no "file:" folder either
    assert fresh("--db", url, "init").stderr.startswith(f"database ready: {url} ")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["sub", "sub/t.db"]
    assert fresh("--db", url, "items").stdout.startswith("items: nothing")


@pytest.mark.parametrize("command", ["init", "load", "import"])
def test_init_load_and_import_make_the_database(fresh, tmp_path, command):
    args = {"init": [], "load": [str(DATA)], "import": [str(ROOT / "calendars" / "meetings.ics")]}[command]
    url = f"sqlite:///{tmp_path}/new/t.db"
    fresh("--db", url, command, *args)
    assert (tmp_path / "new" / "t.db").is_file()
    fresh("--db", url, "items")


def test_any_command_makes_the_default_database(fresh, tmp_path):
    assert fresh("items").stdout.startswith("items: nothing")
    assert (tmp_path / "xdg" / "tracker" / "tracker.db").is_file()


# --- §2.5: a record belongs to its file; another file reusing its slug is refused ----------------------------

COPIED = "items:\n  - slug: kpi-committee-volunteer\n    title: Copied, slug not changed\n    tz: UTC\n"


def test_another_file_reusing_a_slug_is_refused_naming_both_files(invoke, loaded, db_url, tmp_path):
    (tmp_path / "more").mkdir()
    extra = tmp_path / "more" / "extra.yaml"
    extra.write_text("people:\n  - {slug: p9, name: New, tz: UTC}\n" + COPIED)
    before = dump(db_url)
    assert error_line(invoke("load", str(extra), code=1)) == (
        f"Error: {extra}:4: items kpi-committee-volunteer: slug already loaded from items.yaml; give this record "
        "another slug, or load with --move if it moved here from items.yaml"
    )
    assert dump(db_url) == before  # nor was p9 written


def test_the_same_file_loaded_another_way_is_no_conflict(invoke, invoke_json, loaded, db_url, tmp_path, monkeypatch):
    before = dump(db_url)
    monkeypatch.chdir(loaded)
    invoke("load", "items.yaml")  # a file of the folder loaded before, from inside it
    invoke("load", str(loaded / ".." / "data"))
    assert dump(db_url) == before


def test_move_lets_a_record_change_files(invoke, invoke_json, loaded, tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text(COPIED)
    invoke("load", "--move", str(extra))
    assert invoke_json("show", "kpi-committee-volunteer")["title"] == "Copied, slug not changed"
    line = error_line(invoke("load", str(loaded), code=1))  # now items.yaml is the other file
    assert "items kpi-committee-volunteer: slug already loaded from extra.yaml" in line


def test_a_record_moved_between_files_loaded_together_just_moves(invoke, invoke_json, loaded):
    items_yaml = loaded / "items.yaml"
    text = items_yaml.read_text(encoding="utf-8")
    start = text.index("  - slug: kpi-committee-volunteer\n")
    end = text.index("  - slug:", start + 1)
    items_yaml.write_text(text[:start] + text[end:], encoding="utf-8")
    (loaded / "kpi.yaml").write_text("recorded: 2008-08-29\nitems:\n" + text[start:end], encoding="utf-8")
    invoke("load", str(loaded))
    assert invoke_json("show", "kpi-committee-volunteer")["status"] == "open"


def test_records_made_by_add_are_claimed_by_the_first_file_that_loads_them(invoke, invoke_json, db_url, tmp_path):
    invoke("add", "Made on the command line", "--slug", "kpi-committee-volunteer", "--tz", "UTC")
    (tmp_path / "items.yaml").write_text(COPIED)
    invoke("load", str(tmp_path / "items.yaml"))
    assert invoke_json("show", "kpi-committee-volunteer")["title"] == "Copied, slug not changed"
    (tmp_path / "other.yaml").write_text(COPIED)
    assert "slug already loaded from items.yaml" in error_line(invoke("load", str(tmp_path / "other.yaml"), code=1))


def test_a_dump_of_records_from_several_files_loads_back_without_conflict(invoke, loaded, db_url, tmp_path):
    (tmp_path / "extra.yaml").write_text(COPIED.replace("kpi-committee-volunteer", "an-extra-item"))
    invoke("load", str(tmp_path / "extra.yaml"))
    invoke("add", "Made on the command line", "--tz", "UTC")
    invoke("dump", str(tmp_path / "out"))
    dumped = (tmp_path / "out" / "items.yaml").read_text()
    assert dumped.count("loaded_from:") == 1 and "    loaded_from: extra.yaml\n" in dumped
    rows = json.loads(invoke("load", str(tmp_path / "out"), "--json").stdout)["results"]  # no conflict
    assert sum(row["created"] + row["updated"] for row in rows) == 0  # and no change
    invoke("load", str(loaded))  # and the original files still load
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    invoke("--db", fresh, "load", str(tmp_path / "out"))
    invoke("--db", fresh, "dump", str(tmp_path / "again"))
    assert (tmp_path / "again" / "items.yaml").read_text() == dumped


# --- §2.6: a series' meeting in a placeholder's month replaces the placeholder, or says why not --------------


def without_override(folder) -> None:
    meetings_yaml = folder / "meetings.yaml"
    meetings_yaml.write_text(meetings_yaml.read_text(encoding="utf-8").replace("    overrides: 2009-03\n", "", 1))


def march_2009(invoke_json) -> list[tuple[str, str | None]]:
    rows = invoke_json("meetings", "--from", "2009-03-01", "--to", "2009-04-01")
    return [(row["title"], row["slug"]) for row in rows if row["series"] == "apec-smewg"]


def test_a_meeting_in_a_placeholder_month_is_taken_as_that_occurrence(invoke, invoke_json, data_copy):
    without_override(data_copy)
    result = invoke("load", str(data_copy))
    assert result.stderr == (
        f"Warning: {data_copy / 'meetings.yaml'}:138: meetings apec-smewg-28: taken as the 2009-03 occurrence of "
        "series apec-smewg (not shown beside it); add `overrides: 2009-03` to say so\n"
    )
    assert march_2009(invoke_json) == [("28th APEC SME Working Group meeting", "apec-smewg-28")]
    invoke("dump", str(data_copy.parent / "out"))  # the dump says it, so loading the dump warns no more
    assert "    overrides: 2009-03-01\n" in (data_copy.parent / "out" / "meetings.yaml").read_text()
    assert invoke("load", str(data_copy.parent / "out")).stderr == ""


def test_two_meetings_in_one_placeholder_month_are_a_warning_with_the_line_to_add(invoke, invoke_json, data_copy):
    without_override(data_copy)
    second = ("  - slug: apec-smewg-28-extra\n    title: Extra SMEWG session\n    series: apec-smewg\n"
              "    start: 2009-03-20\n    tz: Asia/Bangkok\n")  # fmt: skip
    (data_copy / "zz-extra.yaml").write_text("meetings:\n" + second)
    warnings = invoke("load", str(data_copy)).stderr.splitlines()
    tail = ("apec-smewg-28 and apec-smewg-28-extra fall on the 2009-03 occurrence of series apec-smewg, which is shown "
            "beside them; add `overrides: 2009-03` to the meeting that replaces it")  # fmt: skip
    assert warnings == [
        f"Warning: {data_copy / 'meetings.yaml'}:138: meetings apec-smewg-28: {tail}",
        f"Warning: {data_copy / 'zz-extra.yaml'}:5: meetings apec-smewg-28-extra: {tail}",
    ]
    assert len(march_2009(invoke_json)) == 3  # as the warning says: placeholder and both meetings


def test_a_meeting_outside_the_series_occurrences_stays_its_own(invoke, invoke_json, loaded):
    # apec-smewg-26/-27 (2008) come before the series' first occurrence (2009-03): nothing inferred, no warning
    assert invoke("load", str(loaded)).stderr == ""
    rows = invoke_json("meetings", "--from", "2008-01-01", "--to", "2009-01-01")
    assert {r["slug"] for r in rows if r["series"] == "apec-smewg"} == {"apec-smewg-26", "apec-smewg-27"}


def test_a_meeting_with_its_own_uid_is_not_taken_over_but_warned_about(invoke, data_copy):
    without_override(data_copy)
    meetings_yaml = data_copy / "meetings.yaml"
    text = meetings_yaml.read_text(encoding="utf-8")
    meetings_yaml.write_text(text.replace("    number: 28\n", "    number: 28\n    uid: smewg-28@thailand.example\n"))
    assert invoke("load", str(data_copy)).stderr == (
        f"Warning: {meetings_yaml}:139: meetings apec-smewg-28: apec-smewg-28 falls on the 2009-03 occurrence of "
        "series apec-smewg, which is shown beside it; add `overrides: 2009-03` (and remove its uid) to the meeting "
        "that replaces it\n"
    )


def test_a_file_named_twice_is_loaded_once(invoke, db_url, tmp_path):
    (tmp_path / "a.yaml").write_text("people:\n  - slug: p1\n    name: P\n    tz: UTC\n")
    result = invoke("load", str(tmp_path), str(tmp_path / "a.yaml"), f"{tmp_path}/../{tmp_path.name}/a.yaml", "--json")
    assert [row["created"] for row in json.loads(result.stdout)["results"] if row["created"]] == [1]


# --- a local time the clocks skip (spring forward) is refused on every path, not moved by the gap -------------

SKIPPED = "2030-03-10T02:30 does not exist in America/New_York: the clocks go forward over it that night"


def test_a_skipped_local_time_is_refused_on_the_command_line(invoke, loaded, db_url):
    before = dump(db_url)
    line = error_line(invoke("add", "X", "--owner", "apec-officer", "--due", "2030-03-10T02:30",
                             "--tz", "America/New_York", code=1))  # fmt: skip
    assert line.startswith(f"Error: --due: {SKIPPED}")
    line = error_line(invoke("--tz", "Australia/Lord_Howe", "items", "--due-before", "2030-10-06T02:15", code=1))
    assert line.startswith("Error: --due-before: 2030-10-06T02:15 does not exist in Australia/Lord_Howe")
    assert dump(db_url) == before
    ambiguous = invoke("add", "Y", "--owner", "apec-officer", "--due", "2030-11-03T01:30", "--tz", "America/New_York")
    assert ambiguous.exit_code == 0  # a time the clocks pass twice exists: its first pass, as RFC 5545 reads it


def test_add_names_its_tz_option_as_edit_does(invoke, loaded, db_url):
    for command in (["add", "X", "--owner", "apec-officer"], ["edit", "1"]):
        line = error_line(invoke(*command, "--tz", "Mars/Base", code=1))
        assert line == "Error: --tz: unknown time zone 'Mars/Base' (use an IANA name such as Asia/Taipei)"


SERIES = "series:\n  - slug: s\n    title: S\n    tz: America/New_York\n    start: {start}\n    rrule: FREQ=YEARLY\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SERIES.format(start="2030-03-10T02:30"), ":5: series s: start: "),
        (SERIES.format(start="2030-03-10") + "meetings:\n  - slug: m\n    title: M\n    series: s\n"
         "    tz: America/New_York\n    start: 2030-03-10T02:30\n", ":12: meetings m: start: "),
        ("meetings:\n  - slug: m\n    title: M\n    tz: America/New_York\n    start: 2030-03-11\n"
         "    recorded: 2030-03-10T02:30\n", ":6: meetings m: recorded: "),
        ("items:\n  - slug: i\n    title: I\n    tz: America/New_York\n    status: done\n"
         "    completed_at: 2030-03-10T02:30\n", ":6: items i: completed_at: "),
    ],
)  # fmt: skip
def test_a_skipped_local_time_is_refused_in_every_yaml_field(invoke, db_url, tmp_path, text, expected):
    (tmp_path / "a.yaml").write_text(text)
    line = error_line(invoke("load", str(tmp_path / "a.yaml"), code=1))
    assert line.startswith(f"Error: {tmp_path / 'a.yaml'}{expected}{SKIPPED}"), line


def test_a_skipped_local_time_is_refused_in_yaml_and_ics(invoke, db_url, tmp_path):
    (tmp_path / "a.yaml").write_text("meetings:\n  - slug: m\n    title: M\n    tz: America/New_York\n"
                                     "    start: 2030-03-10T02:30\n    end: 2030-03-10T04:00\n")  # fmt: skip
    line = error_line(invoke("load", str(tmp_path / "a.yaml"), code=1))
    assert line.startswith(f"Error: {tmp_path / 'a.yaml'}:5: meetings m: start: {SKIPPED}")
    calendar = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VTODO", "UID:t",
                            "SUMMARY:T", "DUE;TZID=America/New_York:20300310T023000", "END:VTODO", "END:VCALENDAR",
                            ""])  # fmt: skip
    (tmp_path / "a.ics").write_text(calendar)
    line = error_line(invoke("import", str(tmp_path / "a.ics"), code=1))
    assert f"DUE: {SKIPPED}" in line, line
