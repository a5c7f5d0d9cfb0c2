"""What needs attention: overdue items, items due in the next days, and meetings coming up."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tracker.calendars import meetings
from tracker.core.errors import InvalidInput
from tracker.register import items


def agenda(
    session: Session, now: datetime, days: int = 14, owner: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Overdue open items, open items due within `days` (of `owner`, if given), and meetings within `days`."""
    if not 1 <= days <= meetings.MAX_WINDOW.days:
        raise InvalidInput(f"--days: from 1 to {meetings.MAX_WINDOW.days}")
    until = now + timedelta(days=days)
    overdue = items.items(session, now, owner=owner, overdue=True)
    upcoming = [i for i in items.items(session, now, owner=owner, due_before=until) if not items.is_overdue(i, now)]
    return {
        "overdue": [items.as_dict(i, now) for i in overdue],
        "due": [items.as_dict(i, now) for i in upcoming],
        "meetings": meetings.meetings(session, now, until, now),
    }
