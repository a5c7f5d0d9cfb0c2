"""Came home from a meeting, in the browser (/meetings/record): the meeting (one already known, an occurrence of a
series, or a new one), its outcome and any number of follow-up rows in one form, saved by records.record, as
`tracker record FILE.yaml` saves its file: all or nothing, history "web" by the signed-in person.

Without JavaScript: "Add another follow-up" is a submit button that shows the form again with one more row and
everything typed kept. A refused form shows each problem beside its field, in its row (400, nothing saved); a saved
one goes to the meeting's page. Leads and officers (those who may create items) may use it; adding a meeting (or an
occurrence's own) and its outcome are a lead's, as the meeting forms are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tracker.calendars import meetings
from tracker.core import rules, store
from tracker.core.models import Decision
from tracker.register import access, records
from tracker.register.access import Viewer
from tracker.web import auth, item_pages
from tracker.web.pages import desk_page

MEETING_FIELDS = ("title", "start", "end", "tz", "place", "host")  # a new meeting's, as meeting_FIELD
ROW_FIELDS = ("title", "due", "priority", "category", "committee", "serves", "decision", "source")  # as fN_FIELD
OCCURRENCES_BEHIND, OCCURRENCES_AHEAD = timedelta(days=2 * 365), timedelta(days=365)  # offered in the picker
PLACE = re.compile(r"follow_ups\[(\d+)\](?:\.(\w+))?")
SHOWN_AT = {"slug": "title", "owners": "owners"}  # a follow-up's problem without a field of its own: beside these


@dataclass
class Sent:
    """The form as typed: the meeting picked ("" for a new one, a slug, or SERIES/DATE for an occurrence), a new
    meeting's fields, the outcome, and the follow-up rows (each ROW_FIELDS' text, and its owners)."""

    meeting: str = ""
    new: dict[str, str] = field(default_factory=dict)
    outcome: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)


def blank_row() -> dict[str, Any]:
    return dict.fromkeys(ROW_FIELDS, "") | {"priority": "medium", "owners": []}


def sent_form(form: FormData) -> Sent:
    count = rules.row_id(str(form.get("rows") or "")) or 1
    rows = [{name: str(form.get(f"f{n}_{name}") or "") for name in ROW_FIELDS}
            | {"owners": [str(v) for v in form.getlist(f"f{n}_owners")]}
            for n in range(1, min(count, records.MAX_FOLLOW_UPS) + 1)]  # fmt: skip
    new = {name: str(form.get(f"meeting_{name}") or "") for name in MEETING_FIELDS}
    return Sent(str(form.get("meeting") or ""), new, str(form.get("outcome") or ""), rows)


def _is_blank(row: dict[str, Any]) -> bool:
    """A row left empty (the priority has a default): not a follow-up."""
    return not row["owners"] and not any(row[name].strip() for name in ROW_FIELDS if name != "priority")


def document(sent: Sent) -> tuple[dict[str, Any], list[int]]:
    """The record's document (as records.record takes it) and, for each follow-up in it, the form row it came from;
    what was left empty is left out, as `tracker add` without the option."""
    if sent.meeting and "/" in sent.meeting:
        series, occurrence = sent.meeting.split("/", 1)
        meeting: Any = {"series": series, "occurrence": occurrence}
    else:
        meeting = sent.meeting or {k: v for k, v in sent.new.items() if v.strip()}
    numbers = [n for n, row in enumerate(sent.rows, 1) if not _is_blank(row)]
    follow_ups = [{k: v for k, v in sent.rows[n - 1].items() if v not in ("", [])} for n in numbers]
    return {"meeting": meeting, "outcome": sent.outcome, "follow_ups": follow_ups}, numbers


def placed(problems: dict[str, str], numbers: list[int]) -> dict[str, str]:
    """The record's problems by the form field they belong beside: follow_ups[2].due → fN_due (N the form's row),
    meeting.start → meeting_start, the rest of the meeting's → meeting (the picker); what has no field of its own
    → "" (on top)."""
    errors: dict[str, str] = {}
    for place, text in problems.items():
        row = PLACE.fullmatch(place)
        if row:
            name = SHOWN_AT.get(row[2] or "", row[2] or "")
            key = f"f{numbers[int(row[1]) - 1]}_{name}" if name in (*ROW_FIELDS, "owners") else ""
        elif place.startswith("meeting.") and place.removeprefix("meeting.") in (*MEETING_FIELDS, "slug"):
            key = "meeting_title" if place == "meeting.slug" else place.replace(".", "_")  # a slug from the title
        elif place.startswith("meeting"):  # the series or occurrence picked, or what the form does not ask for
            key = "meeting"
        else:
            key = "outcome" if place == "outcome" else ""
        if key:
            errors.setdefault(key, text)
        else:
            errors[""] = errors.get("", "") + f"{place}: {text}\n"
    return errors


def save(ctx: Any, viewer: Viewer, sent: Sent) -> str:  # noqa: ANN401 - server.Context
    """The record saved in one transaction; the meeting's slug. Refused (nothing saved) names the rows' fields."""
    access.require(viewer.can_create_items, "record what came home from a meeting")
    doc, numbers = document(sent)
    with store.transaction(ctx.engine, write=True) as session:
        try:
            recorded = records.record(session, doc, ctx.now(), by=viewer.slug, how="web", default_tz=viewer.tz,
                                      may_change_meetings=viewer.is_lead)  # fmt: skip
        except records.Refused as e:
            e.problems = placed(e.problems, numbers)
            raise
        return recorded.meeting.slug


def form_context(ctx: Any, viewer: Viewer, sent: Sent) -> dict[str, Any]:  # noqa: ANN401 - server.Context
    """What the form shows: `sent` as typed (one blank row at least), and the pickers' choices."""
    access.require(viewer.can_create_items, "record what came home from a meeting")
    now = ctx.now()
    rows = sent.rows or [blank_row()]
    with store.transaction(ctx.engine) as session:
        offered = meetings.meetings(session, now - OCCURRENCES_BEHIND, now + OCCURRENCES_AHEAD, now)
        decisions = list(session.execute(select(Decision.slug, Decision.title).order_by(Decision.title)))
        choices = item_pages.choices(session, viewer, sent.new.get("tz") or viewer.tz)
    occurrences = [o for o in offered if o["from_rule"]]  # the others are meetings of their own, offered by slug
    new = dict.fromkeys(MEETING_FIELDS, "") | {"tz": viewer.tz} | {k: v for k, v in sent.new.items() if v}
    return {"sent": sent, "new": new, "rows": rows, "occurrences": occurrences, "decisions": decisions,
            "here": "meetings", **choices}  # fmt: skip


def initial(request: Request) -> Sent:
    """An empty form; ?meeting=SLUG (or SERIES/DATE) picks the meeting, as its page's link does."""
    return Sent(meeting=request.query_params.get("meeting", ""))


async def record_page(request: Request) -> Response:
    ctx = request.app.state.ctx
    if request.method == "GET":
        viewer = await auth.require_viewer(request)
        context = await run_in_threadpool(form_context, ctx, viewer, initial(request))
        return desk_page(request, "meeting_record.html", context)
    viewer, form = await auth.checked_form(request)
    sent = sent_form(form)
    if form.get("action") == "add_row":
        sent.rows = (sent.rows or [blank_row()]) + [blank_row()]
        sent.rows = sent.rows[: records.MAX_FOLLOW_UPS]
        context = await run_in_threadpool(form_context, ctx, viewer, sent)
        return desk_page(request, "meeting_record.html", context | {"focus": len(sent.rows)})
    try:
        slug = await run_in_threadpool(save, ctx, viewer, sent)
    except records.Refused as e:
        context = await run_in_threadpool(form_context, ctx, viewer, sent)
        return desk_page(request, "meeting_record.html", context | {"errors": e.problems}, status_code=400)
    return RedirectResponse(f"/meetings/{slug}", status_code=303)


ROUTES = [Route("/meetings/record", record_page, methods=["GET", "POST"])]
