"""Reminders: the plan, messages, the delivery ledger, channels (mail, webhook, desktop) and the scheduler.
Imports calendars, register and core."""
