"""`tracker copy-to URL`: a desk moves its whole database — history, subscriptions, the ledger and the link secret
included — from SQLite to PostgreSQL or back, and goes on working there."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import dump, pg_database
from tests.test_migrations import OLD
from tracker.core import store
from tracker.core.models import Base


@pytest.fixture
def other_db(db_url: str, tmp_path: Path, request: pytest.FixtureRequest):
    """An empty database of the other kind: PostgreSQL for a SQLite source, SQLite for a PostgreSQL one."""
    if db_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'moved.db'}"
        return
    with pg_database(request.getfixturevalue("pg_server"), "moved") as url:
        yield url


def rows(url: str) -> dict[str, list]:
    """Every row of every table, read through the models (aware datetimes, parsed JSON), so that the same data
    compares equal on SQLite and PostgreSQL."""
    engine = store.engine(url)
    try:
        with engine.connect() as conn:
            return {t.name: sorted(map(tuple, conn.execute(select(t))), key=repr) for t in Base.metadata.sorted_tables}
    finally:
        engine.dispose()


def test_a_database_moves_whole_to_the_other_kind_and_works_there(invoke, invoke_json, db_url, other_db, tmp_path):
    if db_url.startswith("sqlite"):
        shutil.copyfile(OLD, db_url.removeprefix("sqlite:///"))  # a desk with history, subscriptions and a ledger
    else:
        from tests.test_migrations import as_0_1_on_postgresql

        as_0_1_on_postgresql(db_url)
    invoke("init")
    before = dump(db_url)

    result = invoke_json("copy-to", other_db)

    assert dump(db_url) == before  # the source is only read
    moved = rows(other_db)
    assert moved == rows(db_url)  # every row, the link secret and the ledger included
    assert result["rows"] == {name: len(table_rows) for name, table_rows in moved.items()}
    assert result["rows"]["items"] == 24 and result["rows"]["deliveries"] == 28
    there = ["--db", other_db]
    assert invoke_json(*there, "show", "send-kpi-draft-to-thailand")["history"][1]["field"] == "due"
    invoke(*there, "add", "A new item after the move", "--owner", "apec-officer")  # new ids follow the copied ones
    invoke(*there, "done", "send-kpi-draft-to-thailand")
    assert invoke_json(*there, "show", "send-kpi-draft-to-thailand")["status"] == "done"
    assert invoke("copy-to", other_db, code=1).stderr == (
        "Error: copy-to: the target is this database, or already a copy of it; give an empty database\n"
    )


def test_copying_onto_itself_or_onto_data_is_refused(invoke, loaded, db_url, tmp_path):
    before = dump(db_url)
    respelt = f"{db_url}?{'timeout=5' if db_url.startswith('sqlite') else 'connect_timeout=5'}"
    for url in (db_url, respelt):
        assert invoke("copy-to", url, code=1).stderr == (
            "Error: copy-to: the target is this database, or already a copy of it; give an empty database\n"
        )
    other = f"sqlite:///{tmp_path / 'other.db'}"
    invoke("--db", other, "init")  # only init, load and import make a database file
    invoke("--db", other, "add", "Someone else's item")
    other_before = dump(other)
    assert invoke("copy-to", other, code=1).stderr == (
        f"Error: copy-to: {other} already holds data (items); give an empty database\n"
    )
    assert dump(db_url) == before and dump(other) == other_before
    assert invoke("copy-to", "nonsense", code=2).stderr.startswith("Error: copy-to URL: not a database URL: ")
