"""Action items: queries, changes with an audit trail, and the overdue rule.

Every change goes through `apply_changes`, which records each field in the item's history, raises its
SEQUENCE (calendar clients ignore edits whose SEQUENCE does not rise) and stamps `updated_at` with `now`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, or_, select
from sqlalchemy.orm import Session

from tracker.core import rules, timing
from tracker.core.clock import zone
from tracker.core.errors import Conflict, InvalidInput, NotFound
from tracker.core.models import (
    OPEN_STATUSES,
    Committee,
    Decision,
    Item,
    ItemChange,
    ItemOwner,
    Meeting,
    MeetingSeries,
    Person,
    Precision,
    Status,
)
from tracker.core.timing import parse_when
from tracker.core.vocab import CATEGORIES, PRIORITIES

# --- the normalised view of an item's editable fields (what YAML and `edit` speak) --------------------


def _slug_of(row: Any) -> str | None:
    return row.slug if row is not None else None


_GETTERS: dict[str, Callable[[Item], Any]] = {
    "due": lambda i: i.due.isoformat() if i.due else None,
    "status": lambda i: i.status.value,
    "owners": lambda i: [p.slug for p in i.owners],
    "meeting": lambda i: _slug_of(i.meeting),
    "serves": lambda i: _slug_of(i.serves_meeting or i.serves_series),
    "committee": lambda i: _slug_of(i.committee),
    "decision": lambda i: _slug_of(i.decision),
    "completed_at": lambda i: i.completed_at.isoformat() if i.completed_at else None,
}
FIELDS = (
    "title", "description", "owners", "due", "due_all_day", "tz", "due_note", "status", "priority",
    "category", "meeting", "serves", "committee", "decision", "source_quote", "note", "reminder_policy",
)  # fmt: skip
# When, by whom and how an item was done: set by the change that marks it done, unless the source (a YAML dump)
# says so itself; they belong to a done item only.
COMPLETION = ("completed_at", "completed_by", "completed_how")


def current(item: Item, name: str) -> Any:
    getter = _GETTERS.get(name)
    return getter(item) if getter else getattr(item, name)


OPTIONAL_LINKS = ("category", "meeting", "serves", "committee", "decision")  # "" or None: none


def _normal(name: str, value: Any) -> Any:
    """`value` of field `name` as `current` gives it: "" for an optional link (the form's, `--committee ""`) is
    none, so setting it on an item without one is no change. (Due instants come as UTC text from every path.)"""
    return value or None if name in OPTIONAL_LINKS else value


NOUNS = {Person: "person", Committee: "committee", Meeting: "meeting", MeetingSeries: "series", Item: "item",
         Decision: "decision"}  # fmt: skip
LINKS = {"meeting": Meeting, "committee": Committee, "decision": Decision}  # fields naming one row by its slug


def lookup(session: Session, model: type, slug: str) -> Any:
    """The row of `model` with `slug`, or NotFound naming what was looked for (and what is close to it)."""
    row = by_slug(session, model, slug)
    if row is None:
        raise unknown_slug(session, (model,), slug)
    return row


def by_slug(session: Session, model: type, slug: str | None) -> Any:
    """The row of `model` with `slug`, or None (also for no slug, or one no row can hold)."""
    if not slug or not rules.findable(slug):
        return None
    return session.scalars(select(model).where(model.slug == slug)).one_or_none()


def unknown_slug(session: Session, models: tuple[type, ...], slug: str) -> NotFound:
    """The error for a slug that none of `models` has, suggesting the closest slugs they do have: a typo in a
    filter must not look like "nothing to do"."""
    known = [s for model in models for s in session.scalars(select(model.slug))]
    nouns = " or ".join(NOUNS[model] for model in models)
    return NotFound(f"no {nouns} with slug {rules.shown(slug)}{rules.did_you_mean(slug, known)}")


def _set(session: Session, item: Item, name: str, value: Any) -> None:
    if name in ("due", "completed_at"):
        setattr(item, name, datetime.fromisoformat(value) if value else None)
    elif name == "status":
        item.status = Status(value)
    elif name == "owners":
        people = [lookup(session, Person, slug) for slug in value]
        item.owner_links = [ItemOwner(person=p, position=n) for n, p in enumerate(people)]
    elif name in LINKS:
        setattr(item, name, lookup(session, LINKS[name], value) if value else None)
    elif name == "serves":
        meeting = by_slug(session, Meeting, value)
        series = by_slug(session, MeetingSeries, value) if meeting is None else None
        if value and meeting is None and series is None:
            raise unknown_slug(session, (Meeting, MeetingSeries), value)
        item.serves_meeting, item.serves_series = meeting, series
    else:
        setattr(item, name, value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return ", ".join(value) if isinstance(value, list) else str(value)


def apply_changes(
    session: Session, item: Item, changes: dict[str, Any], now: datetime, by: str, how: str, note: str = "",
    done_at: datetime | None = None,
) -> bool:  # fmt: skip
    """Set `changes` (normalised values; "" for an optional link is none) on `item`, recording history; False when
    nothing differed. An item marked done now was done at `done_at` if given (a task app's time, ticked offline),
    else `now`."""
    normalised = {k: _normal(k, v) for k, v in changes.items()}
    changed = {k: v for k, v in normalised.items() if current(item, k) != v}
    if changed.get("status", item.status) != Status.done:
        changed = {k: v for k, v in changed.items() if k not in COMPLETION}
    for name, value in changed.items():
        item.history.append(
            ItemChange(
                at=now,
                by=by,
                how=how,
                field=name,
                old=_text(current(item, name)),
                new=_text(value),
                note=note,
            )
        )
        _set(session, item, name, value)
    if "status" in changed and not changed.keys() & set(COMPLETION):
        _record_completion(item, done_at or now, by, how)
    if changed:
        item.sequence += 1
        item.updated_at = now
    return bool(changed)


def _record_completion(item: Item, now: datetime, by: str, how: str) -> None:
    if item.status == Status.done:
        item.completed_at, item.completed_by, item.completed_how = now, by, how
    else:
        item.completed_at = item.completed_by = item.completed_how = None


def merge_loaded(
    session: Session, slug: str, values: dict[str, Any], recorded: datetime, now: datetime,
    uid: str | None = None, how: str = "yaml",
) -> str:  # fmt: skip
    """Upsert from a source (`how`: yaml or ics). A field changes only where that source changed it since its
    last load (a three-way merge), so edits made in tracker survive reloading an unchanged source."""
    item = session.scalars(select(Item).where(Item.slug == slug)).one_or_none()
    if item is None:
        uid = uid or f"item-{slug}@tracker"
        item = Item(slug=slug, uid=uid, created_at=recorded, updated_at=recorded, loaded={how: values})
        for name, value in values.items():
            _set(session, item, name, value)
        if item.completed_at is None:
            _record_completion(item, recorded, how, how)
        item.history.append(ItemChange(at=now, by=how, how=how, field="created", old=None, new=item.title))
        session.add(item)
        return "created"
    baseline = item.loaded.get(how, {})
    edited = {k: v for k, v in values.items() if baseline.get(k) != v}
    if baseline != values:
        item.loaded = {**item.loaded, how: values}
    return "updated" if apply_changes(session, item, edited, now, by=how, how=how) else "unchanged"


# --- queries ---------------------------------------------------------------------------------------------


def deadline(item: Item) -> datetime | None:
    """The instant an item becomes overdue: the end of its due day, or its due time."""
    if item.due is None:
        return None
    return item.due + timedelta(days=1) if item.due_all_day else item.due


def is_overdue(item: Item, now: datetime) -> bool:
    end = deadline(item)
    return item.status in OPEN_STATUSES and end is not None and end <= now


def get(session: Session, ref: str | int) -> Item:
    """The item whose numeric id or slug is `ref`."""
    ref = str(ref).strip()
    number = rules.row_id(ref)
    column = Item.id if number is not None else Item.slug
    found = select(Item).where(column == (ref if number is None else number))
    item = session.scalars(found).one_or_none() if rules.findable(ref) else None
    if item is None:
        close = rules.did_you_mean(ref, session.scalars(select(Item.slug)))
        raise NotFound(f"no item with id or slug {rules.shown(ref)}{close} (see `tracker items --status all`)")
    return item


def parse_statuses(text: str | None) -> list[Status] | None:
    """'open,in_progress' → statuses; 'all' → None (no filter); default: the open ones."""
    if text is None:
        return list(OPEN_STATUSES)
    if text == "all":
        return None
    try:
        return [Status(s.strip()) for s in text.split(",")]
    except ValueError:
        raise InvalidInput(f"--status: use all or some of {', '.join(s.value for s in Status)}") from None


def by_due(found: Iterable[Item]) -> list[Item]:
    """Earliest due first, undated last, then by id: the order of `items` (its SQL ORDER BY), for lists made
    otherwise."""
    return sorted(found, key=lambda i: (i.due is None, i.due.timestamp() if i.due else 0, i.id))


SORTS = ("due", "priority", "updated")
ORDERS = ("asc", "desc")
DEFAULT_ORDER = {"due": "asc", "priority": "desc", "updated": "desc"}  # soonest, most urgent, latest first
_RANK = case({"high": 3, "medium": 2, "low": 1}, value=Item.priority, else_=0)


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """`is_overdue` in SQL: open, and past its deadline (the end of its due day, or its due time)."""
    past = or_(and_(Item.due_all_day.is_(True), Item.due <= now - timedelta(days=1)),
               and_(Item.due_all_day.is_(False), Item.due <= now))  # fmt: skip
    return and_(Item.status.in_(OPEN_STATUSES), Item.due <= now, past)  # due <= now: implied, but it is indexed


def _contains(text: str, dialect: str) -> ColumnElement[bool]:
    """The words `text` appear (case-insensitively) in the title, description or source quote. SQLite's LIKE
    ignores case already (as its lower() does, for ASCII letters): ILIKE's lower() on every row would only cost."""
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"
    columns = (Item.title, Item.description, Item.source_quote)
    if dialect == "sqlite":
        return or_(*(column.like(pattern, escape="\\") for column in columns))
    return or_(*(column.ilike(pattern, escape="\\") for column in columns))


def matching(
    session: Session,
    now: datetime,
    status: list[Status] | None = list(OPEN_STATUSES),  # noqa: B006 - read-only default
    owner: str | None = None,
    category: str | None = None,
    meeting: str | None = None,
    committee: str | None = None,
    due_before: datetime | None = None,
    due_after: datetime | None = None,
    overdue: bool = False,
    q: str | None = None,
) -> Select[tuple[Item]]:
    """The items matching every given filter, as a query (not yet ordered): all in SQL, so that a page of the
    register counts and fetches from 10,000 items without loading them."""
    query = select(Item)
    if status is not None:
        query = query.where(Item.status.in_(status))
    if owner:  # a typo in a filter is an error, not an empty list
        person = lookup(session, Person, owner)
        query = query.where(Item.id.in_(select(ItemOwner.item_id).where(ItemOwner.person_id == person.id)))
    if category:
        checked({"category": category})
        query = query.where(Item.category == category)
    if meeting:
        if not any(by_slug(session, m, meeting) for m in (Meeting, MeetingSeries)):
            raise unknown_slug(session, (Meeting, MeetingSeries), meeting)
        query = query.where(
            or_(
                Item.meeting.has(Meeting.slug == meeting),
                Item.serves_meeting.has(Meeting.slug == meeting),
                Item.serves_series.has(MeetingSeries.slug == meeting),
            )
        )
    if committee:
        query = query.where(Item.committee_id == lookup(session, Committee, committee).id)
    if due_before:
        query = query.where(Item.due < due_before)
    if due_after:
        query = query.where(Item.due >= due_after)
    if overdue:
        query = query.where(overdue_clause(now))
    q = q and rules.visible(q)  # cleaned as the texts it looks in were: a pasted title finds itself
    if q:
        query = query.where(_contains(q, session.get_bind().dialect.name))
    return query


def ordered(query: Select[tuple[Item]], sort: str = "due", order: str | None = None) -> Select[tuple[Item]]:
    """`query` sorted by due date, priority or last change (`order` asc|desc, default DEFAULT_ORDER[sort]); ties
    (and undated items, always last) by due date, then id."""
    descending = (order or DEFAULT_ORDER[sort]) == "desc"
    if sort == "due":
        keys = [Item.due.is_(None), Item.due.desc() if descending else Item.due.asc()]
    else:
        key = {"priority": _RANK, "updated": Item.updated_at}[sort]
        keys = [key.desc() if descending else key.asc(), Item.due.is_(None), Item.due]
    return query.order_by(*keys, Item.id)


def items(session: Session, now: datetime, sort: str = "due", order: str | None = None, **filters: Any) -> list[Item]:
    """Items matching every given filter (see `matching`), soonest due first (undated last) unless `sort` says."""
    return list(session.scalars(ordered(matching(session, now, **filters), sort, order)))


def check_category(category: str) -> str:
    """`category` if it is one of the priority areas; else InvalidInput suggesting the closest."""
    if category not in CATEGORIES:
        raise InvalidInput(f"no priority area {rules.shown(category)}{rules.did_you_mean(category, CATEGORIES)}; "
                           f"the areas are {', '.join(CATEGORIES)}")  # fmt: skip
    return category


def slugify(title: str, fallback: str = "item") -> str:
    """A slug from the title's ASCII letters and digits; `fallback` for a title with none (中小企業論壇)."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60].strip("-")
    return slug or fallback


def _free_slug(session: Session, base: str) -> str:
    """`base`, or `base-2`, `base-3`…: a slug no item has, nor is the name a task app gave an item (`<slug>.ics`)."""
    slug, n = base, 2
    while dav_name_holder(session, f"{slug}.ics") is not None:
        slug, n = f"{base}-{n}", n + 1
    return slug


# --- the name a task app finds an item under (CalDAV) ------------------------------------------------------

DAV_NAME_MAX = 255  # items.dav_href
# Radicale refuses these in a request path (its "minimal" check, on a storage without "problematic characters");
# "/" would make the name two segments.
_NOT_IN_DAV_NAMES = frozenset(":'\"*?,/")


def check_dav_name(name: str) -> str:
    """`name` if task apps can find a task under it, else ValueError; CalDAV writes and YAML loads both check it.
    A segment of a URL path as Radicale serves one: printable ASCII (Radicale reads a path's bytes as Latin-1, so
    a name with any other character is listed as another, mojibake name) without `/:'"*?,`, not "." or ".." (its
    sanitize_path drops those), no space at either end (a YAML value loses it), at most DAV_NAME_MAX characters."""
    if len(name) > DAV_NAME_MAX:
        raise ValueError(f"at most {DAV_NAME_MAX} characters (this one has {len(name)})")
    odd = not name.isascii() or not name.isprintable() or _NOT_IN_DAV_NAMES.intersection(name)
    if odd or name in ("", ".", "..") or name != name.strip():
        raise ValueError("a task's name in task apps is printable ASCII without / : ' \" * ? , or spaces at either "
                         f"end, and not . or ..: {rules.shown(name)}")  # fmt: skip
    return name


def _check_new_dav_name(session: Session, name: str) -> None:
    try:
        check_dav_name(name)
    except ValueError as e:
        raise InvalidInput(f"the name of a task: {e}") from None
    if dav_name_holder(session, name) is not None:
        raise Conflict(f"Another task already has the name {rules.shown(name)}.")


def dav_name_holder(session: Session, name: str, slug: str | None = None) -> str | None:
    """The slug of the item, other than `slug`, that task apps find under `name`, or would once it had no name of
    its own: the name an app gave it, or `<its slug>.ics`. None when `name` is free."""
    taken = Item.dav_href == name
    if name.endswith(".ics"):
        taken = or_(taken, Item.slug == name.removesuffix(".ics"))
    found = select(Item.slug).where(taken)
    return session.scalars(found if slug is None else found.where(Item.slug != slug)).first()


def add(
    session: Session,
    now: datetime,
    title: str,
    by: str,
    default_tz: str,
    tz: str | None = None,
    slug: str | None = None,
    owners: list[str] | None = None,
    due: str | None = None,
    how: str = "cli",
    uid: str | None = None,
    dav_name: str | None = None,
    **fields: Any,
) -> Item:
    """Create an item; `due` is text read in `tz` (default: the first owner's zone, else `default_tz`); `how` is
    the way it came (cli, web), for its history; `uid` and `dav_name` are the UID a task app gave it (default: from
    the slug) and the name it put it under (default: `<slug>.ics`)."""
    title, by = checked({"title": title})["title"], rules.one_line(by)[:200]
    fields = checked({"owners": owners or [], **fields})
    owners = fields.pop("owners")
    if slug is not None:
        try:
            rules.check_slug(slug)
        except ValueError as e:
            raise InvalidInput(f"--slug: {e}") from None
    tz = checked({"tz": tz})["tz"] if tz else (lookup(session, Person, owners[0]).tz if owners else default_tz)
    if slug is not None and dav_name_holder(session, f"{slug}.ics") is not None:  # as _free_slug
        raise Conflict(f"an item with slug {slug!r} already exists (use `tracker edit {slug}`)")
    if dav_name is not None:
        _check_new_dav_name(session, dav_name)
    slug = slug or _free_slug(session, slugify(title))
    uid = uid or f"item-{slug}@tracker"
    item = Item(slug=slug, uid=uid, title=title, tz=tz, created_at=now, updated_at=now, loaded={}, dav_href=dav_name)
    session.add(item)
    changes = {"owners": owners, **_due_fields(due, tz), **fields}
    for name, value in changes.items():
        _set(session, item, name, value)
    item.history.append(ItemChange(at=now, by=by, how=how, field="created", old=None, new=title))
    session.flush()
    return item


def _due_fields(due: str | None, tz: str) -> dict[str, Any]:
    if due is None:
        return {}
    try:
        when = parse_when(due, zone(tz))
    except ValueError as e:
        if isinstance(e, rules.OutOfRange):
            raise InvalidInput(f"--due: {e}: {rules.shown(due)}") from None
        if isinstance(e, rules.SkippedTime):
            raise InvalidInput(f"--due: {e}") from None
        problem = rules.date_problem(due) or f"not a date or date-time: {rules.shown(due)}"
        raise InvalidInput(f"--due: {problem}") from None
    if when.precision == Precision.month:
        raise InvalidInput(f"--due: a due date needs a day, not only a month: {rules.shown(due)}")
    return {"due": when.at.isoformat(), "due_all_day": when.all_day}


_LINES = {"title": rules.TITLE_MAX}  # one-line fields and their length; the other text fields are multi-line
_TEXTS = ("description", "source_quote", "note", "due_note")
# Fields the CLI offers as a choice (click.Choice): checked here too for callers without one (the web).
_CHOICES = {"priority": PRIORITIES, "status": tuple(s.value for s in Status)}


def checked(fields: dict[str, Any]) -> dict[str, Any]:
    """Item fields typed by a person (the CLI, later the web and CalDAV), by the rules the YAML follows."""
    out = dict(fields)
    try:
        for name, value in fields.items():
            if name in _LINES:
                out[name] = rules.clean_line(value, _LINES[name])
                if not out[name]:
                    raise ValueError("must not be empty")
            elif name in _TEXTS:
                out[name] = rules.clean_text(value)
            elif name == "owners":
                out[name] = rules.check_unique([rules.check_slug(v) for v in value])
            elif name == "tz":
                out[name] = zone(value).key
            elif name == "category":
                out[name] = check_category(value) if value else None  # "": none, as for the other links
            elif name in _CHOICES and value not in _CHOICES[name]:
                raise ValueError(f"use one of {', '.join(_CHOICES[name])}")
    except (ValueError, InvalidInput) as e:
        raise InvalidInput(f"--{name.removesuffix('_quote').replace('_', '-')}: {e}") from None
    return out


def edit(
    session: Session,
    ref: str | int,
    now: datetime,
    by: str,
    due: str | None = None,
    note: str = "",
    how: str = "cli",
    done_at: datetime | None = None,
    **changes: Any,
) -> Item:
    """Change the given fields of an item (None means "leave as is"; an empty `due` removes the due date); `note`
    says why, in the history; `how` is the way the change came (cli, web); `done_at` as apply_changes takes it."""
    item = get(session, ref)
    wanted = {k: v for k, v in changes.items() if v is not None}
    unknown = set(wanted) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"cannot edit field {rules.shown(sorted(unknown)[0])}")
    wanted = checked(wanted)
    note, by = checked({"note": note})["note"], rules.one_line(by)[:200]
    if due is not None and not due.strip():
        wanted["due"] = None
    else:
        wanted.update(_due_fields(due, wanted.get("tz", item.tz)))
    apply_changes(session, item, wanted, now, by=by, how=how, note=note, done_at=done_at)
    return item


def set_status(session: Session, ref: str, status: Status, now: datetime, by: str, how: str, note: str = "") -> Item:
    """Move an item to `status`; repeating a move changes nothing (so a second "done" keeps the first's time)."""
    item = get(session, ref)
    note, by = checked({"note": note})["note"], rules.one_line(by)[:200]
    apply_changes(session, item, {"status": status.value}, now, by=by, how=how, note=note)
    return item


def done(session: Session, ref: str, now: datetime, by: str, how: str = "cli", note: str = "") -> Item:
    return set_status(session, ref, Status.done, now, by, how, note)


def reopen(session: Session, ref: str, now: datetime, by: str, how: str = "cli", note: str = "") -> Item:
    return set_status(session, ref, Status.open, now, by, how, note)


def cancel(session: Session, ref: str, now: datetime, by: str, how: str = "cli", note: str = "") -> Item:
    return set_status(session, ref, Status.cancelled, now, by, how, note)


def as_dict(item: Item, now: datetime) -> dict[str, Any]:
    """The item as plain data, for tables and --json."""
    end = deadline(item)
    overdue = is_overdue(item, now)
    return {
        "id": item.id,
        "slug": item.slug,
        "uid": item.uid,
        "title": item.title,
        "status": item.status.value,
        "due": timing.iso(item.due, item.due_all_day, item.tz),
        "due_utc": item.due.isoformat() if item.due else None,
        "due_all_day": item.due_all_day,
        "due_note": item.due_note,
        "tz": item.tz,
        "overdue": overdue,
        "days_overdue": (now - end).days if overdue and end else 0,
        "owners": [p.slug for p in item.owners],
        "priority": item.priority,
        "category": item.category,
        "meeting": _slug_of(item.meeting),
        "serves": _slug_of(item.serves_meeting or item.serves_series),
        "committee": _slug_of(item.committee),
        "decision": _slug_of(item.decision),
        "description": item.description,
        "source_quote": item.source_quote,
        "note": item.note,
        "completed_at": item.completed_at.isoformat() if item.completed_at else None,
        "completed_by": item.completed_by,
        "completed_how": item.completed_how,
        "sequence": item.sequence,
        "updated_at": item.updated_at.isoformat(),
    }


def readable(row: dict[str, Any], tz: ZoneInfo | None = None) -> dict[str, Any]:
    """An item's row (`as_dict`) as people read it in tables, pages and messages: the due date in words; with
    `tz` (the user's zone), its other times in that zone to the minute, and no `due_utc`."""
    shown = row | {"due": timing.readable(row["due"], row["tz"])}
    if tz is None:
        return shown
    del shown["due_utc"]
    for key in ("completed_at", "updated_at"):
        shown[key] = row[key] and timing.minute(datetime.fromisoformat(row[key]), tz)
    return shown
