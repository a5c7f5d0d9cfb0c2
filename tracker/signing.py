"""Signed, expiring links in reminders (mark done, snooze, reminder settings), with itsdangerous.

A token binds an action to an item and a person; it expires (default 30 days). The expiry is checked
against tracker's clock, not the wall clock, so `--now` and tests move it like everything else.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from tracker.errors import TrackerError
from tracker.models import Meta
from tracker.store import LINK_SECRET

MAX_AGE = timedelta(days=30)


class LinkError(TrackerError):
    """A link that cannot be used: forged, expired, or for someone else."""

    http_status = 400


class LinkExpired(LinkError):
    http_status = 410


def secret(session: Session, configured: str | None = None) -> str:
    """The signing secret: from the settings (TRACKER_SECRET), else the one store.init keeps in the database."""
    return configured or session.get(Meta, LINK_SECRET).value


def _serializer(key: str, action: str, now: datetime) -> URLSafeTimedSerializer:
    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(now.timestamp())

    return URLSafeTimedSerializer(key, salt=f"tracker-{action}", signer=ClockSigner)


def make(key: str, action: str, now: datetime, **claims: Any) -> str:
    return _serializer(key, action, now).dumps(claims)


def read(key: str, action: str, token: str, now: datetime, max_age: timedelta = MAX_AGE) -> dict[str, Any]:
    """The claims of a valid token for `action`; LinkError/LinkExpired otherwise."""
    try:
        return _serializer(key, action, now).loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired:
        raise LinkExpired("This link has expired. Newer reminders carry a fresh one.") from None
    except BadSignature:
        raise LinkError("This link is not valid.") from None
