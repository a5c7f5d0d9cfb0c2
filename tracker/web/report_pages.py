"""The reports as downloads (tracker.register.reports, as `tracker report` writes them), headed and worded in the
reader's language, times in their zone: the register as XLSX beside its CSV (the register page's filters), a
meeting's "promised vs status" for every signed-in role, and overdue-by-owner for leads only (it names who is
late: a lead's view of the desk, as the people pages are)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tracker.core import store
from tracker.core.clock import zone
from tracker.core.errors import InvalidInput, NotFound
from tracker.register import access, reports
from tracker.register.access import Viewer
from tracker.web import auth
from tracker.web.desk_pages import register_view
from tracker.web.pages import language

MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
Build = Callable[[Session, Request, Viewer], reports.Report]


def _register(session: Session, request: Request, viewer: Viewer) -> reports.Report:
    tz = zone(viewer.tz)
    view = register_view(request.query_params, tz)
    try:
        return reports.register(session, request.app.state.ctx.now(), view, tz, language(request))
    except NotFound as e:  # a filter naming no such person or meeting: bad input, as on the register page
        raise InvalidInput(str(e)) from None


def _promised(session: Session, request: Request, viewer: Viewer) -> reports.Report:
    slug = request.path_params["slug"]
    return reports.promised(session, request.app.state.ctx.now(), slug, zone(viewer.tz), language(request))


def _overdue(session: Session, request: Request, viewer: Viewer) -> reports.Report:
    access.require(viewer.is_lead, "download the overdue-by-owner report")
    tz = zone(viewer.tz)
    view = register_view(request.query_params, tz)
    try:
        return reports.overdue(session, request.app.state.ctx.now(), view, tz, language(request))
    except NotFound as e:
        raise InvalidInput(str(e)) from None


def _body(request: Request, viewer: Viewer, build: Build, fmt: str) -> bytes:
    ctx = request.app.state.ctx
    with store.transaction(ctx.engine) as session:
        found = build(session, request, viewer)
    if fmt == "xlsx":
        return reports.xlsx_bytes(found, language(request))
    return reports.csv_text(found, language(request)).encode("utf-8")


def _download(build: Build, fmt: str, stem: Callable[[Request], str]) -> Callable[[Request], Awaitable[Response]]:
    """The route that sends the report `build` makes as a `fmt` file named after `stem`."""

    async def download(request: Request) -> Response:
        viewer = await auth.require_viewer(request)
        body = await run_in_threadpool(_body, request, viewer, build, fmt)
        headers = {"content-disposition": f'attachment; filename="{stem(request)}.{fmt}"',
                   "cache-control": "private, no-store"}  # fmt: skip
        return Response(body, media_type=MEDIA[fmt], headers=headers)

    return download


def _named(name: str) -> Callable[[Any], str]:
    return lambda _request: name


def _promised_name(request: Request) -> str:
    return f"promised-{request.path_params['slug']}"  # a slug the report found: letters, digits and dashes


ROUTES = [
    Route("/register.xlsx", _download(_register, "xlsx", _named("register"))),
    *(Route(f"/reports/promised/{{slug}}.{fmt}", _download(_promised, fmt, _promised_name)) for fmt in MEDIA),
    *(Route(f"/reports/overdue.{fmt}", _download(_overdue, fmt, _named("overdue-by-owner"))) for fmt in MEDIA),
]
