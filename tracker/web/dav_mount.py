"""/dav/: CalDAV for task apps (tracker.dav), signed in here with HTTP Basic and an app password.

Every request signs in (CalDAV apps send their credentials each time): the check is a read; a refusal is
counted, and throttled, with the sign-in form's rate limit (429 with Retry-After once reached); "last used" is
written at most hourly. The signed-in slug goes to Radicale in the ASGI scope, never in a header. Calendar apps
look for the server at /.well-known/caldav (RFC 6764) and some ask the site's root who the user is; both are
sent to /dav/."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from a2wsgi import WSGIMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from tracker.core import store
from tracker.core.errors import TooManyAttempts
from tracker.dav import radicale_app
from tracker.register import accounts, app_passwords

PREFIX = "/dav"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="tracker", charset="UTF-8"'}
DROPPED = (b"x-script-name", b"x-remote-user", b"authorization")  # Radicale would read these itself
THREADS = 8  # Radicale runs each request on a thread of its own pool


def _credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        login, sep, password = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (login, password) if sep and login and len(password) <= 200 else None


def signed_in(ctx: Any, header: str | None, address: str) -> str | None:
    """The slug of the person the Authorization header signs in with an app password; None for a refusal (a wrong
    password is counted against the login and the address; a revoked one, which an app may keep sending for days,
    is not). TooManyAttempts once either has been refused too often."""
    found = _credentials(header)
    if found is None:
        return None
    login, password = found
    now = ctx.now()
    with store.transaction(ctx.engine) as session:
        person = accounts.person_by_login(session, login)
        keys = app_passwords.throttle_keys(person, login, address)
        accounts.throttle(session, keys, now)
        app_password = app_passwords.check(session, person, password)
        slug = app_password.person.slug if app_password is not None else None
        guess = slug is None and not app_passwords.known(session, password)  # a revoked one is no guess
        marking = app_password is not None and app_passwords.needs_marking(app_password, now)
    if guess or marking:
        with store.transaction(ctx.engine, write=True) as session:
            if guess:
                accounts.count_attempt(session, keys, now)
            else:
                app_passwords.mark_used(session, app_password.id, now)
    return slug


class DavMount:
    """The ASGI app for /dav/: signs in, then hands the request to Radicale (a2wsgi) with the person in the scope."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.radicale = WSGIMiddleware(radicale_app.application(ctx.engine, ctx.now, ctx.settings.tz), THREADS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        client = scope.get("client")
        try:
            slug = await run_in_threadpool(signed_in, self.ctx, Headers(scope=scope).get("authorization"),
                                           client[0] if client else "unknown")  # fmt: skip
        except TooManyAttempts as exc:
            await _refusal(429, "Too many refused sign-ins: wait a while, then try again.",
                           {"Retry-After": str(exc.retry_after)})(scope, receive, send)  # fmt: skip
            return
        if slug is None:
            await _refusal(401, "Sign in with your user name and an app password (My calendars, on the desk).",
                           CHALLENGE)(scope, receive, send)  # fmt: skip
            return
        # A WSGI environ spells "-" and "_" alike (X_Script_Name is X-Script-Name): names with "_" go too.
        headers = [(k, v) for k, v in scope["headers"] if k not in DROPPED and b"_" not in k]
        await self.radicale({**scope, "headers": headers, radicale_app.SCOPE_USER: slug}, receive, send)


def _refusal(status: int, text: str, headers: dict[str, str]) -> Response:
    return PlainTextResponse(text + "\n", status_code=status, headers=headers)


class WellKnown:
    """/.well-known/caldav (RFC 6764 §5): where the CalDAV server is."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await RedirectResponse(PREFIX + "/", status_code=301)(scope, receive, send)


class RootPropfind:
    """A PROPFIND on the site's root, which some apps send first to the URL they were given, answered as /dav/'s."""

    def __init__(self, mount: DavMount) -> None:
        self.mount = mount

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.mount({**scope, "path": PREFIX + "/", "root_path": PREFIX}, receive, send)


def routes(ctx: Any) -> list[BaseRoute]:
    """The CalDAV routes: /dav/ itself, the well-known address, and PROPFIND on the root."""
    mount = DavMount(ctx)
    return [
        Route("/", RootPropfind(mount), methods=["PROPFIND"]),
        Route("/.well-known/caldav", WellKnown(), methods=["GET", "HEAD", "PROPFIND", "OPTIONS"]),
        Mount(PREFIX, app=mount),
    ]
