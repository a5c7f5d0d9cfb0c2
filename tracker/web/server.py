"""The HTTP front end: subscribable feeds behind secret URLs, a page per subscription, /healthz.

Starlette on uvicorn (configured in tracker.web.serving). TrackerError becomes a status here, in one handler (503s
carry Retry-After); every way of not finding a subscription answers the same 404. No path a client sent reaches a
log: the access line names the route that matched, each segment holding a parameter printed as "…"
(`GET /settings/… 200`), or "(no route)"; unhandled errors are logged without their messages, which may quote
the path. uvicorn's access log is off.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.utils import formatdate
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Message, Receive, Scope, Send

from tracker.calendars import ics, meetings, subscriptions
from tracker.calendars.feeds import Feed, FeedCache
from tracker.core import addresses, signing, store
from tracker.core.config import Settings, refresh_interval
from tracker.core.errors import Busy, NotFound, NotSignedIn, TrackerError
from tracker.core.vocab import CATEGORIES
from tracker.register import items
from tracker.web import (
    actions,
    auth,
    brief_pages,
    calendar_pages,
    dav_mount,
    desk_pages,
    item_pages,
    meeting_pages,
    people_pages,
    record_pages,
    report_pages,
    signin,
)
from tracker.web.pages import TEMPLATES

log = logging.getLogger("tracker.web.server")
NOT_FOUND = "Not found.\n"
FEED_PATH = re.compile(r"/feeds/[^/]+\.ics")
FEED_ROUTE = "/feeds/…"  # the fast path's route, as the access log prints it
NO_ROUTE = "(no route)"
# HTTP's methods and CalDAV's
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
                     "PROPFIND", "PROPPATCH", "REPORT", "MKCOL", "MKCALENDAR", "MOVE", "COPY"})  # fmt: skip
HEALTH_LOCK_TIMEOUT = 1.0  # seconds /healthz waits for SQLite's write lock before answering "database busy"


def shown_route(template: str) -> str:
    """A route's path template as the log prints it: each segment with a parameter becomes "…"."""
    return "/".join("…" if "{" in segment else segment for segment in template.split("/"))


def route_label(routes: list[BaseRoute], scope: Scope) -> str:
    """The template of the route `scope` matches (a Mount's and its child's together), for the log; NO_ROUTE if
    none. Built from the route table alone, so nothing the client sent can get into it."""
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Mount) and not route.routes:  # an app of its own (CalDAV): its paths name people
            return shown_route(route.path) + "/…"
        if isinstance(route, Mount):
            inner = route_label(route.routes, {**scope, **child})
            return shown_route(route.path) + (inner if inner != NO_ROUTE else "/" + NO_ROUTE)
        return shown_route(getattr(route, "path", ""))
    return NO_ROUTE


def _content_length(headers: Any) -> int:
    """A response's declared body length, or -1."""
    for name, value in headers:
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return -1


def _left(status: int, owed: int) -> int:
    """The status to log for a client that went away: 499, unless it already had the whole answer (an app may
    close as soon as it has Content-Length bytes, before a2wsgi sends its empty last part)."""
    return status if owed == 0 else 499


def unhandled(exc: BaseException) -> str:
    """Where an unexpected error happened, without its message (messages can quote a token): the exception's
    type and its traceback's frames (file, line, function and source line, all the program's own text)."""
    frames = "".join(traceback.format_list(traceback.extract_tb(exc.__traceback__)))
    return f"{type(exc).__module__}.{type(exc).__qualname__} (message withheld)\n{frames}".rstrip()


def retry_after(exc: TrackerError) -> dict[str, str]:
    """The Retry-After header of a 503 or 429 (the error says how long), else none."""
    if exc.http_status not in (429, 503):
        return {}
    return {"retry-after": str(int(getattr(exc, "retry_after", Busy.retry_after)))}


def error_response(exc: TrackerError) -> Response:
    if exc.http_status == 404:
        return PlainTextResponse(NOT_FOUND, status_code=404)
    return PlainTextResponse(f"{exc}\n", status_code=exc.http_status, headers=retry_after(exc))


class Context:
    """What every handler needs: settings, the engine, the clock, and the feed cache."""

    def __init__(self, settings: Settings, engine: Engine, now: Callable[[], datetime]) -> None:
        self.settings = settings
        self.engine = engine
        self.now = now
        self.feeds = FeedCache(engine, refresh_interval(settings), now)
        self._date: tuple[int, str] = (0, "")
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

    def date(self) -> tuple[int, str]:
        """The current second (POSIX) and its HTTP-date, formatted once a second: every response's Date."""
        second = math.floor(self.now().timestamp())
        if self._date[0] != second or not self._date[1]:
            self._date = (second, formatdate(second, usegmt=True))
        return self._date

    def spec(self, calendar: str) -> ics.CalendarSpec:
        with Session(self.engine) as session:
            return subscriptions.spec_for(session, calendar)


def conditional(
    feed: Feed, request_headers: Mapping[str, str], gzip_enabled: bool, date: tuple[int, str]
) -> tuple[int, dict, bytes]:
    """Status, headers and body for a feed request: 304 only when the client holds exactly these bytes.
    `date` is the response's Date (Context.date): a Last-Modified ahead of it (two changes within one second)
    is shown as the Date, as RFC 9110 §8.8.2.1 asks; If-Modified-Since is still compared with the stored one."""
    modified = feed.last_modified_http if feed.modified_second <= date[0] else date[1]
    headers = {"etag": feed.etag, "last-modified": modified, "cache-control": "private, no-cache"}
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


class Front:
    """The outermost ASGI app. GET/HEAD /feeds/<token>.ics is served here, ahead of Starlette's routing and
    middleware: calendar clients poll it all day, mostly for 304s, so it does only what a poll needs; everything
    else goes to Starlette. One access line per request (304s at DEBUG, the rest INFO) naming the route, never
    the path; an unexpected error is logged here, without its message, and answered 500. With `dates`, every
    response gets its Date header here, from the clock that stamps Last-Modified (the server sends none)."""

    def __init__(self, app: Starlette, ctx: Context, dates: bool = False) -> None:
        self.app = app
        self.ctx = ctx
        self.dates = dates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status, root_path = time.perf_counter(), [0], scope.get("root_path", "")
        gone = [False]  # the server's send() raised OSError: the client went away (ASGI 2.4; tracker.web.serving)
        owed = [-1]  # body bytes still to send, from Content-Length (-1: not known); 0: the client has it all

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                if self.dates:  # taken after any Last-Modified was compared with the clock: never earlier
                    date = (b"date", self.ctx.date()[1].encode("latin-1"))
                    message = {**message, "headers": [*message.get("headers", ()), date]}
            try:
                await send(message)
            except OSError:
                gone[0] = True
                raise
            if message["type"] == "http.response.start":
                owed[0] = _content_length(message.get("headers", ()))
            elif message["type"] == "http.response.body" and owed[0] > 0:
                owed[0] -= len(message.get("body", b""))

        feed = scope["method"] in ("GET", "HEAD") and FEED_PATH.fullmatch(scope["path"]) is not None
        try:
            await (self.feed(scope, receive, record) if feed else self.app(scope, receive, record))
        except ClientDisconnect:  # the client left (or its body timed out)
            status[0] = _left(status[0], owed[0])
        except Exception as exc:  # noqa: BLE001 - logged here so that uvicorn does not log its message
            if gone[0]:  # whatever the send's OSError became on its way out: the client left
                status[0] = _left(status[0], owed[0])
            else:
                route = self.route(scope, feed, root_path)
                log.error("unhandled error in %s %s: %s", _method(scope), route, unhandled(exc))
                if not status[0]:
                    try:
                        await PlainTextResponse("Internal Server Error\n", status_code=500)(scope, receive, record)
                    except OSError:
                        status[0] = 499
        level = logging.DEBUG if status[0] == 304 else logging.INFO
        if log.isEnabledFor(level):
            elapsed = (time.perf_counter() - started) * 1000
            route = self.route(scope, feed, root_path)
            log.log(level, "%s %s %d %.1fms", _method(scope), route, status[0], elapsed)

    def route(self, scope: Scope, feed: bool, root_path: str) -> str:
        """The access log's name for the request's route (routing changed scope's root_path: start again)."""
        if feed:
            return FEED_ROUTE
        return route_label(self.app.routes, {**scope, "root_path": root_path, "path_params": {}})

    async def feed(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        request_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            feed = await current_feed(self.ctx, path[len("/feeds/") : -len(".ics")])
            date = self.ctx.date()
            status, headers, body = conditional(feed, request_headers, self.ctx.settings.feed_gzip, date)
        except TrackerError as exc:
            await error_response(exc)(scope, receive, send)
            return
        headers["content-length"] = str(len(body))
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def _method(scope: Scope) -> str:
    return scope["method"] if scope["method"] in METHODS else "OTHER"


async def download(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    feed = await current_feed(ctx, request.path_params["token"])
    status, headers, body = conditional(feed, request.headers, False, ctx.date())  # the page's gzip handles it
    headers["content-disposition"] = 'attachment; filename="tracker.ics"'
    return Response(body, status_code=status, headers=headers)


def page_context(ctx: Context, token: str) -> dict[str, Any]:
    now = ctx.now()
    with store.transaction(ctx.engine) as session:
        sub = subscriptions.resolve(session, token)
        if sub is None:
            raise NotFound("subscription")
        spec = subscriptions.spec_for(session, sub.calendar)
        found = items.by_due(ics.load_items(session, spec))  # listed as `tracker items` lists them
        rows = [items.as_dict(i, now) for i in found]  # the page writes dates in its reader's language
        due_soon = {i.id for i in found if i.due and not items.is_overdue(i, now) and i.due < now + timedelta(days=30)}
        upcoming = []
        if spec.meetings:  # the meetings this calendar holds, as its feed does
            series, held = ics.load_meetings(session, spec, ics.item_keys(session, spec))
            uids = {m.uid for m in [*series, *held]}
            upcoming = [o for o in meetings.meetings(session, now, now + timedelta(days=365), now) if o["uid"] in uids]
        name = sub.name
    open_rows = [r for r in rows if r["status"] in ("open", "in_progress")]
    groups = []
    for slug in [*CATEGORIES, None]:  # None: cross-cutting items
        members = [r for r in rows if r["category"] == slug]
        if members:
            done = sum(r["status"] == "done" for r in members)
            groups.append({"category": slug, "items": members, "done": done, "total": len(members)})
    return {
        "name": name,
        "calendar": spec,
        "as_of": now,
        "tz": ctx.settings.tz,
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
    """The page about tracker; a signed-in person goes to My desk instead."""
    if await auth.signed_in(request) is not None:
        return RedirectResponse("/desk", status_code=303)
    return TEMPLATES.TemplateResponse(request, "about.html", {})


async def healthz(request: Request) -> Response:
    ctx: Context = request.app.state.ctx
    state = await run_in_threadpool(store.health, ctx.engine, HEALTH_LOCK_TIMEOUT)
    if state == "ok":
        return JSONResponse({"status": "ok"})
    status = "database busy" if state == "busy" else "database unreachable"
    return JSONResponse({"status": status}, status_code=503, headers=retry_after(Busy()))


async def not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(NOT_FOUND, status_code=404)


async def tracker_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TrackerError)
    if isinstance(exc, NotSignedIn) and signin.is_page(request):  # a browser is shown the sign-in page instead
        return signin.to_sign_in(request)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return await not_found(request, exc)
    return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code, headers=exc.headers)


def create_app(settings: Settings, engine: Engine, now: Callable[[], datetime], dates: bool = False) -> Front:
    """The ASGI app. `now` is the clock (tests and demos pass a fixed one). `dates`: the app sends each
    response's Date itself (from `now`), for a server configured to send none (see serve). Without a configured
    base URL, the pages' links use the one `tracker serve` recorded (tracker.core.addresses)."""
    store.init(engine)
    if not settings.base_url:
        with store.transaction(engine) as session:
            settings = replace(settings, base_url=addresses.base_url(session, settings).url)
    handlers = {signing.LinkError: actions.link_error, TrackerError: tracker_error, HTTPException: http_error}
    pages = Starlette(
        routes=[Route("/{token}/", page), Route("/{token}/calendar.ics", download)],
        middleware=[Middleware(GZipMiddleware, minimum_size=1000)],
        exception_handlers=handlers,
    )
    ctx = Context(settings, engine, now)
    app = Starlette(
        routes=[
            Route("/", about),
            *dav_mount.routes(ctx),  # /dav/, /.well-known/caldav, PROPFIND /
            Route("/healthz", healthz),
            Route("/done/{token}", actions.done, methods=["GET", "POST"]),
            Route("/snooze/{token}", actions.snooze, methods=["GET", "POST"]),
            Route("/settings/{token}", actions.settings, methods=["GET", "POST"]),
            *people_pages.ROUTES,
            *calendar_pages.ROUTES,
            Mount("/s", app=pages),
            *item_pages.ROUTES,
            *signin.ROUTES,
            *desk_pages.ROUTES,
            *record_pages.ROUTES,  # before /meetings/{slug}
            *brief_pages.ROUTES,  # before meeting_pages': /meetings/{slug}/{day} would match …/brief
            *meeting_pages.ROUTES,
            *report_pages.ROUTES,
        ],
        exception_handlers=handlers,
    )
    app.state.ctx = pages.state.ctx = ctx
    return Front(app, app.state.ctx, dates)


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A brief's PDF would otherwise log each step of WeasyPrint's layout and font subsetting.
    for chatty in ("weasyprint", "fontTools"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


@dataclass(frozen=True)
class WorkerApp:
    """The app factory each worker process calls (uvicorn's factory=True): settings and clock travel inside
    it, pickled by the supervisor, rather than in globals. A worker opens its own engine."""

    settings: Settings
    now: Callable[[], datetime]

    def __call__(self) -> Front:
        from uvicorn.config import STARTUP_FAILURE

        _log_to_stderr()
        try:
            return create_app(self.settings, store.engine(self.settings.db), self.now, dates=True)
        except TrackerError as exc:  # the supervisor stops on this exit code instead of restarting the worker
            log.error("worker cannot start: %s", exc)
            sys.exit(STARTUP_FAILURE)


def serve(settings: Settings, engine: Engine, now: Callable[[], datetime], host: str, port: int, workers: int = 1,
          ready: Callable[[], None] | None = None) -> None:  # fmt: skip
    """Run the app on uvicorn until interrupted, with the deadlines and connection cap of tracker.web.serving.

    With `workers` > 1, uvicorn's supervisor runs that many worker processes on the one socket, each
    with its own engine and feed cache (`now` must pickle: tracker.core.clock.clock); it replaces a worker that
    dies, and SIGTERM or Ctrl-C stops them all gracefully. The app, not uvicorn, sends the Date header, so
    that Last-Modified and Date come from one clock.

    The socket is bound first: without a configured base URL, the URL it listens on (its real port, even for
    port 0) is recorded for `subscribe add` and reminders, and is the one the pages link to; then `ready` runs
    (serve --with-reminders starts its scheduler there)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from tracker.web import serving

    _log_to_stderr()
    limits = serving.fit(serving.Limits.from_settings(settings), serving.raise_open_files_limit())
    options = {"host": host, "port": port, "log_level": "info", "date_header": False}
    sock = serving.listen(serving.config(None, limits, **options))  # first: a port in use is one Error line
    log.info("header_timeout %gs, body_timeout %gs, keepalive_timeout %gs, send_timeout %gs, max_connections %d "
             "per worker, %d worker(s)", limits.header_timeout, limits.body_timeout, limits.keepalive_timeout,
             limits.send_timeout, limits.max_connections, workers)  # fmt: skip
    settings = replace(settings, base_url=settings.base_url or addresses.listening_url(host, sock.getsockname()[1]))
    with store.transaction(engine, write=True) as session:
        addresses.record(session, settings.base_url)
    log.info("base URL of links and pages: %s", settings.base_url)
    log.info("CalDAV for task apps: %s/dav/ (user name and an app password)", settings.base_url)
    if ready is not None:
        ready()
    if workers == 1:
        app = create_app(settings, engine, now, dates=True)
        uvicorn.Server(serving.config(app, limits, **options)).run(sockets=[sock])
        return
    config = serving.config(WorkerApp(settings, now), limits, factory=True, workers=workers, **options)
    Multiprocess(config, sockets=[sock]).run()
