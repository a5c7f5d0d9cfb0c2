from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tracker.db"


@pytest.fixture
def env(db_path: Path) -> dict[str, str]:
    return {"TRACKER_DB": f"sqlite:///{db_path}", "TRACKER_TZ": "Asia/Taipei", "TRACKER_USER": "tester"}


@pytest.fixture
def invoke(env: dict[str, str]):
    """Run the CLI; assert the exit code; return the result (stdout in .stdout, stderr in .stderr)."""
    runner = CliRunner(env=env)

    def run(*args: str, code: int = 0, **kwargs):
        result = runner.invoke(cli, list(args), catch_exceptions=False, **kwargs)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    return run


@pytest.fixture
def invoke_json(invoke):
    def run(*args: str):
        return json.loads(invoke(*args, "--json").stdout)["results"]

    return run


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped data/ folder."""
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


@pytest.fixture
def loaded(invoke, data_copy: Path) -> Path:
    invoke("load", str(data_copy))
    return data_copy


def dump(db_path: Path) -> list[str]:
    """Every row of every table, as SQL: equal dumps mean an unchanged database."""
    with sqlite3.connect(db_path) as conn:
        return list(conn.iterdump())
