"""Radicale's storage plugin on tracker's database: the one source of truth, with no files of its own. The
collections it finds are in tracker.dav.lists.

Radicale calls `acquire_lock` around every request with the signed-in user; the user is kept for the thread
(a2wsgi runs each request on one thread) so that a write knows who makes it."""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from radicale import storage
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tracker.calendars import ics
from tracker.core import store
from tracker.core.errors import Forbidden, Stale
from tracker.dav import places
from tracker.dav.lists import Listing, MeetingList, Plain, TaskList

CACHE_LIMIT = 50_000  # resources kept serialised per process, at most
STATES_KEPT = 64  # sync states kept in memory: the next sync of an app usually starts from the token it was given
PLAIN = ics.Calendar()
PLAIN.add("VERSION", "2.0")
PLAIN.add("PRODID", ics.PRODID)


class Memo(threading.local):
    """What one request has already asked the database (rights, listings), forgotten when the next one starts:
    Radicale asks for a collection's rights once per resource, and for its listing more than once."""

    def __init__(self) -> None:
        self.found: dict[tuple, Any] = {}

    def get(self, key: tuple, make: Callable[[], Any]) -> Any:
        if key not in self.found:
            self.found[key] = make()
        return self.found[key]

    def clear(self) -> None:
        self.found = {}


class Recent:
    """The `size` values put last, by key (a sync state is a few hundred kB for a list of 10,000 tasks)."""

    def __init__(self, size: int) -> None:
        self.size, self.found = size, collections.OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self.lock:
            return self.found.get(key)

    def put(self, key: str, value: Any) -> None:
        with self.lock:
            self.found[key] = value
            self.found.move_to_end(key)
            while len(self.found) > self.size:
                self.found.popitem(last=False)


class Storage(storage.BaseStorage):
    """The storage Radicale is configured with (see radicale_app): the engine, clock and default zone come in
    through the factory, not Radicale's configuration file."""

    def __init__(self, configuration: Any, engine: Engine, now: Callable[[], datetime], default_tz: str,
                 memo: Memo) -> None:  # fmt: skip
        super().__init__(configuration)
        self.engine, self.now, self.default_tz, self.memo = engine, now, default_tz, memo
        self.texts: dict[tuple, str] = {}  # resource key -> its bytes as text (see text)
        self.states = Recent(STATES_KEPT)  # sync states this process handed out, by name (lists.Listing._old)
        self._local = threading.local()

    @contextlib.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any, **kwargs: Any) -> Iterator[None]:
        """No lock of Radicale's: every read and write is one database transaction. Remembers who asks."""
        self._local.user = user
        try:
            yield
        finally:
            self._local.user = ""

    @property
    def user(self) -> str:
        return getattr(self._local, "user", "")

    def expect(self, if_match: str | None) -> None:
        """The ETag this thread's PUT was made against (its If-Match), checked again inside the write's transaction:
        Radicale's own check runs before it, and another write may land in between."""
        self._local.if_match = if_match

    def check_expected(self, etag: str | None) -> None:
        wanted = getattr(self._local, "if_match", None)
        if wanted and wanted != "*" and wanted != etag:
            raise Stale("The task changed since the app read it: sync, then try again.")

    def discover(self, path: str, depth: str = "0", child_context_manager: Any = None,
                 user_groups: Any = frozenset()) -> Iterable[Any]:  # fmt: skip
        found = places.split(path)
        if found is None:
            return []
        place, href = found
        with store.transaction(self.engine) as session:
            collection = self._collection(session, place)
            plain = type(collection) is Plain and depth != "0"
            children = collection.children(session) if plain else []
        if collection is None:
            return []
        if href is not None:
            return [item for _, item in collection.get_multi([href]) if item is not None]
        if depth == "0":
            return [collection]
        return [collection, *(collection.get_all() if isinstance(collection, Listing) else children)]

    def _collection(self, session: Session, place: places.Place) -> Any:
        if not place.home:
            return Plain(self, place)
        if not place.name:
            return Plain(self, place) if place.home in places.homes(session) else None
        spec = places.spec(session, place)
        if spec is None:
            return None
        return (TaskList if spec.todos else MeetingList)(self, place, spec)

    def create_collection(self, href: str, items: Any = None, props: Any = None) -> Any:
        raise Forbidden("The register's collections are fixed: a calendar cannot be made or replaced here.")

    def move(self, item: Any, to_collection: Any, to_href: str) -> None:
        raise Forbidden("Tasks cannot be moved between lists here: change the item's owners on the desk.")

    def verify(self) -> bool:
        return True

    def text(self, key: tuple, make: Callable[[], list[ics.Part]], keep: bool = True) -> str:
        """A resource's bytes (as text) by the key that decides them: made once per process (`keep`)."""
        found = self.texts.get(key)
        if found is None:
            found = ics.assemble(PLAIN, make()).decode()
            if keep:
                if len(self.texts) >= CACHE_LIMIT:
                    self.texts.clear()
                self.texts[key] = found
        return found
