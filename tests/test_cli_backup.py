"""Backups and the WAL: `tracker backup` copies the committed state while others write, and after a command
tracker.db alone holds every commit (no -wal file left behind). Also: an error is always one line."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import create_mock_engine
from sqlalchemy.engine import make_url

from tests.conftest import dump, pg_database, pg_tool
from tracker.cli.base import TrackerGroup
from tracker.core import store
from tracker.core.errors import InvalidInput, TrackerError
from tracker.register import items

ITEM = "kpi-committee-volunteer"


def wal(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-wal")


def status_in(db_file: Path, slug: str = ITEM) -> str:
    with closing(sqlite3.connect(db_file)) as conn:
        return conn.execute("SELECT status FROM items WHERE slug = ?", (slug,)).fetchone()[0]


@pytest.mark.sqlite_only
def test_backup_copies_committed_rows_while_a_write_transaction_is_open(invoke, loaded, env, db_path, tmp_path):
    engine = store.engine(env["TRACKER_DB"])  # kept open: its commit stays in the -wal file, not yet in tracker.db
    with store.transaction(engine, write=True) as session:
        items.done(session, ITEM, datetime(2008, 9, 1, tzinfo=UTC), by="tester")
    assert wal(db_path).exists() and wal(db_path).stat().st_size > 0
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE items SET title = 'UNCOMMITTED' WHERE slug = 'forum-host-2009'")
    holder.execute("INSERT INTO meta (key, value) VALUES ('uncommitted', 'x')")
    target = tmp_path / "backups" / "tracker-backup.db"
    try:
        result = json.loads(invoke("backup", str(target), "--json").stdout)["results"]
    finally:
        holder.rollback()
        holder.close()
    engine.dispose()
    assert result["path"] == str(target) and result["bytes"] == target.stat().st_size and result["tables"] >= 10
    assert not wal(target).exists() and not list(target.parent.glob(".*.tmp"))  # one self-contained file
    with closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert dump(target) == dump(db_path)  # the same rows: the committed "done", not the open transaction
    assert status_in(target) == "done"
    assert result["rows"] == len(dump(db_path))
    assert "uncommitted" not in "\n".join(dump(target))
    shown = invoke("--db", f"sqlite:///{target}", "show", ITEM, "--json").stdout  # tracker opens the copy
    assert json.loads(shown)["results"]["status"] == "done"


@pytest.mark.sqlite_only
def test_backup_refuses_an_existing_file_unless_forced(invoke, loaded, tmp_path, db_path):
    target = tmp_path / "old.db"
    target.write_bytes(b"keep me")
    result = invoke("backup", str(target), code=1)
    assert result.stderr == f"Error: backup: {target} already exists; pass --force to replace it\n"
    assert target.read_bytes() == b"keep me"
    assert invoke("backup", str(target), "--force").stderr.startswith("backed up ")
    assert dump(target) == dump(db_path)
    assert invoke("backup", str(tmp_path), code=1).stderr.startswith(f"Error: backup: {tmp_path} is a folder")
    assert invoke("backup", str(db_path), "--force", code=1).stderr == (
        f"Error: backup: {db_path} is the database itself; give another file name\n"
    )


def test_backup_of_another_kind_of_database_is_a_clear_error():
    engine = create_mock_engine("mysql://tracker@db.example.org/tracker", lambda *a, **k: None)
    with pytest.raises(InvalidInput, match=r"^backup: tracker backs up SQLite and PostgreSQL databases, not mysql$"):
        store.backup(engine, "/nonexistent/backup.db")


@pytest.mark.postgresql_only
def test_postgresql_backup_is_a_pg_dump_that_pg_restore_brings_back(invoke, invoke_json, loaded, db_url, tmp_path):
    invoke("done", ITEM, "--note", "sent 已寄出")
    target = tmp_path / "tracker.pgdump"
    result = invoke_json("backup", str(target))
    assert target.read_bytes().startswith(b"PGDMP") and result["bytes"] == target.stat().st_size
    assert result["rows"] == len(dump(db_url))
    libpq = make_url(db_url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with pg_database(libpq, "restored") as restored:
        libpq_restored = make_url(restored).set(drivername="postgresql").render_as_string(hide_password=False)
        subprocess.run([pg_tool("pg_restore"), "--no-owner", "--exit-on-error", target, f"--dbname={libpq_restored}"],
                       check=True)  # fmt: skip
        assert dump(restored) == dump(db_url)
        shown = [json.loads(invoke(*db, "show", ITEM, "--json").stdout)["results"] for db in (["--db", restored], [])]
        assert shown[0] == shown[1] and shown[0]["status"] == "done"
    assert invoke("backup", str(target), code=1).stderr.startswith(f"Error: backup: {target} already exists;")


@pytest.mark.sqlite_only
def test_after_a_command_the_db_file_alone_holds_the_commits(invoke, loaded, db_path, tmp_path):
    invoke("done", ITEM)  # in this process: the engine is disposed when the command ends
    assert not wal(db_path).exists() or wal(db_path).stat().st_size == 0
    alone = tmp_path / "copied.db"
    shutil.copyfile(db_path, alone)  # what a naive file backup does
    assert status_in(alone) == "done"


@pytest.mark.sqlite_only
def test_after_a_process_exits_no_wal_with_data_remains(loaded, env, db_path, tmp_path):
    out = subprocess.run([sys.executable, "-m", "tracker", "done", ITEM], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert not wal(db_path).exists() or wal(db_path).stat().st_size == 0
    alone = tmp_path / "copied.db"
    shutil.copyfile(db_path, alone)
    assert status_in(alone) == "done"


def test_an_error_message_with_line_breaks_is_printed_on_one_line(invoke):
    result = invoke("--config", "settings\n.toml", "items", code=2)
    assert result.stderr == "Error: settings .toml: cannot read config file: No such file or directory\n"

    @click.group(cls=TrackerGroup)
    def group() -> None:
        pass

    @group.command()
    def fail() -> None:
        raise TrackerError("first line\r\nsecond\tline\n\nthird line\n")

    result = CliRunner().invoke(group, ["fail"])
    assert result.exit_code == 1
    assert result.stderr == "Error: first line second line third line\n"


@pytest.mark.postgresql_only
def test_the_password_never_reaches_pg_dumps_command_line(invoke, loaded, db_url, tmp_path, monkeypatch):
    """Any local user can read a command line (ps, /proc/*/cmdline): pg_dump gets the password in PGPASSWORD."""
    import psycopg

    admin = make_url(db_url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE ROLE backup_test LOGIN SUPERUSER PASSWORD 'TopSecret1'")
    try:
        spy = tmp_path / "bin" / "pg_dump"  # records its command line and environment, then runs the real one
        spy.parent.mkdir()
        spy.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/argv\necho "$PGPASSWORD" > {tmp_path}/pgpassword\n'
                       f'exec {pg_tool("pg_dump")} "$@"\n')  # fmt: skip
        spy.chmod(0o755)
        monkeypatch.setenv("PATH", f"{spy.parent}:{os.environ['PATH']}")
        user = make_url(db_url).set(username="backup_test")
        for url in (user.set(password="TopSecret1"), user.update_query_dict({"password": "TopSecret1"})):
            target = tmp_path / f"{len(list(tmp_path.glob('*.pgdump')))}.pgdump"
            invoke("--db", url.render_as_string(hide_password=False), "backup", str(target))
            assert target.read_bytes().startswith(b"PGDMP")
            assert "TopSecret1" not in (tmp_path / "argv").read_text()
            assert (tmp_path / "pgpassword").read_text() == "TopSecret1\n"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP ROLE backup_test")
