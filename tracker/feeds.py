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

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tracker import ics, store
from tracker.models import FeedState


@dataclass
class Feed:
    body: bytes
    etag: str
    last_modified: datetime

    @cached_property
    def last_modified_http(self) -> str:
        return format_datetime(self.last_modified, usegmt=True)

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
        :raises Busy: the stored Last-Modified had to move while another process held the write lock too long."""
        with self._lock:
            with store.transaction(self.engine) as session:
                version = store.data_version(session)
                found = self.cached(spec.slug, alarms, version)
                if found is not None:
                    return found
                body = ics.build(session, spec, self.refresh, alarms, cache=self.parts)
                key = f"{spec.slug}|{alarms}"
                state = self._state(session, key)
            etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
            stamp = state.last_modified if state is not None and state.etag == etag else self._move(key, etag)
            feed = Feed(body, etag, stamp)
            self.feeds[(spec.slug, alarms)] = (version, feed)
            self._prune()
            return feed

    @staticmethod
    def _state(session: Session, key: str) -> Any:
        return session.execute(select(FeedState.etag, FeedState.last_modified).where(FeedState.feed == key)).first()

    def _move(self, key: str, etag: str) -> datetime:
        """Store a new Last-Modified for a new ETag: strictly up, in whole seconds. Its own write transaction,
        which re-reads the row: another server process may have stored this ETag meanwhile."""
        with store.transaction(self.engine, write=True) as session:
            state = self._state(session, key)
            if state is not None and state.etag == etag:
                return state.last_modified
            stamp = self.now().astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
            if state is not None:
                stamp = max(stamp, state.last_modified + timedelta(seconds=1))
                session.execute(update(FeedState).where(FeedState.feed == key).values(etag=etag, last_modified=stamp))
            else:
                session.execute(insert(FeedState).values(feed=key, etag=etag, last_modified=stamp))
            return stamp

    def _prune(self) -> None:
        """Keep only the newest SEQUENCE of each component: older bytes can never be asked for again."""
        newest: dict[tuple, tuple] = {}
        for key in self.parts:
            ident = (key[0], key[1], key[3:])
            if ident not in newest or key[2] > newest[ident][2]:
                newest[ident] = key
        if len(newest) < len(self.parts):
            self.parts = {key: self.parts[key] for key in newest.values()}
