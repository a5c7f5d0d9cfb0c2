"""Engine, schema and units of work. Any SQLAlchemy URL works; SQLite gets WAL and foreign keys."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, Integer, cast, create_engine, event, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tracker.errors import ConfigError
from tracker.models import Base, Meta

SCHEMA_VERSION = 1
LINK_SECRET = "link_secret"  # signs the links in reminders (tracker.signing); made once, here


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI connection
    # The driver must not open transactions on its own: _sqlite_begin does, so that writers can take the
    # write lock up front (BEGIN IMMEDIATE) instead of failing to upgrade a read in WAL mode.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def engine(url: str) -> Engine:
    """An engine for `url`; a SQLite file's folder is created on first use."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"--db: not a database URL: {url!r} (e.g. sqlite:///path/to/tracker.db)") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        eng = create_engine(parsed)
    except Exception as e:  # a missing driver or bad option is a configuration problem, not a bug
        raise ConfigError(f"--db {parsed.render_as_string()}: {e}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(eng, "connect", _sqlite_pragmas)
        event.listen(eng, "begin", _sqlite_begin)
    return eng


def _sqlite_begin(conn) -> None:  # noqa: ANN001 - SQLAlchemy Connection
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")


def init(eng: Engine) -> None:
    """Create missing tables and record the schema version; refuse a database from a newer tracker."""
    try:
        Base.metadata.create_all(eng)
        with Session(eng.execution_options(write=True)) as session, session.begin():
            row = session.get(Meta, "schema_version")
            if session.get(Meta, LINK_SECRET) is None:
                session.add(Meta(key=LINK_SECRET, value=secrets.token_hex(32)))
            if row is None:
                session.add(Meta(key="schema_version", value=str(SCHEMA_VERSION)))
                session.add(Meta(key=DATA_VERSION, value="0"))
            elif int(row.value) > SCHEMA_VERSION:
                raise ConfigError(
                    f"the database has schema version {row.value}, newer than this tracker "
                    f"({SCHEMA_VERSION}); upgrade tracker"
                )
    except OperationalError as e:
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
def _sessions(eng: Engine, write: bool) -> sessionmaker:
    return sessionmaker(eng.execution_options(write=True) if write else eng, expire_on_commit=False)


@contextmanager
def transaction(eng: Engine, write: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error (so bad input changes nothing).
    `write=True` takes SQLite's write lock at the start: for read-then-write work that races other processes."""
    with _sessions(eng, write)() as session, session.begin():
        yield session
        session.flush()
        _bump_data_version(session)


def ping(eng: Engine) -> bool:
    """True when the database answers a trivial query."""
    try:
        with Session(eng) as session:
            session.execute(select(1))
        return True
    except OperationalError:
        return False
