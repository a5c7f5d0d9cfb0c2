"""Calendar subscriptions behind secret URLs.

Calendar apps cannot send credentials, so the secret is in the URL: a 256-bit token from `secrets`, of
which only the SHA-256 is stored. A request's token is hashed and looked up by that hash, so no stored
secret is ever compared byte by byte, and every failure (missing, malformed, wrong, revoked) is the same
"not found".
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.calendars import ics
from tracker.core import rules
from tracker.core.errors import InvalidInput, NotFound
from tracker.core.models import Person, Subscription
from tracker.register import items

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Links:
    """Everything a person needs to subscribe, for each kind of client."""

    https: str
    webcal: str
    google: str
    page: str
    download: str

    @property
    def secure(self) -> bool:
        """The feed is served over https (the field `https` holds the feed's web URL, http or https)."""
        return self.https.startswith("https://")

    def labelled(self) -> dict[str, str]:
        """The links a person is shown, each under the name of what it is: the feed under its real scheme, and
        Google only over https (it cannot subscribe to plain http), as on the subscription page."""
        shown = {"https" if self.secure else "http": self.https, "webcal": self.webcal}
        if self.secure:
            shown["google"] = self.google
        return shown | {"page": self.page}

    @property
    def webcals(self) -> str:
        """The subscribe link for Thunderbird, which reads webcal:// as http and webcals:// as https. Apple
        Calendar and Google are given webcal://, the form they document."""
        return "webcals://" + self.webcal.removeprefix("webcal://") if self.secure else self.webcal


def links(base_url: str, token: str) -> Links:
    base = base_url.rstrip("/")
    https = f"{base}/feeds/{token}.ics"
    webcal = re.sub(r"^https?://", "webcal://", https)
    return Links(
        https=https,
        webcal=webcal,
        google=f"https://calendar.google.com/calendar/r?cid={quote(webcal, safe='')}",
        page=f"{base}/s/{token}/",
        download=f"{base}/s/{token}/calendar.ics",
    )


def _calendar_for(session: Session, calendar: str | None, person: Person | None) -> str:
    if calendar is None:
        return f"people/{person.slug}" if person else "all"
    known = {spec.slug for spec in ics.specs(session)}
    if calendar not in known:
        close = rules.did_you_mean(calendar, known)
        raise InvalidInput(
            f"--calendar: no calendar {rules.shown(calendar)}{close}; choose one of {', '.join(sorted(known))}"
        )
    return calendar


def add(
    session: Session,
    now: datetime,
    name: str,
    person: str | None = None,
    calendar: str | None = None,
    alarms: bool | None = None,
    token: str | None = None,
) -> tuple[Subscription, str]:
    """Create a subscription; returns it and its token (shown once, never stored). `token`: one derived from
    something else (a signed link), instead of a new random one."""
    try:
        name = rules.clean_line(name, 200)
        if not name:
            raise ValueError("must not be empty")
    except ValueError as e:
        raise InvalidInput(f"--name: {e}") from None
    who = items.lookup(session, Person, person) if person else None
    token = token or new_token()
    sub = Subscription(
        name=name,
        calendar=_calendar_for(session, calendar, who),
        person=who,
        # A person's own feed carries alarms by default; shared feeds do not (subscribers find them a nuisance).
        alarms=alarms if alarms is not None else who is not None,
        token_hash=hash_token(token),
        created_at=now,
    )
    session.add(sub)
    session.flush()
    return sub, token


def get(session: Session, ref: str) -> Subscription:
    number = rules.row_id(ref)
    sub = session.get(Subscription, number) if number is not None else None
    if sub is None:
        sub = session.scalars(select(Subscription).where(Subscription.name == ref)).first()
    if sub is None:
        raise NotFound(f"no subscription with id or name {rules.shown(ref)} (see `tracker subscribe list`)")
    return sub


def revoke(session: Session, ref: str, now: datetime) -> tuple[Subscription, bool]:
    """Revoke the subscription `ref` (id or name): its URL stops working. The subscription, and whether it was
    revoked before (then nothing changes, and it keeps the first time)."""
    sub = get(session, ref)
    already = sub.revoked_at is not None
    sub.revoked_at = sub.revoked_at or now
    return sub, already


def rotate(session: Session, ref: str, now: datetime) -> tuple[Subscription, str]:
    """A new token for the subscription; the old URL stops working at once."""
    sub = get(session, ref)
    if sub.revoked_at is not None:
        raise InvalidInput(f"subscription {sub.id} is revoked; add a new one instead")
    token = new_token()
    sub.token_hash = hash_token(token)
    sub.rotated_at = now
    return sub, token


def subscriptions(session: Session) -> list[Subscription]:
    return list(session.scalars(select(Subscription).order_by(Subscription.id)))


def resolve(session: Session, token: str) -> Subscription | None:
    """The live subscription of `token`, or None for any token that is not one (all failures look alike)."""
    digest = hash_token(token)  # hash first, whatever the input, so malformed tokens cost the same
    sub = session.scalars(select(Subscription).where(Subscription.token_hash == digest)).one_or_none()
    if sub is None or sub.revoked_at is not None or not TOKEN_PATTERN.fullmatch(token):
        return None
    return sub


def spec_for(session: Session, calendar: str) -> ics.CalendarSpec:
    """The calendar a subscription sees; a person's stays valid (and empty) when they own no item for a while."""
    for spec in ics.specs(session):
        if spec.slug == calendar:
            return spec
    if calendar.startswith("people/"):
        slug = calendar.removeprefix("people/")
        return ics.person_spec(slug, slug)
    raise NotFound("calendar no longer exists")


def as_dict(sub: Subscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "name": sub.name,
        "calendar": sub.calendar,
        "person": sub.person.slug if sub.person else None,
        "alarms": sub.alarms,
        "created_at": sub.created_at.isoformat(),
        "rotated_at": sub.rotated_at.isoformat() if sub.rotated_at else None,
        "revoked_at": sub.revoked_at.isoformat() if sub.revoked_at else None,
        "status": "revoked" if sub.revoked_at else "active",
    }
