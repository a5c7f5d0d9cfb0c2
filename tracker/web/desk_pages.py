"""The read side of the desk: My desk and the register (its CSV too), for every signed-in role. The filters are the
CLI's (register.listing reads them, in the CLI's words); every filter and the page live in the URL, so a view can be
bookmarked and shared."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tracker.core import store
from tracker.core.clock import start_of_day, zone
from tracker.core.errors import InvalidInput, NotFound
from tracker.core.models import Account, Committee, Item, ItemChange, Meeting, MeetingSeries, Person
from tracker.core.vocab import CATEGORIES
from tracker.register import items, listing
from tracker.register.access import Viewer
from tracker.web import auth, charts, meeting_pages
from tracker.web.pages import desk_page, item_row, language

SOON = timedelta(days=31)  # "due in the next 30 days": before the start of the 31st day from today
FIRST_VISIT = timedelta(days=7)  # before any earlier visit, "what changed" shows the last week
MOST = 20  # items per list on My desk; the register has the rest


def _rows(found: list[Item], now: datetime, tz: ZoneInfo) -> list[dict[str, Any]]:
    return [item_row(i, now, tz) for i in found]


def register_view(params: QueryParams, tz: ZoneInfo) -> listing.View:
    """The view a URL asks for; a repeated parameter (status=open&status=done) is the CLI's comma list."""
    return listing.view({name: ",".join(params.getlist(name)) for name in listing.PARAMS}, tz)


def _choices(state: Any, session: Session) -> dict[str, list[tuple[str, str]]]:  # noqa: ANN401 - app.state
    """The form's pickers: people, committees, meetings and series, by slug (read once per data version)."""
    return charts.remember(state, ("choices", store.data_version(session)), lambda: _read_choices(session))


def _read_choices(session: Session) -> dict[str, list[tuple[str, str]]]:
    people = session.execute(select(Person.slug, Person.name).order_by(Person.name))
    committees = session.execute(select(Committee.slug, Committee.name).order_by(Committee.name))
    held = session.execute(select(Meeting.slug, Meeting.title).order_by(Meeting.start))
    series = session.execute(select(MeetingSeries.slug, MeetingSeries.title).order_by(MeetingSeries.title))
    return {"people": [tuple(r) for r in people], "committees": [tuple(r) for r in committees],
            "meetings": [tuple(r) for r in [*series, *held]]}  # fmt: skip


def _link(view: listing.View, **changes: Any) -> str:
    return "/register?" + urlencode(view.params(**changes))


def _register_context(request: Request, viewer: Viewer) -> tuple[dict[str, Any], int]:
    ctx, tz = request.app.state.ctx, zone(viewer.tz)
    now, params = ctx.now(), request.query_params
    given = {name: ",".join(params.getlist(name)) for name in (*listing.PARAMS, "page")}
    context: dict[str, Any] = {"given": given, "error": None, "rows": [], "total": 0, "number": 1, "pages": 1,
                               "prev_url": None, "next_url": None, "first": 0, "last": 0}  # fmt: skip
    status = 200
    with store.transaction(ctx.engine) as session:
        context |= _choices(request.app.state, session)
        try:
            view = register_view(params, tz)
            found = listing.page(session, now, view, listing.page_number(params.get("page")))
        except (InvalidInput, NotFound) as e:  # the form again, with the CLI's words for what is wrong
            context["error"], status = str(e), 400
            view, found = listing.view({}, tz), None
        if found is not None:
            offset = (found.number - 1) * found.size
            context |= {
                "rows": _rows(found.items, now, tz), "total": found.total, "number": found.number,
                "pages": found.pages, "first": offset + 1, "last": offset + len(found.items),
                "prev_url": _link(view, page=found.number - 1) if found.number > 1 else None,
                "next_url": _link(view, page=found.number + 1) if found.number < found.pages else None,
            }  # fmt: skip
        progress = charts.cached(request.app.state, session, now, tz, None)
    context |= {
        "overdue": view.filters["overdue"],
        "csv_url": "/register.csv?" + urlencode(view.params()),
        "xlsx_url": "/register.xlsx?" + urlencode(view.params()),
        "overdue_query": urlencode(view.params()),  # the overdue-by-owner report of the same filters (leads)
        "area_panels": charts.panels(progress, progress.areas),
        "owner_panels": charts.panels(progress, progress.owners),
        "points": progress.points,
    }
    return context, status


async def register(request: Request) -> Response:
    viewer = await auth.require_viewer(request)
    context, status = await run_in_threadpool(_register_context, request, viewer)
    context |= {"here": "register", "categories": list(CATEGORIES.items())}
    return desk_page(request, "register.html", context, status_code=status)


def _csv(request: Request, viewer: Viewer) -> str:
    ctx, tz = request.app.state.ctx, zone(viewer.tz)
    now = ctx.now()
    view = register_view(request.query_params, tz)
    with store.transaction(ctx.engine) as session:
        try:
            found = listing.every(session, now, view)
        except NotFound as e:  # a filter naming no such person or meeting: bad input, as on the page
            raise InvalidInput(str(e)) from None
        return listing.csv_text(_rows(found, now, tz), language(request).gettext)


async def register_csv(request: Request) -> Response:
    """Every row of the register's current view (not only its page)."""
    viewer = await auth.require_viewer(request)
    body = await run_in_threadpool(_csv, request, viewer)
    headers = {"content-disposition": 'attachment; filename="register.csv"', "cache-control": "private, no-store"}
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers)


def _desk_context(request: Request, viewer: Viewer) -> dict[str, Any]:
    ctx, tz = request.app.state.ctx, zone(viewer.tz)
    now = ctx.now()
    with store.transaction(ctx.engine) as session:
        until = start_of_day(now.astimezone(tz).date() + SOON, tz)  # a whole day: the register's due_before
        coming = items.matching(session, now, owner=viewer.slug, due_before=until)  # the overdue ones too
        late, soon = listing.due_split(session, coming, now, MOST)
        ahead = meeting_pages.ahead(request.app.state, session, now)
        attending = [meeting_pages.shown(o) for o in ahead if viewer.slug in o["attendees"]]
        last_visit = session.get(Account, viewer.person_id).last_visit_at
        since = last_visit or now - FIRST_VISIT
        changes = listing.changes_since(session, since, viewer.person_id, viewer.committees, viewer.is_lead)
        progress = charts.cached(request.app.state, session, now, tz, viewer.person_id)
        return {
            "overdue": _rows(late.items, now, tz),
            "overdue_total": late.total,
            "soon": _rows(soon.items, now, tz),
            "soon_total": soon.total,
            "soon_url": _link(listing.view({"owner": viewer.slug, "due_before": f"{until.astimezone(tz):%F}"}, tz)),
            "meetings": attending[:10],
            "last_visit": last_visit and f"{last_visit.astimezone(tz):%Y-%m-%d %H:%M}",
            "changes": [_change(change, item, tz) for change, item in changes],
            "area_panels": charts.panels(progress, progress.areas),
            "points": progress.points,
        }


def _change(change: ItemChange, item: Item, tz: ZoneInfo) -> dict[str, Any]:
    return {"item_id": item.id, "title": item.title, "field": change.field, "old": change.old, "new": change.new,
            "by": change.by, "how": change.how, "note": change.note,
            "at": f"{change.at.astimezone(tz):%Y-%m-%d %H:%M}"}  # fmt: skip


async def desk(request: Request) -> Response:
    viewer = await auth.require_viewer(request)
    context = await run_in_threadpool(_desk_context, request, viewer)
    return desk_page(request, "my_desk.html", {"here": "desk", **context})


ROUTES = [
    Route("/desk", desk),
    Route("/register", register),
    Route("/register.csv", register_csv),
]
