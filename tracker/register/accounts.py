"""Accounts of the web desk: who may sign in, with which role, and their password (argon2id through argon2-cffi's
PasswordHasher, never hand-rolled); and the sign-in rate limit, counted in the database (`sign_in_failures`) so
that every worker process sees the same attempts. The `tracker user …` commands and the sign-in pages call these."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tracker.core import rules
from tracker.core.errors import InvalidInput, NotFound, TooManyAttempts
from tracker.core.models import AccessRole, Account, AppPassword, Person, SignInFailure, WebSession
from tracker.register import items

HASHER = PasswordHasher()  # argon2id with the library's recommended parameters (RFC 9106's second choice)
PASSWORD_LENGTH = (12, 1024)  # a passphrase, not a one-word password; the upper bound keeps hashing cheap

# The sign-in rate limit, per key "<kind>:<value>": at most LIMITS[kind] counted attempts within WINDOW. An account
# and a client address count refused sign-ins; a link key counts the links asked for.
WINDOW = timedelta(minutes=15)
LIMITS = {"account": 5, "address": 20, "link": 5, "app": 50}
# "app": an app password (CalDAV) of a person. Its 100 random bits need no tight limit; a tight one would let anyone
# who knows a user name hold all of that person's apps (tracker.register.app_passwords).


def as_dict(account: Account) -> dict[str, Any]:
    person = account.person
    return {
        "slug": person.slug,
        "name": person.name,
        "email": person.email,
        "role": account.role.value,
        "password": account.password_hash is not None,
        "disabled_at": account.disabled_at,
        "created_at": account.created_at,
        "last_visit_at": account.last_visit_at,
    }


def _account(session: Session, slug: str, now: datetime) -> Account:
    """The account of the person `slug` (NotFound, with the closest slugs, for a typo); made, as a viewer who
    can change nothing, if they have none yet."""
    person = items.lookup(session, Person, slug)
    account = session.get(Account, person.id)
    if account is None:
        account = Account(person_id=person.id, person=person, role=AccessRole.viewer, created_at=now)
        session.add(account)
    return account


def _existing(session: Session, slug: str) -> Account:
    person = items.lookup(session, Person, slug)
    account = session.get(Account, person.id)
    if account is None:
        raise NotFound(f"{slug} has no account yet (see `tracker user role {slug} officer`)")
    return account


def check_password(password: str) -> str:
    """The password if it can be one; else one InvalidInput line (that never shows it)."""
    low, high = PASSWORD_LENGTH
    if not low <= len(password) <= high:
        raise InvalidInput(f"password: from {low} to {high} characters, please (this one has {len(password)}); "
                           "a few words in a row make a good one")  # fmt: skip
    if not password.strip():
        raise InvalidInput("password: not only spaces")
    return password


def set_password(session: Session, slug: str, password: str, now: datetime) -> dict[str, Any]:
    """Set (or replace) the person's password; makes a viewer account if they have none."""
    account = _account(session, slug, now)
    account.password_hash = HASHER.hash(check_password(password))
    session.flush()
    return as_dict(account)


@functools.cache
def _decoy() -> str:
    """A hash to verify against when there is no account, so that a refusal takes as long either way."""
    return HASHER.hash("not anyone's password")


def verify_password(session: Session, person: Person | None, password: str) -> bool:
    """Whether `password` signs `person` in: an enabled account with this password. A hash made with older
    parameters than the hasher's is replaced, now that the password is known."""
    account = session.get(Account, person.id) if person is not None else None
    if account is None or account.disabled_at is not None or account.password_hash is None:
        _matches(_decoy(), password)
        return False
    if not _matches(account.password_hash, password):
        return False
    if HASHER.check_needs_rehash(account.password_hash):
        account.password_hash = HASHER.hash(password)
    return True


def _matches(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def set_role(session: Session, slug: str, role: str, now: datetime) -> dict[str, Any]:
    """Give the person `role` (lead, officer or viewer), making their account if they have none."""
    if role not in AccessRole.__members__:
        known = list(AccessRole.__members__)
        raise InvalidInput(f"no role {rules.shown(role)}{rules.did_you_mean(role, known)}; "
                           f"choose one of {', '.join(known)}")  # fmt: skip
    account = _account(session, slug, now)
    account.role = AccessRole(role)
    session.flush()
    return as_dict(account)


def disable(session: Session, slug: str, now: datetime) -> dict[str, Any]:
    """Stop the person signing in, sign them out of every browser now, and revoke their app passwords (enabling
    them again brings none back: a lost laptop's app stays out)."""
    account = _existing(session, slug)
    if account.disabled_at is None:
        account.disabled_at = now
    live = AppPassword.person_id == account.person_id, AppPassword.revoked_at.is_(None)
    revoked = session.execute(update(AppPassword).where(*live).values(revoked_at=now)).rowcount
    ended = end_sessions(session, account.person_id, now)
    return as_dict(account) | {"sessions_ended": ended, "app_passwords_revoked": revoked}


def enable(session: Session, slug: str, now: datetime) -> dict[str, Any]:
    """Let a disabled person sign in again (their old sessions stay ended)."""
    account = _existing(session, slug)
    account.disabled_at = None
    return as_dict(account)


def list_accounts(session: Session) -> list[dict[str, Any]]:
    """Every account, by slug."""
    found = session.scalars(select(Account).join(Account.person).order_by(Person.slug))
    return [as_dict(account) for account in found]


def end_sessions(session: Session, person_id: int, now: datetime) -> int:
    """End every live web session of the person; returns how many were ended (web.sessions.close_all)."""
    live = WebSession.person_id == person_id, WebSession.revoked_at.is_(None)
    return session.execute(update(WebSession).where(*live).values(revoked_at=now)).rowcount


def person_by_login(session: Session, login: str) -> Person | None:
    """The person a sign-in form names: by e-mail address (any case) or by slug."""
    login = login.strip()
    if not rules.findable(login):
        return None
    if "@" in login:
        found = select(Person).where(func.lower(Person.email) == login.lower())
    else:
        found = select(Person).where(Person.slug == login)
    return session.scalars(found.limit(1)).one_or_none()


def throttle(session: Session, keys: list[str], now: datetime) -> None:
    """TooManyAttempts (with how long to wait) when any key, "<kind>:<value>", has reached its kind's limit of
    counted attempts within WINDOW."""
    for key in keys:
        limit = LIMITS[key.split(":", 1)[0]]
        counted = SignInFailure.key == key, SignInFailure.at > now - WINDOW
        recent = session.scalars(select(SignInFailure.at).where(*counted).order_by(SignInFailure.at.desc())
                                 .limit(limit)).all()  # fmt: skip
        if len(recent) >= limit:  # allowed again once the limit-th newest has left the window
            wait = recent[limit - 1] + WINDOW - now
            error = TooManyAttempts("Too many sign-in attempts: wait a while, then try again.")
            error.retry_after = max(1, int(wait.total_seconds()) + 1)
            raise error


def count_attempt(session: Session, keys: list[str], now: datetime) -> None:
    """Count an attempt against each key (a refused sign-in, or a sign-in link asked for); attempts that have left
    the window are forgotten."""
    session.execute(delete(SignInFailure).where(SignInFailure.at <= now - WINDOW))
    session.add_all(SignInFailure(key=key, at=now) for key in keys)


def forget_failures(session: Session, key: str) -> None:
    """A successful sign-in clears its account's count (its address's stays)."""
    session.execute(delete(SignInFailure).where(SignInFailure.key == key))
