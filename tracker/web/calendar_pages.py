"""My calendars: a person's feed subscriptions on the desk — create, rotate and revoke them with the same core calls
as `tracker subscribe add|rotate|revoke`. Officers manage their own, leads anyone's (and the shared feeds that
belong to no one), viewers none (register.access). A new or rotated feed URL holds the secret token: it is shown
once, in the body of the POST's answer (never in a desk URL, never stored, never cached).

The page's "Task apps (CalDAV)" section is every signed-in person's, whatever their role: their own app passwords
(register.app_passwords, as `tracker user app-password`), made with a label and shown once the same way, listed and
revoked. Nobody sees or revokes another person's here: the core looks an id up among the signed-in person's only,
so someone else's answers 404."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tracker.calendars import ics, subscriptions
from tracker.core import rules, store
from tracker.core.errors import InvalidInput, NotFound
from tracker.core.models import Person, Subscription
from tracker.register import app_passwords
from tracker.register.access import Viewer, require
from tracker.register.items import lookup
from tracker.web import auth
from tracker.web.pages import desk_page

WHAT = "manage calendar subscriptions"
SHARED = "-"  # the person picker's value for feeds that belong to no one (a wall screen): leads only
ALL = ""  # the lead's picker: everyone's
NO_STORE = {"cache-control": "no-store"}  # a page holding a feed's secret URL is not kept by the browser


def _may_subscribe(viewer: Viewer) -> None:
    require(viewer.can_manage_subscriptions_of(viewer.person_id), WHAT)


def _person_id(session: Session, slug: str) -> int | None:
    """The person a picker value names (None: shared). :raises NotFound: no such person."""
    return None if slug == SHARED else lookup(session, Person, slug).id


def _listing(session: Session, viewer: Viewer, shown: str) -> dict[str, Any]:
    """The subscriptions the page lists (an officer's own; a lead's choice of person), and the create form's
    choices."""
    rows = subscriptions.subscriptions(session)
    if not viewer.is_lead:
        rows = [s for s in rows if s.person_id == viewer.person_id]
    elif shown != ALL:
        wanted = _person_id(session, shown)
        rows = [s for s in rows if s.person_id == wanted]
    return {
        "subscriptions": [subscriptions.as_dict(s) for s in rows],
        "shown": shown,
        "people": [(p.slug, p.name) for p in session.scalars(select(Person).order_by(Person.slug))]
        if viewer.is_lead else [],
        "calendars": ics.specs(session),  # each named in the reader's language by the template (spec.title)
    }  # fmt: skip


def _task_apps(session: Session, request: Request, viewer: Viewer) -> dict[str, Any]:
    """The page's "Task apps (CalDAV)" section: what to type into an app, and the viewer's own app passwords with
    their times in the viewer's zone."""
    zone = ZoneInfo(viewer.tz)

    def local(at: datetime | None) -> str:
        return f"{at.astimezone(zone):%Y-%m-%d %H:%M}" if at else ""

    rows = app_passwords.app_passwords(session, viewer.slug)
    return {
        "dav_url": app_passwords.dav_url(request.app.state.ctx.settings.base_url),
        "app_passwords": [row | {at: local(row[at]) for at in ("created_at", "last_used_at", "revoked_at")}
                          for row in rows],
    }  # fmt: skip


def _page(request: Request, viewer: Viewer, shown: str, form: dict[str, str], errors: dict[str, str],
          status_code: int = 200) -> Response:  # fmt: skip
    may_subscribe = viewer.can_manage_subscriptions_of(viewer.person_id)
    with store.transaction(request.app.state.ctx.engine) as session:
        context = _listing(session, viewer, shown) if may_subscribe else {}
        context |= _task_apps(session, request, viewer)
    context |= {"here": "calendars", "form": form, "errors": errors, "shared": SHARED, "may_subscribe": may_subscribe}
    return desk_page(request, "calendars.html", context, status_code=status_code)


async def listing(request: Request) -> Response:
    viewer = await auth.require_viewer(request)  # every role: a viewer's page has only the task apps section
    shown = request.query_params.get("person", ALL) if viewer.is_lead else viewer.slug
    form = {"person": viewer.slug, "calendar": "", "name": "", "label": ""}
    return await run_in_threadpool(_page, request, viewer, shown, form, {})


async def create(request: Request) -> Response:
    viewer, posted = await auth.checked_form(request)
    _may_subscribe(viewer)
    form = {name: str(posted.get(name, "")).strip() for name in ("name", "calendar", "person")}
    form["person"], form["label"] = form["person"] or viewer.slug, ""
    return await run_in_threadpool(_create, request, viewer, form)


def _create(request: Request, viewer: Viewer, form: dict[str, str]) -> Response:
    ctx = request.app.state.ctx
    person = None if form["person"] == SHARED else form["person"]
    try:
        with store.transaction(ctx.engine, write=True) as session:
            require(viewer.can_manage_subscriptions_of(_person_id(session, form["person"])), WHAT + " of others")
            sub, token = subscriptions.add(session, ctx.now(), form["name"], person=person,
                                           calendar=form["calendar"] or None)  # fmt: skip
            record = subscriptions.as_dict(sub)
    except InvalidInput as e:  # "--name: …" / "--calendar: …", as `tracker subscribe add` words them
        option, _, problem = str(e).partition(": ")
        return _refused(request, viewer, form, {option.removeprefix("--"): problem})
    except NotFound as e:
        return _refused(request, viewer, form, {"person": str(e)})
    return _secret(request, record, token, rotated=False)


def _refused(request: Request, viewer: Viewer, form: dict[str, str], errors: dict[str, str]) -> Response:
    return _page(request, viewer, ALL if viewer.is_lead else viewer.slug, form, errors, status_code=400)


def _secret(request: Request, record: dict[str, Any], token: str, rotated: bool) -> Response:
    links = subscriptions.links(request.app.state.ctx.settings.base_url, token)
    context = {"here": "calendars", "sub": record, "links": links, "rotated": rotated}
    response = desk_page(request, "calendar_link.html", context)
    response.headers.update(NO_STORE)
    return response


def _own(session: Session, viewer: Viewer, ref: str) -> Subscription:
    """The subscription with id `ref`, if the viewer may manage it (403 otherwise; 404 if there is none)."""
    if rules.row_id(ref) is None:
        raise NotFound("subscription")
    sub = subscriptions.get(session, ref)
    require(viewer.can_manage_subscriptions_of(sub.person_id), WHAT + " of others")
    return sub


async def rotate(request: Request) -> Response:
    viewer, _ = await auth.checked_form(request)
    _may_subscribe(viewer)
    return await run_in_threadpool(_rotate, request, viewer, request.path_params["ref"])


def _rotate(request: Request, viewer: Viewer, ref: str) -> Response:
    ctx = request.app.state.ctx
    with store.transaction(ctx.engine, write=True) as session:
        _own(session, viewer, ref)
        sub, token = subscriptions.rotate(session, ref, ctx.now())
        record = subscriptions.as_dict(sub)
    return _secret(request, record, token, rotated=True)


async def revoke(request: Request) -> Response:
    viewer, _ = await auth.checked_form(request)
    _may_subscribe(viewer)
    await run_in_threadpool(_revoke, request, viewer, request.path_params["ref"])
    return RedirectResponse("/calendars", status_code=303)


def _revoke(request: Request, viewer: Viewer, ref: str) -> None:
    ctx = request.app.state.ctx
    with store.transaction(ctx.engine, write=True) as session:
        _own(session, viewer, ref)
        subscriptions.revoke(session, ref, ctx.now())


async def create_app_password(request: Request) -> Response:
    viewer, posted = await auth.checked_form(request)
    return await run_in_threadpool(_create_app_password, request, viewer, str(posted.get("label", "")))


def _create_app_password(request: Request, viewer: Viewer, label: str) -> Response:
    ctx = request.app.state.ctx
    try:
        with store.transaction(ctx.engine, write=True) as session:
            record, password = app_passwords.create(session, viewer.slug, label, ctx.now())
    except InvalidInput as e:  # "--label: …", as `tracker user app-password --label` words it
        form = {"person": viewer.slug, "calendar": "", "name": "", "label": label}
        return _refused(request, viewer, form, {"label": str(e).removeprefix("--label: ")})
    context = {"here": "calendars", "app_password": record, "password": password,
               "dav_url": app_passwords.dav_url(ctx.settings.base_url)}  # fmt: skip
    response = desk_page(request, "app_password.html", context)
    response.headers.update(NO_STORE)  # the password is in this page, and only in it
    return response


async def revoke_app_password(request: Request) -> Response:
    viewer, _ = await auth.checked_form(request)
    await run_in_threadpool(_revoke_app_password, request, viewer, request.path_params["ref"])
    return RedirectResponse("/calendars#task-apps", status_code=303)


def _revoke_app_password(request: Request, viewer: Viewer, ref: str) -> None:
    number = rules.row_id(ref)
    if number is None:
        raise NotFound("app password")
    ctx = request.app.state.ctx
    with store.transaction(ctx.engine, write=True) as session:
        app_passwords.revoke(session, viewer.slug, number, ctx.now())  # someone else's: NotFound


ROUTES = [
    Route("/calendars", listing),
    Route("/calendars", create, methods=["POST"]),
    Route("/calendars/{ref}/rotate", rotate, methods=["POST"]),
    Route("/calendars/{ref}/revoke", revoke, methods=["POST"]),
    Route("/calendars/app-passwords", create_app_password, methods=["POST"]),
    Route("/calendars/app-passwords/{ref}/revoke", revoke_app_password, methods=["POST"]),
]
