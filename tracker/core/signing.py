"""Signed, expiring links in reminders (mark done, snooze, reminder settings), with itsdangerous.

A token binds an action to an item and a person; it expires (default 30 days). The expiry is checked
against tracker's clock, not the wall clock, so `--now` and tests move it like everything else. Done and
snooze tokens also carry the item's status mark (`status_mark`) when they were made, so that a link from
before a reopen (or any later status change) no longer acts, and snooze tokens the instant their reminder
fired, from which the snooze is computed: pressing a link again, or an older one, changes nothing.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.core.errors import TrackerError
from tracker.core.models import ItemChange, Meta
from tracker.core.store import LINK_SECRET
from tracker.core.vocab import N_

MAX_AGE = timedelta(days=30)
EPOCH_1900 = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


class LinkError(TrackerError):
    """A link that cannot be used: forged, expired, or for someone else. `message` is a catalog text (marked
    with N_) with %(name)s placeholders filled from `variables`, so the link page can say it in its reader's
    language; str() is the English."""

    http_status = 400

    def __init__(self, message: str, **variables: str) -> None:
        super().__init__(message % variables if variables else message)
        self.message, self.variables = message, variables


class LinkExpired(LinkError):
    http_status = 410


def secret(session: Session, configured: str | None = None) -> str:
    """The signing secret: from the settings (TRACKER_SECRET), else the one store.init keeps in the database."""
    return configured or session.get(Meta, LINK_SECRET).value


@functools.lru_cache(maxsize=64)  # a sender signs every link of a batch with the same key, actions and `now`
def _serializer(key: str, action: str, now: datetime) -> URLSafeTimedSerializer:
    class ClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            # Counted from 1900, not 1970: itsdangerous cannot pack a negative number, and tracker's clock
            # (--now) may stand anywhere in 1900–2200.
            return int(now.timestamp()) + EPOCH_1900

    return URLSafeTimedSerializer(key, salt=f"tracker-{action}", signer=ClockSigner)


def make(key: str, action: str, now: datetime, **claims: Any) -> str:
    return _serializer(key, action, now).dumps(claims)


def read(key: str, action: str, token: str, now: datetime, max_age: timedelta = MAX_AGE) -> dict[str, Any]:
    """The claims of a valid token for `action`; LinkError/LinkExpired otherwise."""
    try:
        return _serializer(key, action, now).loads(token, max_age=int(max_age.total_seconds()))
    except SignatureExpired:
        raise LinkExpired(N_("This link has expired. Newer reminders carry a fresh one.")) from None
    except BadSignature:
        raise LinkError(N_("This link is not valid.")) from None


def status_mark(session: Session, item_id: int) -> int:
    """The id of the item's latest status change (0 before any): it moves with every done, reopen or cancel,
    and never comes back, so a link carrying it is stale once the status has moved on."""
    return status_marks(session, [item_id]).get(item_id, 0)


def status_marks(session: Session, item_ids: Iterable[int]) -> dict[int, int]:
    """`status_mark` of many items in one query (a sender's batch); an item without a status change is absent."""
    latest = (select(ItemChange.item_id, func.max(ItemChange.id)).group_by(ItemChange.item_id)
              .where(ItemChange.item_id.in_(set(item_ids)), ItemChange.field == "status"))  # fmt: skip
    return {item_id: mark for item_id, mark in session.execute(latest)}


def derived_token(key: str, purpose: str, token: str) -> str:
    """A secret that is a function of a signed token (HMAC-SHA256 keyed by the link secret), in the shape of
    subscriptions.new_token(): pressing the same link twice finds the same thing instead of making another."""
    digest = hmac.new(key.encode(), f"{purpose}|{token}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
