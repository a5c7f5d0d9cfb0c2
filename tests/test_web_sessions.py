"""Sessions of the web desk end when they should, and roles decide what a person may change (register.access)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from tracker.core import store
from tracker.core.errors import Forbidden
from tracker.core.models import AccessRole, Account, Committee, CommitteeMember, Item, Person
from tracker.register import access
from tracker.web import sessions

NOW = datetime.fromisoformat("2008-09-01T09:00:00+08:00")


@pytest.fixture
def engine(loaded, db_url):
    eng = store.engine(db_url)
    yield eng
    eng.dispose()


def _person(session, slug: str) -> Person:
    return session.scalars(select(Person).where(Person.slug == slug)).one()


def _open(engine, slug: str, role: str = "officer") -> str:
    with store.transaction(engine, write=True) as session:
        person = _person(session, slug)
        session.add(Account(person_id=person.id, role=AccessRole(role), created_at=NOW))
        return sessions.open_session(session, person, "password", NOW)[0]


def _who(engine, token: str, at: datetime) -> str | None:
    with store.transaction(engine) as session:
        found = sessions.current(session, token, at)
        return found[1].slug if found else None


def test_a_session_ends_when_idle_at_its_absolute_expiry_and_when_closed(engine):
    token = _open(engine, "apec-officer")
    assert _who(engine, token, NOW) == "apec-officer"
    assert _who(engine, token, NOW + sessions.IDLE - timedelta(seconds=1)) == "apec-officer"
    assert _who(engine, token, NOW + sessions.IDLE) is None
    # Kept busy, it still ends at its absolute expiry.
    at = NOW
    while at + sessions.IDLE / 2 < NOW + sessions.ABSOLUTE:
        at += sessions.IDLE / 2
        with store.transaction(engine, write=True) as session:
            sessions.touch(session, token, at)
        assert _who(engine, token, at) == "apec-officer"
    assert _who(engine, token, NOW + sessions.ABSOLUTE) is None
    assert _who(engine, "not-a-token", NOW) is None


def test_sign_out_everywhere_and_a_disabled_account_end_every_session(engine):
    first, second = _open(engine, "apec-officer"), None
    with store.transaction(engine, write=True) as session:
        second = sessions.open_session(session, _person(session, "apec-officer"), "link", NOW)[0]
        sessions.close(session, first, NOW)
    assert _who(engine, first, NOW) is None and _who(engine, second, NOW) == "apec-officer"
    with store.transaction(engine, write=True) as session:
        assert sessions.close_all(session, _person(session, "apec-officer").id, NOW) == 1
    assert _who(engine, second, NOW) is None
    third = _open(engine, "forum-officer")
    with store.transaction(engine, write=True) as session:
        session.get(Account, _person(session, "forum-officer").id).disabled_at = NOW
    assert _who(engine, third, NOW) is None


def test_the_token_itself_is_not_stored(engine, db_url):
    token = _open(engine, "apec-officer")
    from tests.conftest import dump

    assert not any(token in row for row in dump(db_url))


def test_what_each_role_may_change(engine):
    with store.transaction(engine, write=True) as session:
        item = session.scalars(select(Item).where(Item.slug == "kpi-committee-volunteer")).one()
        owners = {link.person.slug for link in item.owner_links}
        outsider = next(p for p in session.scalars(select(Person)) if p.slug not in owners)
        owner = _person(session, sorted(owners)[0])

        def viewer(person: Person, role: AccessRole) -> access.Viewer:
            return access.viewer(session, person, Account(person_id=person.id, role=role))

        assert viewer(outsider, AccessRole.lead).can_change(item)
        assert viewer(owner, AccessRole.officer).can_change(item)
        assert not viewer(outsider, AccessRole.officer).can_change(item)
        assert not viewer(owner, AccessRole.viewer).can_change(item)
        assert not viewer(owner, AccessRole.viewer).can_create_items
        # Sitting on the item's committee lets an officer change it.
        committee = session.get(Committee, item.committee_id)
        session.add(CommitteeMember(committee_id=committee.id, person_id=outsider.id))
        session.flush()
        assert viewer(outsider, AccessRole.officer).can_change(item)
        assert [p.slug for p in committee.members] == [outsider.slug]
        assert viewer(outsider, AccessRole.officer).can_manage_subscriptions_of(outsider.id)
        assert not viewer(outsider, AccessRole.officer).can_manage_subscriptions_of(owner.id)
        with pytest.raises(Forbidden, match="does not allow you to change item"):
            access.require(viewer(outsider, AccessRole.viewer).can_change(item), "change item 1")
