"""The reminder policy: lead times and hours, layered. One source for the reminders tracker sends and for
the VALARMs the calendars carry.

Layers: built-in defaults < `reminder_policy.defaults` in YAML < its `categories.<area>` < the person's
`reminders` < the item's `reminders` < command-line overrides.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from tracker.core.models import Item, Meta, Person
from tracker.core.vocab import POLICY_KEY


@dataclass(frozen=True)
class Policy:
    """Lead times and hours of the reminder plan (documented in README "Reminders")."""

    item_before_days: tuple[int, ...] = (30, 7, 1)
    due_day_at: str = "09:00"
    overdue_every_days: int = 7
    escalate_after_days: int = 14
    meeting_before_days: tuple[int, ...] = (60, 14, 1)
    meeting_at: str = "09:00"
    digest: bool = True
    digest_weekday: int = 0  # Monday
    digest_at: str = "08:00"
    at: tuple[str, ...] = ()  # explicit extra reminder instants (ISO 8601), for one item

    def merged(self, overrides: dict[str, Any] | None) -> Policy:
        if not overrides:
            return self
        names = {f.name for f in fields(self)}
        clean = {
            k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items() if k in names and v is not None
        }
        return replace(self, **clean)


DEFAULT = Policy()


def item_alarm_triggers(all_day: bool, policy: Policy = DEFAULT) -> list[timedelta]:
    """VALARM triggers relative to DUE, from the same lead times. An all-day DUE is local midnight, so the
    reminders land at the due-day hour."""
    hour, minute = map(int, policy.due_day_at.split(":"))
    at = timedelta(hours=hour, minutes=minute) if all_day else timedelta(0)
    return [at - timedelta(days=d) for d in policy.item_before_days] + [at]


def load_policies(session: Session) -> tuple[Policy, dict[str, dict]]:
    row = session.get(Meta, POLICY_KEY)
    stored = json.loads(row.value) if row else {}
    return DEFAULT.merged(stored.get("defaults")), stored.get("categories", {})


def policy_for(base: Policy, categories: dict[str, dict], item: Item | None, person: Person) -> Policy:
    policy = base
    if item is not None and item.category:
        policy = policy.merged(categories.get(item.category))
    policy = policy.merged(person.reminder_policy)
    return policy.merged(item.reminder_policy) if item is not None else policy


def policy_dict(policy: Policy) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(policy).items()}
