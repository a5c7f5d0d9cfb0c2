"""Meetings on the desk: the occurrences coming up and past (series expanded by calendars.meetings, as the feeds
publish them; a month-only date is shown as "day TBC"), and a page per meeting, per series and per occurrence of a
series, with the items that came from it or serve it (or its series)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tracker.calendars import meetings
from tracker.core import rules, store, timing
from tracker.core.clock import start_of_day, zone
from tracker.core.errors import NotFound
from tracker.core.models import Item, Meeting, MeetingSeries
from tracker.register import decisions, items
from tracker.register.access import Viewer
from tracker.web import auth, charts, pages
from tracker.web.pages import desk_page

AHEAD = timedelta(days=365)
BEHIND = timedelta(days=5 * 365)  # past occurrences: the last five years (a daily series stays a readable list)


def href(occurrence: dict[str, Any]) -> str:
    """The page of an occurrence: its meeting's, or its series' on that day."""
    if occurrence["slug"]:
        return f"/meetings/{quote(occurrence['slug'])}"
    return f"/meetings/{quote(occurrence['series'])}/{occurrence['start_local']}"


def shown(occurrence: dict[str, Any]) -> dict[str, Any]:
    """An occurrence with its page; its dates stay ISO (`date`, `end_date`, as calendars.meetings gives them), which
    the templates write in the reader's language (`language.when`)."""
    return occurrence | {"href": href(occurrence)}


def ahead(state: Any, session: Session, now: datetime) -> list[dict[str, Any]]:  # noqa: ANN401 - starlette's app.state
    """The next year's occurrences, expanded once per data version and minute (My desk asks on every visit)."""
    minute = now.replace(second=0, microsecond=0)
    key = ("meetings ahead", store.data_version(session), minute)
    return charts.remember(state, key, lambda: meetings.meetings(session, minute, minute + AHEAD, minute))


def _earliest(session: Session, now: datetime) -> datetime:
    first = [session.scalar(select(func.min(model.start))) for model in (Meeting, MeetingSeries)]
    return max(min([f for f in first if f is not None] or [now]), now - BEHIND)


def _list_context(request: Request) -> dict[str, Any]:
    ctx = request.app.state.ctx
    now = ctx.now()
    with store.transaction(ctx.engine) as session:
        start = _earliest(session, now)
        past = meetings.meetings(session, start, now, now) if start < now else []
        upcoming = meetings.meetings(session, now, now + AHEAD, now)
    return {
        "upcoming": [shown(o) for o in upcoming],
        "past": [shown(o) for o in reversed(past) if o["past"]],  # newest first; one under way is upcoming
    }


async def meeting_list(request: Request) -> Response:
    await auth.require_viewer(request)
    context = await run_in_threadpool(_list_context, request)
    return desk_page(request, "meetings.html", {"here": "meetings", **context})


def _rows(session: Session, now: datetime, viewer: Viewer, *where: Any) -> list[dict[str, Any]]:  # noqa: ANN401 - SQL clauses
    found = session.scalars(items.ordered(select(Item).where(*where)))
    return [pages.item_row(i, now, zone(viewer.tz)) for i in found]


def _series_occurrences(session: Session, series: MeetingSeries, start: datetime, end: datetime,
                        now: datetime) -> list[dict[str, Any]]:  # fmt: skip
    return [shown(o) for o in meetings.meetings(session, start, end, now) if o["series"] == series.slug]


def _meeting_context(request: Request, viewer: Viewer) -> dict[str, Any]:
    ctx, slug, day = request.app.state.ctx, request.path_params["slug"], request.path_params.get("day")
    now = ctx.now()
    with store.transaction(ctx.engine) as session:
        meeting = items.by_slug(session, Meeting, slug)
        if meeting is not None and day is None:
            return _held(session, meeting, now, viewer)
        series = items.by_slug(session, MeetingSeries, slug)
        if series is None:
            raise NotFound("meeting")
        if day is None:
            return _series(session, series, now, viewer)
        return _series_day(session, series, day, now, viewer)


def _held(session: Session, meeting: Meeting, now: datetime, viewer: Viewer) -> dict[str, Any]:
    """A meeting of its own (or one occurrence of a series, overridden)."""
    when = timing.iso(meeting.start, meeting.all_day, meeting.tz, meeting.precision)
    last = meeting.end - timedelta(days=1) if meeting.all_day else meeting.end
    until = timing.iso(last, meeting.all_day, meeting.tz, meeting.precision)
    series = meeting.series
    return {
        "kind": "meeting", "title": meeting.title, "when": when, "until": until if until != when else None,
        "record": meeting, "series": series, "attendees": meeting.attendees or (series.attendees if series else []),
        "came_from": _rows(session, now, viewer, Item.meeting_id == meeting.id),
        "serve": _rows(session, now, viewer, Item.serves_meeting_id == meeting.id),
        "serve_series": _rows(session, now, viewer, Item.serves_series_id == series.id) if series else [],
        "decisions": decisions.rows(session, decisions.decisions(session, meeting=meeting.slug)),
    }  # fmt: skip


def _series(session: Session, series: MeetingSeries, now: datetime, viewer: Viewer) -> dict[str, Any]:
    start, end = max(series.start, now - BEHIND), now + AHEAD  # a series may begin after the year ahead
    return {
        "kind": "series", "title": series.title, "record": series, "series": None, "attendees": series.attendees,
        "when": None, "until": None,
        "serve_series": _rows(session, now, viewer, Item.serves_series_id == series.id),
        "occurrences": _series_occurrences(session, series, start, end, now) if start < end else [],
        "decisions": decisions.rows(session, decisions.affecting_series(session, series)),
    }  # fmt: skip


def _series_day(session: Session, series: MeetingSeries, day: str, now: datetime, viewer: Viewer) -> dict[str, Any]:
    """One occurrence of a series that no meeting of its own overrides: the series' items serve it."""
    try:
        local = rules.check_date(date.fromisoformat(day))  # no series meets outside them; its edges overflow
    except ValueError:
        raise NotFound("meeting") from None
    start = start_of_day(local, zone(series.tz))
    found = [o for o in _series_occurrences(session, series, start, start + timedelta(days=1), now)
             if o["start_local"] == day]  # fmt: skip
    if not found:
        raise NotFound("meeting")
    occurrence = found[0]
    return {
        "kind": "occurrence", "title": occurrence["title"], "record": series, "series": series,
        "attendees": occurrence["attendees"], "when": occurrence["date"],
        "until": occurrence["end_date"] if occurrence["end_date"] != occurrence["date"] else None,
        "serve_series": _rows(session, now, viewer, Item.serves_series_id == series.id),
    }  # fmt: skip


async def meeting_page(request: Request) -> Response:
    viewer = await auth.require_viewer(request)
    context = await run_in_threadpool(_meeting_context, request, viewer)
    return desk_page(request, "meeting.html", {"here": "meetings", **context})


ROUTES = [
    Route("/meetings", meeting_list),
    Route("/meetings/{slug}", meeting_page),
    Route("/meetings/{slug}/{day}", meeting_page),
]
