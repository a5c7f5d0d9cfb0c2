"""The HTTP front end: subscribable feeds behind secret URLs, a page per subscription, /healthz.

Starlette on uvicorn. TrackerError becomes a status here, in one handler; every way of not finding a
subscription answers the same 404. Tokens never reach the INFO log: uvicorn's access log is off and ours
prints the path with the token cut out.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tracker import actions, ics, items, meetings, signing, store, subscriptions
from tracker.config import Settings, refresh_interval
from tracker.errors import NotFound, TrackerError
from tracker.feeds import Feed, FeedCache
from tracker.pages import TEMPLATES
from tracker.vocab import CATEGORIES

log = logging.getLogger("tracker.server")
NOT_FOUND = "Not found.\n"
SECRET_PATH = re.compile(r"/(feeds|s|done|snooze)/[^/?]+")
FEED_PATH = re.compile(r"/feeds/[^/]+\.ics")


def redact(path: str) -> str:
    return SECRET_PATH.sub(lambda m: f"/{m[1]}/…", path)


class AccessLog:
    """One INFO line per request, with secret path segments cut out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [0]

        async def record(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await self.app(scope, receive, record)
        elapsed = (time.perf_counter() - started) * 1000
        log.info("%s %s %d %.1fms", scope["method"], redact(scope["path"]), status[0], elapsed)


class Context:
    """What every handler needs: settings, the engine, the clock, and the feed cache."""

    def __init__(self, settings: Settings, engine: Engine, now: Callable[[], datetime]) -> None:
        self.settings = settings
        self.engine = engine
        self.now = now
        self.feeds = FeedCache(engine, refresh_interval(settings), now)
        self._subs: tuple[int, dict[str, tuple[str, bool]]] = (-1, {})

    def subscription(self, token: str, version: int) -> tuple[str, bool]:
        """(calendar, alarms) of a live token, remembered until the data version moves; NotFound otherwise.
        Only live tokens are remembered, so guessing cannot fill the memory."""
        if self._subs[0] != version:
            self._subs = (version, {})
        known = self._subs[1]
        if token not in known:
            with Session(self.engine) as session:
                sub = subscriptions.resolve(session, token)
            if sub is None:
                raise NotFound("subscription")
            known[token] = (sub.calendar, sub.alarms)
        return known[token]

    def spec(self, calendar: str) -> ics.CalendarSpec:
        with Session(self.engine) as session:
            return subscriptions.spec_for(session, calendar)


def conditional(feed: Feed, request_headers: Mapping[str, str], gzip_enabled: bool) -> tuple[int, dict, bytes]:
    """Status, headers and body for a feed request: 304 only when the client holds exactly these bytes."""
    headers = {"etag": feed.etag, "last-modified": feed.last_modified_http, "cache-control": "private, no-cache"}
    if gzip_enabled:
        headers["vary"] = "Accept-Encoding"
    if feed.not_modified(request_headers.get("if-none-match"), request_headers.get("if-modified-since")):
        return 304, headers, b""
    body = feed.body
    if gzip_enabled and "gzip" in request_headers.get("accept-encoding", ""):
        body = feed.gzipped
        headers["content-encoding"] = "gzip"
    headers["content-type"] = "text/calendar; charset=utf-8"
    return 200, headers, body


async def current_feed(ctx: Context, token: str) -> Feed:
    version = ctx.feeds.version()
    calendar, alarms = ctx.subscription(token, version)
    feed = ctx.feeds.cached(calendar, alarms, version)
    if feed is None:
        feed = await run_in_threadpool(lambda: ctx.feeds.build(ctx.spec(calendar), alarms))
    return feed


class FeedFastPath:
    """GET/HEAD /feeds/<token>.ics as plain ASGI, ahead of Starlette's routing and middleware: calendar clients
    poll this path all day, mostly for 304s, so it does only what a poll needs. Anything else passes on."""

    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or not FEED_PATH.fullmatch(path):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            feed = await current_feed(self.ctx, path[len("/feeds/") : -len(".ics")])
            status, headers, body = conditional(feed, request_headers, self.ctx.settings.feed_gzip)
        except NotFound:
            status, headers, body = 404, {"content-type": "text/plain; charset=utf-8"}, NOT_FOUND.encode()
        headers["content-length"] = str(len(body))
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
        # Every subscribed client polls for years, mostly getting 304s: those are DEBUG, the rest INFO.
        level = logging.DEBUG if status == 304 else logging.INFO
        if log.isEnabledFor(level):
            elapsed = (time.perf_counter() - started) * 1000
            log.log(level, "%s %s %d %.1fms", scope["method"], redact(path), status, elapsed)


async def download(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    feed = await current_feed(ctx, request.path_params["token"])
    status, headers, body = conditional(feed, request.headers, gzip_enabled=False)  # the page's gzip handles it
    headers["content-disposition"] = 'attachment; filename="tracker.ics"'
    return Response(body, status_code=status, headers=headers)


def page_context(ctx: Context, token: str) -> dict[str, Any]:
    now = ctx.now()
    with store.transaction(ctx.engine) as session:
        sub = subscriptions.resolve(session, token)
        if sub is None:
            raise NotFound("subscription")
        spec = subscriptions.spec_for(session, sub.calendar)
        found = ics.load_items(session, spec)
        rows = [items.as_dict(i, now) for i in found]
        due_soon = {i.id for i in found if i.due and not items.is_overdue(i, now) and i.due < now + timedelta(days=30)}
        upcoming = []
        if spec.meetings:  # the meetings this calendar holds, as its feed does
            series, held = ics.load_meetings(session, spec, ics.item_keys(session, spec))
            uids = {m.uid for m in [*series, *held]}
            upcoming = [o for o in meetings.meetings(session, now, now + timedelta(days=365), now) if o["uid"] in uids]
        name = sub.name
    open_rows = [r for r in rows if r["status"] in ("open", "in_progress")]
    groups = []
    for slug, label in [*CATEGORIES.items(), (None, "Cross-cutting")]:
        members = [r for r in rows if r["category"] == slug]
        if members:
            done = sum(r["status"] == "done" for r in members)
            groups.append({"label": label, "items": members, "done": done, "total": len(members)})
    return {
        "name": name,
        "calendar": spec.name,
        "as_of": f"{now.astimezone(ctx.settings.zone):%Y-%m-%d %H:%M} {ctx.settings.tz}",
        "links": subscriptions.links(ctx.settings.base_url, token),
        "overdue": [r for r in open_rows if r["overdue"]],
        "due_soon": [r for r in open_rows if r["id"] in due_soon],
        "meetings": upcoming[:12],
        "groups": groups,
    }


async def page(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    context = await run_in_threadpool(page_context, ctx, request.path_params["token"])
    return TEMPLATES.TemplateResponse(request, "page.html", context)


async def about(request: Request) -> Response:
    return TEMPLATES.TemplateResponse(request, "about.html", {})


async def healthz(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    if await run_in_threadpool(store.ping, ctx.engine):
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "database unreachable"}, status_code=503)


async def not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(NOT_FOUND, status_code=404)


async def tracker_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TrackerError)
    if exc.http_status == 404:
        return await not_found(request, exc)
    return PlainTextResponse(f"{exc}\n", status_code=exc.http_status)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return await not_found(request, exc)
    return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code, headers=exc.headers)


def create_app(settings: Settings, engine: Engine, now: Callable[[], datetime]) -> FeedFastPath:
    """The ASGI app. `now` is the clock (tests and demos pass a fixed one)."""
    store.init(engine)
    handlers = {signing.LinkError: actions.link_error, TrackerError: tracker_error, HTTPException: http_error}
    pages = Starlette(
        routes=[Route("/{token}/", page), Route("/{token}/calendar.ics", download)],
        middleware=[Middleware(GZipMiddleware, minimum_size=1000)],
        exception_handlers=handlers,
    )
    app = Starlette(
        routes=[
            Route("/", about),
            Route("/healthz", healthz),
            Route("/done/{token}", actions.done, methods=["GET", "POST"]),
            Route("/snooze/{token}", actions.snooze, methods=["GET", "POST"]),
            Route("/settings/{token}", actions.settings, methods=["GET", "POST"]),
            Mount("/s", app=pages),
        ],
        middleware=[Middleware(AccessLog)],
        exception_handlers=handlers,
    )
    app.state.ctx = pages.state.ctx = Context(settings, engine, now)
    return FeedFastPath(app, app.state.ctx)


def serve(settings: Settings, engine: Engine, now: Callable[[], datetime], host: str, port: int) -> None:
    """Run the app on uvicorn until interrupted."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings, engine, now)
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info", server_header=False)
