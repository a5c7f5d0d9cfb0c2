"""The people of the register: who they are, how to reach them, whom their overdue items escalate to, and (for the
People page of the desk) their accounts: adding and editing a person by the YAML's rules, and disabling an account.

A person added here belongs to no data file (loaded_from stays NULL, as for `tracker add`): reloading people.yaml
leaves them alone, and a file that later gives their slug claims them (README "Reloading")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from tracker.core import rules
from tracker.core.errors import InvalidInput, NotFound
from tracker.core.models import (
    OPEN_STATUSES,
    AccessRole,
    Account,
    Committee,
    CommitteeMember,
    Item,
    ItemOwner,
    Person,
)
from tracker.core.vocab import ACCESS_ROLES
from tracker.register import accounts, dataset
from tracker.register.items import by_slug, lookup

# A person's fields as people.yaml names them; a form leaves an optional one empty for "none".
REQUIRED = ("name", "tz")
OPTIONAL = ("email", "role", "escalation", "locale")


def people(session: Session) -> list[dict[str, Any]]:
    """Everyone, by slug: name, role, e-mail, zone, escalation contact, and how many open items they own."""
    open_items = dict(session.execute(
        select(ItemOwner.person_id, func.count()).join(Item, ItemOwner.item_id == Item.id)
        .where(Item.status.in_(OPEN_STATUSES)).group_by(ItemOwner.person_id)
    ).all())  # fmt: skip
    found = session.scalars(select(Person).options(selectinload(Person.escalation)).order_by(Person.slug))
    return [
        {
            "slug": p.slug,
            "name": p.name,
            "role": p.role,
            "email": p.email,
            "tz": p.tz,
            "escalation": p.escalation.slug if p.escalation else None,
            "open_items": open_items.get(p.id, 0),
        }
        for p in found
    ]


def with_accounts(session: Session) -> list[dict[str, Any]]:
    """`people` with each one's account (`access`: lead/officer/viewer or None; `account`: active, disabled or
    none), locale, committees and the data file they came from (None: added on the desk or by a command)."""
    accounts = {a.person_id: a for a in session.scalars(select(Account))}
    rows = {p.slug: p for p in session.scalars(select(Person))}
    committees = _committees_of(session)
    listed = []
    for row in people(session):
        person = rows[row["slug"]]
        account = accounts.get(person.id)
        listed.append(row | {
            "access": account.role.value if account else None,
            "account": _state(account),
            "locale": person.locale,
            "committees": committees.get(person.id, []),
            "loaded_from": person.loaded_from,
        })  # fmt: skip
    return listed


def _state(account: Account | None) -> str:
    if account is None:
        return "none"
    return "disabled" if account.disabled_at is not None else "active"


def _committees_of(session: Session) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    pairs = session.execute(
        select(CommitteeMember.person_id, Committee.slug)
        .join(Committee, Committee.id == CommitteeMember.committee_id)
        .order_by(Committee.slug)
    )
    for person_id, slug in pairs:
        found.setdefault(person_id, []).append(slug)
    return found


def fields_of(session: Session, slug: str) -> dict[str, Any]:
    """One person's editable fields, as a form shows them (empty text for "none")."""
    person = lookup(session, Person, slug)
    account = session.get(Account, person.id)
    return {
        "slug": person.slug,
        "name": person.name,
        "email": person.email or "",
        "tz": person.tz,
        "role": person.role or "",
        "escalation": person.escalation.slug if person.escalation else "",
        "quiet_hours": person.quiet_hours,
        "locale": person.locale or "",
        "invitations": person.invitations,
        "committees": _committees_of(session).get(person.id, []),
        "access": account.role.value if account else "",
        "account": _state(account),
        "loaded_from": person.loaded_from,
    }


class InvalidPerson(InvalidInput):
    """Every problem of a person's fields, by field name (a form shows each beside its field)."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in problems.items()))


@dataclass
class _Checked:
    record: dataset.PersonIn
    escalation: Person | None
    committees: list[Committee]
    access: AccessRole | None


def _check(session: Session, slug: str, fields: dict[str, Any]) -> _Checked:
    """`fields` by people.yaml's rules and words (dataset.PersonIn), then what needs the database: the escalation
    contact and committees exist, the access role is one of ACCESS_ROLES. :raises InvalidPerson: with them all."""
    raw = {"slug": slug, "quiet_hours": fields.get("quiet_hours"), "invitations": fields.get("invitations", True)}
    raw |= {name: fields.get(name) for name in REQUIRED} | {name: fields.get(name) or None for name in OPTIONAL}
    problems: dict[str, str] = {}
    record = None
    try:
        record = dataset.PersonIn.model_validate({k: v for k, v in raw.items() if v is not None})
    except ValidationError as e:
        problems = dataset.problems(dataset.PersonIn, e)
    escalation = _known(session, Person, raw["escalation"], "escalation", problems)
    if raw["escalation"] is not None and raw["escalation"] == slug:
        problems["escalation"] = "a person cannot be their own escalation contact"
    committees = [_known(session, Committee, c, "committees", problems) for c in fields.get("committees", [])]
    access = fields.get("access") or None
    if access is not None and access not in ACCESS_ROLES:
        problems["access"] = f"unknown role {rules.shown(access)}; use one of {', '.join(ACCESS_ROLES)}"
    if problems or record is None:
        raise InvalidPerson(problems)
    return _Checked(record, escalation, committees, AccessRole(access) if access else None)


def _known(session: Session, model: type, slug: str | None, name: str, problems: dict[str, str]) -> Any:
    if slug is None:
        return None
    try:
        return lookup(session, model, slug)
    except NotFound as e:
        problems.setdefault(name, str(e))
        return None


def add(session: Session, slug: str, fields: dict[str, Any], now: datetime) -> Person:
    """A new person (with an account when `fields` names an access role), by people.yaml's rules.
    :raises InvalidPerson: a field is wrong, or the slug is taken."""
    taken = by_slug(session, Person, slug) is not None
    problems = {"slug": f"a person with slug {slug!r} already exists"} if taken else {}
    try:
        checked = _check(session, slug, fields)
    except InvalidPerson as e:
        raise InvalidPerson(problems | e.problems) from None
    if problems:
        raise InvalidPerson(problems)
    person = Person(slug=slug, **_columns(checked.record))
    session.add(person)
    session.flush()
    _apply(session, person, checked, now)
    return person


def edit(session: Session, slug: str, fields: dict[str, Any], now: datetime) -> Person:
    """Change a person's fields (all of them, as a form sends them; their own reminder times stay).
    :raises NotFound: no such person. :raises InvalidPerson: a field is wrong."""
    person = lookup(session, Person, slug)
    checked = _check(session, slug, fields)
    dataset.update_row(person, _columns(checked.record), now)
    _apply(session, person, checked, now)
    return person


def _columns(record: dataset.PersonIn) -> dict[str, Any]:
    """The columns a form sets: a person's own reminder times are not on it."""
    values = dataset.person_values(record)
    del values["reminder_policy"]
    return values


def _apply(session: Session, person: Person, checked: _Checked, now: datetime) -> None:
    person.escalation = checked.escalation
    wanted = {c.id for c in checked.committees}
    have = set(session.scalars(select(CommitteeMember.committee_id).where(CommitteeMember.person_id == person.id)))
    session.execute(delete(CommitteeMember).where(CommitteeMember.person_id == person.id,
                                                  CommitteeMember.committee_id.in_(have - wanted)))  # fmt: skip
    session.add_all(CommitteeMember(committee_id=c, person_id=person.id) for c in sorted(wanted - have))
    if checked.access is not None:
        account = session.get(Account, person.id)
        if account is None:
            session.add(Account(person_id=person.id, role=checked.access, created_at=now))
        else:
            _keep_a_lead(session, account, checked.access, "access")
            account.role = checked.access
    session.flush()


def _keep_a_lead(session: Session, account: Account, role: AccessRole | None, field: str) -> None:
    """Refuse to take the last active lead's role (role None: disabling): nobody could manage people any more."""
    if account.role is not AccessRole.lead or account.disabled_at is not None or role is AccessRole.lead:
        return
    others = session.scalars(select(Account.person_id).where(
        Account.role == AccessRole.lead, Account.disabled_at.is_(None), Account.person_id != account.person_id,
    )).first()  # fmt: skip
    if others is None:
        raise InvalidPerson({field: "this is the desk's only lead: make another person lead first"})


def set_disabled(session: Session, slug: str, disabled: bool, now: datetime) -> Account:
    """Disable a person's account (their sessions end, and they cannot sign in) or enable it again.
    :raises NotFound: no such person. :raises InvalidInput: they have no account, or are the only lead."""
    person = lookup(session, Person, slug)
    account = session.get(Account, person.id)
    if account is None:
        raise InvalidInput(f"{person.slug} has no account: give them an access role first")
    if not disabled:
        account.disabled_at = None
        return account
    _keep_a_lead(session, account, None, "account")
    if account.disabled_at is None:
        account.disabled_at = now
    accounts.end_sessions(session, person.id, now)
    return account
