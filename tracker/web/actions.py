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
from tracker.core.i18n import Language
from tracker.core.models import Item, Person, Snooze, Status, Subscription
from tracker.core.vocab import N_
from tracker.register import items
from tracker.reminders import planning
from tracker.web.pages import TEMPLATES, language


class NotYours(signing.LinkError):
    http_status = 403


class Outdated(signing.LinkError):
    """A valid link whose item has changed status since it was sent: it no longer acts."""

    http_status = 409


def _resolve(session: Session, ctx: Any, action: str, token: str, now: datetime) -> tuple[Item | None, Person, dict]:
    claims = signing.read(signing.secret(session, ctx.settings.secret), action, token, now)
    person = session.get(Person, claims.get("p"))
    if person is None:
        raise signing.LinkError(N_("This link is not valid."))
    if "i" not in claims:
        return None, person, claims
    item = session.get(Item, claims["i"])
    if item is None:
        raise signing.LinkError(N_("This item no longer exists."))
    allowed = {p.id for p in item.owners} | {p.escalation_id for p in item.owners if p.escalation_id}
    if person.id not in allowed:
        raise NotYours(
            N_("This link was made for %(name)s, who is no longer responsible for this item."), name=person.name
        )
    return item, person, claims


def _still_current(session: Session, item: Item, claims: dict, lang: Language) -> None:
    """Outdated unless the item's status has not changed since the link was made."""
    if "s" not in claims:  # made before links were bound to the status
        raise signing.LinkExpired(N_("This link comes from an older reminder and can no longer be used; use the "
                                     "newest reminder about this item."))  # fmt: skip
    if signing.status_mark(session, item.id) == claims["s"]:
        return
    since = [c for c in item.history if c.field == "status" and c.id > claims["s"]]
    if any(c.new == Status.done.value for c in since) and item.status in (Status.open, Status.in_progress):
        raise Outdated(N_("This item was reopened since this reminder was sent; use the newest reminder about it."))
    raise Outdated(N_("This item's status has changed since this reminder was sent (it is now %(status)s); use the "
                      "newest reminder about it."), status=lang.status(item.status.value))  # fmt: skip


def _page(request: Request, status: int = 200, **context: Any) -> Response:
    return TEMPLATES.TemplateResponse(request, "action.html", context, status_code=status)


def _done(ctx: Any, token: str, post: bool, lang: Language) -> dict[str, Any]:
    """Marks the item done once; a second press, or a link from before a reopen, changes nothing."""
    now = ctx.now()
    button = None
    with store.transaction(ctx.engine, write=post) as session:
        item, person, claims = _resolve(session, ctx, "done", token, now)
        if item.status == Status.done:
            when = lang.datetime(item.completed_at, item.tz) if item.completed_at else ""
            message = lang.gettext("Already done by %(who)s on %(when)s.", who=item.completed_by, when=when)
        elif item.status == Status.cancelled:
            message = lang.gettext("This item was cancelled.")
        else:
            _still_current(session, item, claims, lang)
            if post:
                items.done(session, item.id, now, by=person.slug, how="email link")
                message = lang.gettext("Marked done. Its reminders have stopped; the calendars show it completed "
                                       "when they refresh.")  # fmt: skip
            else:
                message, button = lang.gettext("Mark this item done?"), lang.gettext("Mark done")
        view = items.as_dict(item, now)
    return {"title": lang.gettext("Mark done"), "message": message, "item": view, "button": button}


def _snooze(ctx: Any, token: str, post: bool, lang: Language) -> dict[str, Any]:
    """Holds the person's reminders of the item until 7 days after the one that followed this link's reminder.
    The target depends only on the link, and a snooze only moves forward: pressing again, or an older link,
    changes nothing."""
    now = ctx.now()
    button = None
    with store.transaction(ctx.engine, write=post) as session:
        item, person, claims = _resolve(session, ctx, "snooze", token, now)
        view = items.as_dict(item, now)
        if item.status not in (Status.open, Status.in_progress):
            message = lang.gettext("This item is no longer open: there are no reminders to move.")
        else:
            _still_current(session, item, claims, lang)
            if "f" not in claims:
                raise signing.LinkExpired(N_("This link comes from an older reminder and can no longer be used."))
            target = planning.snooze_target(session, item, person, datetime.fromtimestamp(claims["f"], UTC))
            held = session.get(Snooze, (item.id, person.id))
            held_until = held.until if held is not None and held.until > now else None
            when = lang.datetime(target, person.tz)
            if held_until is not None and held_until > target:
                message = lang.gettext("Your reminders about this item are already held until %(when)s, later than "
                                       "this (older) link would hold them: it changes nothing.",
                                       when=lang.datetime(held_until, person.tz))  # fmt: skip
            elif held_until == target:
                message = lang.gettext("Already moved: your next reminder about this item comes on %(when)s.",
                                       when=when)  # fmt: skip
            elif target <= now:
                message = lang.gettext("This link would have held your reminders until %(when)s, which has passed: "
                                       "nothing to move.", when=when)  # fmt: skip
            elif post:
                planning.snooze(session, item, person, target)
                message = lang.gettext("Your next reminder about this item will come on %(when)s.", when=when)
            else:
                message = lang.gettext("Move your next reminder about this item by 7 days, to %(when)s? The due date "
                                       "stays as it is.", when=when)  # fmt: skip
                button = lang.gettext("Remind me in 7 days")
    return {"title": lang.gettext("Remind me later"), "message": message, "item": view, "button": button}


def _subscribe(session: Session, ctx: Any, key: str, token: str, person: Person, now: datetime,
               lang: Language) -> tuple[str, subscriptions.Links | None]:  # fmt: skip
    """The person's calendar subscription made from this settings link: its token is derived from the link, so
    pressing again finds the same one (and shows its links again); a revoked one is not replaced."""
    secret = signing.derived_token(key, "subscription", token)
    found = session.scalars(select(Subscription).where(Subscription.token_hash == subscriptions.hash_token(secret)))
    sub = found.one_or_none()
    if sub is None:
        subscriptions.add(session, now, f"{person.slug} (from a reminder)", person=person.slug, token=secret)
        message = lang.gettext("Your calendar subscription is ready. Asking again from this link shows this same "
                               "one.")  # fmt: skip
    elif sub.revoked_at is not None:
        return lang.gettext("The calendar subscription made from this link was revoked on %(when)s; ask your desk.",
                            when=lang.datetime(sub.revoked_at, person.tz)), None  # fmt: skip
    else:
        message = lang.gettext("You already have the calendar subscription made from this link; here are its links "
                               "again.")  # fmt: skip
    return message, subscriptions.links(ctx.settings.base_url, secret)


def _settings(ctx: Any, token: str, form: dict[str, str] | None, lang: Language) -> dict[str, Any]:
    now = ctx.now()
    with store.transaction(ctx.engine, write=form is not None) as session:
        _, person, _ = _resolve(session, ctx, "settings", token, now)
        message, links = "", None
        action = (form or {}).get("action") or ("mute" if (form or {}).get("List-Unsubscribe") else None)
        if action in ("mute", "unmute"):
            person.email_muted = action == "mute"
            muted = person.email_muted
            message = lang.gettext("E-mail reminders are off.") if muted else lang.gettext("E-mail reminders are on.")
        elif action in ("invitations-on", "invitations-off"):
            person.invitations = action == "invitations-on"  # their reminders are not affected
            message = (lang.gettext("Meeting invitations are on.") if person.invitations
                       else lang.gettext("Meeting invitations are off."))  # fmt: skip
        elif action == "subscribe":
            key = signing.secret(session, ctx.settings.secret)
            message, links = _subscribe(session, ctx, key, token, person, now, lang)
        plan = policy.policy_for(*policy.load_policies(session), None, person)
        info = {"name": person.name, "email": person.email, "tz": person.tz, "quiet_hours": person.quiet_hours,
                "muted": person.email_muted, "invitations": person.invitations,
                "policy": policy.policy_dict(plan)}  # fmt: skip
    return {"title": lang.gettext("Your reminders"), "message": message, "person": info, "links": links}


def _form_values(raw: Any) -> dict[str, str]:
    return {k: str(v) for k, v in raw.items()}


async def done(request: Request) -> Response:
    post = request.method == "POST"
    lang = language(request)
    context = await run_in_threadpool(_done, request.app.state.ctx, request.path_params["token"], post, lang)
    return _page(request, **context)


async def snooze(request: Request) -> Response:
    post = request.method == "POST"
    lang = language(request)
    context = await run_in_threadpool(_snooze, request.app.state.ctx, request.path_params["token"], post, lang)
    return _page(request, **context)


async def settings(request: Request) -> Response:
    form = _form_values(await request.form()) if request.method == "POST" else None
    lang = language(request)
    context = await run_in_threadpool(_settings, request.app.state.ctx, request.path_params["token"], form, lang)
    return _page(request, **context)


async def link_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, signing.LinkError)
    lang = language(request)
    return _page(request, status=exc.http_status, title=lang.gettext("This link cannot be used"),
                 message=lang.gettext(exc.message, **exc.variables))  # fmt: skip
