"""Schema migrations: a database made by tracker 0.1 (before Alembic; committed as tests/data/tracker-0.1.sqlite, full
of the seed data, done and cancelled items, history, subscriptions and a delivery ledger) is upgraded by the first
command that opens it, without losing or changing a row; a newer database is refused and left alone; and the
revisions build exactly the schema the models describe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, create_engine, select, text

from tests.conftest import DATA, dump
from tracker.core import migrations, store, transfer
from tracker.core.models import Base

OLD = Path(__file__).parent / "data" / "tracker-0.1.sqlite"


def rows_by_table(url: str, columns: dict[str, list[str]] | None = None) -> dict[str, list[tuple]]:
    """Each table's rows (only `columns` of each, when given), sorted; meta's schema_version aside (it moves)."""
    engine = create_engine(url)
    try:
        tables = MetaData()
        tables.reflect(engine)
        out = {}
        with engine.connect() as conn:
            for name, table in tables.tables.items():
                if name == migrations.VERSION_TABLE or (columns is not None and name not in columns):
                    continue
                cols = [table.c[c] for c in (columns[name] if columns else table.c.keys())]
                rows = conn.execute(select(*cols)).all()
                out[name] = sorted((tuple(r) for r in rows if tuple(r)[:1] != ("schema_version",)), key=repr)
        return out
    finally:
        engine.dispose()


def column_names(url: str) -> dict[str, list[str]]:
    engine = create_engine(url)
    tables = MetaData()
    tables.reflect(engine)
    engine.dispose()
    return {name: list(table.c.keys()) for name, table in tables.tables.items()}


def as_0_1_on_postgresql(url: str) -> None:
    """The 0.1 schema (revision 0001) on PostgreSQL, holding every row of the committed 0.1 SQLite database.
    (tracker 0.1 itself could not create its schema on PostgreSQL, so this is how such data would arrive.)"""
    source, target = create_engine(f"sqlite:///{OLD}"), store.engine(url)
    with target.begin() as conn:
        config = migrations._config(conn)
        command.upgrade(config, migrations.LEGACY_REVISION)
        old, new = MetaData(), MetaData()
        old.reflect(source)
        new.reflect(conn)
        with source.connect() as read:
            for table in new.sorted_tables:
                if table.name in old.tables and table.name != migrations.VERSION_TABLE:
                    rows = [dict(r._mapping) for r in read.execute(select(old.tables[table.name]))]
                    if rows:
                        conn.execute(table.insert(), rows)
        transfer.advance_sequences(conn)  # rows came with their ids
    source.dispose()
    target.dispose()


def test_a_0_1_database_is_upgraded_by_the_first_command_without_losing_a_row(invoke, invoke_json, db_url):
    if db_url.startswith("sqlite"):
        shutil.copyfile(OLD, db_url.removeprefix("sqlite:///"))
    else:
        as_0_1_on_postgresql(db_url)
    old_columns = column_names(db_url)
    before = rows_by_table(db_url)
    assert len(before["items"]) == 24 and len(before["item_changes"]) == 7 and len(before["subscriptions"]) == 2
    assert len(before["deliveries"]) == 28 and sum(len(rows) for rows in before.values()) > 150

    items = invoke_json("items", "--status", "all")  # any command upgrades

    assert rows_by_table(db_url, old_columns) == before  # not a row lost, not a value changed
    engine = store.engine(db_url)
    with engine.connect() as conn:
        assert migrations._context(conn).get_current_heads() == (migrations.head(),)
        version = conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar()
        assert version == str(migrations.schema_version())
    engine.dispose()
    statuses = {i["slug"]: i["status"] for i in items}
    assert statuses["kpi-committee-volunteer"] == "done" and statuses["peru-textile-show-delegation"] == "cancelled"
    history = invoke_json("show", "send-kpi-draft-to-thailand")["history"]
    assert [change["field"] for change in history] == ["created", "due", "due_all_day"]
    assert {d["status"] for d in invoke_json("remind", "history")} == {"sent", "skipped"}
    invoke("done", "send-kpi-draft-to-thailand")  # and it goes on working: new rows get new ids
    assert invoke_json("show", "send-kpi-draft-to-thailand")["status"] == "done"


def test_the_head_read_from_the_file_names_is_alembics():
    """Every command checks the database against migrations.head(), which reads the highest-numbered file in
    versions/ so that a current database needs no Alembic; a revision named otherwise would go unseen."""
    assert migrations.head() == migrations._scripts().get_current_head()


def test_a_database_from_a_newer_tracker_is_refused_and_left_alone(invoke, loaded, db_url):
    engine = store.engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {migrations.VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    before = dump(db_url)
    error = invoke("items", code=2).stderr  # a configuration problem, as a wrong --db is
    assert error == (
        "Error: the database's schema is at revision 9999, which this tracker does not know (its newest is "
        f"{migrations.head()}): a newer tracker upgraded it, so upgrade tracker to use this database\n"
    )
    assert dump(db_url) == before


def test_the_revisions_build_exactly_the_schema_the_models_describe(invoke, db_url):
    invoke("init")
    engine = store.engine(db_url)
    with engine.connect() as conn:
        assert differences(conn) == []
    engine.dispose()


def differences(conn: Connection) -> list:
    opts = {"compare_type": True, "version_table": migrations.VERSION_TABLE}
    return compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)


def test_two_first_runs_at_once_create_the_schema_once(db_url, env):
    import subprocess
    import sys

    runs = [subprocess.Popen([sys.executable, "-m", "tracker", "init"], env={**env, "PATH": "/usr/bin:/bin"},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]  # fmt: skip
    results = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], results
    engine = store.engine(db_url)
    with engine.connect() as conn:
        assert migrations._context(conn).get_current_heads() == (migrations.head(),)
        assert conn.execute(text("SELECT COUNT(*) FROM meta WHERE key = 'link_secret'")).scalar() == 1
    engine.dispose()


def test_the_committed_0_1_database_is_what_the_test_expects():
    """The fixture itself: made by tracker 0.1 (no migration record), schema_version 1."""
    engine = create_engine(f"sqlite:///{OLD}")
    with engine.connect() as conn:
        assert migrations._context(conn).get_current_heads() == ()
        meta = dict(conn.execute(text("SELECT key, value FROM meta")).all())
        assert meta["schema_version"] == "1" and json.loads(meta["plan_state"])["version"] == int(meta["data_version"])
    engine.dispose()


def test_a_damaged_0_1_database_is_one_line(invoke, db_url):
    if db_url.startswith("sqlite"):
        shutil.copyfile(OLD, db_url.removeprefix("sqlite:///"))
    else:
        as_0_1_on_postgresql(db_url)
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {migrations.VERSION_TABLE}"))  # as tracker 0.1 left it
        conn.execute(text("UPDATE meta SET value = 'abc' WHERE key = 'schema_version'"))
    engine.dispose()
    before = dump(db_url)
    assert invoke("items", code=2).stderr == (
        "Error: the database has schema version abc but no migration record: not tracker's\n"
    )
    assert dump(db_url) == before


def test_0003_records_of_a_0_1_database_are_claimed_by_the_first_load(invoke, invoke_json, db_url, tmp_path):
    """0003 adds loaded_from (NULL for what was there); the next load of the data claims its records, after which
    another file reusing one of their slugs is refused."""
    if db_url.startswith("sqlite"):
        shutil.copyfile(OLD, db_url.removeprefix("sqlite:///"))
    else:
        as_0_1_on_postgresql(db_url)
    invoke("init")
    tables = ("people", "committees", "meeting_series", "meetings", "items")
    assert {
        t: sorted({r[0] for r in rows})
        for t, rows in rows_by_table(db_url, dict.fromkeys(tables, ["loaded_from"])).items()
    } == dict.fromkeys(tables, [None])
    invoke("load", str(DATA))
    claimed = rows_by_table(db_url, {"items": ["slug", "loaded_from"]})["items"]
    assert ("kpi-committee-volunteer", "items.yaml") in claimed and ("send-kpi-draft-to-thailand", None) in claimed
    (tmp_path / "other.yaml").write_text("items:\n  - {slug: kpi-committee-volunteer, title: Copy, tz: UTC}\n")
    assert "slug already loaded from items.yaml" in invoke("load", str(tmp_path / "other.yaml"), code=1).stderr
