"""An item's history as people and programs read it, and the sentence a command that changes an item says first.

The history keeps a due date as the instant it is stored as (UTC text); whether it was a date or a date-time,
and in which zone, are the item's `due_all_day` and `tz` at that moment, which the history also records. So
walking the history back from the item as it is now gives each due date as it was written: `2009-10-15`, not
`2009-10-14T16:00:00+00:00`.
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from tracker.core import timing
from tracker.core.models import Item, ItemChange

DueSetting = tuple[bool, str]  # due_all_day, tz
# The ways a change comes, as the CLI names them to people (the desk's pages say them in the reader's language).
WAYS = {"cli": "CLI", "web": "web", "email link": "e-mail link", "yaml": "load", "ics": "import", "caldav": "CalDAV"}


def entries(item: Item, zone: ZoneInfo, for_people: bool = False) -> list[dict[str, Any]]:
    """The history, oldest first. Times are in `zone` (the user's): ISO-8601 with the offset, or for people
    "2009-10-01 09:30" to the minute. Due dates are dates where they were written as dates, date-times in the
    item's zone of that moment (ISO-8601, or "2009-10-15 17:00 Asia/Taipei" for people)."""
    settings = _due_settings(item.history, (item.due_all_day, item.tz))
    out = []
    for n, change in enumerate(item.history):
        old, new = change.old, change.new
        if change.field == "due":
            before, after = settings[n]
            old, new = _due(old, *before, for_people), _due(new, *after, for_people)
        elif change.field == "completed_at":
            old, new = _instant(old, zone, for_people), _instant(new, zone, for_people)
        out.append({
            "at": timing.minute(change.at, zone) if for_people else change.at.astimezone(zone).isoformat(),
            "by": change.by,
            "how": change.how,
            "field": change.field,
            "old": old,
            "new": new,
            "note": change.note,
        })  # fmt: skip
    return out


def way(how: str) -> str:
    """How a change came, as the CLI tells people: "via CalDAV"."""
    return f"via {WAYS.get(how, how)}"


def _due_settings(history: list[ItemChange], now: DueSetting) -> dict[int, tuple[DueSetting, DueSetting]]:
    """For each `due` change (by position), the item's all-day-ness and zone before and after it, found by
    undoing the changes from the newest. The rows one change wrote share its time, author, way and note."""
    out = {}
    after = now
    one_change = groupby(enumerate(history), key=lambda pair: (pair[1].at, pair[1].by, pair[1].how, pair[1].note))
    for rows in reversed([list(group) for _, group in one_change]):
        all_day, tz = after
        for _, change in rows:
            if change.field == "due_all_day" and change.old is not None:
                all_day = change.old == "True"
            elif change.field == "tz" and change.old:
                tz = change.old
        out |= {n: ((all_day, tz), after) for n, change in rows if change.field == "due"}
        after = (all_day, tz)
    return out


def _due(text: str | None, all_day: bool, tz: str, for_people: bool) -> str | None:
    value = timing.iso(datetime.fromisoformat(text), all_day, tz) if text else None
    return timing.readable(value, tz) if for_people else value


def _instant(text: str | None, zone: ZoneInfo, for_people: bool) -> str | None:
    if not text:
        return text
    at = datetime.fromisoformat(text)
    return timing.minute(at, zone) if for_people else at.astimezone(zone).isoformat()


_STATUS_WORDS = {"done": ("Marked {name} done.", "done"), "reopen": ("Reopened {name}.", "open"),
                 "cancel": ("Cancelled {name}.", "cancelled")}  # fmt: skip
_SPOKEN = ("title", "status", "due", "tz", "due_note", "owners", "priority", "category", "meeting", "serves",
           "committee", "decision", "description", "source_quote", "note")  # fmt: skip
_LONG = ("description", "source_quote", "note")  # said to have changed, not quoted


def sentence(command: str, before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """What `add`, `edit`, `done`, `reopen` or `cancel` did, in one sentence, from the item's rows (`as_dict`)
    before and after it: `Marked #1 "Volunteer for the KPI drafting committees" done.`"""
    name = f'#{after["id"]} "{after["title"]}"'
    if before is None:
        due = timing.readable(after["due"], after["tz"])
        return f"Added {name}, due {due}." if due else f"Added {name}, with no due date."
    unchanged = before["sequence"] == after["sequence"]  # items.apply_changes raises it when, and only when, it writes
    if command in _STATUS_WORDS:
        said, status = _STATUS_WORDS[command]
        return f"{name} is already {status}: nothing changed." if unchanged else said.format(name=name)
    name = f'#{before["id"]} "{before["title"]}"'
    if unchanged:
        return f"Nothing changed on {name}."
    changed = "; ".join(_change(f, before, after) for f in _SPOKEN if before[f] != after[f])
    return f"Changed {name}: {changed}." if changed else f"Changed {name}."


def _change(field: str, before: dict[str, Any], after: dict[str, Any]) -> str:
    label = field.removesuffix("_quote").replace("_", " ")
    if field in _LONG:
        return f"{label} changed" if after[field] else f"{label} removed"
    old, new = (_spoken(field, row) for row in (before, after))
    return f"{label} {old} → {new}"


def _spoken(field: str, row: dict[str, Any]) -> str:
    value = row[field]
    if field == "due":
        value = timing.readable(value, row["tz"])
    elif field == "owners":
        value = ", ".join(value)
    elif field == "title":
        value = f'"{value}"'
    elif field == "status":
        value = value.replace("_", " ")
    return value or "none"
