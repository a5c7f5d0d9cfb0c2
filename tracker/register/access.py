"""Who may do what: the three roles of issue 12, decided here once for the web, the CLI's `user` commands and
CalDAV. A lead may do everything; an officer creates items and changes the items they own or that belong to a
committee they sit on, and their own subscriptions; a viewer reads everything and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.core.errors import Forbidden
from tracker.core.models import AccessRole, Account, CommitteeMember, Item, Person


@dataclass(frozen=True)
class Viewer:
    """The signed-in person, as every permission check and page sees them."""

    person_id: int
    slug: str
    name: str
    role: AccessRole
    tz: str
    locale: str | None
    committees: frozenset[int]  # ids of the committees they sit on

    @property
    def is_lead(self) -> bool:
        return self.role is AccessRole.lead

    @property
    def can_create_items(self) -> bool:
        return self.role in (AccessRole.lead, AccessRole.officer)

    def can_change(self, item: Item) -> bool:
        """Edit, mark done/reopen/cancel, snooze: a lead any item; an officer their own or their committee's."""
        if self.role is AccessRole.lead:
            return True
        if self.role is not AccessRole.officer:
            return False
        owners = {link.person_id for link in item.owner_links}
        return self.person_id in owners or (item.committee_id is not None and item.committee_id in self.committees)

    def can_manage_subscriptions_of(self, person_id: int | None) -> bool:
        return self.is_lead or (self.role is AccessRole.officer and person_id == self.person_id)


def viewer(session: Session, person: Person, account: Account) -> Viewer:
    committees = session.scalars(select(CommitteeMember.committee_id).where(CommitteeMember.person_id == person.id))
    return Viewer(person.id, person.slug, person.name, account.role, person.tz, person.locale, frozenset(committees))


def require(allowed: bool, what: str) -> None:
    """Refuse with one line naming what was refused, e.g. require(v.can_change(item), "change item 12")."""
    if not allowed:
        raise Forbidden(f"Your role does not allow you to {what}.")
