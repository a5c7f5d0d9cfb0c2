"""Who is asking, for every route of the desk: the session cookie becomes a register.access.Viewer, and every
state-changing request passes the CSRF checks (the form's per-session token, and an Origin naming this server)
before it is read. The sign-in pages build on these."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request

from tracker.core import store
from tracker.core.errors import Forbidden, NotSignedIn
from tracker.register.access import Viewer
from tracker.web import sessions

COOKIE = "tracker_session"
SIGN_IN_COOKIE = "tracker_sign_in"  # the sign-in forms' token, before there is a session
CSRF_FIELD = "csrf"


def _lookup(ctx: Any, token: str) -> tuple[Viewer, str] | None:  # noqa: ANN401 - server.Context (it imports us)
    now = ctx.now()
    with store.transaction(ctx.engine) as session:
        found = sessions.current(session, token, now)
        if found is None:
            return None
        row, viewer = found
        csrf, stale = row.csrf, sessions.needs_touch(row, now)
    if stale:
        with store.transaction(ctx.engine, write=True) as session:
            sessions.touch(session, token, now)
    return viewer, csrf


async def signed_in(request: Request) -> Viewer | None:
    """The person this request's session cookie signs in, or None; looked up once per request."""
    if not hasattr(request.state, "viewer"):
        token = request.cookies.get(COOKIE)
        found = await run_in_threadpool(_lookup, request.app.state.ctx, token) if token else None
        request.state.viewer, request.state.csrf = found or (None, None)
    return request.state.viewer


async def require_viewer(request: Request) -> Viewer:
    viewer = await signed_in(request)
    if viewer is None:
        raise NotSignedIn("Sign in to continue.")
    return viewer


def csrf_token(request: Request) -> str:
    """The token forms of this session carry (after signed_in / require_viewer)."""
    return request.state.csrf


def _origins(request: Request) -> set[str]:
    """The origins this server answers as: its configured base URL's and the one the request was sent to."""
    base = urlsplit(request.app.state.ctx.settings.base_url)
    return {f"{base.scheme}://{base.netloc}", f"{request.url.scheme}://{request.url.netloc}"}


def _check_origin(request: Request) -> None:
    """A browser names the page a POST comes from (Origin, else Referer); another site's is refused. Without either
    (not a browser), the token alone decides."""
    origin = request.headers.get("origin")
    if origin is None and (referer := request.headers.get("referer")):
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin is not None and origin not in _origins(request):
        raise Forbidden("This form was sent from another site.")


def _check_token(form: FormData, expected: str | None) -> None:
    sent = form.get(CSRF_FIELD)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("This form has expired: reload the page and try again.")


async def checked_form(request: Request) -> tuple[Viewer, FormData]:
    """The signed-in person and the posted form of a state-changing request, once the CSRF checks passed."""
    viewer = await require_viewer(request)
    _check_origin(request)
    form = await request.form()
    _check_token(form, csrf_token(request))
    return viewer, form


def sign_in_token(request: Request) -> str:
    """The token the sign-in pages' forms carry before there is a session: the one in the browser's sign-in cookie,
    or a new one (the page sets the cookie)."""
    return request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)


async def checked_sign_in_form(request: Request) -> FormData:
    """The posted form of a sign-in page, once the same two checks passed, with the token of the sign-in cookie (a
    double-submitted cookie) in place of a session's: another site can neither read the cookie nor set the field,
    so it cannot sign a browser in to an account of its choosing."""
    _check_origin(request)
    form = await request.form()
    _check_token(form, request.cookies.get(SIGN_IN_COOKIE))
    return form
