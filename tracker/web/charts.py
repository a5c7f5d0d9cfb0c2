"""Progress at a glance, drawn on the server as SVG (no script, nothing fetched): a small panel per priority area
or owner with its open, done and overdue counts month by month (register.progress), every panel on one scale.
The counts are remembered per data version and hour, so a busy register does not recount 10,000 items per page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from tracker.core import store
from tracker.register.progress import COUNTS, Group, Progress, progress

WIDTH, HEIGHT, PAD = 240, 110, 22  # one panel's drawing, in SVG units (it scales with the page)
KEEP = 16  # progress figures remembered per app: the register's and each recent visitor's desk


@dataclass(frozen=True)
class Panel:
    group: Group
    lines: dict[str, str]  # count → the polyline's points
    most: int
    first: str  # the first and last months, under the axis
    last: str


def _points(values: list[int], most: int) -> str:
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / max(1, len(values) - 1)
    return " ".join(f"{PAD + n * step:.1f},{PAD + inner_h * (1 - v / most):.1f}" for n, v in enumerate(values))


def panels(found: Progress, groups: list[Group]) -> list[Panel]:
    most = found.most
    return [Panel(g, {c: _points(g.counts[c], most) for c in COUNTS}, most, found.points[0], found.points[-1])
            for g in groups]  # fmt: skip


def cached(state: Any, session: Session, now: datetime, tz: ZoneInfo, owner_id: int | None) -> Progress:  # noqa: ANN401 - starlette's app.state
    """The progress figures for the data as it is (its version), as of this hour."""
    memory: dict[tuple, Progress] = getattr(state, "progress", None) or {}
    key = (store.data_version(session), now.replace(minute=0, second=0, microsecond=0), tz.key, owner_id)
    if key not in memory:
        if len(memory) >= KEEP:
            memory.clear()
        memory[key] = progress(session, now, tz, owner_id)
    state.progress = memory
    return memory[key]
