"""Shell completion of item ids and slugs, people, meetings, series and committees, through click's
shell_complete machinery (the _TRACKER_COMPLETE protocol the shell scripts speak), on SQLite (read with the
standard library) and PostgreSQL (through SQLAlchemy)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tracker.cli.main import cli
from tracker.core import store
from tracker.core.models import Committee, Meeting, MeetingSeries, Person


def complete(env: dict[str, str | None], line: str) -> list[tuple[str, str]]:
    """(value, help) of each candidate zsh would offer for a Tab at the end of `line`."""
    words = line.split(" ")
    tab = {"_TRACKER_COMPLETE": "zsh_complete", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    result = CliRunner(env={**env, **tab}).invoke(cli, [], prog_name="tracker", catch_exceptions=False)
    assert (result.exit_code, result.stderr) == (0, "")
    lines = result.stdout.strip("\n").split("\n") if result.stdout.strip() else []
    assert all(kind == "plain" for kind in lines[0::3])
    return [(value.replace("\\:", ":"), help_) for value, help_ in zip(lines[1::3], lines[2::3], strict=True)]


def rows(db_url: str, *columns) -> list[tuple[str, str]]:
    engine = store.engine(db_url)
    try:
        with store.transaction(engine) as session:
            return sorted(tuple(row) for row in session.execute(select(*columns)))
    finally:
        engine.dispose()


@pytest.fixture
def all_items(loaded, invoke_json):
    return invoke_json("items", "--status", "all")


def test_item_slugs_with_their_titles(env, all_items):
    for command in ("show", "edit"):
        expected = [(i["slug"], i["title"]) for i in sorted(all_items, key=lambda i: i["id"])
                    if i["slug"].startswith("kpi")]  # fmt: skip
        assert len(expected) >= 3
        assert complete(env, f"tracker {command} kpi") == expected
    by_id = sorted(all_items, key=lambda i: i["id"])
    assert [value for value, _ in complete(env, "tracker show ")] == [i["slug"] for i in by_id]


def test_ids_once_a_digit_is_typed(env, all_items):
    expected = [(str(i["id"]), i["title"]) for i in sorted(all_items, key=lambda i: i["id"]) if str(i["id"])[0] == "1"]
    assert len(expected) > 1
    assert complete(env, "tracker show 1") == expected
    assert complete(env, "tracker edit 1") == expected


def test_done_and_cancel_offer_open_items_reopen_closed_ones(env, invoke, all_items):
    invoke("done", "kpi-committee-volunteer")
    invoke("cancel", "kpi-join-innovation-committee")
    changed = {"kpi-committee-volunteer": "done", "kpi-join-innovation-committee": "cancelled"}
    statuses = {i["slug"]: i["status"] for i in all_items} | changed
    open_ones = {slug for slug, status in statuses.items() if status in ("open", "in_progress")}
    closed = set(statuses) - open_ones
    assert open_ones and {"kpi-committee-volunteer", "kpi-join-innovation-committee"} <= closed
    for command in ("done", "cancel"):
        assert {value for value, _ in complete(env, f"tracker {command} ")} == open_ones
    assert {value for value, _ in complete(env, "tracker reopen ")} == closed


def test_people_meetings_series_and_committees(env, loaded, db_url):
    people = rows(db_url, Person.slug, Person.name)
    meetings = rows(db_url, Meeting.slug, Meeting.title)
    series = rows(db_url, MeetingSeries.slug, MeetingSeries.title)
    committees = rows(db_url, Committee.slug, Committee.name)
    assert people and meetings and series and committees
    for line in ("tracker items --owner ", "tracker add T --owner ", "tracker edit 1 --owner x --owner ",
                 "tracker subscribe add --person "):  # fmt: skip
        assert complete(env, line) == people, line
    assert complete(env, "tracker items --owner apec") == [p for p in people if p[0].startswith("apec")]
    assert complete(env, "tracker add T --meeting ") == meetings
    assert complete(env, "tracker edit 1 --serves ") == sorted(meetings + series)
    assert complete(env, "tracker items --meeting ") == sorted(meetings + series)
    assert complete(env, "tracker add T --committee ") == committees


def test_the_database_given_anywhere_on_the_line_is_the_one_read(env, loaded, db_url, tmp_path):
    elsewhere = {**env, "TRACKER_DB": f"sqlite:///{tmp_path / 'none' / 'tracker.db'}"}
    assert complete(elsewhere, "tracker show kpi-committee") == []
    expected = complete(env, "tracker show kpi-committee")
    assert expected
    assert complete(elsewhere, f"tracker --db {db_url} show kpi-committee") == expected
    assert complete(elsewhere, f"tracker show --db {db_url} kpi-committee") == expected
    config = tmp_path / "tracker.toml"
    config.write_text(f'[tracker]\ndb = "{db_url}"\n')
    assert complete({**env, "TRACKER_DB": None}, f"tracker show --config {config} kpi-committee") == expected
    assert not (tmp_path / "none").exists()


@pytest.mark.sqlite_only
def test_no_database_means_no_candidates_and_none_is_created(env, tmp_path):
    missing = tmp_path / "missing.db"
    for url in (f"sqlite:///{missing}", "sqlite://", "sqlite:///:memory:", "mysql://nobody@127.0.0.1/x", "bogus"):
        assert complete({**env, "TRACKER_DB": url}, "tracker show ") == []
    assert not missing.exists()
    (tmp_path / "not-a-db.db").write_text("hello")
    assert complete({**env, "TRACKER_DB": f"sqlite:///{tmp_path / 'not-a-db.db'}"}, "tracker show ") == []
    bad = tmp_path / "bad.toml"
    bad.write_text("[tracker\n")
    assert complete({**env, "TRACKER_CONFIG": str(bad)}, "tracker show ") == []


@pytest.mark.sqlite_only
def test_a_database_is_only_read(env, loaded, db_path, tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert complete({**env, "TRACKER_DB": f"sqlite:///{empty}"}, "tracker show ") == []
    assert empty.read_bytes() == b""  # not made into a database
    before = db_path.read_bytes()
    assert complete(env, "tracker show kpi-committee-v") == [("kpi-committee-volunteer",
                                                              "Volunteer for the KPI drafting committees")]  # fmt: skip
    assert db_path.read_bytes() == before


@pytest.mark.postgresql_only
def test_a_missing_postgresql_database_means_no_candidates(env, db_url):
    from sqlalchemy.engine import make_url

    missing = make_url(db_url).set(database="no_such_database").render_as_string(hide_password=False)
    assert complete({**env, "TRACKER_DB": missing}, "tracker show ") == []


@pytest.mark.sqlite_only
def test_bash_gets_the_values_from_the_console_script(env, loaded):
    """The whole path a shell takes: the installed entry point, bash's protocol, a real process."""
    tab = {"_TRACKER_COMPLETE": "bash_complete", "COMP_WORDS": "tracker done kpi-lead", "COMP_CWORD": "2"}
    done = subprocess.run([sys.executable, "-c", "from tracker.cli.main import main; main()"], capture_output=True,
                          text=True, env={**os.environ, **env, **tab}, timeout=60)  # fmt: skip
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == ["plain,kpi-lead-management-entrepreneurship"]
