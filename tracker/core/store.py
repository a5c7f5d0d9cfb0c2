"""Engine, schema, units of work and backups, on SQLite (WAL, foreign keys) and PostgreSQL (psycopg 3).

Concurrency rule: a unit of work that writes takes the write lock up front (`transaction(write=True)`), so it
waits for another writer instead of failing to upgrade a read; a wait longer than the busy timeout becomes
`Busy`, translated here, once.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import shlex
import shutil
import sqlite3
import subprocess
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Integer, cast, create_engine, event, insert, inspect, select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, DataError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tracker.core import migrations, rules
from tracker.core.errors import Busy, ConfigError, Conflict, InvalidInput, TrackerError, Unavailable
from tracker.core.models import Meta

LINK_SECRET = "link_secret"  # signs the links in reminders (tracker.core.signing); made once, here
# Seconds a writer waits for another process's write lock before giving up with Busy. A SQLite URL's own
# `?timeout=` (the sqlite3 driver's parameter) overrides it: sqlite:///tracker.db?timeout=30
BUSY_TIMEOUT = 10.0
BUSY_MESSAGE = "the database is busy: another tracker process is writing; try again"
_SQLITE_BUSY = 5  # the primary result code; extended codes (BUSY_SNAPSHOT, BUSY_RECOVERY) share the low byte
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 8, 10, 11, 13, 26
_PG_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's answer when lock_timeout runs out
_PG_INSUFFICIENT_PRIVILEGE = "42501"  # the role lacks a grant: a configuration problem, not a bug
_PG_READ_ONLY = "25006"  # a standby server, or default_transaction_read_only
_PG_DISK_FULL = "53100"
log = logging.getLogger("tracker.core.store")


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI connection
    # The driver must not open transactions on its own: _sqlite_begin does, so that writers can take the
    # write lock up front (BEGIN IMMEDIATE) instead of failing to upgrade a read in WAL mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def engine(url: str, option: str = "--db", create: bool = True) -> Engine:
    """An engine for `url`. A missing SQLite file is made (with its folder) only when `create`: otherwise it is an
    error that says how to make one, since a mistyped path would silently give an empty database. A writer waits
    BUSY_TIMEOUT seconds for another's lock unless the URL says otherwise (SQLite `?timeout=30`; PostgreSQL
    `?options=-c lock_timeout=…`).
    :raises ConfigError: not a SQLite or PostgreSQL URL, a SQLite database in memory, a query parameter tracker
        does not take, no PostgreSQL driver, or (without `create`) no SQLite file there.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"{option}: not a database URL: {url!r} (e.g. sqlite:///path/to/tracker.db)") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"{option}: tracker works with SQLite and PostgreSQL URLs, not {backend} ({parsed!r})")
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        _check_sqlite_query(parsed, option)
        path = _sqlite_file(parsed)
        if path is None:  # everything written would be gone when the command ends
            raise ConfigError(f"{option}: {url} is a SQLite database in memory, which keeps nothing after the "
                              "command; give a file, e.g. sqlite:///path/to/tracker.db")  # fmt: skip
        if not path.exists():
            if not create:
                raise ConfigError(f"no database at {path}; create it with: tracker --db {shlex.quote(url)} init")
            path.parent.mkdir(parents=True, exist_ok=True)
        if "timeout" not in parsed.query:
            connect_args["timeout"] = BUSY_TIMEOUT
    elif "options" not in parsed.query:  # PostgreSQL: libpq checks its own query parameters, naming a wrong one
        connect_args["options"] = f"-c lock_timeout={int(BUSY_TIMEOUT * 1000)} -c timezone=UTC"
    try:
        eng = create_engine(parsed, connect_args=connect_args, pool_pre_ping=backend == "postgresql")
    except ImportError:
        raise ConfigError(f"{option}: PostgreSQL needs the psycopg driver: pip install 'tracker[postgres]' "
                          "(from a checkout: pip install '.[postgres]')") from None  # fmt: skip
    except Exception as e:  # a bad option is a configuration problem, not a bug
        raise ConfigError(f"{option} {parsed.render_as_string()}: {e}") from None
    if backend == "sqlite":
        event.listen(eng, "connect", _sqlite_pragmas)
        event.listen(eng, "begin", _sqlite_begin)
    elif backend == "postgresql":
        event.listen(eng, "begin", _postgresql_begin)
    return eng


# The query parameters a SQLite URL may carry: the sqlite3 driver's busy timeout, and with uri=true SQLite's own
# URI parameters (https://sqlite.org/uri.html). The driver's other ones (isolation_level, check_same_thread, …)
# are tracker's to set; SQLAlchemy would only warn about, and drop, any other name.
_SQLITE_DRIVER_PARAMETERS = ("timeout", "uri")
_SQLITE_URI_PARAMETERS = ("vfs", "mode", "cache", "psow", "nolock", "immutable", "modeof")


def _check_sqlite_query(url: URL, option: str) -> None:
    """:raises ConfigError: a query parameter SQLite does not take here, or a timeout that is not seconds."""
    uri = url.query.get("uri") in ("true", "1")
    known = _SQLITE_DRIVER_PARAMETERS + (_SQLITE_URI_PARAMETERS if uri else ())
    for name in url.query:
        if name not in known:
            extra = "" if uri or name not in _SQLITE_URI_PARAMETERS else " without uri=true"
            raise ConfigError(f"{option}: SQLite takes no query parameter {name!r}{extra} (tracker knows "
                              "timeout=SECONDS, and uri=true with SQLite's URI parameters)")  # fmt: skip
    timeout = url.query.get("timeout")
    if timeout is not None and not _seconds(timeout):
        raise ConfigError(f"{option}: ?timeout= takes seconds, 0 or more, not {timeout!r}")


def _seconds(text: object) -> bool:
    try:
        return isinstance(text, str) and 0 <= float(text) < float("inf")
    except ValueError:
        return False


def _sqlite_file(url: str | URL) -> Path | None:
    """The file a SQLite URL names (also in URI form, sqlite:///file:path?uri=true); None for a database in memory.
    PostgreSQL URLs name no file."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or parsed.query.get("mode") == "memory":
        return None
    if parsed.query.get("uri") in ("true", "1") and database.startswith("file:"):
        database = urllib.parse.unquote(urllib.parse.urlsplit(database).path)  # file:a.db, file:/a.db, file:///a.db
        if database in ("", ":memory:"):
            return None
    return Path(database)  # as SQLite opens it: relative to the working directory, no ~ expansion


def _sqlite_begin(conn) -> None:  # noqa: ANN001 - SQLAlchemy Connection
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")


# PostgreSQL: one transaction-scoped advisory lock plays the part of SQLite's write lock, so that writers run
# one after another on both databases (the data version, the plan and check-then-insert rely on it). Reads and
# the delivery ledger's row-level claims (FOR UPDATE SKIP LOCKED, `transaction(lock=False)`) do not take it.
_WRITE_LOCK = 0x7472_6B72  # "trkr"


def _postgresql_begin(conn) -> None:  # noqa: ANN001 - SQLAlchemy Connection
    if conn.get_execution_options().get("write") and conn.get_execution_options().get("lock", True):
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK})")


def write_lock(session: Session, wait: bool = True) -> bool:
    """Take the global write lock inside a `transaction(write=True, lock=False)` (PostgreSQL; SQLite's BEGIN
    IMMEDIATE already holds it). `wait=False` returns False at once when another transaction holds it.
    :raises Busy: `wait` and the lock stayed with another process longer than the busy timeout."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    take = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    return session.execute(text(f"SELECT {take}({_WRITE_LOCK})")).scalar() is not False


def init(eng: Engine) -> None:
    """Bring the schema up to date (migrations.upgrade) and make the link secret; refuse a newer database.

    Every command calls it: when the schema is current it only reads; otherwise it migrates under the write lock,
    so two first runs, or two upgrades, do not race.
    :raises ConfigError: the database cannot be opened, or is newer than this tracker.
    :raises Busy: it had to migrate while another process held the write lock too long.
    """
    try:
        with transaction(eng) as session:
            if migrations.is_current(session.connection()) and session.get(Meta, LINK_SECRET) is not None:
                return
        with transaction(eng, write=True) as session:
            migrations.upgrade(session.connection())
            for key, value in ((LINK_SECRET, secrets.token_hex(32)), (DATA_VERSION, "0")):
                if session.get(Meta, key) is None:  # Core inserts: making them is not a change of the data
                    session.execute(insert(Meta).values(key=key, value=value))
    except (DatabaseError, Unavailable) as e:  # no server, no such database, a folder …
        cause = e if isinstance(e, DatabaseError) else e.__cause__
        if isinstance(e, Unavailable) and _disk_trouble(cause.orig):
            raise  # a full disk is not a wrong --db
        raise ConfigError(f"cannot open the database {shown_url(eng)}: {rules.one_line(str(cause.orig))}") from None


DATA_VERSION = "data_version"


def _note_changes(session: Session, _context: object, _instances: object) -> None:
    """Changes to the data (not to reminder bookkeeping) raise the data version; a changed row with a `version`
    column (items) gets the version its transaction commits, so that "what changed since version N" is a query."""
    touched = [*session.new, *session.deleted, *(o for o in session.dirty if session.is_modified(o))]
    if any(getattr(o, "tracks_data_version", True) for o in touched):
        session.info["changed"] = True
    committed = select(cast(Meta.value, Integer) + 1).where(Meta.key == DATA_VERSION).scalar_subquery()
    for row in touched:
        if hasattr(type(row), "version") and row not in session.deleted:
            row.version = committed


event.listen(Session, "before_flush", _note_changes)


def _bump_data_version(session: Session) -> None:
    """Every committed change raises meta.data_version: the feed server's cheap "did anything change?"."""
    if session.info.pop("changed", False):
        session.execute(update(Meta).where(Meta.key == DATA_VERSION).values(value=cast(Meta.value, Integer) + 1))


def data_version(session: Session) -> int:
    return int(session.get(Meta, DATA_VERSION, populate_existing=True).value)


@functools.cache
def _sessions(eng: Engine, write: bool, lock: bool) -> sessionmaker:
    return sessionmaker(eng.execution_options(write=True, lock=lock) if write else eng, expire_on_commit=False)


@contextmanager
def transaction(eng: Engine, write: bool = False, lock: bool = True) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error (so bad input changes nothing).

    `write=True` takes SQLite's write lock at the start (BEGIN IMMEDIATE): every unit of work that writes
    should, since in WAL mode a read transaction that later writes fails at once if another process committed
    in between. Reads never wait for writers. `lock=False` (with write) skips PostgreSQL's global write lock,
    for units of work that lock only the rows they touch (the delivery ledger's claims); they may take it later
    with `write_lock`. SQLite has no such mode: BEGIN IMMEDIATE is its only way to write safely.
    :raises Busy: the lock stayed with another process longer than the busy timeout.
    """
    try:
        with _sessions(eng, write, lock)() as session, session.begin():
            yield session
            session.flush()
            _bump_data_version(session)
    except DataError as e:  # PostgreSQL checks lengths and ranges that the input rules should have checked first
        log.error("a value the input rules let through does not fit the database", exc_info=e)
        raise InvalidInput(f"a value does not fit the database: {rules.one_line(str(e.orig))[:200]}") from None
    except DBAPIError as e:
        translated = _translated(e, eng)
        if translated is None:  # anything else is a bug, and tracebacks
            raise
        raise translated from e


def _translated(error: DBAPIError, eng: Engine) -> TrackerError | None:
    """The user's view of a database failure that is not a bug (all rolled back, so nothing was changed):
    configuration problems (exit 2) or the database's state now (exit 1); None for anything else."""
    orig, url = error.orig, shown_url(eng)
    reason = rules.one_line(str(orig))[:300]
    code = (getattr(orig, "sqlite_errorcode", None) or 0) & 0xFF
    state = getattr(orig, "sqlstate", None)
    if _is_busy(orig):
        return Busy(BUSY_MESSAGE)
    if code == _SQLITE_READONLY or state == _PG_READ_ONLY:
        return ConfigError(f"the database {url} is read-only ({reason}): tracker needs to write it (and, for "
                           "SQLite, its folder); use a writable copy for changes")  # fmt: skip
    if code in (_SQLITE_NOTADB, _SQLITE_CORRUPT):
        return ConfigError(f"cannot open the database {url}: {reason}")
    if _disk_trouble(orig):
        return Unavailable(f"the database could not be written ({reason}): free some space on its disk (or lift "
                           "the file size limit), then try again; nothing was changed")  # fmt: skip
    if state == _PG_INSUFFICIENT_PRIVILEGE:
        return ConfigError(f"the database user may not do this: {reason[:200]}")
    if isinstance(error, OperationalError):
        return Unavailable(f"the database cannot be used now: {reason}")
    return None


def _disk_trouble(orig: BaseException | None) -> bool:
    """A full disk (SQLite's SQLITE_FULL, PostgreSQL's disk_full) or a write the system refused (SQLITE_IOERR)."""
    code = (getattr(orig, "sqlite_errorcode", None) or 0) & 0xFF
    return code in (_SQLITE_FULL, _SQLITE_IOERR) or getattr(orig, "sqlstate", None) == _PG_DISK_FULL


def shown_url(eng: Engine) -> str:
    """The URL as the user wrote it, password hidden (render_as_string would escape a URI filename's colon)."""
    return urllib.parse.unquote(eng.url.render_as_string())


def _is_busy(error: BaseException | None) -> bool:
    """Whether a DBAPI error means "another transaction holds the lock" (SQLite's SQLITE_BUSY family,
    PostgreSQL's lock_not_available), as opposed to a real failure."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == _SQLITE_BUSY
    if isinstance(error, sqlite3.OperationalError):  # a driver without error codes: SQLite's fixed text
        return str(error).startswith("database is locked")
    return (getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)) == _PG_LOCK_NOT_AVAILABLE


def health(eng: Engine, lock_timeout: float) -> str:
    """The database's state for /healthz: "ok", "busy" (the write lock cannot be had within `lock_timeout` seconds,
    so every write would wait, then fail) or "unreachable"."""
    if eng.dialect.name == "postgresql":
        return _postgresql_health(eng, lock_timeout)
    try:
        raw = eng.raw_connection()
    except (DBAPIError, sqlite3.Error):  # the pool's first connect is not wrapped
        return "unreachable"
    try:
        cursor = raw.cursor()
        (previous,) = cursor.execute("PRAGMA busy_timeout").fetchone()
        cursor.execute(f"PRAGMA busy_timeout = {int(lock_timeout * 1000)}")
        try:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("ROLLBACK")
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")
        return "ok"
    except sqlite3.Error as e:
        locked = getattr(e, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_LOCKED
        return "busy" if _is_busy(e) or locked else "unreachable"
    finally:
        raw.close()


def _postgresql_health(eng: Engine, lock_timeout: float) -> str:
    try:
        with eng.connect() as conn, conn.begin():
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(lock_timeout * 1000)}")
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK})")
        return "ok"
    except OperationalError as e:
        return "busy" if _is_busy(e.orig) else "unreachable"


def backup(eng: Engine, path: str | os.PathLike[str], force: bool = False) -> dict[str, Any]:
    """Copy the database's committed state to the file `path`, safely while other processes read and write:
    SQLite with its online backup API (one self-contained SQLite file), PostgreSQL with `pg_dump --format=custom`
    from one snapshot (restore with `pg_restore`; README "Backups"). The copy is written beside `path` and renamed
    into place, so `path` never holds half a backup.

    :returns: {"path", "bytes", "tables", "rows"} of the copy.
    :raises InvalidInput: `path` is a folder or the database itself, or cannot be written; pg_dump is missing.
    :raises Conflict: `path` exists and `force` is false.
    :raises Busy: the database stayed locked longer than the busy timeout.
    """
    if eng.dialect.name not in ("sqlite", "postgresql"):
        raise InvalidInput(f"backup: tracker backs up SQLite and PostgreSQL databases, not {eng.dialect.name}")
    target = _backup_target(eng, path, force)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch(exist_ok=False)  # a folder that cannot be written fails here, saying why, on both databases
        tables, rows = (_sqlite_copy if eng.dialect.name == "sqlite" else _pg_dump)(eng, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        raise InvalidInput(f"backup: cannot write {target}: {e.strerror}") from None
    except sqlite3.OperationalError as e:
        raise InvalidInput(f"backup: cannot write {target}: {e}") from None
    finally:
        if tmp.exists():  # not tmp.unlink(missing_ok=True): on a read-only disk removing nothing fails too (EROFS)
            tmp.unlink()
    return {"path": str(target), "bytes": target.stat().st_size, "tables": tables, "rows": rows}


def _backup_target(eng: Engine, path: str | os.PathLike[str], force: bool) -> Path:
    target = Path(path).expanduser().absolute()
    source = eng.url.database if eng.dialect.name == "sqlite" else None
    if target.is_dir():
        example = target / ("tracker-backup.db" if eng.dialect.name == "sqlite" else "tracker.pgdump")
        raise InvalidInput(f"backup: {target} is a folder; give a file name, e.g. {example}")
    if source not in (None, "", ":memory:") and target.exists() and target.samefile(source):
        raise InvalidInput(f"backup: {target} is the database itself; give another file name")
    if target.exists() and not target.is_file():
        raise InvalidInput(f"backup: {target} is not a regular file; give a file name")
    if target.exists() and not force:
        raise Conflict(f"backup: {target} already exists; pass --force to replace it")
    return target


def _sqlite_copy(eng: Engine, tmp: Path) -> tuple[int, int]:
    raw = eng.raw_connection()
    copy = sqlite3.connect(tmp, isolation_level=None)
    try:
        raw.driver_connection.backup(copy)  # all pages in one step, from one read snapshot
        copy.execute("PRAGMA journal_mode=DELETE")  # the copy's header said WAL, as the source's does
        (check,) = copy.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise TrackerError(f"backup: the copy failed SQLite's quick_check ({check}); the database may be damaged")
        tables = [r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return len(tables), sum(copy.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in tables)
    except sqlite3.OperationalError as e:
        if _is_busy(e):
            raise Busy(BUSY_MESSAGE) from e
        raise
    finally:
        copy.close()
        raw.close()


def _pg_dump(eng: Engine, tmp: Path) -> tuple[int, int]:
    """pg_dump from a snapshot this connection exports, so the rows counted here are exactly the rows dumped.
    The password travels in PGPASSWORD, never on a command line."""
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), key=lambda p: int(p.parts[-3]))
    program = shutil.which("pg_dump") or (str(installed[-1]) if installed else None)  # the newest reads every server
    if program is None:
        raise InvalidInput("backup: pg_dump not found; install PostgreSQL's client programs (postgresql-client)")
    password = eng.url.password or eng.url.query.get("password")
    bare = URL.create("postgresql", eng.url.username, None, eng.url.host, eng.url.port, eng.url.database,
                      {k: v for k, v in eng.url.query.items() if k != "password"})  # fmt: skip
    url = bare.render_as_string(hide_password=False)
    env = {**os.environ, **({"PGPASSWORD": str(password)} if password else {})}
    with eng.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
        tables = inspect(conn).get_table_names()
        rows = sum(conn.exec_driver_sql(f'SELECT COUNT(*) FROM "{name}"').scalar() for name in tables)
        args = [
            str(program),
            "--format=custom",
            "--no-owner",
            f"--snapshot={snapshot}",
            f"--file={tmp}",
            f"--dbname={url}",
        ]
        done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise TrackerError(f"backup: pg_dump failed: {rules.one_line(done.stderr)[:300]}")
    return len(tables), rows
