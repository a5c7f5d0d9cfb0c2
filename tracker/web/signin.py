"""Signing in to the desk: by password, or by a single-use link e-mailed through the reminders' SMTP channel; and
signing out (of this browser, or everywhere).

Both forms answer the same whether or not the account exists, and both are rate-limited per account and per
client address (register.accounts counts the attempts in the database, so every worker sees them). A link's GET
only shows a "Sign in" button (mail scanners open links); its POST signs in, once, within LINK_LIFETIME. Every
sign-in opens a new session (a token from before it is never reused), and `?next=` only leads to a path on this
site. Before there is a session, the forms carry the sign-in cookie's token (web.auth.checked_sign_in_form)."""

from __future__ import annotations

import logging
import os
import re
import secrets
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tracker.calendars.subscriptions import hash_token
from tracker.core import i18n, store
from tracker.core.config import Settings
from tracker.core.errors import TooManyAttempts
from tracker.core.models import Account, Person, SignInLink
from tracker.register import accounts
from tracker.reminders import channels
from tracker.reminders.mail import Message
from tracker.web import auth, sessions
from tracker.web.pages import TEMPLATES

log = logging.getLogger("tracker.web.signin")
LINK_LIFETIME = timedelta(minutes=15)
HOME = "/desk"  # where a sign-in without a (usable) ?next= leads
_TRIES_TO_DECODE = 3  # %252F%252F… is decoded this many times before it is judged
_OTHER_HOST = re.compile(r"/[\s\x00-\x1f]*[/\\]")  # "//", "/\\", "/\t/": the start of another host's address


def safe_next(value: object) -> str:
    """`value` if it is a path on this site ("/…"), else HOME. Refused: "//host" and "/\\host" (browsers read
    both as another host), also with whitespace between the slashes (browsers drop some of it) or percent-encoded
    once or more, a scheme, a backslash, and raw whitespace or control characters anywhere."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 2000 or "\\" in value:
        return HOME
    if any(c.isspace() or not c.isprintable() for c in value):
        return HOME
    decoded = value
    for _ in range(_TRIES_TO_DECODE):
        decoded = unquote(decoded)
    for text in (value, decoded):
        parts = urlsplit(text)
        if _OTHER_HOST.match(text) or parts.scheme or parts.netloc:
            return HOME
    return value


def is_page(request: Request) -> bool:
    """A browser asking for a page (sent to the sign-in page when signed out), not a program (answered 401)."""
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")


def to_sign_in(request: Request) -> Response:
    """The redirect of a page request without a session: to the sign-in page, which leads back here after."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/sign-in?next={quote(here, safe='')}", status_code=303)


def _secure(request: Request) -> bool:
    return request.app.state.ctx.settings.base_url.startswith("https://")


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _attempt_key(kind: str, person: Person | None, login: str) -> str:
    """The rate limit's key for what the form named: the person when it names one (by e-mail or slug alike), else
    the text as typed; hashed, so that a password typed into the wrong field is not stored."""
    return f"{kind}:{hash_token(person.slug if person is not None else login.strip().casefold())}"


def email_channel(settings: Settings) -> channels.EmailChannel | None:
    """The reminders' SMTP channel, which sends the sign-in links; None when e-mail is not configured."""
    found = [c for c in channels.load(settings.channels, os.environ) if isinstance(c, channels.EmailChannel)]
    return found[0] if found else None


# --- the work of each form, in one transaction (run in a thread) ---------------------------------------------


def _password_sign_in(ctx: Any, login: str, password: str, address: str, old: str | None) -> str | None:
    """A new session's token, or None when the form does not sign anyone in (counted as a failure)."""
    now = ctx.now()
    with store.transaction(ctx.engine, write=True) as session:
        person = accounts.person_by_login(session, login)
        keys = [_attempt_key("account", person, login), f"address:{address}"]
        accounts.throttle(session, keys, now)
        if len(password) > accounts.PASSWORD_LENGTH[1] or not accounts.verify_password(session, person, password):
            accounts.count_attempt(session, keys, now)
            return None
        accounts.forget_failures(session, keys[0])
        return _open(session, person, "password", old, now)


def _open(session: Session, person: Person, how: str, old: str | None, now: datetime) -> str:
    if old:  # the session this browser had before: ended, never carried over
        sessions.close(session, old, now)
    return sessions.open_session(session, person, how, now)[0]


def _new_link(ctx: Any, login: str, address: str, next_path: str, accept_language: str | None) -> Message | None:
    """The e-mail carrying a new sign-in link, or None when the form names no one who can sign in by e-mail.
    Every request counts towards the limits, found or not. It is written in the person's language, else in the
    language of the browser that asked for it."""
    now = ctx.now()
    with store.transaction(ctx.engine, write=True) as session:
        person = accounts.person_by_login(session, login)
        keys = [_attempt_key("link", person, login), f"address:{address}"]
        accounts.throttle(session, keys, now)
        accounts.count_attempt(session, keys, now)
        account = session.get(Account, person.id) if person is not None else None
        if account is None or account.disabled_at is not None or not person.email:
            return None
        token = secrets.token_urlsafe(32)
        session.add(SignInLink(token_hash=hash_token(token), person_id=person.id, created_at=now,
                               expires_at=now + LINK_LIFETIME))  # fmt: skip
        then = "" if next_path == HOME else f"?next={quote(next_path, safe='')}"
        url = f"{ctx.settings.base_url}/sign-in/link/{token}{then}"
        return _link_mail(person, url, now, i18n.choose(person.locale, accept_language))


def _link_mail(person: Person, url: str, now: datetime, language: i18n.Language) -> Message:
    values = {"name": person.name, "url": url, "minutes": int(LINK_LIFETIME.total_seconds() // 60),
              **language.template_context()}  # fmt: skip
    text = TEMPLATES.env.get_template("sign_in_mail.txt").make_module(values)
    html = TEMPLATES.env.get_template("sign_in_mail.html").render(values)
    return Message(subject=str(text.subject), text=str(text), html=html, message_id=make_msgid(domain="tracker"),
                   date=now, data={}, to_name=person.name, to_email=person.email)  # fmt: skip


def _send(channel: channels.EmailChannel, message: Message) -> None:
    """Sent after the answer, so that its time does not tell whether an account exists. Only the error's kind is
    logged: the message holds the link."""
    try:
        channel.send(message)
    except channels.ChannelError as exc:
        log.error("a sign-in link could not be sent: %s", type(exc.__cause__ or exc).__name__)
    finally:
        channel.close()


def _use_link(ctx: Any, token: str, old: str | None) -> str | None:
    """A new session's token for an unused, unexpired link of an enabled account (the link is used up), or None."""
    now = ctx.now()
    with store.transaction(ctx.engine, write=True) as session:
        link = session.get(SignInLink, hash_token(token))
        if link is None or link.used_at is not None or now >= link.expires_at:
            return None
        link.used_at = now
        account = session.get(Account, link.person_id)
        if account is None or account.disabled_at is not None:
            return None
        return _open(session, account.person, "link", old, now)


def _sign_out(ctx: Any, token: str, person_id: int | None) -> None:
    """End this browser's session, or (with `person_id`) every session of the person."""
    now = ctx.now()
    with store.transaction(ctx.engine, write=True) as session:
        if person_id is None:
            sessions.close(session, token, now)
        else:
            sessions.close_all(session, person_id, now)


# --- pages and redirects -------------------------------------------------------------------------------------


def _page(request: Request, template: str, status: int = 200, headers: dict[str, str] | None = None,
          **context: Any) -> Response:  # fmt: skip
    """A sign-in page, with the sign-in cookie its forms' token comes from."""
    token = auth.sign_in_token(request)
    base = {"viewer": getattr(request.state, "viewer", None), "csrf": getattr(request.state, "csrf", None),
            "sign_in_csrf": token, "minutes": int(LINK_LIFETIME.total_seconds() // 60)}  # fmt: skip
    response = TEMPLATES.TemplateResponse(request, template, {**base, **context}, status_code=status,
                                          headers={"cache-control": "no-store", **(headers or {})})  # fmt: skip
    response.set_cookie(auth.SIGN_IN_COOKIE, token, path="/sign-in", httponly=True, samesite="strict",
                        secure=_secure(request))  # fmt: skip
    return response


def _form_page(request: Request, next_path: str, status: int = 200, **context: Any) -> Response:
    mail = email_channel(request.app.state.ctx.settings) is not None
    return _page(request, "sign_in.html", status, next=next_path, mail=mail, **context)


def _signed_in(request: Request, token: str, next_path: str) -> Response:
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(auth.COOKIE, token, max_age=int(sessions.ABSOLUTE.total_seconds()), path="/", httponly=True,
                        samesite="lax", secure=_secure(request))  # fmt: skip
    return response


def _too_many(request: Request, exc: TooManyAttempts, next_path: str, login: str) -> Response:
    minutes = max(1, -(-exc.retry_after // 60))
    return _form_page(request, next_path, 429, headers={"retry-after": str(exc.retry_after)}, error="too_many",
                      wait=minutes, login=login)  # fmt: skip


async def sign_in(request: Request) -> Response:
    """GET: the two forms (or, signed in, who you are and the sign-out buttons). POST: one of the forms."""
    if request.method != "POST":
        await auth.signed_in(request)
        return _form_page(request, safe_next(request.query_params.get("next")))
    form = await auth.checked_sign_in_form(request)
    next_path, login = safe_next(form.get("next")), _text(form, "login")
    if _text(form, "way") == "email":
        return await _ask_for_link(request, login, next_path)
    password = _text(form, "password")
    if not login.strip() or not password:
        return _form_page(request, next_path, 400, error="missing", login=login)
    ctx = request.app.state.ctx
    try:
        token = await run_in_threadpool(_password_sign_in, ctx, login, password, _address(request),
                                        request.cookies.get(auth.COOKIE))  # fmt: skip
    except TooManyAttempts as exc:
        return _too_many(request, exc, next_path, login)
    if token is None:
        return _form_page(request, next_path, 400, error="wrong", login=login)
    return _signed_in(request, token, next_path)


async def _ask_for_link(request: Request, login: str, next_path: str) -> Response:
    ctx = request.app.state.ctx
    channel = email_channel(ctx.settings)
    if channel is None:
        return _form_page(request, next_path, 400, error="no_mail", login=login)
    if not login.strip():
        return _form_page(request, next_path, 400, error="missing_login", login=login)
    try:
        mail = await run_in_threadpool(_new_link, ctx, login, _address(request), next_path,
                                      request.headers.get("accept-language"))  # fmt: skip
    except TooManyAttempts as exc:
        return _too_many(request, exc, next_path, login)
    response = _form_page(request, next_path, sent=True, login=login)
    response.background = BackgroundTask(_send, channel, mail) if mail is not None else None
    return response


async def sign_in_link(request: Request) -> Response:
    """GET: a "Sign in" button only. POST: signs in, if the link is unused, unexpired and its account enabled."""
    next_path = safe_next(request.query_params.get("next"))
    if request.method != "POST":
        return _page(request, "sign_in_link.html", next=next_path)
    await auth.checked_sign_in_form(request)
    ctx = request.app.state.ctx
    token = await run_in_threadpool(_use_link, ctx, request.path_params["token"], request.cookies.get(auth.COOKIE))
    if token is None:
        return _page(request, "sign_in_link.html", 410, next=next_path, unusable=True)
    return _signed_in(request, token, next_path)


async def _signed_out(request: Request, everywhere: bool) -> Response:
    viewer, _ = await auth.checked_form(request)
    person_id = viewer.person_id if everywhere else None
    await run_in_threadpool(_sign_out, request.app.state.ctx, request.cookies[auth.COOKIE], person_id)
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request))
    return response


async def sign_out(request: Request) -> Response:
    return await _signed_out(request, everywhere=False)


async def sign_out_everywhere(request: Request) -> Response:
    return await _signed_out(request, everywhere=True)


ROUTES = [
    Route("/sign-in", sign_in, methods=["GET", "POST"]),
    Route("/sign-in/link/{token}", sign_in_link, methods=["GET", "POST"]),
    Route("/sign-out", sign_out, methods=["POST"]),
    Route("/sign-out-everywhere", sign_out_everywhere, methods=["POST"]),
]
