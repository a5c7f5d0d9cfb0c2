"""Engine, schema, units of work and backups, on SQLite (WAL, foreign keys) and PostgreSQL (psycopg 3).

Concurrency rule: a unit of work that writes takes the write lock up front (`transaction(write=True)`), so it
waits for another writer instead of failing to upgrade a read; a wait longer than the busy timeout becomes
`Busy`, translated here, once.
"""

from __future__ import annotations

import functools
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Integer, cast, create_engine, event, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tracker import migrations
from tracker.errors import Busy, ConfigError, Conflict, InvalidInput, TrackerError
from tracker.models import Meta

LINK_SECRET = "link_secret"  # signs the links in reminders (tracker.signing); made once, here
# Seconds a writer waits for another process's write lock before giving up with Busy. A SQLite URL's own
# `?timeout=` (the sqlite3 driver's parameter) overrides it: sqlite:///tracker.db?timeout=30
BUSY_TIMEOUT = 10.0
BUSY_MESSAGE = "the database is busy: another tracker process is writing; try again"
_SQLITE_BUSY = 5  # the primary result code; extended codes (BUSY_SNAPSHOT, BUSY_RECOVERY) share the low byte
_PG_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's answer when lock_timeout runs out


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI connection
    # The driver must not open transactions on its own: _sqlite_begin does, so that writers can take the
    # write lock up front (BEGIN IMMEDIATE) instead of failing to upgrade a read in WAL mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def engine(url: str) -> Engine:
    """An engine for `url`; a SQLite file's folder is created on first use. A writer waits BUSY_TIMEOUT seconds
    for another's lock unless the URL says otherwise (SQLite `?timeout=30`; PostgreSQL `?options=-c lock_timeout=…`)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"--db: not a database URL: {url!r} (e.g. sqlite:///path/to/tracker.db)") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict[str, Any] = {}
    if backend == "sqlite" and "timeout" not in parsed.query:
        connect_args["timeout"] = BUSY_TIMEOUT
    if backend == "postgresql" and "options" not in parsed.query:
        connect_args["options"] = f"-c lock_timeout={int(BUSY_TIMEOUT * 1000)} -c timezone=UTC"
    try:
        eng = create_engine(parsed, connect_args=connect_args, pool_pre_ping=backend == "postgresql")
    except Exception as e:  # a missing driver or bad option is a configuration problem, not a bug
        raise ConfigError(f"--db {parsed.render_as_string()}: {e}") from None
    if backend == "sqlite":
        event.listen(eng, "connect", _sqlite_pragmas)
        event.listen(eng, "begin", _sqlite_begin)
    elif backend == "postgresql":
        event.listen(eng, "begin", _postgresql_begin)
    return eng


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
    except DatabaseError as e:  # OperationalError among them; also "file is not a database"
        raise ConfigError(f"cannot open the database {eng.url.render_as_string()}: {e.orig}") from None


DATA_VERSION = "data_version"


def _note_changes(session: Session, _context: object, _instances: object) -> None:
    """Changes to the data (not to reminder bookkeeping) raise the data version."""
    touched = [*session.new, *session.deleted, *(o for o in session.dirty if session.is_modified(o))]
    if any(getattr(o, "tracks_data_version", True) for o in touched):
        session.info["changed"] = True


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
    except OperationalError as e:
        if _is_busy(e.orig):
            raise Busy(BUSY_MESSAGE) from e
        if "readonly" in str(e.orig):
            raise ConfigError(f"the database {eng.url.render_as_string()} is read-only: {e.orig}") from None
        raise


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
    """The database's state for /healthz: "ok", "busy" (SQLite: the write lock cannot be had within
    `lock_timeout` seconds, so every write would wait, then fail) or "unreachable". Other databases: "ok" when
    they answer a query."""
    if eng.dialect.name != "sqlite":
        try:
            with Session(eng) as session:
                session.execute(select(1))
            return "ok"
        except OperationalError:
            return "unreachable"
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


def backup(eng: Engine, path: str | os.PathLike[str], force: bool = False) -> dict[str, Any]:
    """Copy the database's committed state to the SQLite file `path`, with SQLite's online backup API: safe
    while other processes read and write (an open write transaction's changes are not included). The copy is
    one self-contained file (rollback journal, no -wal beside it), written beside `path` and renamed into place.

    :returns: {"path", "bytes", "tables", "rows"} of the copy.
    :raises InvalidInput: the database is not SQLite, or `path` is a folder or the database itself.
    :raises Conflict: `path` exists and `force` is false.
    :raises Busy: the database stayed locked longer than the busy timeout.
    """
    if eng.dialect.name != "sqlite":
        raise InvalidInput(
            f"backup: tracker backs up only SQLite databases, not {eng.dialect.name}; use the database's own "
            "tools (e.g. pg_dump)"
        )
    target = Path(path).expanduser().absolute()
    source = eng.url.database
    if target.is_dir():
        raise InvalidInput(f"backup: {target} is a folder; give a file name, e.g. {target / 'tracker-backup.db'}")
    if source not in (None, "", ":memory:") and target.exists() and target.samefile(source):
        raise InvalidInput(f"backup: {target} is the database itself; give another file name")
    if target.exists() and not target.is_file():
        raise InvalidInput(f"backup: {target} is not a regular file; give a file name")
    if target.exists() and not force:
        raise Conflict(f"backup: {target} already exists; pass --force to replace it")
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy(eng, tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        raise InvalidInput(f"backup: cannot write {target}: {e.strerror}") from None
    except sqlite3.OperationalError as e:
        raise InvalidInput(f"backup: cannot write {target}: {e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    with closing(sqlite3.connect(target)) as copy:
        tables = [r[0] for r in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = sum(copy.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0] for name in tables)
    return {"path": str(target), "bytes": target.stat().st_size, "tables": len(tables), "rows": rows}


def _copy(eng: Engine, tmp: Path) -> None:
    raw = eng.raw_connection()
    copy = sqlite3.connect(tmp, isolation_level=None)
    try:
        raw.driver_connection.backup(copy)  # all pages in one step, from one read snapshot
        copy.execute("PRAGMA journal_mode=DELETE")  # the copy's header said WAL, as the source's does
        (check,) = copy.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise TrackerError(f"backup: the copy failed SQLite's quick_check ({check}); the database may be damaged")
    except sqlite3.OperationalError as e:
        if _is_busy(e):
            raise Busy(BUSY_MESSAGE) from e
        raise
    finally:
        copy.close()
        raw.close()
