"""Feed bytes, cached in memory until the data changes, with validators for conditional GET.

A feed is rebuilt only when the database's data version moved (any committed change, from any process),
and a rebuild re-serialises only the components whose (kind, id, SEQUENCE) is new: the rest come from the
part cache, giving the same bytes as a build from scratch (see `ics.build`).
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, Executable, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tracker.calendars import ics
from tracker.core import store
from tracker.core.errors import Busy
from tracker.core.models import FeedState

BUILD_ATTEMPTS = 3  # a build whose data changed before its Last-Modified was stored starts again, this often


@dataclass
class Feed:
    body: bytes
    etag: str
    last_modified: datetime

    @cached_property
    def last_modified_http(self) -> str:
        return format_datetime(self.last_modified, usegmt=True)

    @cached_property
    def modified_second(self) -> int:
        """Last-Modified as a POSIX second, to compare with the response's Date."""
        return int(self.last_modified.timestamp())

    @cached_property
    def gzipped(self) -> bytes:
        """Compressed once per ETag (mtime=0 keeps it deterministic), never per request."""
        return gzip.compress(self.body, compresslevel=6, mtime=0)

    def not_modified(self, if_none_match: str | None, if_modified_since: str | None) -> bool:
        """RFC 9110: If-None-Match decides when present; else a parseable If-Modified-Since ≥ Last-Modified."""
        if if_none_match is not None:
            tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
            return self.etag in tags or "*" in tags
        if if_modified_since is None:
            return False
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            return False  # not an HTTP-date (they are always GMT); ignoring it is the safe answer
        return since >= self.last_modified


def _insert_absent(dialect: str, key: str, etag: str, stamp: datetime) -> Executable:
    """INSERT of a FeedState row that does nothing if the row exists (SQLite and PostgreSQL: ON CONFLICT DO
    NOTHING), so that two processes inserting at once do not fail; other databases get a plain INSERT."""
    values = {"feed": key, "etag": etag, "last_modified": stamp}
    if dialect == "postgresql":
        return postgresql.insert(FeedState).values(values).on_conflict_do_nothing(index_elements=["feed"])
    if dialect == "sqlite":
        return sqlite.insert(FeedState).values(values).on_conflict_do_nothing(index_elements=["feed"])
    return insert(FeedState).values(values)


class FeedCache:
    """Thread-safe cache of feed bytes per (calendar, alarms) and of component bytes per (kind, id, SEQUENCE)."""

    def __init__(self, engine: Engine, refresh: timedelta, now: Callable[[], datetime]) -> None:
        self.engine = engine
        self.refresh = refresh
        self.now = now
        self.parts: dict[tuple, ics.Part] = {}
        self.feeds: dict[tuple[str, bool], tuple[int, Feed]] = {}
        self._lock = threading.Lock()
        self._probe: Any = None

    def version(self) -> int:
        """The data version, read on one kept DBAPI connection: this runs on every request, 304s included,
        so it skips the ORM. Call it from one thread (the server's event loop)."""
        for attempt in (1, 2):
            try:
                if self._probe is None:
                    self._probe = self.engine.raw_connection()
                cursor = self._probe.cursor()
                cursor.execute("SELECT value FROM meta WHERE key = 'data_version'")
                value = int(cursor.fetchone()[0])
                cursor.close()
                self._probe.rollback()  # end the read, so the next one sees newer commits
                return value
            except self.engine.dialect.loaded_dbapi.Error as e:
                self._probe = None  # a dropped connection (server restart): reconnect once, then give up
                if attempt == 2:
                    raise OperationalError("SELECT data_version", {}, e) from e
        raise AssertionError("unreachable")

    def cached(self, calendar: str, alarms: bool, version: int) -> Feed | None:
        entry = self.feeds.get((calendar, alarms))
        return entry[1] if entry is not None and entry[0] == version else None

    def build(self, spec: ics.CalendarSpec, alarms: bool) -> Feed:
        """The feed's current bytes, rebuilding (incrementally) if the data changed since the cached copy.
        Building only reads; the write lock is taken afterwards, and only when the ETag changed.
        :raises Busy: the stored Last-Modified had to move while another process held the write lock too long,
            or the data changed under every attempt."""
        with self._lock:
            for _ in range(BUILD_ATTEMPTS):
                feed = self._build(spec, alarms)
                if feed is not None:
                    return feed
        raise Busy("the data kept changing while the feed was built; try again")

    def _build(self, spec: ics.CalendarSpec, alarms: bool) -> Feed | None:
        """One attempt; None when the data moved on before the new Last-Modified could be stored."""
        key = f"{spec.slug}|{alarms}"
        with store.transaction(self.engine) as session:
            version = store.data_version(session)
            found = self.cached(spec.slug, alarms, version)
            if found is not None:
                return found
            body = ics.build(session, spec, self.refresh, alarms, cache=self.parts)
            state = self._state(session, key)
        etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
        stamp = state.last_modified if state is not None and state.etag == etag else self._move(key, etag, version)
        if stamp is None:
            return None
        feed = Feed(body, etag, stamp)
        self.feeds[(spec.slug, alarms)] = (version, feed)
        self._prune()
        return feed

    @staticmethod
    def _state(session: Session, key: str) -> Any:
        return session.execute(select(FeedState.etag, FeedState.last_modified).where(FeedState.feed == key)).first()

    def _move(self, key: str, etag: str, version: int) -> datetime | None:
        """Store a Last-Modified for `etag`, the bytes of the data at `version`, and return the one stored.

        Its own write transaction. The first writer wins, in any number of processes: the insert does nothing
        when another process inserted the row meanwhile, the update replaces only the ETag it read, and the
        row is read back, so every process serves the same Last-Modified for the same bytes. None when the
        data has moved past `version`: these bytes are stale, and storing their ETag would give the current
        bytes, already served by another process, a second Last-Modified when they come back."""
        with store.transaction(self.engine, write=True) as session:
            if store.data_version(session) != version:
                return None
            state = self._state(session, key)
            if state is None:
                session.execute(_insert_absent(self.engine.dialect.name, key, etag, self._stamp(None)))
            elif state.etag != etag:
                moved = self._stamp(state.last_modified)
                session.execute(
                    update(FeedState)
                    .where(FeedState.feed == key, FeedState.etag == state.etag)
                    .values(etag=etag, last_modified=moved)
                )
            state = self._state(session, key)
        return state.last_modified if state is not None and state.etag == etag else None

    def _stamp(self, previous: datetime | None) -> datetime:
        """A new Last-Modified: now in whole seconds, and past `previous` so that an If-Modified-Since of the
        old bytes cannot match the new ones. Only after two changes within one second is it ahead of the clock;
        responses then show the Date instead until the clock catches up (tracker.web.server.conditional)."""
        stamp = self.now().astimezone(UTC).replace(microsecond=0)
        return stamp if previous is None else max(stamp, previous + timedelta(seconds=1))

    def _prune(self) -> None:
        """Keep only the newest SEQUENCE of each component: older bytes can never be asked for again."""
        newest: dict[tuple, tuple] = {}
        for key in self.parts:
            ident = (key[0], key[1], key[3:])
            if ident not in newest or key[2] > newest[ident][2]:
                newest[ident] = key
        if len(newest) < len(self.parts):
            self.parts = {key: self.parts[key] for key in newest.values()}
