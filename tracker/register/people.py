"""The people of the register: who they are, how to reach them, whom their overdue items escalate to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from tracker.core.models import OPEN_STATUSES, Item, ItemOwner, Person


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
