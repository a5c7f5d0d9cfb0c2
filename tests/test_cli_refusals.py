"""What the command line used to accept silently or answer with a traceback: output folders that cannot be made or
written, a base URL that is no URL, a database in memory, a --db query string tracker does not take, a missing
PostgreSQL driver, and an address serve cannot listen on. Each is one `Error:` line, and changes nothing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests.conftest import DATA, dump
from tests.test_cli_errors import error_line
from tracker.cli.main import cli

TRACKER = [sys.executable, "-m", "tracker"]


def run(env: dict[str, str], *args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The CLI in a process of its own, so that its stderr is all it prints (logging included)."""
    return subprocess.run([*prefix, *TRACKER, *args], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def only_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


# --- output folders: export, dump and backup share one rule ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["export", "--out", "{file}/sub"], "Error: export: cannot write {file}/sub/all.ics: Not a directory"),
        (["dump", "{file}/sub"], "Error: dump: cannot write {file}/sub/people.yaml: Not a directory"),
        (["backup", "{file}/sub/b.db"], "Error: backup: cannot write {file}/sub/b.db: Not a directory"),
        (["export", "--out", "/proc/x"], "Error: export: cannot write /proc/x/all.ics: No such file or directory"),
        (["dump", "/proc/x"], "Error: dump: cannot write /proc/x/people.yaml: No such file or directory"),
    ],
)
def test_a_folder_that_cannot_be_made_is_one_line(invoke, loaded, db_url, tmp_path, args, expected):
    (tmp_path / "file").write_text("a file, not a folder\n")
    before = dump(db_url)
    args = [a.format(file=tmp_path / "file") for a in args]
    assert error_line(invoke(*args, code=1)) == expected.format(file=tmp_path / "file")
    assert dump(db_url) == before


def _read_only_mount() -> tuple[str, ...]:
    """A command prefix that runs the rest with a read-only tmpfs mounted on /mnt, in namespaces of its own."""
    prefix = ("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", 'mount -t tmpfs -o ro none /mnt && "$@"',
              "sh")  # fmt: skip
    if shutil.which("unshare") is None or subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a read-only file system here (unshare)")
    return prefix


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["export", "--out", "/mnt/cal"], "Error: export: cannot write /mnt/cal/all.ics: Read-only file system"),
        (["export", "--out", "/mnt"], "Error: export: cannot write /mnt/all.ics: Read-only file system"),
        (["dump", "/mnt/data"], "Error: dump: cannot write /mnt/data/people.yaml: Read-only file system"),
        (["backup", "/mnt/b.db"], "Error: backup: cannot write /mnt/b.db: Read-only file system"),
    ],
)
def test_a_read_only_file_system_is_one_line(invoke, loaded, db_url, env, args, expected):
    prefix = _read_only_mount()
    before = dump(db_url)
    done = run(env, *args, prefix=prefix)
    assert done.returncode == 1 and only_line(done) == expected
    assert dump(db_url) == before


def test_export_dump_and_backup_make_the_folder_they_write_into(invoke, loaded, tmp_path):
    invoke("export", "--out", str(tmp_path / "a" / "cal"))
    invoke("dump", str(tmp_path / "b" / "data"))
    invoke("backup", str(tmp_path / "c" / "backups" / "t.db"))
    assert (tmp_path / "a/cal/all.ics").is_file() and (tmp_path / "b/data/items.yaml").is_file()
    assert (tmp_path / "c/backups/t.db").stat().st_size > 0


# --- serve: the base URL and the address it listens on ---------------------------------------------------------


@pytest.mark.parametrize("url", ["notaurl", "ftp://x", "http://", "https://a b"])
def test_serve_refuses_a_base_url_as_the_setting_is_refused(loaded, db_url, env, url):
    before = dump(db_url)
    done = run(env, "serve", "--port", "0", "--base-url", url)
    assert done.returncode == 2
    assert only_line(done) == f"Error: --base-url: an http:// or https:// URL, not {url!r}"
    assert dump(db_url) == before  # nothing recorded for `subscribe add`


def test_serve_on_an_address_in_use_is_one_line(loaded, db_url, env):
    before = dump(db_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(env, "serve", "--port", str(port))
    assert done.returncode == 2
    assert only_line(done) == f"Error: cannot listen on 127.0.0.1:{port}: address already in use"
    assert dump(db_url) == before


def test_serve_on_an_address_not_this_machine_s_is_one_line(loaded, env):
    done = run(env, "serve", "--host", "192.0.2.1", "--port", "8765")  # TEST-NET-1: no machine has it; nothing sent
    assert done.returncode == 2
    assert only_line(done) == "Error: cannot listen on 192.0.2.1:8765: cannot assign requested address"


# --- --db: what the URL may say -----------------------------------------------------------------------------------


@pytest.fixture
def bare(tmp_path, monkeypatch):
    """The CLI with no TRACKER_DB: each test's --db is the only database."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"TRACKER_TZ": "Asia/Taipei", "XDG_DATA_HOME": str(tmp_path / "xdg"), "TRACKER_DB": None})
    return lambda *args: runner.invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file::memory:?uri=true",
                                 "sqlite:///file:x.db?uri=true&mode=memory"])  # fmt: skip
def test_a_database_in_memory_is_refused(bare, url):
    result = bare("--db", url, "load", str(DATA))
    assert result.exit_code == 2 and result.stdout == ""  # not "23 created", then gone
    assert error_line(result) == (
        f"Error: --db: {url} is a SQLite database in memory, which keeps nothing after the command; give a file, "
        "e.g. sqlite:///path/to/tracker.db"
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("timeout=abc", "--db: ?timeout= takes seconds, 0 or more, not 'abc'"),
        ("timeout=-5", "--db: ?timeout= takes seconds, 0 or more, not '-5'"),
        ("timeout=nan", "--db: ?timeout= takes seconds, 0 or more, not 'nan'"),
        ("foo=bar", "--db: SQLite takes no query parameter 'foo' (tracker knows timeout=SECONDS, and uri=true "
                    "with SQLite's URI parameters)"),
        ("mode=ro", "--db: SQLite takes no query parameter 'mode' without uri=true (tracker knows timeout=SECONDS, "
                    "and uri=true with SQLite's URI parameters)"),
        ("check_same_thread=false", "--db: SQLite takes no query parameter 'check_same_thread' (tracker knows "
                                    "timeout=SECONDS, and uri=true with SQLite's URI parameters)"),
    ],
)  # fmt: skip
def test_a_sqlite_query_parameter_tracker_does_not_take_is_named(bare, tmp_path, query, expected):
    result = bare("--db", f"sqlite:///t.db?{query}", "init")
    assert result.exit_code == 2 and error_line(result) == f"Error: {expected}"
    assert list(tmp_path.iterdir()) == []  # no database made


@pytest.mark.parametrize("url", ["sqlite:///t.db?timeout=2.5", "sqlite:///file:t.db?uri=true&cache=private"])
def test_the_query_parameters_sqlite_takes_work(bare, tmp_path, url):
    assert bare("--db", url, "init").exit_code == 0
    assert bare("--db", url, "items").stdout.startswith("items: nothing")
    assert (tmp_path / "t.db").is_file()


def test_postgresql_without_its_driver_says_how_to_install_it(bare, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as where psycopg is not installed: import fails
    result = bare("--db", "postgresql://tracker@db.example.org/tracker", "items")
    assert result.exit_code == 2 and error_line(result) == (
        "Error: --db: PostgreSQL needs the psycopg driver: pip install 'tracker[postgres]' (from a checkout: pip "
        "install '.[postgres]')"
    )


def test_copy_to_names_its_own_argument(invoke, loaded):
    result = invoke("copy-to", "sqlite://", code=2)
    assert error_line(result).startswith("Error: copy-to URL: sqlite:// is a SQLite database in memory")
