"""App passwords: what a task or calendar app (CalDAV) signs in with, never the person's sign-in password.

Each is made at random here, shown once, and kept only as its SHA-256 (a long random secret needs no slow hash,
as with feed tokens); each can be revoked on its own. Failures are rate-limited with the sign-in's counter
(accounts.throttle), per login and per client address, so every worker process counts the same attempts. The
`tracker user app-password` commands, the "My calendars" page and the CalDAV server call these."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.core import rules
from tracker.core.errors import InvalidInput, NotFound
from tracker.core.models import Account, AppPassword, Person
from tracker.register import items

ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no l/1/o/0 to misread when typed into a phone
GROUPS, GROUP_LENGTH = 5, 4  # "abcd-efgh-jkmn-pqrs-tuvw": 100 bits, typeable, the shape Apple and Google use
LABEL_MAX = 100


def _hash(password: str) -> str:
    return hashlib.sha256(password.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()


def _new_password() -> str:
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))


def as_dict(app_password: AppPassword) -> dict[str, Any]:
    return {
        "id": app_password.id,
        "person": app_password.person.slug,
        "label": app_password.label,
        "created_at": app_password.created_at,
        "last_used_at": app_password.last_used_at,
        "revoked_at": app_password.revoked_at,
        "status": "revoked" if app_password.revoked_at else "active",
    }


def _clean_label(label: str) -> str:
    """An app password's label folded to one line, as `--label` and the My calendars form both take it.

    :raises InvalidInput: "--label: …" when it is empty or longer than LABEL_MAX."""
    try:
        label = rules.clean_line(label, LABEL_MAX)
    except ValueError as e:
        raise InvalidInput(f"--label: {e}") from None
    if not label:
        raise InvalidInput("--label: say which app it is for (e.g. 'Thunderbird at the office')")
    return label


def dav_url(base_url: str) -> str:
    """The server URL a task app is given: the CalDAV root under the base URL (it finds every list from there)."""
    return base_url.rstrip("/") + "/dav/"


def create(session: Session, slug: str, label: str, now: datetime) -> tuple[dict[str, Any], str]:
    """A new app password for the person `slug` (who needs an account): its record, and the password itself,
    which is never shown again."""
    label = _clean_label(label)
    person = items.lookup(session, Person, slug)
    if session.get(Account, person.id) is None:
        raise NotFound(f"{slug} has no account yet (see `tracker user role {slug} officer`)")
    password = _new_password()
    row = AppPassword(person=person, label=label, token_hash=_hash(password), created_at=now)
    session.add(row)
    session.flush()
    return as_dict(row), password


def app_passwords(session: Session, slug: str) -> list[dict[str, Any]]:
    """The person's app passwords, newest first, revoked ones included (never the passwords)."""
    person = items.lookup(session, Person, slug)
    found = select(AppPassword).where(AppPassword.person_id == person.id).order_by(AppPassword.id.desc())
    return [as_dict(row) for row in session.scalars(found)]


def revoke(session: Session, slug: str, ref: int, now: datetime) -> dict[str, Any]:
    """Revoke the person's app password number `ref`: the app it was given to can no longer sign in. Its record,
    `already_revoked` true when it was revoked before: then nothing changes, and it keeps the first time."""
    person = items.lookup(session, Person, slug)
    row = session.get(AppPassword, ref) if 0 < ref < 2**63 else None  # no row id is larger (SQLite raises)
    if row is None or row.person_id != person.id:
        raise NotFound(f"{slug} has no app password {ref} (see `tracker user app-password {slug} --list`)")
    already = row.revoked_at is not None
    if not already:
        row.revoked_at = now
    return as_dict(row) | {"already_revoked": already}


def throttle_keys(person: Person | None, login: str, address: str | None) -> list[str]:
    """The rate-limit keys of a CalDAV sign-in (accounts.LIMITS): the person it names (accounts.person_by_login), by
    slug or e-mail alike, else the login as typed, hashed as the sign-in form's are (a password typed as the user
    name is never stored); and its client address, shared with the sign-in form."""
    keys = [f"app:{_hash(person.slug if person is not None else login.casefold())}"]
    return keys + [f"address:{address}"] if address else keys


def known(session: Session, password: str) -> bool:
    """Whether `password` is an app password this desk made (revoked ones included): an app still using a revoked
    one is refused, but not counted as guessing."""
    return session.scalar(select(AppPassword.id).where(AppPassword.token_hash == _hash(password))) is not None


def check(session: Session, person: Person | None, password: str) -> AppPassword | None:
    """The live app password `password` of `person` (the sign-in's, accounts.person_by_login) if their account is
    enabled; else None. Changes nothing: rate limiting (accounts.throttle, count_attempt) and mark_used are the
    caller's."""
    account = session.get(Account, person.id) if person is not None else None
    if account is None or account.disabled_at is not None:
        return None
    wanted = _hash(password)
    live = select(AppPassword).where(AppPassword.person_id == person.id, AppPassword.revoked_at.is_(None))
    return next((row for row in session.scalars(live) if hmac.compare_digest(row.token_hash, wanted)), None)


USED_EVERY = 3600  # seconds: "last used" is kept to the hour, as an app polls all day and this is a write


def needs_marking(app_password: AppPassword, now: datetime) -> bool:
    last = app_password.last_used_at
    return last is None or (now - last).total_seconds() > USED_EVERY


def mark_used(session: Session, app_password_id: int, now: datetime) -> None:
    row = session.get(AppPassword, app_password_id)
    if row is not None:
        row.last_used_at = now
