"""The reminder plan: when people are reminded of items and meetings. One source of truth for
both the reminders tracker sends and the VALARMs it writes into calendars."""

from __future__ import annotations

from datetime import timedelta

ITEM_LEAD_DAYS = (30, 7, 1)
DUE_DAY_HOUR = 9


def item_alarm_triggers(all_day: bool) -> list[timedelta]:
    """VALARM triggers relative to DUE. An all-day DUE is local midnight, so lead times land at 09:00."""
    at = timedelta(hours=DUE_DAY_HOUR) if all_day else timedelta(0)
    return [at - timedelta(days=d) for d in ITEM_LEAD_DAYS] + [at]
