"""Meetings and series made and changed outside YAML: `tracker meeting add|edit|announce|cancel` and the desk's
meeting forms, one core function each.

A change is a YAML record: fields in data/meetings.yaml's names (title, start, end, tz, place, host, number,
series, overrides, …) are validated by dataset.MeetingIn / SeriesIn and turned into columns by
dataset.meeting_values / series_values, the very checks and writers a load uses. So what is made here is what the
YAML could have made; `tracker dump` writes it back, and a reload of data/ keeps it (dataset._merged).

Announcing an occurrence of a series ("2027-03 (day TBC)" → 9–11 March in Lima) makes a meeting that overrides it:
the series' UID, RECURRENCE-ID = the occurrence, a SEQUENCE above the series'. Announcing or moving it again edits
that same meeting, so its identity (uid + recurrence_id, and slug) stays and its SEQUENCE rises. Every change people
should hear about (a date, a place, a cancellation) raises SEQUENCE (dataset.update_row); repeating a change raises
nothing. Feeds and the reminder plan follow by themselves: every commit raises meta.data_version, which both watch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from dateutil.rrule import rrule, rrulestr
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.core import rules, timing
from tracker.core.clock import zone
from tracker.core.errors import InvalidInput
from tracker.core.models import Meeting, MeetingSeries, Precision
from tracker.core.timing import local_date, parse_when
from tracker.register import dataset, dumping, items, overrides

# How a command line names a field of the record, where not --the-field.
OPTIONS = {"overrides": "OCCURRENCE", "slug": "--slug", "attendees": "--attendee", "subthemes": "--subtheme"}
SERIES_ONLY = ("rrule", "days")
MEETING_ONLY = ("end", "series", "overrides", "number", "place", "host", "theme", "subthemes", "our_role",
                "cancelled")  # fmt: skip


def option(name: str) -> str:
    """The command-line option (or argument) that gives the record's field `name`."""
    return OPTIONS.get(name, f"--{name.replace('_', '-')}")


class InvalidMeeting(InvalidInput):
    """Refused fields: `problems` maps each field (the YAML's name, as the forms name it) to what is wrong, in the
    words a load uses; the message names the options, on one line."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{option(name)}: {problem}" for name, problem in problems.items()))


@dataclass
class _Typed(dataset.Entry):
    """A record typed on the command line or in a form: its problems name the field, not a file's line."""

    def error(self, field_name: str, problem: str) -> InvalidInput:
        return InvalidMeeting({field_name: problem})


def _entry(section: str, record: BaseModel) -> _Typed:
    return _Typed(section, record, Path("-"), 0, {}, None)


def _validated(model: type[dataset.Record], record: dict[str, Any]) -> Any:  # noqa: ANN401 - the model's record
    try:
        return model.model_validate(record)
    except ValidationError as e:
        raise InvalidMeeting(dataset.problems(model, e)) from None


def _given(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields given: None is "leave as it is"."""
    return {k: v for k, v in fields.items() if v is not None}


def _check_free(session: Session, slug: str) -> None:
    """Meetings and series share one name space: an item's `serves:` names either."""
    for model in (Meeting, MeetingSeries):
        if items.by_slug(session, model, slug) is not None:
            raise InvalidMeeting({"slug": f"a {items.NOUNS[model]} with slug {slug!r} already exists"})


def _free_slug(session: Session, base: str) -> str:
    slug, n = base, 2
    while slug in rules.MEETING_PAGES or any(items.by_slug(session, model, slug) for model in (Meeting, MeetingSeries)):
        slug, n = f"{base}-{n}", n + 1
    return slug


# --- one-off meetings and series --------------------------------------------------------------------------------


def add_meeting(session: Session, now: datetime, fields: dict[str, Any]) -> Meeting:
    """A new meeting from `fields` (the YAML's names; None = not given). Without `slug`, one is made from the
    title. With `series` and `overrides` it replaces that occurrence of the series (as `announce` does).

    :raises InvalidMeeting: a field is wrong (each named), or the slug is taken.
    """
    fields = _given(fields)
    if fields.get("slug"):
        _check_free(session, str(fields["slug"]))
    else:
        fields["slug"] = _free_slug(session, items.slugify(str(fields.get("title") or ""), "meeting"))
    record = _validated(dataset.MeetingIn, fields)
    values = dataset.meeting_values(session, _entry("meetings", record), now)
    meeting = Meeting(slug=record.slug, **values, loaded={})
    if meeting.recurrence_id is not None:  # above the series' own, or clients keep the placeholder
        meeting.sequence = meeting.series.sequence + 1
    session.add(meeting)
    session.flush()
    return meeting


def edit_meeting(session: Session, slug: str, now: datetime, changes: dict[str, Any]) -> Meeting:
    """Change the given fields of a meeting (None = leave as it is; "" empties a text). A new start without an
    end keeps the meeting's length. Raises its SEQUENCE when something changed.

    :raises NotFound: no such meeting. :raises InvalidMeeting: a field is wrong.
    """
    meeting = items.lookup(session, Meeting, slug)
    changes = _given(changes)
    if changes.get("slug", slug) != slug:
        raise InvalidMeeting({"slug": "a meeting's slug does not change (items and links name it)"})
    record = {k: v for k, v in dumping.meeting_record(meeting).items() if k != "recorded"} | changes
    if "start" in changes and "end" not in changes:
        record["end"] = _kept_end(meeting, str(changes["start"]), str(record["tz"]))
    values = dataset.meeting_values(session, _entry("meetings", _validated(dataset.MeetingIn, record)), now)
    dataset.update_row(meeting, values, now)
    session.flush()
    return meeting


def _kept_end(meeting: Meeting, start: str, tz: str) -> str | None:
    """The end that keeps `meeting` as long as it is when only its start moves (None: it lasts one day, or the new
    start is of another kind, or wrong, which the validation then says)."""
    try:
        moved = parse_when(start, zone(tz))
    except (ValueError, InvalidInput):
        return None
    if moved.all_day != meeting.all_day:
        return None
    if moved.all_day:
        span = local_date(meeting.end, meeting.tz) - local_date(meeting.start, meeting.tz) - timedelta(days=1)
        return (moved.local_date(zone(tz)) + span).isoformat() if span else None
    return (moved.at + (meeting.end - meeting.start)).astimezone(zone(tz)).isoformat(timespec="minutes")


def add_series(session: Session, now: datetime, fields: dict[str, Any]) -> MeetingSeries:
    """A new series from `fields` (title, start, rrule, days, tz, attendees, description, source; None = not
    given); without `slug`, one made from the title.

    :raises InvalidMeeting: a field is wrong (each named), one belongs to a meeting only, or the slug is taken.
    """
    fields = _given(fields)
    _only_for_meetings(fields)
    if fields.get("slug"):
        _check_free(session, str(fields["slug"]))
    else:
        fields["slug"] = _free_slug(session, items.slugify(str(fields.get("title") or ""), "series"))
    record = _validated(dataset.SeriesIn, fields)
    series = MeetingSeries(slug=record.slug, **dataset.series_values(session, _entry("series", record), now), loaded={})
    session.add(series)
    session.flush()
    return series


def edit_series(session: Session, slug: str, now: datetime, changes: dict[str, Any]) -> MeetingSeries:
    """Change the given fields of a series (None = leave as it is); raises its SEQUENCE when something changed.

    :raises NotFound: no such series. :raises InvalidMeeting: a field is wrong, or belongs to a meeting only.
    """
    series = items.lookup(session, MeetingSeries, slug)
    changes = _given(changes)
    _only_for_meetings(changes)
    if changes.get("slug", slug) != slug:
        raise InvalidMeeting({"slug": "a series' slug does not change (items and links name it)"})
    record = {k: v for k, v in dumping.series_record(series).items() if k != "recorded"} | changes
    values = dataset.series_values(session, _entry("series", _validated(dataset.SeriesIn, record)), now)
    dataset.update_row(series, values, now)
    session.flush()
    return series


def _only_for_meetings(fields: dict[str, Any]) -> None:
    wrong = {name: "not for a series: give it when you announce one of its occurrences"
             for name in MEETING_ONLY if name in fields}  # fmt: skip
    if wrong:
        raise InvalidMeeting(wrong)


def edit(session: Session, slug: str, now: datetime, changes: dict[str, Any]) -> Meeting | MeetingSeries:
    """`edit_meeting` or `edit_series`, whichever `slug` names."""
    if items.by_slug(session, Meeting, slug) is not None:
        return edit_meeting(session, slug, now, changes)
    if items.by_slug(session, MeetingSeries, slug) is not None:
        return edit_series(session, slug, now, changes)
    raise items.unknown_slug(session, (Meeting, MeetingSeries), slug)


# --- occurrences of a series ------------------------------------------------------------------------------------


def _rule(series: MeetingSeries) -> rrule:
    return rrulestr(series.rrule, dtstart=datetime.combine(local_date(series.start, series.tz), time()))


def occurrence_day(series: MeetingSeries, text: str) -> date:
    """The first day of the occurrence of `series` that `text` names: its date, or its month for a series of
    placeholders ("2027-03").

    :raises InvalidMeeting: `text` is no date, or no occurrence of the series falls there (the message gives the
        nearest ones).
    """
    try:
        day = parse_when(str(text), zone(series.tz)).local_date(zone(series.tz))
    except (ValueError, InvalidInput):
        raise InvalidMeeting(
            {"overrides": f"not a date (2027-03-09) or month (2027-03): {rules.shown(text)}"}
        ) from None
    found = overrides.occurrences_near(series, day)
    if len(found) == 1:
        return found[0]
    if found:
        raise InvalidMeeting({"overrides": f"{len(found)} occurrences of {series.slug} fall in {text}; give the day"})
    at = datetime.combine(day, time())
    nearest = [d.date() for d in (_rule(series).before(at), _rule(series).after(at)) if d is not None]
    said = " or ".join(overrides.overrides_text(series, d) for d in nearest) or "none"
    raise InvalidMeeting({"overrides": f"{rules.shown(text)} is no occurrence of {series.slug} (its rule "
                                       f"{series.rrule}); the nearest: {said}"})  # fmt: skip


def override_of(session: Session, series: MeetingSeries, day: date) -> Meeting | None:
    """The meeting that replaces the occurrence of `series` on `day`, if one does."""
    rid = parse_when(day.isoformat(), zone(series.tz)).at
    return session.scalars(select(Meeting).where(Meeting.uid == series.uid, Meeting.recurrence_id == rid)).first()


def announce(session: Session, series_slug: str, occurrence: str, now: datetime, fields: dict[str, Any]) -> Meeting:
    """The real occurrence of a series that `occurrence` names (its date, or its month for a placeholder): a
    meeting with the series' UID and RECURRENCE-ID = that occurrence, made the first time (slug
    `<series>-<occurrence>` unless `fields` gives one; title, zone and length the series'), and edited the times
    after, so its identity stays and its SEQUENCE rises. `fields` as `add_meeting` takes them; announcing a
    cancelled occurrence brings it back.

    :raises NotFound: no such series. :raises InvalidMeeting: a field is wrong, or `occurrence` is none of its.
    """
    series = items.lookup(session, MeetingSeries, series_slug)
    day = occurrence_day(series, occurrence)
    fields = _given(fields) | {"cancelled": False}
    existing = override_of(session, series, day)
    if existing is not None:
        return edit_meeting(session, existing.slug, now, fields)
    text = overrides.overrides_text(series, day)
    record = {"title": series.title, "tz": series.tz} | fields | {"series": series.slug, "overrides": text}
    record["slug"] = fields.get("slug") or _free_slug(session, f"{series.slug}-{text}")
    if "end" not in fields and series.days > 1:
        record["end"] = _days_on(str(record.get("start", "")), str(record["tz"]), series.days)
    return add_meeting(session, now, record)


def _days_on(start: str, tz: str, days: int) -> str | None:
    """The last day of a meeting of `days` days from the date `start` (None: `start` is no date)."""
    try:
        when = parse_when(start, zone(tz))
    except (ValueError, InvalidInput):
        return None
    if not when.all_day or when.precision == Precision.month:
        return None
    return (when.local_date(zone(tz)) + timedelta(days=days - 1)).isoformat()


def cancel(session: Session, slug: str, now: datetime, occurrence: str | None = None) -> Meeting | MeetingSeries:
    """Cancel a meeting, one occurrence of a series, or a series from now on (see `end_series`): calendars show a
    cancelled meeting or occurrence as STATUS:CANCELLED. Cancelling again changes nothing.

    :raises NotFound: no meeting or series `slug`. :raises InvalidMeeting: `occurrence` is wrong.
    """
    meeting = items.by_slug(session, Meeting, slug)
    if meeting is not None:
        if occurrence is not None:
            raise InvalidMeeting({"overrides": f"{slug} is a meeting, not a series: it has no occurrences"})
        return edit_meeting(session, slug, now, {"cancelled": True})
    series = items.by_slug(session, MeetingSeries, slug)
    if series is None:
        raise items.unknown_slug(session, (Meeting, MeetingSeries), slug)
    if occurrence is None:
        return end_series(session, series, now)
    return cancel_occurrence(session, series, occurrence_day(series, occurrence), now)


def cancel_occurrence(session: Session, series: MeetingSeries, day: date, now: datetime) -> Meeting:
    """The occurrence of `series` on `day` cancelled: its meeting, or a new one marked cancelled."""
    existing = override_of(session, series, day)
    if existing is not None:
        return edit_meeting(session, existing.slug, now, {"cancelled": True})
    text = overrides.overrides_text(series, day)
    record = {"slug": _free_slug(session, f"{series.slug}-{text}"), "title": series.title, "series": series.slug,
              "overrides": text, "start": text, "tz": series.tz, "cancelled": True,
              "end": _days_on(day.isoformat(), series.tz, series.days) if series.days > 1 else None}  # fmt: skip
    return add_meeting(session, now, record)


def end_series(session: Session, series: MeetingSeries, now: datetime) -> MeetingSeries:
    """A series cancelled from now on: its rule ends (UNTIL) with the last occurrence that has begun, and the
    meetings announced for later occurrences are cancelled. A series that has not met yet keeps only its first
    occurrence, cancelled (a rule has at least one), as calendars show a series cancelled before it began."""
    rule = _rule(series)
    begun = rule.before(datetime.combine(local_date(now, series.tz), time()), inc=True)
    last = (begun or rule[0]).date()
    if begun is None:
        cancel_occurrence(session, series, last, now)
    parts = [p for p in series.rrule.split(";") if p.split("=")[0].upper() not in ("UNTIL", "COUNT")]
    edit_series(session, series.slug, now, {"rrule": ";".join([*parts, f"UNTIL={last:%Y%m%d}"])})
    for meeting in list(series.occurrences):
        if meeting.recurrence_id is not None and local_date(meeting.recurrence_id, series.tz) > last:
            edit_meeting(session, meeting.slug, now, {"cancelled": True})
    return series


def restore(session: Session, slug: str, now: datetime, occurrence: str | None = None) -> Meeting:
    """Undo `cancel` of a meeting or of one occurrence of a series: calendars show it again (SEQUENCE up). A
    series whose rule a cancel ended is given its rule again with `edit` (--rrule).

    :raises NotFound: no such meeting or series. :raises InvalidInput: nothing cancelled there to restore.
    """
    meeting = items.by_slug(session, Meeting, slug)
    if meeting is None:
        series = items.by_slug(session, MeetingSeries, slug)
        if series is None:
            raise items.unknown_slug(session, (Meeting, MeetingSeries), slug)
        if occurrence is None:
            raise InvalidMeeting({"overrides": f"{slug} is a series: name the OCCURRENCE to restore, or give the "
                                               "series its rule again (tracker meeting edit --rrule)"})  # fmt: skip
        meeting = override_of(session, series, occurrence_day(series, occurrence))
    elif occurrence is not None:
        raise InvalidMeeting({"overrides": f"{slug} is a meeting, not a series: it has no occurrences"})
    if meeting is None or not meeting.cancelled:
        raise InvalidInput(f"{slug}{' ' + occurrence if occurrence else ''} is not cancelled: nothing to restore")
    return edit_meeting(session, meeting.slug, now, {"cancelled": False})


# --- as plain data -----------------------------------------------------------------------------------------------


def as_dict(row: Meeting | MeetingSeries) -> dict[str, Any]:
    """A meeting or series as plain data, for tables and --json."""
    if isinstance(row, MeetingSeries):
        return {
            "kind": "series", "slug": row.slug, "uid": row.uid, "title": row.title, "rrule": row.rrule,
            "start": timing.iso(row.start, True, row.tz, row.precision), "days": row.days, "tz": row.tz,
            "attendees": row.attendees, "sequence": row.sequence, "updated_at": row.updated_at.isoformat(),
        }  # fmt: skip
    last = row.end - timedelta(days=1) if row.all_day else row.end
    series_tz = row.series.tz if row.series else row.tz
    return {
        "kind": "meeting", "slug": row.slug, "uid": row.uid, "title": row.title,
        "series": row.series.slug if row.series else None,
        "recurrence_id": local_date(row.recurrence_id, series_tz).isoformat() if row.recurrence_id else None,
        "start": timing.iso(row.start, row.all_day, row.tz, row.precision),
        "end": timing.iso(last, row.all_day, row.tz, row.precision), "tz": row.tz, "number": row.number,
        "place": row.place, "host": row.host, "attendees": row.attendees, "cancelled": row.cancelled,
        "sequence": row.sequence, "updated_at": row.updated_at.isoformat(),
    }  # fmt: skip


def get(session: Session, slug: str) -> Meeting | MeetingSeries:
    """The meeting or series `slug`."""
    found = items.by_slug(session, Meeting, slug) or items.by_slug(session, MeetingSeries, slug)
    if found is None:
        raise items.unknown_slug(session, (Meeting, MeetingSeries), slug)
    return found
