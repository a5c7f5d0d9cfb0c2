"""Calendars: ICS export and import, VTIMEZONEs, meeting occurrences and the agenda, feeds and subscriptions.
Imports register and core."""
