"""The decision log: what meetings decided, each with the words of the report that record it.

A decision is not an action. It says what a meeting settled — a series' rhythm, a plan, a committee's work — and
items that carry it out cite it (`Item.decision`). Decisions come from YAML (`decisions:` in data/decisions.yaml,
see register.dataset); reloading follows the items' three-way rule (`merge_loaded`). A decision may drop items
(`drops:`): they are cancelled with a history note naming it (`drop`), so what is carried over from meeting to
meeting ends when it is done or dropped by a decision.

For other parts of tracker (the per-meeting brief among them): `decisions(session, meeting=SLUG)` gives the
decisions a meeting made, in the order they were recorded, and `rows(session, found)` the same as plain data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from tracker.core import rules
from tracker.core.errors import NotFound
from tracker.core.models import OPEN_STATUSES, Committee, Decision, Item, Meeting, MeetingSeries, Status
from tracker.register import items

# The fields a source gives, as slugs and text (what `loaded` keeps), and the rows the slugs name.
LINKS = {"meeting": Meeting, "affects_series": MeetingSeries, "affects_committee": Committee}


def _current(decision: Decision, name: str) -> Any:
    if name in LINKS:
        row = getattr(decision, name)
        return row.slug if row is not None else None
    return getattr(decision, name)


def _set(session: Session, decision: Decision, name: str, value: Any) -> None:
    if name in LINKS:
        value = items.lookup(session, LINKS[name], value) if value else None
    setattr(decision, name, value)


def merge_loaded(session: Session, slug: str, values: dict[str, Any], recorded: datetime, now: datetime) -> str:
    """Upsert the decision `slug` from YAML `values` (links as slugs, already checked). As for items, a field
    changes only where the YAML changed it since the last load, so a change made in the database since survives
    reloading an unchanged file. A new decision is stamped `recorded`; a changed one `now`.

    :returns: "created", "updated" or "unchanged".
    """
    decision = items.by_slug(session, Decision, slug)
    if decision is None:
        decision = Decision(slug=slug, created_at=recorded, updated_at=recorded, loaded={"yaml": values})
        for name, value in values.items():
            _set(session, decision, name, value)
        session.add(decision)
        return "created"
    baseline = decision.loaded.get("yaml", {})
    if baseline != values:
        decision.loaded = {**decision.loaded, "yaml": values}
    edited = {k: v for k, v in values.items() if baseline.get(k) != v and _current(decision, k) != v}
    for name, value in edited.items():
        _set(session, decision, name, value)
    if not edited:
        return "unchanged"
    decision.updated_at = now
    return "updated"


def drop(session: Session, decision: Decision, found: list[Item], now: datetime) -> None:
    """Cancel the open items of `found` that `decision` did not list before, each with a history note naming it;
    remember the list. As with the three-way rule, what the decision listed at an earlier load is not dropped
    again: an item reopened since stays open, and taking an item off the list does not reopen it."""
    before = set(decision.loaded.get("drops", []))
    for item in found:
        if item.slug not in before and item.status in OPEN_STATUSES:
            note = f"dropped by decision {decision.slug}: {decision.title}"
            items.apply_changes(
                session, item, {"status": Status.cancelled.value}, now, by="yaml", how="yaml", note=note
            )
    slugs = [item.slug for item in found]
    if decision.loaded.get("drops", []) != slugs:
        decision.loaded = {**decision.loaded, "drops": slugs}


def drops_of(decision: Decision) -> list[str]:
    """The slugs of the items `decision` drops, as its source last listed them."""
    return list(decision.loaded.get("drops", []))


def decisions(
    session: Session, meeting: str | None = None, category: str | None = None, affects: str | None = None
) -> list[Decision]:
    """The decisions matching every given filter, by the date of the meeting that made them, then as recorded.

    :param meeting: a meeting's slug (the decisions it made) or a series' (those of its meetings).
    :param category: a priority area (tracker.core.vocab.CATEGORIES).
    :param affects: a series' or committee's slug, or words of the plan a decision affects (any case).
    :raises NotFound: `meeting` or `affects` names nothing (a typo must not look like "no decisions").
    :raises InvalidInput: `category` is not a priority area.
    """
    query = select(Decision).join(Decision.meeting)
    if meeting:
        held = items.by_slug(session, Meeting, meeting)
        series = items.by_slug(session, MeetingSeries, meeting) if held is None else None
        if held is None and series is None:
            raise items.unknown_slug(session, (Meeting, MeetingSeries), meeting)
        query = query.where(Meeting.id == held.id if held else Meeting.series_id == series.id)
    if category:
        query = query.where(Decision.category == items.check_category(category))
    if affects:
        query = query.where(_affecting(session, affects))
    return _ordered(session, query)


def affecting_series(session: Session, series: MeetingSeries) -> list[Decision]:
    """The decisions that affect `series` (its rhythm, say), in the order of `decisions`."""
    return _ordered(session, select(Decision).join(Decision.meeting).where(Decision.affects_series_id == series.id))


def _ordered(session: Session, query: Select[tuple[Decision]]) -> list[Decision]:
    return list(session.scalars(query.order_by(Meeting.start, Decision.id)))


def _affecting(session: Session, affects: str) -> Any:
    series = items.by_slug(session, MeetingSeries, affects)
    committee = items.by_slug(session, Committee, affects)
    known_plans = [p for p in session.scalars(select(Decision.affects_plan).distinct()) if p]
    plans = [p for p in known_plans if affects.casefold() in p.casefold()]
    if series is None and committee is None and not plans:
        known = [*session.scalars(select(MeetingSeries.slug)), *session.scalars(select(Committee.slug)), *known_plans]
        raise NotFound(f"no series, committee or plan {rules.shown(affects)}{rules.did_you_mean(affects, known)}")
    found = [Decision.affects_plan.in_(plans)]
    if series is not None:
        found.append(Decision.affects_series_id == series.id)
    if committee is not None:
        found.append(Decision.affects_committee_id == committee.id)
    return or_(*found)


def affects(decision: Decision) -> list[str]:
    """What the decision affects, in words for a table: `series apec-smewg`, `committee …`, `plan …`."""
    found = [("series", decision.affects_series), ("committee", decision.affects_committee)]
    words = [f"{kind} {row.slug}" for kind, row in found if row is not None]
    return words + ([f"plan {decision.affects_plan}"] if decision.affects_plan else [])


def rows(session: Session, found: list[Decision]) -> list[dict[str, Any]]:
    """`found` as plain data, for tables, --json and pages; `items` are the slugs of the items that carry each
    decision out."""
    carried: dict[int, list[str]] = {}
    ids = [d.id for d in found]
    for decision_id, slug in session.execute(
        select(Item.decision_id, Item.slug).where(Item.decision_id.in_(ids)).order_by(Item.id)
    ):
        carried.setdefault(decision_id, []).append(slug)
    return [as_dict(d) | {"items": carried.get(d.id, [])} for d in found]


def as_dict(decision: Decision) -> dict[str, Any]:
    return {
        "id": decision.id,
        "slug": decision.slug,
        "title": decision.title,
        "description": decision.description,
        "meeting": decision.meeting.slug,
        "meeting_title": decision.meeting.title,
        "category": decision.category,
        "affects_series": _current(decision, "affects_series"),
        "affects_committee": _current(decision, "affects_committee"),
        "affects_plan": decision.affects_plan,
        "affects": affects(decision),
        "drops": drops_of(decision),
        "source_quote": decision.source_quote,
        "updated_at": decision.updated_at.isoformat(),
    }
