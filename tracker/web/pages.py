"""The Jinja2 templates of the web pages (subscription page, link pages), shared by server and actions."""

from __future__ import annotations

from pathlib import Path

from starlette.templating import Jinja2Templates

from tracker.core.rules import plural

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["plural"] = plural
