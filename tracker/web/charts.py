"""Progress at a glance, drawn on the server as SVG (no script, nothing fetched): a small panel per priority area
or owner with its open, done and overdue counts month by month (register.progress), every panel on one scale.
The counts are remembered per data version and hour, so a busy register does not recount 10,000 items per page
(`remember` keeps other answers of the desk the same way)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from tracker.core import store
from tracker.core.vocab import CATEGORIES
from tracker.register.progress import COUNTS, Group, Progress, progress

WIDTH, HEIGHT, PAD = 240, 110, 22  # one panel's drawing, in SVG units (it scales with the page)
KEEP = 64  # answers remembered per app: the register's figures, each recent visitor's desk, the meetings ahead
T = TypeVar("T")


@dataclass(frozen=True)
class Panel:
    group: Group
    lines: dict[str, str]  # count → the polyline's points
    most: int
    first: str  # the first and last months, under the axis
    last: str

    @property
    def ours(self) -> bool:
        """The label is one of our words (a priority area, "Cross-cutting", "No owner"), which the page translates;
        else it is an owner's name, shown as the register holds it."""
        return self.group.key == "" or CATEGORIES.get(self.group.key) == self.group.label


def _points(values: list[int], most: int) -> str:
    inner_w, inner_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = inner_w / max(1, len(values) - 1)
    return " ".join(f"{PAD + n * step:.1f},{PAD + inner_h * (1 - v / most):.1f}" for n, v in enumerate(values))


def panels(found: Progress, groups: list[Group]) -> list[Panel]:
    most = found.most
    return [Panel(g, {c: _points(g.counts[c], most) for c in COUNTS}, most, found.points[0], found.points[-1])
            for g in groups]  # fmt: skip


def remember(state: Any, key: tuple, compute: Callable[[], T]) -> T:  # noqa: ANN401 - starlette's app.state
    """What `compute` gives for `key` (which names the data version it was read at), kept on the app: at most KEEP
    answers, all dropped when full, so the memory stays small whatever is asked."""
    memory: dict[tuple, Any] = getattr(state, "remembered", None) or {}
    if key not in memory:
        if len(memory) >= KEEP:
            memory.clear()
        memory[key] = compute()
    state.remembered = memory
    return memory[key]


def cached(state: Any, session: Session, now: datetime, tz: ZoneInfo, owner_id: int | None) -> Progress:  # noqa: ANN401 - starlette's app.state
    """The progress figures for the data as it is (its version), as of this hour."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    key = ("progress", store.data_version(session), hour, tz.key, owner_id)
    return remember(state, key, lambda: progress(session, now, tz, owner_id))
