"""The CalDAV namespace: which collections exist, what each holds, and who may read or write it.

    /                              the root
    /<slug>/                       a person's principal, and their calendar home
    /<slug>/items/                 the items they own (VTODO; they write here)
    /<slug>/meetings/              the meetings they attend (VEVENT; read-only)
    /<lead>/person-<slug>/         in a lead's home: every owner's items
    /<lead>/committee-<slug>/      in a lead's home: every committee's items

A person reads and writes only their own home; a lead reads every home and writes every task list. What a
write may change inside a task list is decided item by item (tracker.dav.writes, with register.access)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.calendars import ics
from tracker.core.models import AccessRole, Account, Committee, ItemOwner, Person

ITEMS, MEETINGS, PERSON, COMMITTEE = "items", "meetings", "person-", "committee-"


@dataclass(frozen=True)
class Place:
    """A collection path, split: `home` is the principal's slug ("" for the root), `name` the collection ("" for
    the principal itself)."""

    home: str = ""
    name: str = ""

    @property
    def path(self) -> str:
        return "/".join(p for p in (self.home, self.name) if p)

    @property
    def is_task_list(self) -> bool:
        return self.name == ITEMS or self.name.startswith((PERSON, COMMITTEE))


def split(path: str) -> tuple[Place, str | None] | None:
    """(collection, item href or None) of a sanitized path, or None when it is deeper than an item."""
    parts = [p for p in path.split("/") if p]
    if len(parts) > 3:
        return None
    href = parts[2] if len(parts) == 3 else None
    return Place(*parts[:2]), href


def _account(session: Session, slug: str) -> Account | None:
    found = select(Account).join(Account.person).where(Person.slug == slug, Account.disabled_at.is_(None))
    return session.scalars(found).one_or_none()


def homes(session: Session) -> list[str]:
    """Every principal: the slugs of the people who may sign in."""
    found = select(Person.slug).join(Account, Account.person_id == Person.id).where(Account.disabled_at.is_(None))
    return list(session.scalars(found.order_by(Person.slug)))


_OWNERS = select(Person.slug).where(Person.id.in_(select(ItemOwner.person_id)))


def collections(session: Session, home: str) -> list[Place]:
    """The collections in `home`: items and meetings, and for a lead every owner's and committee's task list."""
    account = _account(session, home)
    if account is None:
        return []
    places = [Place(home, ITEMS), Place(home, MEETINGS)]
    if account.role is AccessRole.lead:
        places += [Place(home, PERSON + slug) for slug in session.scalars(_OWNERS.order_by(Person.slug))]
        committees = select(Committee.slug).order_by(Committee.slug)
        places += [Place(home, COMMITTEE + slug) for slug in session.scalars(committees)]
    return places


def _exists(session: Session, place: Place) -> bool:
    """Whether `place` is one of collections(session, place.home), without listing a lead's every list."""
    account = _account(session, place.home)
    if account is None:
        return False
    if place.name in (ITEMS, MEETINGS):
        return True
    if account.role is not AccessRole.lead:
        return False
    if place.name.startswith(PERSON):
        return session.scalar(_OWNERS.where(Person.slug == place.name[len(PERSON) :])) is not None
    if place.name.startswith(COMMITTEE):
        found = select(Committee.slug).where(Committee.slug == place.name[len(COMMITTEE) :])
        return session.scalar(found) is not None
    return False


def spec(session: Session, place: Place) -> ics.CalendarSpec | None:
    """What the collection holds, as a calendar spec (the feeds' selection), or None if there is no such
    collection."""
    if not _exists(session, place):
        return None
    if place.name.startswith(COMMITTEE):
        committee = session.scalars(select(Committee).where(Committee.slug == place.name[len(COMMITTEE) :])).one()
        return replace(ics.committee_spec(committee), meetings=False, deadlines=False)
    slug = place.name[len(PERSON) :] if place.name.startswith(PERSON) else place.home
    person = session.scalars(select(Person).where(Person.slug == slug)).one()
    full = ics.person_spec(person.slug, person.name)
    if place.name == MEETINGS:
        return replace(full, todos=False, deadlines=False, name=f"APEC SME meetings: {person.name}")
    return replace(full, meetings=False, deadlines=False)


def permissions(session: Session, user: str, path: str) -> str:
    """Radicale's rights letters for `user` on `path` (R/W: plain collections, r/w: calendars): the root and
    their own principal to read, their own collections (a lead: everyone's); task lists writable by leads and
    officers, meetings never."""
    found = split(path)
    account = _account(session, user) if user else None
    if found is None or account is None:
        return ""
    place, _ = found
    lead = account.role is AccessRole.lead
    if not place.home:
        return "R"
    if place.home != user and not lead:
        return ""
    if not place.name:
        return "R"
    if place.is_task_list and account.role in (AccessRole.lead, AccessRole.officer):
        return "rw"
    return "r"
