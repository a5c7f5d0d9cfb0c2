"""Shell-completion candidates — item ids and slugs, people, meetings, series, committees — read straight from the
database a command would open. A Tab must answer at once, and SQLAlchemy alone takes longer to import than that:
a SQLite file is read with the standard library's sqlite3, read-only (never created, never migrated); PostgreSQL
goes through SQLAlchemy (slower). Whatever goes wrong (no database yet, an older schema, a bad setting) means no
candidates, never an error printed into the user's command line."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from urllib.parse import quote, unquote

from tracker.core.config import db_url
from tracker.core.errors import TrackerError
from tracker.core.rules import one_line

# kind: the query giving (slug, title or name) rows; items are read by `items`, with their ids and statuses.
_QUERIES = {
    "person": "SELECT slug, name FROM people",
    "committee": "SELECT slug, name FROM committees",
    "meeting": "SELECT slug, title FROM meetings",
    "series": "SELECT slug, title FROM meeting_series",
    "meeting-or-series": "SELECT slug, title FROM meetings UNION SELECT slug, title FROM meeting_series",
    "decision": "SELECT slug, title FROM decisions",
}
_ITEMS = "SELECT id, slug, title, status FROM items"
_TIMEOUT = 2  # seconds: a Tab waits at most this long for a locked or unreachable database


def slugs(kind: str, incomplete: str, db: str | None, config: str | None) -> list[tuple[str, str]]:
    """(slug, its title or name) of each `kind` ("person", "committee", "meeting", "series",
    "meeting-or-series" or "decision") whose slug starts with `incomplete`, sorted by slug. `db` and `config` are the
    --db and --config options given, if any."""
    rows = _rows(db, config, _QUERIES[kind])
    return sorted({(slug, one_line(title)) for slug, title in rows if slug.startswith(incomplete)})


def items(incomplete: str, db: str | None, config: str | None, statuses: Iterable[str] | None = None
          ) -> list[tuple[str, str]]:  # fmt: skip
    """(reference, title) of each item (of `statuses`, if given): slugs that start with `incomplete`, and ids
    too once `incomplete` is a number being typed; slugs first, in id order."""
    wanted = None if statuses is None else set(statuses)
    found = [(str(i), slug, one_line(title)) for i, slug, title, status in sorted(_rows(db, config, _ITEMS))
             if wanted is None or status in wanted]  # fmt: skip
    by_slug = [(slug, title) for _, slug, title in found if slug.startswith(incomplete)]
    by_id = [(i, title) for i, _, title in found if incomplete.isdigit() and i.startswith(incomplete)]
    return by_slug + by_id


def _rows(db: str | None, config: str | None, query: str) -> list[tuple]:
    try:
        url = db_url(path=config, override=db)
    except TrackerError:  # a bad config file: the command itself will say so
        return []
    backend = url.partition("://")[0].partition("+")[0]
    if backend == "sqlite":
        try:
            return _sqlite_rows(url, query)
        except (sqlite3.Error, OSError):
            return []
    return _sqlalchemy_rows(url, query) if backend == "postgresql" else []


def _sqlite_rows(url: str, query: str) -> list[tuple]:
    """The rows of `query` from a SQLite URL's file, opened read-only: a missing file stays missing."""
    path = unquote(url.partition("://")[2].removeprefix("/").partition("?")[0])
    if path in ("", ":memory:"):
        return []
    uri = f"file:{quote(str(Path(path).absolute()))}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=_TIMEOUT)) as conn:
        return conn.execute(query).fetchall()


def _sqlalchemy_rows(url: str, query: str) -> list[tuple]:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    try:
        engine = create_engine(url, connect_args={"connect_timeout": _TIMEOUT})
    except (SQLAlchemyError, ImportError):  # a bad URL, a missing driver
        return []
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.exec_driver_sql(query)]
    except SQLAlchemyError:
        return []
    finally:
        engine.dispose()
