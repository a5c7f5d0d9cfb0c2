"""The global options (--db, --now, --tz, --config, --json) work after the command's name too, as users type
them; the later value wins, and an option beats its environment variable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_now_and_json_after_the_command_are_the_same_as_before_it(invoke, loaded):
    after = invoke("items", "--now", "2026-01-01", "--json").stdout
    assert after == invoke("--now", "2026-01-01", "items", "--json").stdout
    assert after == invoke("--json", "--now", "2026-01-01", "items").stdout
    assert after == invoke("items", "--json", "--now", "2026-01-01").stdout
    document = json.loads(after)
    assert document["now"] == "2025-12-31T16:00:00+00:00"  # midnight in TRACKER_TZ, Asia/Taipei
    dated = [item for item in document["results"] if item["due_utc"]]
    assert dated and all(item["overdue"] for item in dated)  # seen from 2026


def test_nested_commands_take_them_too(invoke, loaded):
    expected = invoke("--now", "2008-09-01", "remind", "plan", "--days", "60", "--json").stdout
    assert json.loads(expected)["results"]
    assert invoke("remind", "plan", "--days", "60", "--now", "2008-09-01", "--json").stdout == expected
    assert invoke("remind", "--now", "2008-09-01", "plan", "--days", "60", "--json").stdout == expected
    assert invoke("--json", "remind", "plan", "--now", "2008-09-01", "--days", "60").stdout == expected


def test_the_later_value_wins_and_the_option_beats_the_environment(invoke, loaded):
    def now(*args: str, **kwargs) -> str:
        return json.loads(invoke(*args, "--json", **kwargs).stdout)["now"]

    assert now("--now", "2001-01-01T00:00Z", "items", "--now", "2026-01-01T00:00Z") == "2026-01-01T00:00:00+00:00"
    assert now("--now", "2001-01-01T00:00Z", "items") == "2001-01-01T00:00:00+00:00"
    environment = {"TRACKER_NOW": "2001-01-01T00:00Z"}
    assert now("items", env=environment) == "2001-01-01T00:00:00+00:00"
    assert now("items", "--now", "2026-01-01T00:00Z", env=environment) == "2026-01-01T00:00:00+00:00"


def test_db_after_the_command_is_the_database_used(invoke, db_url, data_copy, tmp_path):
    elsewhere = tmp_path / "elsewhere" / "tracker.db"
    environment = {"TRACKER_DB": f"sqlite:///{elsewhere}"}
    invoke("load", str(data_copy), "--db", db_url, env=environment)
    found = json.loads(invoke("items", "--db", db_url, "--json", env=environment).stdout)["results"]
    assert "kpi-committee-volunteer" in {item["slug"] for item in found}
    invoke("done", "kpi-committee-volunteer", "--db", db_url, env=environment)
    assert json.loads(invoke("show", "kpi-committee-volunteer", "--json").stdout)["results"]["status"] == "done"
    assert not elsewhere.parent.exists()  # the environment's database was never opened


def test_tz_after_the_command(invoke, loaded):
    after = invoke("agenda", "--now", "2009-01-15T12:00Z", "--tz", "America/Lima")
    assert "now: 2009-01-15 07:00 America/Lima" in after.stderr
    before = invoke("--tz", "America/Lima", "--now", "2009-01-15T12:00Z", "agenda")
    assert (after.stdout, after.stderr) == (before.stdout, before.stderr)


def test_after_add_and_edit_tz_stays_the_items_zone(invoke, loaded):
    record = json.loads(invoke("add", "Call Lima", "--due", "2009-03-01T10:00", "--tz", "America/Lima",
                               "--json").stdout)["results"]  # fmt: skip
    assert (record["tz"], record["due_utc"]) == ("America/Lima", "2009-03-01T15:00:00+00:00")
    record = json.loads(invoke("--tz", "Europe/London", "add", "Call London", "--due", "2009-03-01T10:00",
                               "--json").stdout)["results"]  # fmt: skip
    assert (record["tz"], record["due_utc"]) == ("Europe/London", "2009-03-01T10:00:00+00:00")


def test_config_after_the_command(invoke, db_url, data_copy, tmp_path):
    config = tmp_path / "tracker.toml"
    config.write_text(f'[tracker]\ndb = "{db_url}"\ntz = "America/Lima"\n')
    environment = {"TRACKER_DB": None, "TRACKER_TZ": None}  # unset: the file's settings apply
    invoke("load", str(data_copy), "--config", str(config), env=environment)
    result = invoke("agenda", "--config", str(config), "--now", "2009-01-15T12:00Z", env=environment)
    assert "now: 2009-01-15 07:00 America/Lima" in result.stderr
    config.write_text('[tracker]\nrefresh = "PT0S"\n')
    error = invoke("items", "--config", str(config), code=2).stderr
    assert error == "Error: setting refresh: from one minute (PT1M) to a week (P7D)\n"


def test_help_lists_them_under_their_own_heading(invoke):
    help_text = invoke("items", "--help").stdout
    own, _, shared = help_text.partition("Global options (also before the command):")
    assert "--db" in shared and "--now" in shared and "--config" in shared and "--overdue" in own
    assert "--db" not in own
    assert "--tz" not in invoke("add", "--help").stdout.partition("Global options")[2]


@pytest.mark.parametrize("args", [["--json", "serve"], ["--json", "remind", "run"]])
def test_json_first_for_a_command_without_json_output_is_an_error(invoke, args):
    error = invoke(*args, code=2).stderr
    assert error.startswith("Error: --json: `") and f" {' '.join(args[1:])}` has no JSON output" in error, error
    assert error.count("\n") == 1


def test_environment_variables_keep_working(invoke, loaded, tmp_path):
    result = invoke("agenda", env={"TRACKER_TZ": "America/Lima", "TRACKER_NOW": "2009-01-15T12:00Z"})
    assert "now: 2009-01-15 07:00 America/Lima" in result.stderr
    missing = Path(tmp_path / "nowhere.toml")
    error = invoke("items", env={"TRACKER_CONFIG": str(missing)}, code=2).stderr
    assert "nowhere.toml: cannot read config file" in error
