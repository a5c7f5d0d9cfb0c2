"""The Jinja2 templates of the web pages (subscription page, link pages, the desk), shared by every route."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from tracker.core import i18n
from tracker.core.models import Item
from tracker.core.rules import plural
from tracker.register import items


def language(request: Request) -> i18n.Language:
    """The language of this request's page: the signed-in person's setting (web.auth put the Viewer on the
    request), else the browser's Accept-Language, else English."""
    viewer = getattr(request.state, "viewer", None)
    return i18n.choose(viewer.locale if viewer else None, request.headers.get("accept-language"))


def _translated(request: Request) -> dict[str, Any]:
    return language(request).template_context()


# Every page is translated per request: the context processor gives each TemplateResponse its reader's `_`,
# gettext, ngettext, `lang` and `language` (i18n.Language), which hide the null translations installed here (they
# only let a template render without a request). Macros imported from another template see them only when
# imported `with context`.
TEMPLATES = Jinja2Templates(env=Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True, extensions=["jinja2.ext.i18n"],
), context_processors=[_translated])  # fmt: skip
TEMPLATES.env.filters["plural"] = plural
TEMPLATES.env.policies["ext.i18n.trimmed"] = True  # as babel.cfg extracts {% trans %} blocks
TEMPLATES.env.install_null_translations(newstyle=True)


def item_row(item: Item, now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """An item as the desk's lists show it (items.readable in the viewer's zone `tz`), with its due date also as
    `due_iso` (timing.iso), which the templates write in the reader's language (`language.when`)."""
    row = items.as_dict(item, now)
    return items.readable(row, tz) | {"due_iso": row["due"]}


def desk_page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A page of the desk (templates extending desk.html), for the person web.auth signed in on this request, in
    their language."""
    base = {"viewer": request.state.viewer, "csrf": request.state.csrf}
    return TEMPLATES.TemplateResponse(request, template, {**base, **context}, status_code=status_code)
