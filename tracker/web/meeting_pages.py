"""Meetings on the desk: the occurrences coming up and past (series expanded by calendars.meetings, as the feeds
publish them; a month-only date is shown as "day TBC"), and a page per meeting, per series and per occurrence of a
series, with the items that came from it or serve it (or its series).

Leads also change them here, through the same core calls as `tracker meeting` (register.meeting_records): a new
meeting, editing a meeting or series, cancelling one (or one occurrence), and announcing the real date of an
occurrence. A refused field comes back beside itself (400, nothing written); other roles get 403."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tracker.calendars import meetings
from tracker.core import rules, store, timing
from tracker.core.clock import start_of_day, zone
from tracker.core.errors import NotFound
from tracker.core.models import Item, Meeting, MeetingSeries, Person, Precision
from tracker.core.timing import local_date
from tracker.register import access, decisions, dumping, items, meeting_records
from tracker.register.access import Viewer
from tracker.web import auth, charts, pages
from tracker.web.pages import desk_page

AHEAD = timedelta(days=365)
BEHIND = timedelta(days=5 * 365)  # past occurrences: the last five years (a daily series stays a readable list)


def href(occurrence: dict[str, Any]) -> str:
    """The page of an occurrence: its meeting's, or its series' on that day."""
    if occurrence["slug"]:
        return f"/meetings/{quote(occurrence['slug'])}"
    return f"/meetings/{quote(occurrence['series'])}/{occurrence['start_local']}"


def shown(occurrence: dict[str, Any]) -> dict[str, Any]:
    """An occurrence with its page; its dates stay ISO (`date`, `end_date`, as calendars.meetings gives them), which
    the templates write in the reader's language (`language.when`)."""
    return occurrence | {"href": href(occurrence)}


def ahead(state: Any, session: Session, now: datetime) -> list[dict[str, Any]]:  # noqa: ANN401 - starlette's app.state
    """The next year's occurrences, expanded once per data version and minute (My desk asks on every visit)."""
    minute = now.replace(second=0, microsecond=0)
    key = ("meetings ahead", store.data_version(session), minute)
    return charts.remember(state, key, lambda: meetings.meetings(session, minute, minute + AHEAD, minute))


def _earliest(session: Session, now: datetime) -> datetime:
    first = [session.scalar(select(func.min(model.start))) for model in (Meeting, MeetingSeries)]
    return max(min([f for f in first if f is not None] or [now]), now - BEHIND)


def _list_context(request: Request) -> dict[str, Any]:
    ctx = request.app.state.ctx
    now = ctx.now()
    with store.transaction(ctx.engine) as session:
        start = _earliest(session, now)
        past = meetings.meetings(session, start, now, now) if start < now else []
        upcoming = meetings.meetings(session, now, now + AHEAD, now)
    return {
        "upcoming": [shown(o) for o in upcoming],
        "past": [shown(o) for o in reversed(past) if o["past"]],  # newest first; one under way is upcoming
    }


async def meeting_list(request: Request) -> Response:
    await auth.require_viewer(request)
    context = await run_in_threadpool(_list_context, request)
    return desk_page(request, "meetings.html", {"here": "meetings", **context})


def _rows(session: Session, now: datetime, viewer: Viewer, *where: Any) -> list[dict[str, Any]]:  # noqa: ANN401 - SQL clauses
    found = session.scalars(items.ordered(select(Item).where(*where)))
    return [pages.item_row(i, now, zone(viewer.tz)) for i in found]


def _series_occurrences(session: Session, series: MeetingSeries, start: datetime, end: datetime,
                        now: datetime) -> list[dict[str, Any]]:  # fmt: skip
    return [shown(o) for o in meetings.meetings(session, start, end, now) if o["series"] == series.slug]


def _meeting_context(request: Request, viewer: Viewer) -> dict[str, Any]:
    ctx, slug, day = request.app.state.ctx, request.path_params["slug"], request.path_params.get("day")
    now = ctx.now()
    with store.transaction(ctx.engine) as session:
        meeting = items.by_slug(session, Meeting, slug)
        if meeting is not None and day is None:
            return _held(session, meeting, now, viewer)
        series = items.by_slug(session, MeetingSeries, slug)
        if series is None:
            raise NotFound("meeting")
        if day is None:
            return _series(session, series, now, viewer)
        return _series_day(session, series, day, now, viewer)


def _held(session: Session, meeting: Meeting, now: datetime, viewer: Viewer) -> dict[str, Any]:
    """A meeting of its own (or one occurrence of a series, overridden)."""
    when = timing.iso(meeting.start, meeting.all_day, meeting.tz, meeting.precision)
    last = meeting.end - timedelta(days=1) if meeting.all_day else meeting.end
    until = timing.iso(last, meeting.all_day, meeting.tz, meeting.precision)
    series = meeting.series
    return {
        "kind": "meeting", "title": meeting.title, "when": when, "until": until if until != when else None,
        "occurrence_day": local_date(meeting.recurrence_id, series.tz).isoformat() if meeting.recurrence_id else None,
        "record": meeting, "series": series, "attendees": meeting.attendees or (series.attendees if series else []),
        "came_from": _rows(session, now, viewer, Item.meeting_id == meeting.id),
        "serve": _rows(session, now, viewer, Item.serves_meeting_id == meeting.id),
        "serve_series": _rows(session, now, viewer, Item.serves_series_id == series.id) if series else [],
        "decisions": decisions.rows(session, decisions.decisions(session, meeting=meeting.slug)),
    }  # fmt: skip


def _series(session: Session, series: MeetingSeries, now: datetime, viewer: Viewer) -> dict[str, Any]:
    start = max(series.start, now - BEHIND)  # a series that starts more than a year ahead shows its first year
    return {
        "kind": "series", "title": series.title, "record": series, "series": None, "attendees": series.attendees,
        "when": None, "until": None,
        "serve_series": _rows(session, now, viewer, Item.serves_series_id == series.id),
        "occurrences": _series_occurrences(session, series, start, max(start, now) + AHEAD, now),
        "decisions": decisions.rows(session, decisions.affecting_series(session, series)),
    }  # fmt: skip


def _series_day(session: Session, series: MeetingSeries, day: str, now: datetime, viewer: Viewer) -> dict[str, Any]:
    """One occurrence of a series that no meeting of its own overrides: the series' items serve it."""
    try:
        local = rules.check_date(date.fromisoformat(day))  # no series meets outside them; its edges overflow
    except ValueError:
        raise NotFound("meeting") from None
    start = start_of_day(local, zone(series.tz))
    found = [o for o in _series_occurrences(session, series, start, start + timedelta(days=1), now)
             if o["start_local"] == day]  # fmt: skip
    if not found:
        moved = meeting_records.override_of(session, series, local)
        if moved is None:
            raise NotFound("meeting")
        return {"moved_to": f"/meetings/{quote(moved.slug, safe='')}"}  # announced: its meeting's page is its page
    occurrence = found[0]
    return {
        "kind": "occurrence", "title": occurrence["title"], "record": series, "series": series, "occurrence_day": day,
        "attendees": occurrence["attendees"], "when": occurrence["date"],
        "until": occurrence["end_date"] if occurrence["end_date"] != occurrence["date"] else None,
        "serve_series": _rows(session, now, viewer, Item.serves_series_id == series.id),
    }  # fmt: skip


async def meeting_page(request: Request) -> Response:
    viewer = await auth.require_viewer(request)
    context = await run_in_threadpool(_meeting_context, request, viewer)
    if "moved_to" in context:
        return RedirectResponse(context["moved_to"], status_code=303)
    return desk_page(request, "meeting.html", {"here": "meetings", "can_change": viewer.is_lead, **context})


# --- changing (leads) ------------------------------------------------------------------------------------------

MEETING_FIELDS = ("slug", "title", "start", "end", "tz", "number", "place", "host", "theme", "our_role", "description",
                  "source", "attendees")  # fmt: skip
SERIES_FIELDS = ("slug", "title", "start", "rrule", "days", "tz", "description", "source", "attendees")
# A new meeting, or with a rule a series (as `tracker meeting add --rrule`).
NEW_FIELDS = (*MEETING_FIELDS[:5], "rrule", "days", *MEETING_FIELDS[5:])
ANNOUNCE_FIELDS = ("title", "start", "end", "tz", "number", "place", "host")
OPTIONAL = ("slug", "end", "number", "days", "rrule")  # left empty: not given (the core's default, or as it is)
LISTS = ("attendees",)  # ticked boxes, one value each


def _lead(viewer: Viewer) -> None:
    access.require(viewer.is_lead, "change meetings")


def _sent(form: FormData, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: [str(v).strip() for v in form.getlist(name)] if name in LISTS else str(form.get(name) or "").strip()
            for name in names}  # fmt: skip


def _fields(sent: dict[str, str]) -> dict[str, Any]:
    """A form's values as the core takes them: an empty optional field is not given."""
    return {k: (None if k in OPTIONAL and not v else v) for k, v in sent.items()}


def _form(request: Request, action: str, kind: str, values: dict[str, Any], names: tuple[str, ...],
          errors: dict[str, str] | None = None) -> Response:  # fmt: skip
    """The meeting form of `kind` (new, edit, announce) posting to `action`; with `errors`, a 400 answer."""
    context = {"here": "meetings", "action": action, "kind": kind, "values": values, "names": names,
               "errors": errors or {}, "people": _people(request.app.state.ctx)}  # fmt: skip
    return desk_page(request, "meeting_form.html", context, status_code=400 if errors else 200)


def _people(ctx: Any) -> list[tuple[str, str]]:  # noqa: ANN401 - app state
    """Who may attend: every person, (slug, name), by name."""
    with store.transaction(ctx.engine) as session:
        return [(p.slug, p.name) for p in session.scalars(select(Person).order_by(Person.name, Person.slug))]


def _added(session: Session, now: datetime, fields: dict[str, Any]) -> Meeting | MeetingSeries:
    """A new meeting, or with a rule (or days each time) a series, of which fields left empty are not given."""
    if not (fields.get("rrule") or fields.get("days")):
        once = {k: v for k, v in fields.items() if k not in ("rrule", "days")}
        return meeting_records.add_meeting(session, now, once)
    return meeting_records.add_series(session, now, {k: v for k, v in fields.items() if v not in ("", None)})


def _save(ctx: Any, change: Any) -> str:  # noqa: ANN401 - app state; a core call
    """`change(session, now)` in one write transaction; the page of what it made or changed."""
    with store.transaction(ctx.engine, write=True) as session:
        return f"/meetings/{quote(change(session, ctx.now()).slug)}"


def _values_of(ctx: Any, slug: str) -> tuple[dict[str, Any], tuple[str, ...]]:  # noqa: ANN401 - app state
    """The edit form of a meeting or series: its record (as YAML writes it) and the fields the form shows."""
    with store.transaction(ctx.engine) as session:
        row = meeting_records.get(session, slug)
        if isinstance(row, Meeting):
            return _shown(dumping.meeting_record(row), MEETING_FIELDS), MEETING_FIELDS
        return _shown(dumping.series_record(row) | {"tz": row.tz, "days": row.days}, SERIES_FIELDS), SERIES_FIELDS


def _shown(record: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A YAML record as form values: a field left out (at its default) is empty."""
    return {name: ([] if name in LISTS else "") if record.get(name) is None else record[name] for name in names}


async def new_meeting(request: Request) -> Response:
    ctx = request.app.state.ctx
    if request.method == "GET":
        viewer = await auth.require_viewer(request)
        _lead(viewer)
        blank = dict.fromkeys(NEW_FIELDS, "") | {"tz": viewer.tz, "attendees": []}
        return _form(request, "/meetings/new", "new", blank, NEW_FIELDS)
    viewer, form = await auth.checked_form(request)
    _lead(viewer)
    sent = _sent(form, NEW_FIELDS)
    try:
        page = await run_in_threadpool(_save, ctx, lambda s, now: _added(s, now, _fields(sent)))
    except meeting_records.InvalidMeeting as e:
        return _form(request, "/meetings/new", "new", sent, NEW_FIELDS, e.problems)
    return RedirectResponse(page, status_code=303)


async def edit_meeting(request: Request) -> Response:
    ctx, slug = request.app.state.ctx, request.path_params["slug"]
    action = f"/meetings/{quote(slug)}/edit"
    if request.method == "GET":
        _lead(await auth.require_viewer(request))
        values, names = await run_in_threadpool(_values_of, ctx, slug)
        return _form(request, action, "edit", values, names)
    viewer, form = await auth.checked_form(request)
    _lead(viewer)
    names = (await run_in_threadpool(_values_of, ctx, slug))[1]
    sent = _sent(form, tuple(n for n in names if n != "slug"))
    try:
        page = await run_in_threadpool(_save, ctx, lambda s, now: meeting_records.edit(s, slug, now, _fields(sent)))
    except meeting_records.InvalidMeeting as e:
        return _form(request, action, "edit", sent | {"slug": slug}, names, e.problems)
    return RedirectResponse(page, status_code=303)


def _announce_values(ctx: Any, slug: str, day: str) -> dict[str, Any]:  # noqa: ANN401 - app state
    """The announce form of an occurrence: as announced so far, else the series' title and zone."""
    with store.transaction(ctx.engine) as session:
        series = items.by_slug(session, MeetingSeries, slug)
        if series is None:
            raise NotFound("meeting")
        try:
            found = meeting_records.override_of(session, series, meeting_records.occurrence_day(series, day))
        except meeting_records.InvalidMeeting:
            raise NotFound("meeting") from None
        record = dumping.meeting_record(found) if found is not None else {"title": series.title, "tz": series.tz}
        if found is not None and found.precision == Precision.month:
            record["start"] = ""  # the placeholder's month is what is to be announced
        return _shown(record, ANNOUNCE_FIELDS)


async def announce(request: Request) -> Response:
    ctx, slug, day = request.app.state.ctx, request.path_params["slug"], request.path_params["day"]
    action = f"/meetings/{quote(slug)}/{quote(day)}/announce"
    if request.method == "GET":
        _lead(await auth.require_viewer(request))
        values = await run_in_threadpool(_announce_values, ctx, slug, day)
        return _form(request, action, "announce", values, ANNOUNCE_FIELDS)
    viewer, form = await auth.checked_form(request)
    _lead(viewer)
    sent = _sent(form, ANNOUNCE_FIELDS)
    await run_in_threadpool(_announce_values, ctx, slug, day)  # a day that is no occurrence: 404, as the page
    try:
        page = await run_in_threadpool(
            _save, ctx, lambda s, now: meeting_records.announce(s, slug, day, now, _fields(sent))
        )
    except meeting_records.InvalidMeeting as e:
        return _form(request, action, "announce", sent, ANNOUNCE_FIELDS, e.problems)
    return RedirectResponse(page, status_code=303)


async def cancel(request: Request) -> Response:
    """Cancel a meeting, a series from now on, or (with a day) one occurrence of a series."""
    viewer, _form_data = await auth.checked_form(request)
    _lead(viewer)
    ctx, slug, day = request.app.state.ctx, request.path_params["slug"], request.path_params.get("day")
    if day is not None:
        await run_in_threadpool(_announce_values, ctx, slug, day)  # 404 unless an occurrence of a series
    page = await run_in_threadpool(_save, ctx, lambda s, now: meeting_records.cancel(s, slug, now, day))
    return RedirectResponse(page, status_code=303)


async def restore(request: Request) -> Response:
    """Undo the cancel of a meeting (an occurrence's own too): it is held again."""
    viewer, _form_data = await auth.checked_form(request)
    _lead(viewer)
    ctx, slug = request.app.state.ctx, request.path_params["slug"]
    page = await run_in_threadpool(_save, ctx, lambda s, now: meeting_records.restore(s, slug, now))
    return RedirectResponse(page, status_code=303)


ROUTES = [
    Route("/meetings", meeting_list),
    Route("/meetings/new", new_meeting, methods=["GET", "POST"]),  # before /meetings/{slug}
    Route("/meetings/{slug}", meeting_page),
    Route("/meetings/{slug}/edit", edit_meeting, methods=["GET", "POST"]),  # before /meetings/{slug}/{day}
    Route("/meetings/{slug}/cancel", cancel, methods=["POST"]),
    Route("/meetings/{slug}/restore", restore, methods=["POST"]),
    Route("/meetings/{slug}/{day}", meeting_page),
    Route("/meetings/{slug}/{day}/announce", announce, methods=["GET", "POST"]),
    Route("/meetings/{slug}/{day}/cancel", cancel, methods=["POST"]),
]
