"""The item page and every change to an item from the browser: edit, done / reopen / cancel with a note, snooze
my reminders, and the new-item form.

Handlers are thin: a change is the same core call as `tracker edit` / `done` / `reopen` / `cancel` / `add`, in one
transaction, with `how="web"` and `by=` the signed-in person's slug. The core's InvalidInput / NotFound words come
back beside the field they name, with status 400 and nothing written.

No lost updates: every change form carries the item's SEQUENCE as it was read (`version`); apply_changes raises it
on every change of the item, from any source (CLI, web, e-mail link, load, import), so a change sent against an
older one is refused (409) with the item as it is now beside what was sent, and nothing is overwritten. The
check runs inside the write transaction, which holds the database's write lock (store.transaction), so two
sends of the same version cannot both pass it.
"""

from __future__ import annotations

import re
from datetime import datetime
from itertools import groupby
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tracker.core import rules, store, timing
from tracker.core.errors import InvalidInput, NotFound
from tracker.core.models import OPEN_STATUSES, Committee, Item, Meeting, MeetingSeries, Person, Snooze, Status
from tracker.core.vocab import CATEGORIES, PRIORITIES
from tracker.register import access, history, items
from tracker.register.access import Viewer
from tracker.reminders import planning
from tracker.web import auth
from tracker.web.pages import desk_page

STATUS_ACTIONS = ("done", "reopen", "cancel")  # the core functions of the same name (and CLI commands)
TEXTS = ("title", "description", "due_date", "due_time", "tz", "due_note", "status", "priority", "category",
         "meeting", "serves", "committee", "source_quote", "note", "version")  # fmt: skip
OPTIONAL_SLUGS = ("category", "meeting", "serves", "committee")  # "" in the form: none
# The field a core error names: "--due: ..." (InvalidInput) or "no person with slug ..." (NotFound), as the form
# calls it. The core's words are shown as they are, without the CLI's option name.
OPTION = re.compile(r"--([a-z-]+): ")
OPTION_FIELDS = {"source": "source_quote", "owners": "owners", "due": "due_date"}
NOT_FOUND_FIELDS = (("no person", "owners"), ("no meeting or series", "serves"), ("no meeting", "meeting"),
                    ("no committee", "committee"))  # fmt: skip


class Refused(Exception):
    """A value the core rejected; raised out of the transaction (so it rolls back), shown beside `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Stale(Exception):
    """The form was read at an older version of the item; `context` shows both."""

    def __init__(self, context: dict[str, Any]) -> None:
        super().__init__("stale")
        self.context = context


def refused(error: InvalidInput | NotFound) -> Refused:
    text = str(error)
    option = OPTION.match(text)
    if option:
        name = option[1].replace("-", "_")
        return Refused(OPTION_FIELDS.get(name, name), text[option.end() :])
    field = next((name for prefix, name in NOT_FOUND_FIELDS if text.startswith(prefix)), "")
    return Refused(field, text)


# --- reading -----------------------------------------------------------------------------------------------


def sent_values(form: FormData) -> dict[str, Any]:
    """The posted form as plain text values (and the owners as a list)."""
    return {name: str(form.get(name) or "") for name in TEXTS} | {"owners": [str(v) for v in form.getlist("owners")]}


def form_values(item: Item) -> dict[str, Any]:
    """An item's fields as the edit form shows them (the due date and time in the item's zone)."""
    local = item.due.astimezone(ZoneInfo(item.tz)) if item.due else None
    return {
        "title": item.title, "description": item.description, "owners": [p.slug for p in item.owners],
        "due_date": local.date().isoformat() if local else "",
        "due_time": f"{local:%H:%M}" if local and not item.due_all_day else "",
        "tz": item.tz, "due_note": item.due_note, "status": item.status.value, "priority": item.priority,
        **{name: items.current(item, name) or "" for name in OPTIONAL_SLUGS},
        "source_quote": item.source_quote, "note": "", "version": str(item.sequence),
    }  # fmt: skip


def choices(session: Session, viewer: Viewer, *extra_zones: str) -> dict[str, Any]:
    """What the pickers offer: people, meetings, series, committees, the six areas, priorities, known zones."""
    people = list(session.execute(select(Person.slug, Person.name, Person.tz).order_by(Person.name)))
    meetings = list(session.execute(select(Meeting.slug, Meeting.title).order_by(Meeting.start)))
    series = list(session.execute(select(MeetingSeries.slug, MeetingSeries.title).order_by(MeetingSeries.title)))
    committees = list(session.execute(select(Committee.slug, Committee.name).order_by(Committee.name)))
    zones = sorted({viewer.tz, "UTC", *extra_zones, *(p.tz for p in people)})
    return {"people": people, "meetings": meetings, "series": series, "committees": committees,
            "categories": CATEGORIES, "priorities": PRIORITIES, "statuses": [s.value for s in Status],
            "zones": zones}  # fmt: skip


def due_views(item: Item, viewer: Viewer) -> dict[str, str]:
    """The due date as written, in the item's zone, and the moment it falls due in the viewer's zone (when the
    zones differ)."""
    if item.due is None:
        return {"due_item": "", "due_viewer": ""}
    ends = items.deadline(item)
    elsewhere = f"{timing.minute(ends, ZoneInfo(viewer.tz))} {viewer.tz}" if ends and viewer.tz != item.tz else ""
    return {"due_item": timing.describe(item.due, item.due_all_day, item.tz), "due_viewer": elsewhere}


def timeline(item: Item, viewer: Viewer, names: dict[str, str]) -> list[dict[str, Any]]:
    """The history, newest change first: one entry per change (its rows share time, author, way and note)."""
    rows = history.entries(item, ZoneInfo(viewer.tz), for_people=True)
    out = []
    for (at, by, how, note), group in groupby(rows, key=lambda r: (r["at"], r["by"], r["how"], r["note"])):
        changes = [{"field": r["field"], "old": r["old"], "new": r["new"]} for r in group]
        out.append({"at": at, "by": by, "by_name": names.get(by), "how": how, "note": note, "changes": changes})
    return out[::-1]


def receives_reminders(item: Item, viewer: Viewer) -> bool:
    """Owners get an item's reminders, and their escalation contacts the copies (as the signed links allow)."""
    return any(viewer.person_id in (p.id, p.escalation_id) for p in item.owners)


def can_snooze(item: Item, viewer: Viewer) -> bool:
    return viewer.can_change(item) and item.status in OPEN_STATUSES and receives_reminders(item, viewer)


def page_context(session: Session, item: Item, viewer: Viewer, now: datetime) -> dict[str, Any]:
    names = dict(session.execute(select(Person.slug, Person.name)).all())
    row = items.as_dict(item, now)
    held = session.get(Snooze, (item.id, viewer.person_id))
    serves, decision = item.serves_meeting or item.serves_series, item.decision
    return {
        "item": row | due_views(item, viewer),
        "owners": [{"slug": p.slug, "name": p.name} for p in item.owners],
        "meeting": item.meeting and {"slug": item.meeting.slug, "title": item.meeting.title},
        "serves": serves and {"slug": serves.slug, "title": serves.title, "series": item.serves_series is not None},
        "committee": item.committee and {"slug": item.committee.slug, "name": item.committee.name},
        "decision": decision and {"slug": decision.slug, "title": decision.title, "meeting": decision.meeting.slug},
        "category_name": CATEGORIES.get(item.category or ""),
        "completed_at": item.completed_at and timing.minute(item.completed_at, ZoneInfo(viewer.tz)),
        "completed_by": names.get(item.completed_by or "", item.completed_by),  # the name, as the history shows
        "updated_at": timing.minute(item.updated_at, ZoneInfo(viewer.tz)),
        "history": timeline(item, viewer, names),
        "can_change": viewer.can_change(item),
        "can_snooze": can_snooze(item, viewer),
        "held_until": held and held.until > now and timing.minute(held.until, ZoneInfo(viewer.tz)),
        "is_open": item.status in OPEN_STATUSES,
        "version": item.sequence,
        "here": "register",
    }


def read_page(ctx: Any, viewer: Viewer, ref: str, **extra: Any) -> dict[str, Any]:
    with store.transaction(ctx.engine) as session:
        return page_context(session, items.get(session, ref), viewer, ctx.now()) | extra


def read_edit(ctx: Any, viewer: Viewer, ref: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
    with store.transaction(ctx.engine) as session:
        item = items.get(session, ref)
        access.require(viewer.can_change(item), f"change item {item.id}")
        shown = form_values(item) | (values or {})
        return {"item": items.as_dict(item, ctx.now()), "values": shown, "here": "register",
                **choices(session, viewer, item.tz, shown["tz"])}  # fmt: skip


# --- changing ----------------------------------------------------------------------------------------------


def check_version(session: Session, item: Item, viewer: Viewer, sent: dict[str, Any], now: datetime) -> None:
    """Stale unless `sent` was read at the item's current version."""
    if rules.row_id(sent["version"]) is None:  # a SEQUENCE is a database integer, as a row's id is
        raise InvalidInput("This form has no version of the item: reload the page and try again.")
    if int(sent["version"]) == item.sequence:
        return
    current = form_values(item)
    fields = ["title", "status", "owners", "due_date", "due_time", "tz", "due_note", "priority", *OPTIONAL_SLUGS,
              "description", "source_quote"]  # fmt: skip
    shown = [f for f in fields if f in sent["compared"]]
    raise Stale(page_context(session, item, viewer, now) | {
        "rows": [{"field": f, "now": current[f], "sent": sent["compared"][f],
                  "differs": current[f] != sent["compared"][f]} for f in shown],
        "sent_version": sent["version"], "values": current | sent["compared"] | {"note": sent["note"],
        "version": str(item.sequence)}, **choices(session, viewer, item.tz),
    })  # fmt: skip


def due_text(sent: dict[str, Any]) -> str:
    """The date and time fields as `tracker add/edit --due` takes them: "2009-03-01" or "2009-03-01T17:00"."""
    time = sent["due_time"].strip()
    return sent["due_date"].strip() + (f"T{time}" if time else "")


def edits(sent: dict[str, Any], item: Item) -> tuple[str, dict[str, Any]]:
    """The due text (date, or date and time) and the field changes `items.edit` takes, from the edit form (an
    optional slug left empty is none, as `items.edit` takes "")."""
    due = due_text(sent)
    changes = {name: sent[name] for name in ("title", "description", "due_note", "status", "priority",
                                             "source_quote", "tz", *OPTIONAL_SLUGS)}  # fmt: skip
    kept = [slug for slug in items.current(item, "owners") if slug in sent["owners"]]  # their order stays
    changes["owners"] = kept + [slug for slug in sent["owners"] if slug not in kept]
    return due, changes


def save_edit(ctx: Any, viewer: Viewer, ref: str, sent: dict[str, Any]) -> tuple[int, bool]:
    """The item's id, and whether the edit changed it: its SEQUENCE rose from the version the form was read at,
    as the CLI's "Nothing changed" tells by the same number (history.sentence)."""
    now = ctx.now()
    with store.transaction(ctx.engine, write=True) as session:
        item = items.get(session, ref)
        access.require(viewer.can_change(item), f"change item {item.id}")
        check_version(session, item, viewer, sent | {"compared": editable(sent)}, now)
        due, changes = edits(sent, item)
        try:
            items.edit(session, item.id, now, by=viewer.slug, due=due, note=sent["note"], how="web", **changes)
        except (InvalidInput, NotFound) as e:
            raise refused(e) from None
        return item.id, item.sequence != int(sent["version"])


def editable(sent: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sent.items() if k not in ("note", "version")}


def change_status(ctx: Any, viewer: Viewer, ref: str, action: str, sent: dict[str, Any]) -> int:
    now = ctx.now()
    with store.transaction(ctx.engine, write=True) as session:
        item = items.get(session, ref)
        access.require(viewer.can_change(item), f"change item {item.id}")
        target = {"done": Status.done, "reopen": Status.open, "cancel": Status.cancelled}[action]
        check_version(session, item, viewer, sent | {"compared": {"status": target.value}}, now)
        try:
            getattr(items, action)(session, item.id, now, by=viewer.slug, how="web", note=sent["note"])
        except InvalidInput as e:
            raise Refused("status_note", str(refused(e))) from None
        return item.id


def snooze(ctx: Any, viewer: Viewer, ref: str, sent: dict[str, Any]) -> int:
    """Hold my reminders of the item 7 days past the next one, as the reminders' snooze link does."""
    now = ctx.now()
    with store.transaction(ctx.engine, write=True) as session:
        item = items.get(session, ref)
        access.require(can_snooze(item, viewer), f"snooze the reminders of item {item.id}")
        check_version(session, item, viewer, sent | {"compared": {}}, now)
        person = session.get(Person, viewer.person_id)
        planning.snooze(session, item, person, planning.snooze_target(session, item, person, now))
        return item.id


def add(ctx: Any, viewer: Viewer, sent: dict[str, Any]) -> int:
    """The new-item form through `items.add`, as `tracker add` does."""
    access.require(viewer.can_create_items, "create items")
    due = due_text(sent)
    fields = {name: sent[name] for name in ("description", "due_note", "priority", "source_quote")}
    fields |= {name: sent[name] for name in OPTIONAL_SLUGS if sent[name]}
    with store.transaction(ctx.engine, write=True) as session:
        try:
            item = items.add(session, ctx.now(), sent["title"], by=viewer.slug, default_tz=viewer.tz,
                             tz=sent["tz"] or None, owners=sent["owners"], due=due or None, how="web",
                             **fields)  # fmt: skip
        except (InvalidInput, NotFound) as e:
            raise refused(e) from None
        return item.id


def new_form(ctx: Any, viewer: Viewer, values: dict[str, Any] | None = None) -> dict[str, Any]:
    access.require(viewer.can_create_items, "create items")
    defaults = {name: "" for name in TEXTS} | {"tz": viewer.tz, "priority": "medium", "owners": [viewer.slug]}
    shown = defaults | (values or {})
    with store.transaction(ctx.engine) as session:
        return {"values": shown, "here": "register", **choices(session, viewer, shown["tz"])}


# --- routes ------------------------------------------------------------------------------------------------


def to_item(item_id: int, changed: bool = True) -> Response:
    """Back to the item's page; an edit that changed nothing says so there ("Nothing changed.")."""
    return RedirectResponse(f"/items/{item_id}" + ("" if changed else "?unchanged"), status_code=303)


async def item_page(request: Request) -> Response:
    viewer = await auth.require_viewer(request)
    context = await run_in_threadpool(read_page, request.app.state.ctx, viewer, request.path_params["ref"],
                                      unchanged="unchanged" in request.query_params)  # fmt: skip
    return desk_page(request, "item.html", context)


async def edit_page(request: Request) -> Response:
    ctx, ref = request.app.state.ctx, request.path_params["ref"]
    if request.method == "GET":
        viewer = await auth.require_viewer(request)
        return desk_page(request, "item_edit.html", await run_in_threadpool(read_edit, ctx, viewer, ref))
    viewer, form = await auth.checked_form(request)
    sent = sent_values(form)
    try:
        return to_item(*await run_in_threadpool(save_edit, ctx, viewer, ref, sent))
    except Stale as stale:
        return desk_page(request, "item_conflict.html", stale.context | {"action": "edit"}, status_code=409)
    except Refused as e:
        context = await run_in_threadpool(read_edit, ctx, viewer, ref, sent)
        return desk_page(request, "item_edit.html", context | {"errors": {e.field: str(e)}}, status_code=400)


def status_route(action: str) -> Route:
    async def handle(request: Request) -> Response:
        viewer, form = await auth.checked_form(request)
        ctx, ref, sent = request.app.state.ctx, request.path_params["ref"], sent_values(form)
        try:
            return to_item(await run_in_threadpool(change_status, ctx, viewer, ref, action, sent))
        except Stale as stale:
            return desk_page(request, "item_conflict.html", stale.context | {"action": action}, status_code=409)
        except Refused as e:
            context = await run_in_threadpool(read_page, ctx, viewer, ref, errors={e.field: str(e)}, sent=sent)
            return desk_page(request, "item.html", context, status_code=400)

    return Route(f"/items/{{ref}}/{action}", handle, methods=["POST"], name=f"item_{action}")


async def snooze_route(request: Request) -> Response:
    viewer, form = await auth.checked_form(request)
    ctx, ref = request.app.state.ctx, request.path_params["ref"]
    try:
        return to_item(await run_in_threadpool(snooze, ctx, viewer, ref, sent_values(form)))
    except Stale as stale:
        return desk_page(request, "item_conflict.html", stale.context | {"action": "snooze"}, status_code=409)


async def new_page(request: Request) -> Response:
    ctx = request.app.state.ctx
    if request.method == "GET":
        viewer = await auth.require_viewer(request)
        return desk_page(request, "item_new.html", await run_in_threadpool(new_form, ctx, viewer))
    viewer, form = await auth.checked_form(request)
    sent = sent_values(form)
    try:
        return to_item(await run_in_threadpool(add, ctx, viewer, sent))
    except Refused as e:
        context = await run_in_threadpool(new_form, ctx, viewer, sent)
        return desk_page(request, "item_new.html", context | {"errors": {e.field: str(e)}}, status_code=400)


ROUTES = [
    Route("/items/new", new_page, methods=["GET", "POST"]),
    Route("/items/{ref}", item_page),
    Route("/items/{ref}/edit", edit_page, methods=["GET", "POST"]),
    *(status_route(action) for action in STATUS_ACTIONS),
    Route("/items/{ref}/snooze", snooze_route, methods=["POST"]),
]
