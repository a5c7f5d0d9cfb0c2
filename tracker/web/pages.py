"""The Jinja2 templates of the web pages (subscription page, link pages, the desk), shared by every route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from tracker.core.rules import plural

TEMPLATES = Jinja2Templates(env=Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True, extensions=["jinja2.ext.i18n"],
))  # fmt: skip
TEMPLATES.env.filters["plural"] = plural
# Every text a page shows is marked for translation ({% trans %}, _()); the catalogs are chosen per request.
TEMPLATES.env.install_null_translations(newstyle=True)


def desk_page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A page of the desk (templates extending desk.html), for the person web.auth signed in on this request."""
    base = {"viewer": request.state.viewer, "csrf": request.state.csrf}
    return TEMPLATES.TemplateResponse(request, template, {**base, **context}, status_code=status_code)
