"""The links in reminders: mark done, snooze, reminder settings. GET only shows (mail scanners open every
link); a POST from the page's button makes the change, and repeating it changes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tracker import items, policy, reminders, signing, store, subscriptions
from tracker.models import Item, Person, Status
from tracker.pages import TEMPLATES
from tracker.timing import describe


class NotYours(signing.LinkError):
    http_status = 403


def _resolve(session: Session, ctx: Any, action: str, token: str, now: datetime) -> tuple[Item | None, Person]:
    claims = signing.read(signing.secret(session, ctx.settings.secret), action, token, now)
    person = session.get(Person, claims.get("p"))
    if person is None:
        raise signing.LinkError("This link is not valid.")
    if "i" not in claims:
        return None, person
    item = session.get(Item, claims["i"])
    if item is None:
        raise signing.LinkError("This item no longer exists.")
    allowed = {p.id for p in item.owners} | {p.escalation_id for p in item.owners if p.escalation_id}
    if person.id not in allowed:
        raise NotYours(f"This link was made for {person.name}, who is no longer responsible for this item.")
    return item, person


def _item_view(item: Item, now: datetime) -> dict[str, Any]:
    row = items.as_dict(item, now)
    row["completed"] = describe(item.completed_at, False, item.tz) if item.completed_at else ""
    return row


def _page(request: Request, status: int = 200, **context: Any) -> Response:
    return TEMPLATES.TemplateResponse(request, "action.html", context, status_code=status)


def _done(ctx: Any, token: str, post: bool) -> dict[str, Any]:
    now = ctx.now()
    with store.transaction(ctx.engine, write=post) as session:
        item, person = _resolve(session, ctx, "done", token, now)
        already = item.status == Status.done
        if post and item.status in (Status.open, Status.in_progress):
            items.done(session, item.id, now, by=person.slug, how="email link")
        view = _item_view(item, now)
    if already:
        message = f"Already done by {view['completed_by']} on {view['completed']}."
    elif post:
        message = "Marked done. Its reminders have stopped; the calendars show it completed at their next refresh."
    elif view["status"] == "cancelled":
        message = "This item was cancelled."
    else:
        message = "Mark this item done?"
    can_post = not post and view["status"] in ("open", "in_progress")
    return {"title": "Mark done", "message": message, "item": view, "button": "Mark done" if can_post else None}


def _snooze(ctx: Any, token: str, post: bool) -> dict[str, Any]:
    now = ctx.now()
    with store.transaction(ctx.engine, write=post) as session:
        item, person = _resolve(session, ctx, "snooze", token, now)
        view = _item_view(item, now)
        if post and item.status in (Status.open, Status.in_progress):
            until = reminders.snooze(session, item, person, now)
            message = f"Your next reminder about this item will come on {describe(until, False, person.tz)}."
        elif item.status not in (Status.open, Status.in_progress):
            message = "This item is no longer open: there are no reminders to move."
        else:
            message = "Move your next reminder about this item by 7 days? The due date stays as it is."
    can_post = not post and view["status"] in ("open", "in_progress")
    return {"title": "Remind me later", "message": message, "item": view,
            "button": "Remind me in 7 days" if can_post else None}  # fmt: skip


def _settings(ctx: Any, token: str, form: dict[str, str] | None) -> dict[str, Any]:
    now = ctx.now()
    with store.transaction(ctx.engine, write=form is not None) as session:
        _, person = _resolve(session, ctx, "settings", token, now)
        message, links = "", None
        action = (form or {}).get("action") or ("mute" if (form or {}).get("List-Unsubscribe") else None)
        if action in ("mute", "unmute"):
            person.email_muted = action == "mute"
            message = "E-mail reminders are off." if person.email_muted else "E-mail reminders are on."
        elif action == "subscribe":
            _, secret = subscriptions.add(session, now, f"{person.slug} (from a reminder)", person=person.slug)
            links = subscriptions.links(ctx.settings.base_url, secret)
            message = "Your calendar subscription is ready. These links are shown only now."
        plan = policy.policy_for(*policy.load_policies(session), None, person)
        info = {"name": person.name, "email": person.email, "tz": person.tz, "quiet_hours": person.quiet_hours,
                "muted": person.email_muted, "policy": policy.policy_dict(plan)}  # fmt: skip
    return {"title": "Your reminders", "message": message, "person": info, "links": links}


def _form_values(raw: Any) -> dict[str, str]:
    return {k: str(v) for k, v in raw.items()}


async def done(request: Request) -> Response:
    post = request.method == "POST"
    context = await run_in_threadpool(_done, request.app.state.ctx, request.path_params["token"], post)
    return _page(request, **context)


async def snooze(request: Request) -> Response:
    post = request.method == "POST"
    context = await run_in_threadpool(_snooze, request.app.state.ctx, request.path_params["token"], post)
    return _page(request, **context)


async def settings(request: Request) -> Response:
    form = _form_values(await request.form()) if request.method == "POST" else None
    context = await run_in_threadpool(_settings, request.app.state.ctx, request.path_params["token"], form)
    return _page(request, **context)


async def link_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, signing.LinkError)
    return _page(request, status=exc.http_status, title="This link cannot be used", message=str(exc))
