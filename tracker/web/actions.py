"""The links in reminders: mark done, snooze, reminder settings. GET only shows (mail scanners open every
link); a POST from the page's button makes the change, and repeating it changes nothing. Done and snooze links
are bound to the item's status when they were sent (signing.status_mark): after a reopen they only say so."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tracker.calendars import subscriptions
from tracker.core import policy, signing, store
from tracker.core.models import Item, Person, Snooze, Status, Subscription
from tracker.core.timing import describe
from tracker.register import items
from tracker.reminders import planning
from tracker.web.pages import TEMPLATES


class NotYours(signing.LinkError):
    http_status = 403


class Outdated(signing.LinkError):
    """A valid link whose item has changed status since it was sent: it no longer acts."""

    http_status = 409


def _resolve(session: Session, ctx: Any, action: str, token: str, now: datetime) -> tuple[Item | None, Person, dict]:
    claims = signing.read(signing.secret(session, ctx.settings.secret), action, token, now)
    person = session.get(Person, claims.get("p"))
    if person is None:
        raise signing.LinkError("This link is not valid.")
    if "i" not in claims:
        return None, person, claims
    item = session.get(Item, claims["i"])
    if item is None:
        raise signing.LinkError("This item no longer exists.")
    allowed = {p.id for p in item.owners} | {p.escalation_id for p in item.owners if p.escalation_id}
    if person.id not in allowed:
        raise NotYours(f"This link was made for {person.name}, who is no longer responsible for this item.")
    return item, person, claims


def _still_current(session: Session, item: Item, claims: dict) -> None:
    """Outdated unless the item's status has not changed since the link was made."""
    if "s" not in claims:  # made before links were bound to the status
        raise signing.LinkExpired("This link comes from an older reminder and can no longer be used; use the newest "
                                  "reminder about this item.")  # fmt: skip
    if signing.status_mark(session, item.id) == claims["s"]:
        return
    since = [c for c in item.history if c.field == "status" and c.id > claims["s"]]
    if any(c.new == Status.done.value for c in since) and item.status in (Status.open, Status.in_progress):
        raise Outdated("This item was reopened since this reminder was sent; use the newest reminder about it.")
    status = item.status.value.replace("_", " ")
    raise Outdated(f"This item's status has changed since this reminder was sent (it is now {status}); use the "
                   "newest reminder about it.")  # fmt: skip


def _item_view(item: Item, now: datetime) -> dict[str, Any]:
    row = items.readable(items.as_dict(item, now))
    row["completed"] = describe(item.completed_at, False, item.tz) if item.completed_at else ""
    return row


def _page(request: Request, status: int = 200, **context: Any) -> Response:
    return TEMPLATES.TemplateResponse(request, "action.html", context, status_code=status)


def _done(ctx: Any, token: str, post: bool) -> dict[str, Any]:
    """Marks the item done once; a second press, or a link from before a reopen, changes nothing."""
    now = ctx.now()
    button = None
    with store.transaction(ctx.engine, write=post) as session:
        item, person, claims = _resolve(session, ctx, "done", token, now)
        if item.status == Status.done:
            view = _item_view(item, now)
            message = f"Already done by {view['completed_by']} on {view['completed']}."
        elif item.status == Status.cancelled:
            view, message = _item_view(item, now), "This item was cancelled."
        else:
            _still_current(session, item, claims)
            if post:
                items.done(session, item.id, now, by=person.slug, how="email link")
                message = "Marked done. Its reminders have stopped; the calendars show it completed when they refresh."
            else:
                message, button = "Mark this item done?", "Mark done"
            view = _item_view(item, now)
    return {"title": "Mark done", "message": message, "item": view, "button": button}


def _snooze(ctx: Any, token: str, post: bool) -> dict[str, Any]:
    """Holds the person's reminders of the item until 7 days after the one that followed this link's reminder.
    The target depends only on the link, and a snooze only moves forward: pressing again, or an older link,
    changes nothing."""
    now = ctx.now()
    button = None
    with store.transaction(ctx.engine, write=post) as session:
        item, person, claims = _resolve(session, ctx, "snooze", token, now)
        view = _item_view(item, now)
        if item.status not in (Status.open, Status.in_progress):
            message = "This item is no longer open: there are no reminders to move."
        else:
            _still_current(session, item, claims)
            if "f" not in claims:
                raise signing.LinkExpired("This link comes from an older reminder and can no longer be used.")
            target = planning.snooze_target(session, item, person, datetime.fromtimestamp(claims["f"], UTC))
            held = session.get(Snooze, (item.id, person.id))
            held_until = held.until if held is not None and held.until > now else None
            when, held_when = describe(target, False, person.tz), held_until and describe(held_until, False, person.tz)
            if held_until is not None and held_until > target:
                message = (f"Your reminders about this item are already held until {held_when}, later than this "
                           "(older) link would hold them: it changes nothing.")  # fmt: skip
            elif held_until == target:
                message = f"Already moved: your next reminder about this item comes on {when}."
            elif target <= now:
                message = f"This link would have held your reminders until {when}, which has passed: nothing to move."
            elif post:
                planning.snooze(session, item, person, target)
                message = f"Your next reminder about this item will come on {when}."
            else:
                message = f"Move your next reminder about this item by 7 days, to {when}? The due date stays as it is."
                button = "Remind me in 7 days"
    return {"title": "Remind me later", "message": message, "item": view, "button": button}


def _subscribe(session: Session, ctx: Any, key: str, token: str, person: Person,
               now: datetime) -> tuple[str, subscriptions.Links | None]:  # fmt: skip
    """The person's calendar subscription made from this settings link: its token is derived from the link, so
    pressing again finds the same one (and shows its links again); a revoked one is not replaced."""
    secret = signing.derived_token(key, "subscription", token)
    found = session.scalars(select(Subscription).where(Subscription.token_hash == subscriptions.hash_token(secret)))
    sub = found.one_or_none()
    if sub is None:
        subscriptions.add(session, now, f"{person.slug} (from a reminder)", person=person.slug, token=secret)
        message = "Your calendar subscription is ready. Asking again from this link shows this same one."
    elif sub.revoked_at is not None:
        revoked = describe(sub.revoked_at, False, person.tz)
        return f"The calendar subscription made from this link was revoked on {revoked}; ask your desk.", None
    else:
        message = "You already have the calendar subscription made from this link; here are its links again."
    return message, subscriptions.links(ctx.settings.base_url, secret)


def _settings(ctx: Any, token: str, form: dict[str, str] | None) -> dict[str, Any]:
    now = ctx.now()
    with store.transaction(ctx.engine, write=form is not None) as session:
        _, person, _ = _resolve(session, ctx, "settings", token, now)
        message, links = "", None
        action = (form or {}).get("action") or ("mute" if (form or {}).get("List-Unsubscribe") else None)
        if action in ("mute", "unmute"):
            person.email_muted = action == "mute"
            message = "E-mail reminders are off." if person.email_muted else "E-mail reminders are on."
        elif action == "subscribe":
            message, links = _subscribe(session, ctx, signing.secret(session, ctx.settings.secret), token, person, now)
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
