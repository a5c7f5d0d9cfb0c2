"""Server-side sessions of the web desk: a random token in the browser's cookie, only its SHA-256 in the database
(`web_sessions`), so a copy of the database signs nobody in. A session ends when its person signs out (or out
everywhere), after IDLE without a request, at its absolute expiry, or when the account is disabled."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tracker.calendars.subscriptions import hash_token
from tracker.core.models import Account, Person, WebSession
from tracker.register import access, accounts

IDLE = timedelta(hours=8)  # a working day away from the desk signs you out
ABSOLUTE = timedelta(days=7)  # and a week whatever happens
TOUCH_EVERY = timedelta(minutes=5)  # last_seen_at is written at most this often: a page view is not a write


def open_session(session: Session, person: Person, how: str, now: datetime) -> tuple[str, WebSession]:
    """A new session for `person` signed in by `how` (password | link); returns the cookie's token and the row."""
    _new_visit(session, person.id)
    token = secrets.token_urlsafe(32)
    row = WebSession(token_hash=hash_token(token), person_id=person.id, csrf=secrets.token_urlsafe(32), how=how,
                     created_at=now, last_seen_at=now, expires_at=now + ABSOLUTE)  # fmt: skip
    session.add(row)
    return token, row


def _new_visit(session: Session, person_id: int) -> None:
    """A new session is a new visit: "what changed since my last visit" (My desk) counts from when the person was
    last seen in an earlier session. It moves only here, so reloading My desk does not empty that list."""
    last_seen = session.scalar(select(func.max(WebSession.last_seen_at)).where(WebSession.person_id == person_id))
    account = session.get(Account, person_id)
    if account is not None and last_seen is not None:
        account.last_visit_at = last_seen


def current(session: Session, token: str, now: datetime) -> tuple[WebSession, access.Viewer] | None:
    """The live session `token` opens and who it signs in, or None (unknown, ended, expired, account disabled)."""
    row = session.get(WebSession, hash_token(token))
    if row is None or row.revoked_at is not None or now >= row.expires_at or now - row.last_seen_at >= IDLE:
        return None
    account = session.get(Account, row.person_id)
    if account is None or account.disabled_at is not None:
        return None
    return row, access.viewer(session, row.person, account)


def needs_touch(row: WebSession, now: datetime) -> bool:
    return now - row.last_seen_at >= TOUCH_EVERY


def touch(session: Session, token: str, now: datetime) -> None:
    """Keep an active session from idling out."""
    session.execute(update(WebSession).where(WebSession.token_hash == hash_token(token)).values(last_seen_at=now))


def close(session: Session, token: str, now: datetime) -> None:
    """Sign out this browser."""
    live = WebSession.token_hash == hash_token(token), WebSession.revoked_at.is_(None)
    session.execute(update(WebSession).where(*live).values(revoked_at=now))


def close_all(session: Session, person_id: int, now: datetime) -> int:
    """Sign out everywhere: every live session of the person; returns how many were ended."""
    return accounts.end_sessions(session, person_id, now)
