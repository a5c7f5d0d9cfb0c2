"""Came home from a meeting: the meeting occurrence, its outcome and every follow-up, recorded at once.

`record(session, document, …)` takes the document `tracker record FILE.yaml` reads, and the web's form builds:

    meeting: apec-smewg-27                                # a meeting, by its slug
    meeting: {series: apec-smewg, occurrence: 2027-03}    # an occurrence of a series: its override (made if none)
    meeting: {slug: …, title: …, start: …, tz: …, …}      # a new meeting: a `meetings:` record of data/ (MeetingIn)
    outcome: what the delegation came home with           # replaces the meeting's outcome when given
    follow_ups:                                           # `items:` records of data/ (ItemIn) that come from it
      - {title: …, owners: […], due: …, category: …, committee: …, source: …, priority: …, serves: …, decision: …}

A follow-up's slug is made from its title when left out. Everything is checked before anything is kept, by the
rules a data/ load follows: dataset's models; meetings made as `tracker meeting add|announce` makes them
(register.meeting_records); follow-ups made as `tracker add` makes an item (items.add). One problem anywhere and
nothing is saved. `Refused` names every problem found by its place, such as
`follow_ups[3].due` (rows counted from 1, as the form numbers them), led by file and line for a YAML file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.core import rules
from tracker.core.errors import Conflict, InvalidInput, NotFound
from tracker.core.models import Committee, Decision, Item, Meeting, MeetingSeries, Person
from tracker.register import access, dataset, items, meeting_records, overrides
from tracker.register.dataset import ItemIn, Slug, Text, WhenText

SECTIONS = ("meeting", "outcome", "follow_ups")
MAX_FOLLOW_UPS = 100
# What a follow-up may say: an item's fields, less those the record sets (`meeting`: the meeting recorded; a new
# item is open) and those of a data/ file's bookkeeping (uid, recorded, loaded_from).
FOLLOW_UP_FIELDS = ("title", "slug", "owners", "due", "tz", "due_note", "priority", "category", "committee", "serves",
                    "decision", "source", "description", "note")  # fmt: skip
REFERENCES = {"owners": (Person,), "committee": (Committee,), "serves": (Meeting, MeetingSeries),
              "decision": (Decision,)}  # fmt: skip
OPTION = re.compile(r"--([a-z-]+): ")  # items.add names the field it refuses as `tracker add`'s option

Place = tuple[str | int, ...]  # ("follow_ups", 3, "due"): the third follow-up's due date


class FollowUpIn(ItemIn):
    """A follow-up: an item record whose slug may be left out."""

    slug: Slug | None = None


class OccurrenceIn(BaseModel):
    """An occurrence of a series: its first day (2009-03-01), or its month for a series whose days are to be
    confirmed (2027-03)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    series: Slug
    occurrence: WhenText


class OutcomeIn(BaseModel):
    outcome: Text = ""


@dataclass
class Recorded:
    meeting: Meeting
    created_meeting: bool
    items: list[Item]

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "meeting": self.meeting.slug,
            "meeting_created": self.created_meeting,
            "outcome": self.meeting.outcome,
            "items": [items.as_dict(i, now) for i in self.items],
        }


def place_text(place: Place) -> str:
    """("follow_ups", 3, "due") → "follow_ups[3].due"."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in place).lstrip(".")


def _line(document: Any, place: Place) -> int | None:
    """The line of `place` in a document read by dataset.parse_yaml (mappings that know their keys' lines)."""
    node, line = document, getattr(document, "line", None)
    for part in place:
        if isinstance(part, int) and isinstance(node, list) and 0 < part <= len(node):
            node = node[part - 1]
            line = getattr(node, "line", line)
        elif isinstance(part, str) and isinstance(node, dict):
            line = getattr(node, "lines", {}).get(part, line)
            node = node.get(part)
        else:
            break
    return line


class Refused(InvalidInput):
    """What was wrong with a record, nothing of it saved: `problems` maps each place (place_text) to its first
    problem, for a form to show beside its field; the message is the first, with its file and line if known, and
    names the other places."""

    def __init__(self, problems: dict[Place, str], document: Any, source: str | None) -> None:
        self.problems = {place_text(place): text for place, text in problems.items()}
        place, text = next(iter(problems.items()))
        line = _line(document, place) if source else None
        where = f"{source}:{line}: " if line else f"{source}: " if source else ""
        more = [name for name in self.problems if name != place_text(place)]
        also = f" (also: {', '.join(more)})" if more else ""
        super().__init__(f"{where}{place_text(place)}: {text}{also}")


class _Problem(Exception):
    """One problem at `place`, raised out of a check of the meeting part, which stops at its first."""

    def __init__(self, place: Place, text: str) -> None:
        super().__init__(text)
        self.place, self.text = place, text


def read(path: str | Path) -> Any:
    """The document of a YAML file, its lines known (dataset.parse_yaml); read before the write transaction.

    :raises InvalidInput: the file is missing, unreadable or not YAML.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file")
    return dataset.parse_yaml(path)


def record(session: Session, document: Any, now: datetime, by: str, how: str, default_tz: str,
           source: str | None = None, may_change_meetings: bool = True) -> Recorded:  # fmt: skip
    """Record the meeting, its outcome and its follow-ups (see the module's docstring) in `session`'s transaction:
    the follow-ups come from the meeting, with history `how` (cli, web) by `by`; a follow-up without zone or owner
    takes `default_tz`. `source` names the file `document` was read from, for the errors. Without
    `may_change_meetings` (an officer on the desk) the meeting must exist already, and its outcome stays.

    :raises Refused: anything is wrong; the caller's transaction then rolls back, so nothing is kept.
    :raises Forbidden: the record would add a meeting or set an outcome, and `may_change_meetings` is false.
    """
    problems: dict[Place, str] = {}
    sections = _sections(document, problems)
    meeting, created = _meeting(session, sections.get("meeting"), now, problems, may_change_meetings)
    outcome = _outcome(sections.get("outcome"), problems)
    rows = sections.get("follow_ups")
    follow_ups = _follow_ups(rows, problems)
    for n, row in enumerate(rows if isinstance(rows, list) else [], 1):
        # Invalid rows too: every problem of a row is said at once, not one round of corrections after another.
        _check_references(session, n, follow_ups[n].model_dump() if n in follow_ups else row, problems)
    for n, follow_up in follow_ups.items():
        if meeting is not None and not created:
            _check_not_recorded(session, meeting, n, follow_up, problems)
    if problems:
        raise Refused(problems, document, source)
    if outcome and outcome != meeting.outcome:
        access.require(may_change_meetings, "record a meeting's outcome")
        meeting.outcome = outcome
    added = []
    for n, follow_up in follow_ups.items():
        try:
            added.append(_add(session, follow_up, meeting, now, by, how, default_tz))
        except (InvalidInput, NotFound, Conflict) as e:
            raise Refused({_refused_place(n, str(e)): OPTION.sub("", str(e), count=1)}, document, source) from None
    return Recorded(meeting, created, added)


def _sections(document: Any, problems: dict[Place, str]) -> dict[str, Any]:
    if not isinstance(document, dict):
        problems[("meeting",)] = "a record is a mapping with meeting, outcome and follow_ups"
        return {}
    for key in document:
        if key not in SECTIONS:
            problems[(str(key),)] = "unknown section" + rules.did_you_mean(str(key), SECTIONS)
    if document.get("meeting") in (None, "", {}):
        problems[("meeting",)] = "required: a meeting's slug, {series: …, occurrence: …}, or a new meeting's fields"
    return document


def _outcome(value: Any, problems: dict[Place, str]) -> str:
    try:
        return OutcomeIn.model_validate({"outcome": "" if value is None else value}).outcome
    except ValidationError as e:
        problems[("outcome",)] = dataset.problems(OutcomeIn, e)["outcome"]
        return ""


def _follow_ups(rows: Any, problems: dict[Place, str]) -> dict[int, FollowUpIn]:
    """The valid follow-ups by their number (from 1); each invalid one's problems go to `problems`."""
    if rows is None:
        return {}
    if not isinstance(rows, list):
        problems[("follow_ups",)] = "a list of follow-ups"
        return {}
    if len(rows) > MAX_FOLLOW_UPS:
        problems[("follow_ups",)] = f"at most {MAX_FOLLOW_UPS} follow-ups at once"
        return {}
    valid: dict[int, FollowUpIn] = {}
    slugs: dict[str, int] = {}
    for n, row in enumerate(rows, 1):
        follow_up = _follow_up(n, row, problems)
        if follow_up is None:
            continue
        if follow_up.slug in slugs:
            problems[("follow_ups", n, "slug")] = f"the slug of follow-up {slugs[follow_up.slug]} too"
            continue
        if follow_up.slug:
            slugs[follow_up.slug] = n
        valid[n] = follow_up
    return valid


def _follow_up(n: int, row: Any, problems: dict[Place, str]) -> FollowUpIn | None:
    if not isinstance(row, dict):
        problems[("follow_ups", n)] = f"a follow-up is a mapping of fields, not {rules.shown(row)}"
        return None
    unknown = [key for key in row if key not in FOLLOW_UP_FIELDS]
    for key in unknown:
        words = "set by the record: a follow-up is new, and comes from the meeting recorded"
        if key not in FollowUpIn.model_fields:
            words = "unknown field" + rules.did_you_mean(str(key), FOLLOW_UP_FIELDS)
        problems[("follow_ups", n, str(key))] = words
    try:
        follow_up = FollowUpIn.model_validate(row)
    except ValidationError as e:
        for name, words in dataset.problems(FollowUpIn, e).items():
            problems.setdefault(("follow_ups", n, name), words)
        return None
    return None if unknown else follow_up


def _check_references(session: Session, n: int, values: Any, problems: dict[Place, str]) -> None:
    """Every slug the follow-up's `values` name exists (the meeting recorded too, when it is new: it is written by
    now); a field already refused keeps its first problem."""
    if not isinstance(values, dict):
        return
    for name, models in REFERENCES.items():
        value = values.get(name)
        for slug in value if isinstance(value, list) else [value] if value else []:
            if isinstance(slug, str) and not any(items.by_slug(session, model, slug) for model in models):
                problems.setdefault(("follow_ups", n, name), str(items.unknown_slug(session, models, slug)))
                break


def _check_not_recorded(session: Session, meeting: Meeting, n: int, follow_up: FollowUpIn,
                        problems: dict[Place, str]) -> None:  # fmt: skip
    """The same file recorded twice (or a form sent twice) must not double every follow-up: a meeting's follow-up
    is known by its title."""
    same = select(Item.slug).where(Item.meeting_id == meeting.id, Item.title == follow_up.title)
    slug = session.scalars(same).first()
    if slug is not None:
        problems[("follow_ups", n, "title")] = (f"already recorded from {meeting.slug} as item {slug}; to record "
                                                "another, give it another title")  # fmt: skip


def _meeting(session: Session, given: Any, now: datetime, problems: dict[Place, str],
             may_change_meetings: bool) -> tuple[Meeting | None, bool]:  # fmt: skip
    """The meeting recorded, and whether it was made now; on a problem, (None, False) and the problems noted."""
    try:
        if isinstance(given, str):
            return _existing(session, given), False
        if isinstance(given, dict) and "occurrence" in given:  # no meeting record has one
            return _occurrence(session, given, now, may_change_meetings)
        if isinstance(given, dict) and given:
            return _new_meeting(session, given, now, may_change_meetings), True
        if given not in (None, "", {}):
            raise _Problem(("meeting",), f"a meeting's slug or fields, not {rules.shown(given)}")
    except _Problem as e:
        problems[e.place] = e.text
    except meeting_records.InvalidMeeting as e:
        problems.update({("meeting", name): text for name, text in e.problems.items()})
    return None, False


def _existing(session: Session, slug: str) -> Meeting:
    meeting = items.by_slug(session, Meeting, slug)
    if meeting is not None:
        return meeting
    if items.by_slug(session, MeetingSeries, slug) is not None:
        raise _Problem(("meeting",), f"{slug} is a series: give {{series: {slug}, occurrence: its date}}")
    raise _Problem(("meeting",), str(items.unknown_slug(session, (Meeting,), slug)))


def _occurrence(
    session: Session, given: dict[str, Any], now: datetime, may_change_meetings: bool
) -> tuple[Meeting, bool]:
    """The meeting that overrides the series' occurrence; made (as `tracker meeting announce` makes it, with the
    occurrence's date as the series publishes it) when none does yet, for the follow-ups to come from."""
    try:
        wanted = OccurrenceIn.model_validate(given)
    except ValidationError as e:
        name, words = next(iter(dataset.problems(OccurrenceIn, e).items()))
        raise _Problem(("meeting", name), words) from None
    series = items.by_slug(session, MeetingSeries, wanted.series)
    if series is None:
        raise _Problem(("meeting", "series"), str(items.unknown_slug(session, (MeetingSeries,), wanted.series)))
    try:
        day = meeting_records.occurrence_day(series, wanted.occurrence)
    except meeting_records.InvalidMeeting as e:
        raise _Problem(("meeting", "occurrence"), e.problems["overrides"]) from None
    meeting = meeting_records.override_of(session, series, day)
    if meeting is not None:
        return meeting, False
    access.require(may_change_meetings, "add a meeting (an occurrence's own)")
    text = overrides.overrides_text(series, day)
    return meeting_records.announce(session, series.slug, text, now, {"start": text}), True


def _new_meeting(session: Session, given: dict[str, Any], now: datetime, may_change_meetings: bool) -> Meeting:
    """A meeting of `given` fields (a data/ meeting record; its slug made from its title when left out)."""
    slug = given.get("slug")
    if isinstance(slug, str) and items.by_slug(session, Meeting, slug) is not None:
        raise _Problem(("meeting", "slug"), f"a meeting with slug {slug!r} already exists: to record it, give its "
                                            f"slug alone (meeting: {slug})")  # fmt: skip
    access.require(may_change_meetings, "add a meeting")
    return meeting_records.add_meeting(session, now, dict(given))


def _add(session: Session, follow_up: FollowUpIn, meeting: Meeting, now: datetime, by: str, how: str,
         default_tz: str) -> Item:  # fmt: skip
    """The follow-up through items.add, as `tracker add` creates an item, coming from `meeting`."""
    fields = {"description": follow_up.description, "due_note": follow_up.due_note, "priority": follow_up.priority,
              "source_quote": follow_up.source, "note": follow_up.note, "meeting": meeting.slug}  # fmt: skip
    for name in ("category", "committee", "serves", "decision"):  # none: left out, as `tracker add` without the option
        if getattr(follow_up, name):
            fields[name] = getattr(follow_up, name)
    return items.add(session, now, follow_up.title, by=by, default_tz=default_tz, tz=follow_up.tz,
                     slug=follow_up.slug, owners=follow_up.owners, due=follow_up.due, how=how, **fields)  # fmt: skip


def _refused_place(n: int, text: str) -> Place:
    """Where items.add's refusal belongs: the option it names (--due: …), or the slug (an item has it already)."""
    option = OPTION.match(text)
    if option is None:
        return ("follow_ups", n, "slug")
    return ("follow_ups", n, option[1].replace("-", "_"))
