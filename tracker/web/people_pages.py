"""The People page of the desk (leads only): everyone with their account, adding and editing a person by
people.yaml's rules (register.people), and disabling or enabling an account. Every route refuses other roles with
403 on the server, whatever the page showed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tracker.core import store
from tracker.core.models import Committee, Person
from tracker.core.vocab import ACCESS_ROLES, LOCALES
from tracker.register import people
from tracker.register.access import Viewer, require
from tracker.web import auth
from tracker.web.pages import desk_page

TEXT_FIELDS = ("slug", "name", "email", "tz", "role", "escalation", "quiet_hours", "locale", "access")
# Zones offered as you type (any IANA zone is accepted): the desk's, then those its people already use.
COMMON_ZONES = ("Asia/Taipei", "UTC")


def _lead(viewer: Viewer) -> None:
    require(viewer.is_lead, "manage people")


async def _signed_in_lead(request: Request) -> Viewer:
    viewer = await auth.require_viewer(request)
    _lead(viewer)
    return viewer


async def _posted_by_lead(request: Request) -> FormData:
    viewer, form = await auth.checked_form(request)
    _lead(viewer)
    return form


def _choices(session: Session) -> dict[str, Any]:
    """What the person form offers: people (escalation contacts), committees, zones, locales and access roles."""
    everyone = list(session.scalars(select(Person).order_by(Person.slug)))
    zones = dict.fromkeys([*COMMON_ZONES, *sorted({p.tz for p in everyone})])
    return {
        "people": [(p.slug, p.name) for p in everyone],
        "committees": [(c.slug, c.name) for c in session.scalars(select(Committee).order_by(Committee.slug))],
        "zones": list(zones),
        "locales": LOCALES,
        "roles": ACCESS_ROLES,
    }


def _posted_fields(form: FormData) -> dict[str, Any]:
    fields: dict[str, Any] = {name: str(form.get(name, "")).strip() for name in TEXT_FIELDS}
    # An unticked checkbox sends nothing: no "invitations" means they are off.
    return fields | {"committees": [str(c) for c in form.getlist("committees")],
                     "invitations": form.get("invitations") is not None}  # fmt: skip


# --- the list ----------------------------------------------------------------------------------------------------


async def listing(request: Request) -> Response:
    await _signed_in_lead(request)
    rows = await run_in_threadpool(_read, request, people.with_accounts)
    return desk_page(request, "people.html", {"here": "people", "people": rows})


def _read(request: Request, what: Any, *args: Any) -> Any:
    with store.transaction(request.app.state.ctx.engine) as session:
        return what(session, *args)


# --- add and edit ------------------------------------------------------------------------------------------------


def _form_page(request: Request, person: dict[str, Any], errors: dict[str, str], adding: bool,
               status_code: int = 200) -> Response:  # fmt: skip
    choices = _read(request, _choices)
    context = {"here": "people", "person": person, "errors": errors, "adding": adding, **choices}
    return desk_page(request, "person.html", context, status_code=status_code)


async def new(request: Request) -> Response:
    await _signed_in_lead(request)
    blank = {"quiet_hours": "20:00-08:00", "tz": COMMON_ZONES[0], "access": "officer", "committees": [],
             "invitations": True}  # fmt: skip
    return await run_in_threadpool(_form_page, request, blank, {}, True)


async def create(request: Request) -> Response:
    form = await _posted_by_lead(request)
    fields = _posted_fields(form)
    return await run_in_threadpool(_save, request, fields, True)


async def show(request: Request) -> Response:
    await _signed_in_lead(request)
    person = await run_in_threadpool(_read, request, people.fields_of, request.path_params["slug"])
    return await run_in_threadpool(_form_page, request, person, {}, False)


async def update(request: Request) -> Response:
    form = await _posted_by_lead(request)
    fields = _posted_fields(form) | {"slug": request.path_params["slug"]}
    return await run_in_threadpool(_save, request, fields, False)


def _save(request: Request, fields: dict[str, Any], adding: bool) -> Response:
    """One transaction: add or edit; a refused field re-renders the form with each problem beside its field (400),
    and nothing is written."""
    ctx = request.app.state.ctx
    try:
        with store.transaction(ctx.engine, write=True) as session:
            change = people.add if adding else people.edit
            change(session, fields["slug"], fields, ctx.now())
    except people.InvalidPerson as e:
        shown = fields if adding else _read(request, people.fields_of, fields["slug"]) | fields
        return _form_page(request, shown, e.problems, adding, status_code=400)
    return RedirectResponse("/people", status_code=303)


# --- the account ----------------------------------------------------------------------------------------------


async def disable(request: Request) -> Response:
    return await _account(request, True)


async def enable(request: Request) -> Response:
    return await _account(request, False)


async def _account(request: Request, disabled: bool) -> Response:
    await _posted_by_lead(request)
    return await run_in_threadpool(_set_disabled, request, request.path_params["slug"], disabled)


def _set_disabled(request: Request, slug: str, disabled: bool) -> Response:
    ctx = request.app.state.ctx
    try:
        with store.transaction(ctx.engine, write=True) as session:
            people.set_disabled(session, slug, disabled, ctx.now())
    except people.InvalidPerson as e:
        return _form_page(request, _read(request, people.fields_of, slug), e.problems, False, status_code=400)
    return RedirectResponse("/people", status_code=303)


ROUTES = [
    Route("/people", listing),
    Route("/people/new", new),
    Route("/people/new", create, methods=["POST"]),
    Route("/people/{slug}/edit", show),  # not /people/{slug}: a person may have the slug "new"
    Route("/people/{slug}/edit", update, methods=["POST"]),
    Route("/people/{slug}/disable", disable, methods=["POST"]),
    Route("/people/{slug}/enable", enable, methods=["POST"]),
]
