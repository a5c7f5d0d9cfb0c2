"""The collections of tracker's CalDAV storage (tracker.dav.storage): the root, principals, and calendars.

Each item is one resource (a VCALENDAR holding its VTODO, the same component, UID and SEQUENCE as the feeds);
each meeting or series one resource holding its master and overrides. An ETag is made from what decides a
resource's bytes (a task's id and sequence and the names it shows; a meeting's rows and sequences), so a listing
needs no serialising; the bytes are made only when asked, and kept per process by that key. A sync token (RFC
6578) names the collection's {href: etag}, kept in `dav_sync_states`, so the next sync lists only the hrefs that
changed, came or went; a task list works that out from the items changed since, not from a new listing."""

from __future__ import annotations

import functools
import hashlib
import json
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

from radicale import item as radicale_item
from radicale import storage
from radicale.item.filter import TIMESTAMP_MAX, TIMESTAMP_MIN
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from tracker.calendars import ics
from tracker.core import store
from tracker.core.errors import Forbidden, NotFound
from tracker.core.models import Account, Committee, DavSyncState, Item, Meeting, MeetingSeries, Person
from tracker.dav import places, views, writes
from tracker.register import access

SYNC_PREFIX = "urn:x-tracker:sync:"
SYNC_KEEP = timedelta(days=30)  # a sync token older than this is forgotten: the app then syncs everything again
CHAIN_MAX = 32  # a state is kept as its changes from an older one at most this many times over, then whole


def _etag(*keys: object) -> str:
    return '"' + hashlib.sha256("/".join(map(str, keys)).encode()).hexdigest()[:32] + '"'


def _http_date(at: datetime | None) -> str:
    return format_datetime(at, usegmt=True) if at else "Thu, 01 Jan 1970 00:00:00 GMT"


class Resource(radicale_item.Item):
    """A resource whose bytes are made only when Radicale needs them: a listing of ETags (PROPFIND, a sync)
    serialises nothing."""

    def __init__(self, make: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(text="", **kwargs)  # Radicale wants a text or a component up front
        self._make = make

    def serialize(self) -> str:
        if not self._text:
            self._text = self._make()
        return self._text

    @property
    def vobject_item(self) -> Any:
        self.serialize()
        return super().vobject_item


class Batch:
    """The resources one listing found: all their bytes are made together, in one transaction, the first time
    any of them is asked for."""

    def __init__(self, listing: Listing, found: dict[str, tuple[str, str, tuple]]) -> None:
        self.listing, self.found = listing, found
        self.texts: dict[str, str] | None = None

    def text(self, href: str) -> str:
        if self.texts is None:
            with store.transaction(self.listing._storage.engine) as session:
                self.texts = self.listing.make(session, self.found)
        return self.texts[href]


class Plain(storage.BaseCollection):
    """The root, or a principal: a collection of collections."""

    def __init__(self, owner: Any, place: places.Place) -> None:  # owner: the tracker.dav.storage.Storage
        self._storage, self.place = owner, place

    @property
    def path(self) -> str:
        return self.place.path

    def children(self, session: Session) -> list[Any]:
        if not self.place.home:
            return [Plain(self._storage, places.Place(home)) for home in places.homes(session)]
        return [self._storage._collection(session, place) for place in places.collections(session, self.place.home)]

    def get_multi(self, hrefs: Iterable[str]) -> Iterable[tuple[str, Any]]:
        return [(href, None) for href in hrefs]

    def get_all(self) -> Iterable[Any]:
        return []

    def get_meta(self, key: str | None = None) -> Any:
        return {} if key is None else None

    def set_meta(self, props: Mapping[str, str]) -> None:
        raise Forbidden("The register's collections keep their own names and properties.")

    @property
    def last_modified(self) -> str:
        return _http_date(None)

    def upload(self, href: str, item: Any) -> Any:
        raise Forbidden("Only a task list takes tasks.")

    def delete(self, href: str | None = None) -> None:
        raise Forbidden("Nothing is deleted here.")


class Listing(Plain):
    """A calendar collection: its resources are listed by key, made on demand, and synced by state."""

    tag_name = "VCALENDAR"
    component = ""

    def __init__(self, owner: Any, place: places.Place, spec: ics.CalendarSpec) -> None:
        super().__init__(owner, place)
        self.spec = spec

    def keys(self, session: Session) -> dict[str, tuple[str, str, tuple]]:
        """{href: (etag, uid, key)} of every resource, without making any."""
        raise NotImplementedError

    def make(self, session: Session, wanted: dict[str, tuple[str, str, tuple]]) -> dict[str, str]:
        """{href: text} of the `wanted` resources."""
        raise NotImplementedError

    def _items(self, wanted: Callable[[Session], dict[str, tuple[str, str, tuple]]]) -> list[Any]:
        with store.transaction(self._storage.engine) as session:
            found = wanted(session)
        batch, modified, span = Batch(self, found), self.last_modified, self.time_range()
        return [Resource(functools.partial(batch.text, href), collection=self, href=href, etag=etag, uid=uid,
                         name="VCALENDAR", component_name=self.component, time_range=span, last_modified=modified)
                for href, (etag, uid, _) in found.items()]  # fmt: skip

    def time_range(self) -> tuple[int, int] | None:
        return None  # Radicale works it out from the component when a filter asks

    def listing(self, session: Session) -> dict[str, tuple[str, str, tuple]]:
        """`keys`, asked once per request (a write forgets it)."""
        return self._storage.memo.get(("keys", self.path), lambda: self.keys(session))

    def etags(self, session: Session) -> dict[str, str]:
        """{href: etag} of every resource: the collection's state."""
        return {href: etag for href, (etag, _, _) in self.listing(session).items()}

    def get_all(self) -> Iterable[Any]:
        return self._items(self.listing)

    def get_multi(self, hrefs: Iterable[str]) -> Iterable[tuple[str, Any]]:
        wanted = set(hrefs)
        found = {item.href: item for item in self._items(lambda s: self.keys_of(s, wanted))}
        return [(href, found.get(href)) for href in wanted]

    def keys_of(self, session: Session, hrefs: set[str]) -> dict[str, tuple[str, str, tuple]]:
        return {href: key for href, key in self.keys(session).items() if href in hrefs}

    def has_uid(self, uid: str) -> bool:
        with store.transaction(self._storage.engine) as session:
            return any(found_uid == uid for _, found_uid, _ in self.listing(session).values())

    @property
    def etag(self) -> str:
        """From the collection's mark when it has one (no listing), else from every resource's ETag."""
        with store.transaction(self._storage.engine) as session:
            mark = self.mark(session)
            if mark is not None:
                return f'"{_mark_hash(self.path, mark)[:32]}"'
            return _etag(*sorted(f"{href}={etag}" for href, etag in self.etags(session).items()))

    def get_meta(self, key: str | None = None) -> Any:
        """The collection's properties, as the signed-in person's apps have set them (tracker.dav.views)."""
        meta = {**self._own_meta(), **self._storage.memo.get(("views",), self._views).get(self.path, {})}
        return meta if key is None else meta.get(key)

    def _own_meta(self) -> dict[str, str]:
        return {"tag": self.tag_name, "D:displayname": self.spec.name,
                "C:supported-calendar-component-set": self.component}  # fmt: skip

    def _views(self) -> dict[str, dict[str, str]]:
        with store.transaction(self._storage.engine) as session:
            return views.views(session, self._storage.user)

    def set_meta(self, props: Mapping[str, str]) -> None:
        """What a PROPPATCH leaves: kept as the signed-in person's view of this collection. Radicale gives the whole
        set, from properties read before this write; what the request changed is applied to the view as it is now,
        so that another app's PROPPATCH that came in between is kept too."""
        own, read = self._own_meta(), self.get_meta()
        views.wanted(own, props)  # refused as sent, whatever came in between
        with store.transaction(self._storage.engine, write=True) as session:
            current = {**own, **views.views(session, self._storage.user).get(self.path, {})}
            current.update({name: value for name, value in props.items() if read.get(name) != value})
            kept = views.wanted(own, {k: v for k, v in current.items() if k not in read or k in props})
            views.keep(session, self._storage.user, self.path, kept, self._storage.now())
        self._storage.memo.clear()

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        """The current token, and the hrefs changed since `old_token` (all, without one). ValueError for a token
        that is not ours or has been forgotten: Radicale then answers that the app must sync from scratch.

        A token is `<state>.<data version>`: `state` names the collection's {href: etag} kept in dav_sync_states
        with the collection's `mark`; the data version (store.data_version, moved by every change) answers "nothing
        changed" at once, and the mark lets a collection work out its new state from the rows changed since
        (`state_since`) instead of listing them all."""
        name, version = _token_parts(old_token) if old_token else ("", -1)
        with store.transaction(self._storage.engine) as session:
            now_version = store.data_version(session)
            if version == now_version and self._known(session, name):
                return old_token, []
            mark = self.mark(session)
            if not old_token:
                return f"{SYNC_PREFIX}{self._first_name(session, mark)}.{now_version}", self._hrefs()
            old = self._old(session, name)
            state = self.state_since(session, dict(old["hrefs"]), old["mark"], version, mark)
            if state is None:
                state = self.etags(session)
        before = old["hrefs"]
        changed = [href for href, etag in state.items() if before.get(href) != etag]
        changed += [href for href in before if href not in state]
        if changed:  # named, and kept, as a change of the old state: no need to hash or store all of it
            delta = {href: state.get(href) for href in changed}
            new_name = _state_name(name, delta)
            self._keep(new_name, state, mark, base=(name, old, delta))
        return f"{SYNC_PREFIX}{new_name if changed else name}.{now_version}", changed

    def _first_name(self, session: Session, mark: dict[str, Any] | None) -> str:
        """The name of the collection's state now, for a sync without a token (and the sync-token property): one
        kept with the same mark, else the state listed and kept."""
        if mark is not None:
            same = select(DavSyncState.token).where(DavSyncState.collection == self.path,
                                                    DavSyncState.mark == _mark_hash(self.path, mark))  # fmt: skip
            found = session.scalars(same.order_by(DavSyncState.created_at.desc()).limit(1)).first()
            if found is not None:
                return found
        state = self.etags(session)
        name = _state_name(self.path, state)
        self._keep(name, state, mark)
        return name

    def _hrefs(self) -> Iterator[str]:
        """Every href, listed only if Radicale asks (a PROPFIND of the sync-token property does not)."""
        with store.transaction(self._storage.engine) as session:
            found = list(self.listing(session))
        yield from found

    def mark(self, session: Session) -> dict[str, Any] | None:
        """What changes whenever the collection does, cheaply (None: it must be listed)."""
        return None

    def state_since(self, session: Session, state: dict[str, str], mark: dict | None, version: int, now: dict) -> Any:
        """The collection's {href: etag} now, from its `state` and `mark` at data version `version`; None to list
        it."""
        return None

    def _known(self, session: Session, name: str) -> bool:
        found = select(DavSyncState.collection).where(DavSyncState.token == name)
        return session.scalar(found) == self.path

    def _keep(self, name: str, hrefs: dict[str, str], mark: dict[str, Any] | None, base: tuple | None = None) -> None:
        """Keep a state: as its changes from the `base` state (name, state, changes) it was worked out from, while
        that chain is short and young, else whole; and in this process's memory, whole."""
        now = self._storage.now()
        if base is not None and base[1]["depth"] < CHAIN_MAX and base[1]["root_at"] > (now - SYNC_KEEP / 4).isoformat():
            kept = {"base": base[0], "hrefs": base[2], "depth": base[1]["depth"] + 1, "root_at": base[1]["root_at"]}
        else:
            kept = {"base": None, "hrefs": hrefs, "depth": 0, "root_at": now.isoformat()}
        kept["mark"] = mark
        with store.transaction(self._storage.engine, write=True) as session:
            session.execute(delete(DavSyncState).where(DavSyncState.created_at < now - SYNC_KEEP))
            if session.get(DavSyncState, name) is None:
                session.add(DavSyncState(token=name, collection=self.path, mark=_mark_hash(self.path, mark),
                                         state=kept, created_at=now))  # fmt: skip
        self._storage.states.put(name, (self.path, kept | {"hrefs": hrefs}))

    def _old(self, session: Session, name: str) -> dict[str, Any]:
        """The state a token names, whole: as this process last handed it out, else from the database."""
        path, state = self._storage.states.get(name) or self._kept(session, name)
        if path != self.path:
            raise ValueError("a sync token of another collection")
        return state

    def _kept(self, session: Session, name: str) -> tuple[str, dict[str, Any]]:
        """A kept state made whole: its chain of changes applied to the whole state it starts from."""
        rows = [session.get(DavSyncState, name)]
        while rows[-1] is not None and rows[-1].state["base"] is not None and len(rows) <= CHAIN_MAX + 1:
            rows.append(session.get(DavSyncState, rows[-1].state["base"]))
        if rows[-1] is None or rows[-1].state["base"] is not None:
            raise ValueError("unknown or expired sync token")
        hrefs = dict(rows[-1].state["hrefs"])
        for row in reversed(rows[:-1]):
            for href, etag in row.state["hrefs"].items():
                if etag is None:
                    hrefs.pop(href, None)
                else:
                    hrefs[href] = etag
        return rows[0].collection, rows[0].state | {"hrefs": hrefs}


def _mark_hash(path: str, mark: dict[str, Any] | None) -> str:
    return hashlib.sha256(json.dumps([path, mark], sort_keys=True).encode()).hexdigest()


def _state_name(base: str, hrefs: dict[str, str | None]) -> str:
    """A state's name: the hash of a collection path and its {href: etag}, or of an older state's name and what
    changed since."""
    return hashlib.sha256(f"{base}\n{json.dumps(hrefs, sort_keys=True)}".encode()).hexdigest()[:40]


def _token_parts(token: str) -> tuple[str, int]:
    name, _, version = token.removeprefix(SYNC_PREFIX).partition(".")
    if not token.startswith(SYNC_PREFIX) or not version.isdigit() or len(name) != 40:
        raise ValueError("not a sync token of this server")
    return name, int(version)


class TaskList(Listing):
    """Items as VTODOs. An item's href is the one an app created it under, else `<slug>.ics`."""

    component = "VTODO"

    def _query(self, hrefs: set[str] | None = None) -> Any:
        columns = (Item.id, Item.slug, Item.dav_href, Item.uid, Item.sequence)
        query = ics.for_spec(select(*columns), self.spec)
        if hrefs is not None:
            stems = [h.removesuffix(".ics") for h in hrefs if h.endswith(".ics")]
            query = query.where(or_(Item.dav_href.in_(hrefs), and_(Item.dav_href.is_(None), Item.slug.in_(stems))))
        return query

    @staticmethod
    def _href(row: Any) -> str:
        return row.dav_href or f"{row.slug}.ics"

    def keys(self, session: Session) -> dict[str, tuple[str, str, tuple]]:
        return self._keys(session, self._query())

    def keys_of(self, session: Session, hrefs: set[str]) -> dict[str, tuple[str, str, tuple]]:
        return self._keys(session, self._query(hrefs))

    def _keys(self, session: Session, query: Any) -> dict[str, tuple[str, str, tuple]]:
        names, out = self._names(session), {}
        for row in session.connection().execute(query):  # plain rows: this runs over every item of a listing
            out[self._href(row)] = (_task_etag(row, names), row.uid, ("todo", row.id, row.sequence, names))
        return out

    def mark(self, session: Session) -> dict[str, Any]:
        """The list's count, the newest `version` among its items, and the rename tag: any change to the list
        changes one of them (a change stamps its item with the newest version; an item leaving lowers the count,
        one joining brings the newest version)."""
        found = select(func.count(), func.coalesce(func.max(Item.version), 0))
        count, top = session.execute(ics.for_spec(found, self.spec).order_by(None)).one()
        return {"count": count, "top": top, "names": self._names(session)}

    def state_since(self, session: Session, state: dict[str, str], mark: dict | None, version: int, now: dict) -> Any:
        """The old state with the items changed since data version `version` (store stamps each change) put in
        or taken out; None after a rename (every ETag changed), or when the count is not the list's: the caller
        then lists."""
        if not mark or mark["names"] != now["names"]:
            return None
        since = Item.version > version
        inside = set(session.scalars(ics.for_spec(select(Item.id), self.spec).where(since)))
        for row in session.connection().execute(select(Item.id, Item.slug, Item.dav_href, Item.sequence).where(since)):
            state.pop(self._href(row), None)
            if row.id in inside:
                state[self._href(row)] = _task_etag(row, now["names"])
        return state if len(state) == now["count"] else None

    def _names(self, session: Session) -> str:
        """A tag of the other rows an item's VTODO shows (its owners' names, its committee's name and role, the UID
        of the meeting it relates to): renaming one gives every task a new ETag, as the bytes may have changed."""
        return self._storage.memo.get(("names",), lambda: _names_tag(session))

    def make(self, session: Session, wanted: dict[str, tuple[str, str, tuple]]) -> dict[str, str]:
        missing = {key[1] for _, _, key in wanted.values() if key not in self._storage.texts}
        anyone = replace(self.spec, person=None, committee=None)  # one that left the list since is made all the same
        loaded = {item.id: item for item in ics.load_items(session, anyone, missing)} if missing else {}
        out = {}
        for href, (_, _, key) in wanted.items():
            item = loaded.get(key[1])
            changed_since = item is not None and item.sequence != key[2]  # made now, not kept under the old key
            out[href] = self._storage.text(key, lambda i=item: [ics.part(ics.item_todo(i))], keep=not changed_since)
        return out

    def time_range(self) -> tuple[int, int]:
        return TIMESTAMP_MIN, TIMESTAMP_MAX  # a superset: Radicale then tests a time-range filter itself

    @property
    def last_modified(self) -> str:
        """The list's latest change, asked once per request."""
        return self._storage.memo.get(("modified", self.path), self._latest_change)

    def _latest_change(self) -> str:
        with store.transaction(self._storage.engine) as session:
            latest = session.scalar(ics.for_spec(select(func.max(Item.updated_at)), self.spec).order_by(None))
        return _http_date(latest)

    def upload(self, href: str, item: Any) -> tuple[Any, Any]:
        """A task an app sends: an update of the item at `href`, or a new item (tracker.dav.writes)."""
        storage_, now = self._storage, self._storage.now()
        todo = writes.read_todo(item.serialize())
        with store.transaction(storage_.engine, write=True) as session:
            writer = _viewer(session, storage_.user)
            current = self._keys(session, self._query({href})).get(href)  # (etag, uid, key): key[1] is the id
            storage_.check_expected(current[0] if current else None)
            if current is not None:
                writes.update(session, writer, session.get(Item, current[2][1]), todo, now)
            else:
                writes.create(session, writer, todo, href, now, storage_.default_tz, owner=self.spec.person,
                              committee=self.spec.committee)  # fmt: skip
        storage_.memo.clear()  # what this request listed before its write is stale now
        ((_, uploaded),) = self.get_multi([href])
        return uploaded, None

    def delete(self, href: str | None = None) -> None:
        raise Forbidden("Tasks are not deleted from a task app: mark it done, or cancel it on the desk "
                        "(`tracker cancel`), so that its history stays.")  # fmt: skip


class MeetingList(Listing):
    """The meetings a person attends as VEVENTs, one resource per UID: a series with its announced occurrences, or
    a meeting."""

    component = "VEVENT"

    def _groups(self, session: Session) -> dict[str, list[Any]]:
        series, meetings = ics.load_meetings(session, self.spec, [])  # no items: the meetings they attend
        groups: dict[str, list[Any]] = {}
        for row in [*series, *meetings]:
            groups.setdefault(row.uid, []).append(row)
        return groups

    def keys(self, session: Session) -> dict[str, tuple[str, str, tuple]]:
        out = {}
        for uid, rows in self._groups(session).items():
            key = ("meetings", uid, *((type(r).__name__, r.id, r.sequence) for r in rows))
            out[f"{rows[0].slug}.ics"] = (_etag(*key), uid, key)
        return out

    def make(self, session: Session, wanted: dict[str, tuple[str, str, tuple]]) -> dict[str, str]:
        groups = self._groups(session)

        def parts(uid: str) -> list[ics.Part]:
            return [ics.part(ics.series_event(r) if isinstance(r, MeetingSeries) else ics.meeting_event(r))
                    for r in groups[uid]]  # fmt: skip

        return {href: self._storage.text(key, lambda u=uid: parts(u)) for href, (_, uid, key) in wanted.items()}

    @property
    def last_modified(self) -> str:
        return _http_date(None)


def _task_etag(row: Any, names: str) -> str:
    """`"<id>.<sequence>.<names tag>"`: state_since reads the id and sequence back."""
    return f'"{row.id}.{row.sequence}.{names}"'


def _names_tag(session: Session) -> str:
    rows = [
        *session.execute(select(Person.id, Person.name).order_by(Person.id)),
        *session.execute(select(Committee.id, Committee.name, Committee.role).order_by(Committee.id)),
        *session.execute(select(Meeting.id, Meeting.uid).order_by(Meeting.id)),
        *session.execute(select(MeetingSeries.id, MeetingSeries.uid).order_by(MeetingSeries.id)),
    ]
    return f"{zlib.crc32(repr([tuple(row) for row in rows]).encode()):08x}"


def _viewer(session: Session, slug: str) -> access.Viewer:
    person = session.scalars(select(Person).where(Person.slug == slug)).one_or_none()
    account = session.get(Account, person.id) if person is not None else None
    if account is None or account.disabled_at is not None:
        raise NotFound("no such person")
    return access.viewer(session, person, account)
