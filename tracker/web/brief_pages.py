"""The brief of a meeting occurrence (calendars.briefs) as people take it to the meeting: a page of the desk with
print styles, Markdown, and a PDF that WeasyPrint renders from the same template as the page (brief_body.html), in
the reader's language. `tracker brief` renders through `document` too."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tracker.calendars import briefs
from tracker.core import i18n, store
from tracker.core.clock import zone
from tracker.core.errors import InvalidInput, NotFound
from tracker.core.rules import one_line
from tracker.web import auth
from tracker.web.pages import TEMPLATES, desk_page, language

FORMATS = {"md": "text/markdown; charset=utf-8", "pdf": "application/pdf"}
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+|!~-])")


def markdown_text(value: object) -> str:
    """Stored text inside Markdown: one line, every character Markdown would read as markup backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", one_line(str(value)))


TEMPLATES.env.filters["md"] = markdown_text


def _as_of(brief: dict[str, Any], tz: str) -> date:
    """The day the brief was made, in the reader's zone `tz`."""
    return datetime.fromisoformat(brief["now"]).astimezone(zone(tz)).date()


def _context(brief: dict[str, Any], lang: i18n.Language, tz: str) -> dict[str, Any]:
    return {**lang.template_context(), "brief": brief, "as_of": _as_of(brief, tz)}


def document(brief: dict[str, Any], lang: i18n.Language, fmt: str, tz: str) -> bytes:
    """The brief as a file: "md" (Markdown, UTF-8) or "pdf" (WeasyPrint, from the page's own template), for a
    reader in zone `tz`."""
    if fmt == "md":
        return TEMPLATES.env.get_template("brief_markdown.txt").render(_context(brief, lang, tz)).encode()
    from weasyprint import HTML  # slow to import: only what renders a PDF pays for it

    html = TEMPLATES.env.get_template("brief_print.html").render(_context(brief, lang, tz))
    return HTML(string=html).write_pdf()


def file_name(brief: dict[str, Any], fmt: str) -> str:
    """brief-<meeting or series>-<day first scheduled>.<fmt>: the same name however often the meeting moves."""
    o = brief["occurrence"]
    return f"brief-{o['slug'] or o['series']}-{o['original']}.{fmt}"


def _meeting_href(brief: dict[str, Any]) -> str:
    o = brief["occurrence"]
    if o["slug"]:
        return f"/meetings/{quote(o['slug'])}"
    return f"/meetings/{quote(o['series'])}/{o['original']}"


def _brief(request: Request) -> dict[str, Any]:
    ctx = request.app.state.ctx
    slug, day = request.path_params["slug"], request.path_params.get("day")
    with store.transaction(ctx.engine) as session:
        try:
            return briefs.brief(session, slug, day, ctx.now())
        except InvalidInput:  # a path naming no occurrence (no date, or a meeting with a day): no such page
            raise NotFound("meeting") from None


async def brief_page(request: Request) -> Response:
    """GET /meetings/{slug}[/{day}]/brief[?format=md|pdf]: any signed-in role reads a brief; it is not public."""
    viewer = await auth.require_viewer(request)
    fmt = request.query_params.get("format", "html")
    if fmt not in {"html", *FORMATS}:
        raise InvalidInput("format: html, md or pdf")
    brief = await run_in_threadpool(_brief, request)
    if fmt == "html":
        context = {"here": "meetings", "brief": brief, "as_of": _as_of(brief, viewer.tz),
                   "meeting_href": _meeting_href(brief), "here_url": request.url.path}  # fmt: skip
        return desk_page(request, "brief.html", context)
    body = await run_in_threadpool(document, brief, language(request), fmt, viewer.tz)
    headers = {"content-disposition": f'attachment; filename="{file_name(brief, fmt)}"',
               "cache-control": "private, no-store"}  # fmt: skip
    return Response(body, media_type=FORMATS[fmt], headers=headers)


# Before meeting_pages.ROUTES in server.create_app: /meetings/{slug}/{day} would take "brief" for a day.
ROUTES = [
    Route("/meetings/{slug}/brief", brief_page),
    Route("/meetings/{slug}/{day}/brief", brief_page),
]
