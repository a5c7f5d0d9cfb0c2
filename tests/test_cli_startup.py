"""Start-up stays cheap: which modules a command imports, checked in a fresh process (bench/cli_startup.py
measures the times; a timed test would only measure the machine's load)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Modules that cost a start-up tens of milliseconds each, and the commands below do not need.
HEAVY = ("sqlalchemy", "alembic", "icalendar", "recurring_ical_events", "dateutil", "httpx", "rich", "yaml",
         "pydantic", "jinja2", "starlette", "uvicorn", "apscheduler", "asyncio")  # fmt: skip

# Runs `tracker ARGS` as the console script does, then reports the heavy modules it imported and whether the
# cycle collector runs (main() pauses it during start-up only).
PROBE = f"""
import atexit, gc, json, sys
report, sys.argv = sys.argv[1], ["tracker", *sys.argv[2:]]
def write():
    with open(report, "w") as f:
        json.dump({{"modules": [m for m in {HEAVY!r} if m in sys.modules], "gc": gc.isenabled()}}, f)
atexit.register(write)
from tracker.cli.main import main
main()
"""


def probe(tmp_path: Path, env: dict[str, str], *args: str, extra: dict[str, str] | None = None) -> tuple[dict, str]:
    """Run the command in a new interpreter: (its report, its stdout)."""
    report = tmp_path / "report.json"
    environ = {**os.environ, **env, "TRACKER_NOW": "2009-01-15", **(extra or {})}
    done = subprocess.run([sys.executable, "-c", PROBE, str(report), *args], capture_output=True, text=True,
                          env=environ, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(report.read_text()), done.stdout


def tab(line: str) -> dict[str, str]:
    """The environment of one Tab at the end of `line` (bash, through click's shell_complete)."""
    words = line.split(" ")
    return {"_TRACKER_COMPLETE": "bash_complete", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}


@pytest.mark.sqlite_only  # a Tab reads SQLite with the standard library; PostgreSQL needs SQLAlchemy
def test_help_and_a_tab_import_nothing_heavy(loaded, env, tmp_path):
    for args in (["--help"], ["items", "--help"], ["remind", "plan", "--help"]):
        report, out = probe(tmp_path, env, *args)
        assert "Usage: tracker" in out
        assert report["modules"] == [], args
    report, out = probe(tmp_path, env, extra=tab("tracker show kpi-committee"))
    assert "plain,kpi-committee-volunteer" in out.splitlines()
    assert report["modules"] == []
    report, out = probe(tmp_path, env, extra=tab("tracker items --owner a"))
    assert "plain,apec-officer" in out.splitlines()
    assert report["modules"] == []


def test_reading_a_current_database_imports_neither_alembic_nor_what_the_command_does_not_use(loaded, env,
                                                                                                 tmp_path):  # fmt: skip
    server_and_mail = {"alembic", "httpx", "jinja2", "starlette", "uvicorn", "apscheduler", "yaml", "pydantic"}
    for args, shown in ((["items"], "┃ id"), (["show", "kpi-committee-volunteer"], "source quote"),
                        (["items", "--json"], '"slug": "kpi-committee-volunteer"')):  # fmt: skip
        report, out = probe(tmp_path, env, *args)
        assert shown in out
        assert not {"icalendar", "recurring_ical_events", *server_and_mail} & set(report["modules"]), args
        assert report["gc"], "the cycle collector must run again once the command has opened its database"
    assert "rich" not in probe(tmp_path, env, "items", "--json")[0]["modules"]
    report, out = probe(tmp_path, env, "agenda", "--days", "60")
    assert "meetings in the next 60 days" in out
    assert not server_and_mail & set(report["modules"])
