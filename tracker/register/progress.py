"""Progress at a glance: how many items were open, done and overdue at the end of each month since the first item,
per priority area and per owner. Computed from each item's created_at, completed_at and due, and for a cancelled
item the history's time of cancelling: each item adds one interval per count (open from creation until done or
cancelled; overdue from its deadline until then; done from completion on), swept over the month ends once, so
10,000 items over years cost one pass."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.core.clock import start_of_day
from tracker.core.models import Item, ItemChange, ItemOwner, Person, Status
from tracker.core.vocab import CATEGORIES, N_

MAX_MONTHS = 60  # a chart of the last five years at most: older months would be too thin to read
COUNTS = ("open", "done", "overdue")
NO_AREA, NO_OWNER = N_("Cross-cutting"), N_("No owner")  # translated where shown (web.charts.Panel.ours)


@dataclass
class Group:
    """One panel of the chart: a priority area or an owner, and its counts at each point of `Progress.points`."""

    key: str
    label: str
    counts: dict[str, list[int]] = field(default_factory=dict)

    def latest(self, count: str) -> int:
        return self.counts[count][-1]


@dataclass
class Progress:
    points: list[str]  # "2008-09" for each month end; the last point is now (its month so far)
    areas: list[Group]
    owners: list[Group]

    @property
    def most(self) -> int:
        """The largest count in any panel (every panel shares one scale, so panels compare at a glance)."""
        return max([1, *(max(g.counts[c]) for g in (*self.areas, *self.owners) for c in COUNTS)])


def _month_ends(first: datetime, now: datetime, tz: ZoneInfo) -> tuple[list[str], list[datetime]]:
    """Labels and instants of each month's end (local midnight starting the next month) from `first`'s month,
    the last being `now`; at most MAX_MONTHS."""
    month = first.astimezone(tz).date().replace(day=1)
    labels, ends = [], []
    while True:
        following = (month + timedelta(days=32)).replace(day=1)
        end = start_of_day(following, tz)
        labels.append(f"{month:%Y-%m}")
        ends.append(min(end, now))
        if end >= now:
            break
        month = following
    return labels[-MAX_MONTHS:], ends[-MAX_MONTHS:]


def _intervals(row: tuple, cancelled: datetime | None) -> dict[str, tuple[datetime, datetime | None]]:
    """The spans during which an item counts as open, done and overdue."""
    _, _, created, completed, due, all_day, status, updated = row
    closed = completed if status == Status.done else (cancelled or updated) if status == Status.cancelled else None
    spans: dict[str, tuple[datetime, datetime | None]] = {"open": (created, closed)}
    if status == Status.done and completed is not None:
        spans["done"] = (completed, None)
    deadline = None if due is None else due + timedelta(days=1) if all_day else due
    if deadline is not None and (closed is None or deadline < closed):
        spans["overdue"] = (max(deadline, created), closed)
    return spans


def progress(session: Session, now: datetime, tz: ZoneInfo, owner_id: int | None = None) -> Progress:
    """The counts at each month end (`tz`'s months) for every item, or for the items `owner_id` owns."""
    query = select(Item.id, Item.category, Item.created_at, Item.completed_at, Item.due, Item.due_all_day,
                   Item.status, Item.updated_at).where(Item.created_at <= now)  # fmt: skip
    if owner_id is not None:
        query = query.where(Item.owner_links.any(ItemOwner.person_id == owner_id))
    rows = list(session.execute(query))
    if not rows:
        return Progress([], [], [])
    labels, ends = _month_ends(min(r[2] for r in rows), now, tz)
    cancelling = select(ItemChange.item_id, func.max(ItemChange.at)).group_by(ItemChange.item_id)
    cancelled = {item_id: at for item_id, at in session.execute(
        cancelling.where(ItemChange.field == "status", ItemChange.new == Status.cancelled.value))}  # fmt: skip
    owners: dict[int, list[tuple[str, str]]] = {}
    for item_id, slug, name in session.execute(
        select(ItemOwner.item_id, Person.slug, Person.name).join(Person, ItemOwner.person_id == Person.id)
    ):
        owners.setdefault(item_id, []).append((slug, name))
    areas = {key: Group(key, label) for key, label in [*CATEGORIES.items(), ("", NO_AREA)]}
    people: dict[str, Group] = {}
    steps: dict[tuple[str, str, str], list[int]] = {}  # (area|owner, key, count) → +1/-1 at each point
    for row in rows:
        spans = _intervals(row, cancelled.get(row[0]))
        keys = [("area", row[1] or "")]
        for slug, name in owners.get(row[0], [("", NO_OWNER)]):
            people.setdefault(slug, Group(slug, name))
            keys.append(("owner", slug))
        for count, (start, stop) in spans.items():
            for kind, key in keys:
                deltas = steps.setdefault((kind, key, count), [0] * (len(ends) + 1))
                deltas[bisect_left(ends, start)] += 1
                if stop is not None:
                    deltas[bisect_left(ends, stop)] -= 1
    for kind, groups in (("area", areas), ("owner", people)):
        for key, group in groups.items():
            group.counts = {c: list(accumulate(steps.get((kind, key, c), [0] * (len(ends) + 1))))[:-1] for c in COUNTS}
    shown_areas = [g for g in areas.values() if any(any(v) for v in g.counts.values())]
    return Progress(labels, shown_areas, sorted(people.values(), key=lambda g: (g.key == "", g.label)))
