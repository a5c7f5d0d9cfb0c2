"""data/*.yaml → validated records → upserted rows, all in one transaction.

`load(session, paths, now=)` reads every file, validates every record and then writes; any problem raises
InvalidInput("file:line: field: problem") and, because the caller's transaction rolls back, leaves the
database exactly as it was. Loading is an upsert by slug: loading twice changes nothing, and a reload keeps
changes made since (a field edited in the database stays edited unless the YAML changes that same field).
"""

from __future__ import annotations

import enum
import json
import re
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo
from pydantic_core import ErrorDetails
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tracker.core import rules
from tracker.core.clock import zone
from tracker.core.errors import Conflict, InvalidInput, NotFound
from tracker.core.models import (
    Committee,
    Decision,
    Item,
    Meeting,
    MeetingSeries,
    Meta,
    Person,
    Precision,
    Role,
    Status,
)
from tracker.core.timing import When, day_after, parse_when
from tracker.core.vocab import CATEGORIES, LOCALES, POLICY_KEY
from tracker.register import decisions as decisions_module
from tracker.register import items as items_module
from tracker.register import overrides

# In the order they are written: each section's links point to the sections before it.
SECTIONS = ("people", "committees", "series", "meetings", "decisions", "items")


def _tz(value: str) -> str:
    try:
        zone(value)
    except InvalidInput as e:
        raise ValueError(str(e)) from None
    return value


def _category(value: str) -> str:
    if value not in CATEGORIES:
        raise ValueError(f"unknown category{rules.did_you_mean(value, CATEGORIES)}; use one of {', '.join(CATEGORIES)}")
    return value


def _locale(value: str) -> str:
    """A language of pages and reminders; `zh-TW`, as browsers and people write it, is stored as gettext's `zh_TW`."""
    stored = value.replace("-", "_")
    if stored not in LOCALES:
        raise ValueError(f"unknown locale {rules.shown(value)}{rules.did_you_mean(stored, LOCALES)}; use one of "
                         f"{', '.join(LOCALES)}")  # fmt: skip
    return stored


def _rrule(value: str, info: ValidationInfo) -> str:
    start = info.data.get("start")
    if start is None:
        raise ValueError("needs a valid start")
    return rules.check_rrule(value, parse_when(start, zone("UTC")).local_date(zone("UTC")))


def _when(value: str) -> str:
    try:
        parse_when(value, zone("UTC"))
    except rules.OutOfRange:
        raise
    except ValueError:
        raise ValueError(
            rules.date_problem(value)
            or f"not a date (2008-09-30), month (2009-03) or date-time (2008-10-06T09:30): {rules.shown(value)}"
        ) from None
    return value


def _instant(value: str) -> str:
    """An explicit reminder instant: a date-time, not a day or a month."""
    if not parse_when(_when(value), zone("UTC")).all_day:
        return value
    raise ValueError("a reminder instant is a date-time (2008-09-15T10:00)")


def _uid(value: str) -> str:
    """A calendar UID kept from an import (or a dump of one), by the rules `tracker import` applies."""
    if not value or len(value) > 255 or not value.isprintable():
        raise ValueError("at most 255 printable characters")
    return value


def _line(limit: int) -> AfterValidator:
    return AfterValidator(partial(rules.clean_line, limit=limit))


Slug = Annotated[str, AfterValidator(rules.check_slug)]
Zone = Annotated[str, AfterValidator(_tz)]
Category = Annotated[str, AfterValidator(_category)]
WhenText = Annotated[str, AfterValidator(_when)]
Title = Annotated[str, _line(300), Field(min_length=1)]
Line = Annotated[str, _line(300)]
Text = Annotated[str, AfterValidator(rules.clean_text)]
Slugs = Annotated[list[Slug], AfterValidator(rules.check_unique), Field(max_length=200)]
Uid = Annotated[str, AfterValidator(_uid)]
Locale = Annotated[str, AfterValidator(_locale)]
DavName = Annotated[str, AfterValidator(items_module.check_dav_name)]


def _meeting_slug(value: str) -> str:
    if value in rules.MEETING_PAGES:
        raise ValueError(f"{value!r} names a page of the desk (/meetings/{value}); choose another slug")
    return value


MeetingSlug = Annotated[Slug, AfterValidator(_meeting_slug)]  # a meeting's or series' page is /meetings/<slug>


def _file_name(value: str) -> str:
    if not value or len(value) > 255 or not value.isprintable() or "/" in value or "\\" in value:
        raise ValueError("a file name such as items.yaml (no folder), at most 255 characters")
    return value


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    slug: Slug
    recorded: WhenText | None = None
    # The file the record belongs to, when not the one it is written in: `tracker dump` gathers records of
    # several files into one, and writes this so that loading the dump back is no conflict.
    loaded_from: Annotated[str, AfterValidator(_file_name)] | None = None


def _quote(value: str) -> str:
    cleaned = rules.clean_text(value)
    if not cleaned:
        raise ValueError("a decision quotes the words of the report that record it, verbatim")
    return cleaned


def _hhmm(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("a time of day is HH:MM (24-hour)")
    return value


def _quiet(value: str) -> str:
    if value and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError("quiet hours are HH:MM-HH:MM (e.g. 20:00-08:00), or empty for none")
    return value


HHMM = Annotated[str, AfterValidator(_hhmm)]


class PolicyIn(BaseModel):
    """Overrides of the reminder plan (README "Reminders"); unset fields inherit."""

    model_config = ConfigDict(extra="forbid")
    item_before_days: Annotated[list[Annotated[int, Field(ge=0, le=3650)]], Field(max_length=20)] | None = None
    due_day_at: HHMM | None = None
    overdue_every_days: Annotated[int, Field(ge=0, le=365)] | None = None
    escalate_after_days: Annotated[int, Field(ge=0, le=3650)] | None = None
    meeting_before_days: Annotated[list[Annotated[int, Field(ge=0, le=3650)]], Field(max_length=20)] | None = None
    meeting_at: HHMM | None = None
    digest: bool | None = None
    digest_weekday: Annotated[int, Field(ge=0, le=6)] | None = None
    digest_at: HHMM | None = None
    at: Annotated[list[Annotated[str, AfterValidator(_instant)]], Field(max_length=50)] | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


def check_policy(overrides: dict[str, Any], options: dict[str, str]) -> dict[str, Any]:
    """Reminder-policy overrides given outside YAML (the command line's `options` name each field), by the
    YAML's rules."""
    try:
        return PolicyIn.model_validate({k: v for k, v in overrides.items() if v is not None}).stored()
    except ValidationError as e:
        error = e.errors()[0]
        name = str(error["loc"][0]) if error["loc"] else ""
        raise InvalidInput(f"{options.get(name, name)}: {error['msg'].removeprefix('Value error, ')}") from None


class PolicyFileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    defaults: PolicyIn | None = None
    categories: dict[Category, PolicyIn] = {}


class PersonIn(Record):
    name: Annotated[str, _line(200), Field(min_length=1)]
    email: Annotated[str, _line(254)] | None = None
    tz: Zone
    role: Annotated[str, _line(200)] | None = None
    escalation: Slug | None = None
    quiet_hours: Annotated[str, AfterValidator(_quiet)] = "20:00-08:00"
    locale: Locale | None = None
    reminders: PolicyIn | None = None
    invitations: bool = True  # false: the meetings they attend are not e-mailed to them as invitations


class CommitteeIn(Record):
    name: Title
    role: Role
    category: Category | None = None
    members: Slugs = []  # the people who sit on it (register.access: an officer may change its items)
    description: Text = ""
    source: Text = ""


class SeriesIn(Record):
    slug: MeetingSlug
    title: Title
    uid: Uid | None = None
    start: WhenText  # before rrule, whose check needs it
    rrule: Annotated[str, AfterValidator(_rrule)]
    days: Annotated[int, Field(ge=1, le=rules.MAX_MEETING_DAYS)] = 1
    tz: Zone = "UTC"
    attendees: Slugs = []
    description: Text = ""
    source: Text = ""


class MeetingIn(Record):
    slug: MeetingSlug
    title: Title
    uid: Uid | None = None
    series: Slug | None = None
    overrides: WhenText | None = None
    number: Annotated[int, Field(ge=0, le=100_000)] | None = None
    start: WhenText
    end: WhenText | None = None
    tz: Zone
    place: Line = ""
    host: Line = ""
    theme: Text = ""
    subthemes: Annotated[list[Line], Field(max_length=50)] = []
    attendees: Slugs = []
    our_role: Text = ""
    description: Text = ""
    source: Text = ""
    cancelled: bool = False


class DecisionIn(Record):
    """What a meeting decided (not an action: items that carry it out cite it with `decision:`)."""

    title: Title
    meeting: Slug  # the meeting that decided it
    category: Category | None = None
    affects_series: Slug | None = None  # e.g. its rhythm
    affects_committee: Slug | None = None
    affects_plan: Line = ""  # e.g. "SMEWG Strategic Plan 2009–2012 (Chiclayo Plan)"
    drops: Slugs = []  # items it makes moot: cancelled by the load that first lists them
    description: Text = ""
    source: Annotated[str, AfterValidator(_quote)]


class ItemIn(Record):
    title: Annotated[str, _line(rules.TITLE_MAX), Field(min_length=1)]
    description: Text = ""
    owners: Annotated[Slugs, Field(max_length=20)] = []
    due: WhenText | None = None
    tz: Zone | None = None
    due_note: Text = ""
    status: Status = Status.open
    priority: Literal["high", "medium", "low"] = "medium"
    category: Category | None = None
    meeting: Slug | None = None
    serves: Slug | None = None
    committee: Slug | None = None
    decision: Slug | None = None  # the decision it carries out
    source: Text = ""
    note: Text = ""
    reminders: PolicyIn | None = None
    uid: Uid | None = None
    # The name a task app created it under over CalDAV (items.dav_href), where the app finds it again; without
    # one, task apps find the item as `<slug>.ics`.
    caldav_name: DavName | None = None
    completed_at: WhenText | None = None
    completed_by: Line | None = None
    completed_how: Annotated[str, _line(100)] | None = None


MODELS: dict[str, type[Record]] = {
    "people": PersonIn,
    "committees": CommitteeIn,
    "series": SeriesIn,
    "meetings": MeetingIn,
    "decisions": DecisionIn,
    "items": ItemIn,
}


# --- reading YAML with line numbers ---------------------------------------------------------------------


class _LineDict(dict):
    """A mapping that remembers the line of itself and of each key."""

    line: int = 0
    lines: dict[str, int]


MAX_DEPTH = 50  # nesting of YAML collections; the data needs about six
MAX_ALIASED = 10_000  # values an alias may stand for in one file, in all (a "billion laughs" file wants billions)


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text (we parse them with zones), records lines, refuses duplicate keys,
    and bounds nesting and what aliases expand to."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.aliased = 0
        self.sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent) and self.peek_event().anchor in self.anchors:
            self.aliased += self._size(self.anchors[self.peek_event().anchor])
            if self.aliased > MAX_ALIASED:
                raise yaml.composer.ComposerError(None, None, f"aliases expand to more than {MAX_ALIASED} values", mark)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _size(self, node: yaml.Node) -> int:
        """How many values `node` stands for once its aliases are expanded (memoised: shared nodes count once
        per use, computed once)."""
        if id(node) not in self.sizes:
            children = node.value if isinstance(node, yaml.SequenceNode) else []
            if isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            self.sizes[id(node)] = 1 + sum(self._size(child) for child in children)
        return self.sizes[id(node)]

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> _LineDict:
        seen: set = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {rules.shown(key.value)}", key.start_mark
                    )
                seen.add(key.value)
        mapping = _LineDict(super().construct_mapping(node, deep=deep))
        mapping.line = node.start_mark.line + 1
        mapping.lines = {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
        return mapping


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)


# What PyYAML's complaints usually mean in a hand-edited data file, keyed by the start of its problem text.
_YAML_HINTS = {
    "mapping values are not allowed": "a colon followed by a space inside a value: put the value in quotes "
    '(title: "Plan: phase 2"), or the line is indented too far',
    "found character '\\t'": "a tab character: indent with spaces only",
    "did not find expected key": "the indentation does not line up with the lines above (or a '-' is missing)",
    "did not find expected '-' indicator": "the indentation does not line up with the list items above",
    "expected <block end>": "the indentation does not line up with the lines above",
    "could not find expected ':'": "a line is not `key: value` (a missing colon, or a value that runs on to "
    "a line indented less than its key)",
    "found unexpected end of stream": "a quote is not closed",
    "found undefined alias": "an *alias with no &anchor before it",
    "found unknown escape character": 'a backslash inside "double quotes": use single quotes, or write \\\\',
    "expected ',' or ']'": "a [list] is not closed with ], or a comma is missing",
    "expected ',' or '}'": "a {mapping} is not closed with }, or a comma is missing",
    "found character '@'": "a value cannot start with @ or `: put it in quotes",
    "found character '%'": "a value cannot start with %: put it in quotes",
}


def _plain(error: yaml.MarkedYAMLError) -> str:
    """The parser's complaint, led by what it usually means in plain words, on one line."""
    problem = rules.one_line(str(error.problem or error.context))
    hint = next((h for start, h in _YAML_HINTS.items() if problem.startswith(start)), None)
    return f"{hint} (the parser says: {problem})" if hint else problem


@dataclass
class Entry:
    """One validated record with where it came from."""

    section: str
    record: Any
    path: Path
    line: int
    lines: dict[str, int]
    recorded: str | None
    overrides: str | None = None  # a meeting's series occurrence, inferred when the record does not say

    @property
    def file(self) -> str:
        """The name the record's file is known by: its name, not its folder, so that `load data/` and
        `load data/items.yaml`, from any working folder or clone, are the same file."""
        return self.record.loaded_from or self.path.name

    def where(self, field_name: str | None = None) -> str:
        line = self.lines.get(field_name, self.line) if field_name else self.line
        return f"{self.path}:{line}: {self.section} {self.record.slug}"

    def error(self, field_name: str, problem: str) -> InvalidInput:
        return InvalidInput(f"{self.where(field_name)}: {field_name}: {problem}")


@dataclass
class Dataset:
    entries: dict[str, list[Entry]] = field(default_factory=lambda: {s: [] for s in SECTIONS})
    policy: PolicyFileIn | None = None
    policy_at: str = ""
    warnings: list[str] = field(default_factory=list)
    files: set[str] = field(default_factory=set)  # the names of the files read


def read(paths: Iterable[str | Path]) -> Dataset:
    """Parse and validate every file (a folder means its *.yaml/*.yml, sorted) before anything is written.
    A file without records is a warning; nothing to load at all is an error (a wrong path looks like "no work").

    :raises InvalidInput: a file or folder is missing or bad, a folder holds no YAML file, or no file holds a record.
    """
    dataset = Dataset()
    seen: dict[tuple[str, str], Entry] = {}
    files = _files(paths)
    empty: list[str] = []
    for path in files:
        entries, policy, where = _read_file(path)
        dataset.files.add(path.name)
        if not entries and policy is None:
            empty.append(str(path))
        if policy is not None:
            if dataset.policy is not None:
                raise InvalidInput(f"{where}: reminder_policy: already given at {dataset.policy_at}")
            dataset.policy, dataset.policy_at = policy, where
        for entry in entries:
            key = (entry.section, entry.record.slug)
            if key in seen:
                first = seen[key]
                raise entry.error("slug", f"duplicate slug {entry.record.slug!r} (first at {first.path}:{first.line})")
            seen[key] = entry
            dataset.entries[entry.section].append(entry)
    if files and len(empty) == len(files):
        raise InvalidInput(f"nothing to load: {', '.join(empty)} {'has' if len(empty) == 1 else 'have'} no records")
    dataset.warnings += [f"{name}: no records (an empty file?)" for name in empty]
    return dataset


def _files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
            if not found:
                raise InvalidInput(f"{path}: no *.yaml or *.yml file in this folder, so nothing to load")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInput(f"{path}: no such file or folder")
    unique = {p.resolve(): p for p in reversed(files)}  # a file named twice (`data/ data/items.yaml`) is read once
    return list(reversed(unique.values()))


def parse_yaml(path: Path) -> Any:
    """The YAML document of the file at `path`, dates kept as text; each mapping remembers its line and those of its
    keys (`.line`, `.lines`), for errors that name them.

    :raises InvalidInput: the file cannot be read, is not UTF-8, or is not YAML (naming its line).
    """
    try:
        text = path.read_text(encoding="utf-8")
        return yaml.load(text, Loader=_Loader)
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise InvalidInput(f"{path}: cannot read: {e.strerror}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 0
        raise InvalidInput(f"{path}:{line}: YAML syntax: {_plain(e)}") from None
    except yaml.reader.ReaderError as e:  # a character YAML does not allow (most control characters)
        line = text.count("\n", 0, e.position) + 1
        raise InvalidInput(f"{path}:{line}: YAML syntax: character {e.character!r} is not allowed") from None


def _read_file(path: Path) -> tuple[list[Entry], PolicyFileIn | None, str]:
    document = parse_yaml(path)
    if document is None:
        return [], None, str(path)
    if not isinstance(document, dict):
        raise InvalidInput(f"{path}:1: the file must be a mapping with sections {', '.join(SECTIONS)}")
    for key in document:
        if key not in (*SECTIONS, "recorded", "reminder_policy"):
            line = document.lines.get(key, 1)
            raise InvalidInput(f"{path}:{line}: unknown section {rules.shown(key)} (expected {', '.join(SECTIONS)})")
    recorded = document.get("recorded")
    if recorded is not None:
        try:
            _when(str(recorded))
        except ValueError as e:
            raise InvalidInput(f"{path}:{document.lines['recorded']}: recorded: {e}") from None
    entries = []
    for section in SECTIONS:
        rows = document.get(section) or []
        if not isinstance(rows, list):
            raise InvalidInput(f"{path}:{document.lines[section]}: {section}: must be a list of records")
        entries += [_validate(path, section, row, recorded) for row in rows]
    policy, where = None, str(path)
    if "reminder_policy" in document:
        where = f"{path}:{document.lines['reminder_policy']}"
        raw = document["reminder_policy"]
        try:
            policy = PolicyFileIn.model_validate(raw or {})
        except ValidationError as e:
            row = raw if isinstance(raw, _LineDict) else document
            raise _problem(path, row, "reminder_policy", PolicyFileIn, e) from None
    return entries, policy, where


def _problem(path: Path, row: _LineDict, label: str, model: type[BaseModel], e: ValidationError) -> InvalidInput:
    """One line naming file, line, record and field for the first validation error; an unknown field first,
    since a misspelled required field (`titel:`) also makes that field missing."""
    errors = e.errors()
    error = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
    loc = [str(part) for part in error["loc"]]
    name = ".".join(loc)
    if not re.fullmatch(r"[\w.]*", name):
        name = rules.shown(name)
    line = row.lines.get(loc[0], row.line) if loc else row.line
    return InvalidInput(f"{path}:{line}: {label}: {name}: {_wording(error, model)}")


def _wording(error: ErrorDetails, model: type[BaseModel]) -> str:
    """One validation error's problem as a load words it (without the file, record and field)."""
    loc = [str(part) for part in error["loc"]]
    if error["type"] == "extra_forbidden":
        return f"unknown field{rules.did_you_mean(loc[-1], _fields_at(model, loc))}"
    if error["type"] == "missing":
        return "required field is missing"
    return rules.one_line(error["msg"]).removeprefix("Value error, ")


def problems(model: type[BaseModel], e: ValidationError) -> dict[str, str]:
    """Each invalid top-level field's first problem, in a load's words: for forms, which show it beside the field."""
    found: dict[str, str] = {}
    for error in e.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        found.setdefault(name, _wording(error, model))
    return found


def _fields_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    """The field names allowed where the last part of `loc` stands (inside nested records such as `reminders`)."""
    for part in loc[:-1]:
        info = model.model_fields.get(part)
        if info is None:  # a list index or a mapping key: still inside the same kind of record
            continue
        nested = [t for t in _types_in(info.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def _types_in(annotation: Any) -> list[Any]:
    return [annotation, *(t for arg in typing.get_args(annotation) for t in _types_in(arg))]


def _validate(path: Path, section: str, row: Any, recorded: str | None) -> Entry:
    if not isinstance(row, _LineDict):
        raise InvalidInput(f"{path}: {section}: each record must be a mapping, not {rules.shown(row)}")
    try:
        record = MODELS[section].model_validate(row)
    except ValidationError as e:
        slug = row.get("slug")
        label = slug if isinstance(slug, str) and rules.is_slug(slug) else f"#{row.line}"
        raise _problem(path, row, f"{section} {label}", MODELS[section], e) from None
    return Entry(section, record, path, row.line, row.lines, record.recorded or recorded)


# --- writing ------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SECTIONS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SECTIONS, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SECTIONS, 0))
    warnings: list[str] = field(default_factory=list)  # for stderr: the load went ahead, but look at these

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "kind": s,
                "created": self.created[s],
                "updated": self.updated[s],
                "unchanged": self.unchanged[s],
            }
            for s in SECTIONS
        ]


ROWS = {"people": Person, "committees": Committee, "series": MeetingSeries, "meetings": Meeting, "decisions": Decision,
        "items": Item}  # fmt: skip


def load(session: Session, paths: Iterable[str | Path] | Dataset, now: datetime, move: bool = False) -> LoadResult:
    """Upsert every record of `paths` (or of a Dataset already `read`) by slug. Call inside
    store.transaction(): an error rolls back all. Reading first, outside the transaction, keeps the parsing
    out of the write lock.

    Each record belongs to the file it was loaded from. A slug that belongs to another file, one not read in
    this load, is a Conflict unless `move` (a record moved between files read together simply moves).
    :raises InvalidInput: a record is wrong (see `read`) or links to something that does not exist.
    :raises Conflict: a record claims a slug another file's record has.
    """
    dataset = paths if isinstance(paths, Dataset) else read(paths)
    result = LoadResult(warnings=list(dataset.warnings))
    writers = {
        "people": _write_person,
        "committees": _write_committee,
        "series": _write_series,
        "meetings": _write_meeting,
        "decisions": _write_decision,
        "items": _write_item,
    }
    for section in SECTIONS:
        model = ROWS[section]
        owners = {slug: owner for slug, owner in session.execute(select(model.slug, model.loaded_from))}
        if not move:
            for entry in dataset.entries[section]:
                _check_owner(entry, owners.get(entry.record.slug), dataset.files)
        if section == "meetings":  # the series are written by now
            result.warnings += _infer_overrides(session, dataset.entries["meetings"])
        for entry in dataset.entries[section]:
            outcome = writers[section](session, entry, now)
            getattr(result, outcome)[section] += 1
            session.flush()
        _claim(session, model, [e for e in dataset.entries[section] if owners.get(e.record.slug) != e.file])
    # Escalation contacts may point forward in the file, so they are linked once everyone exists.
    for entry in dataset.entries["people"]:
        _link_escalation(session, entry)
    # A decision drops items (of any file), so once every item of this load exists.
    for entry in dataset.entries["decisions"]:
        _drop_items(session, entry, now)
    if dataset.policy is not None:
        _write_policy(session, dataset.policy)
    return result


def _claim(session: Session, model: type, entries: list[Entry]) -> None:
    """Record the file of each of `entries` (records new, claimed or moved by this load), one UPDATE per file."""
    by_file: dict[str, list[str]] = {}
    for entry in entries:
        by_file.setdefault(entry.file, []).append(entry.record.slug)
    for name, slugs in by_file.items():
        session.execute(update(model).where(model.slug.in_(slugs)).values(loaded_from=name))


def _check_owner(entry: Entry, owner: str | None, files: set[str]) -> None:
    """Refuse a record whose slug belongs to a record of another file: two files, one slug, is most often a
    copied record whose slug was not changed, and loading it would overwrite the other silently."""
    if owner is None or owner == entry.file or owner in files:  # unclaimed, the same file, or moved within this load
        return
    raise Conflict(
        f"{entry.where('slug')}: slug already loaded from {owner}; give this record another slug, or load with --move "
        f"if it moved here from {owner}"
    )


def _write_policy(session: Session, policy: PolicyFileIn) -> None:
    stored = {
        "defaults": policy.defaults.stored() if policy.defaults else {},
        "categories": {k: v.stored() for k, v in sorted(policy.categories.items())},
    }
    value = json.dumps(stored, sort_keys=True)
    row = session.get(Meta, POLICY_KEY)
    if row is None:
        session.add(Meta(key=POLICY_KEY, value=value))
    elif row.value != value:
        row.value = value


def _attendees(session: Session, entry: Entry, slugs: list[str]) -> list[str]:
    for slug in slugs:
        _by_slug(session, Person, slug, entry, "attendees")
    return list(slugs)


def _local(entry: Entry, field_name: str, text: str, tz: ZoneInfo) -> When:
    """`text` read in `tz`; a local time the clocks skip there is the record's error, not a silent move."""
    try:
        return parse_when(text, tz)
    except rules.SkippedTime as e:
        raise entry.error(field_name, str(e)) from None


def _recorded(entry: Entry, tz: str, now: datetime) -> datetime:
    return _local(entry, "recorded", entry.recorded, zone(tz)).at if entry.recorded else now


def _by_slug(session: Session, model: type, slug: str | None, entry: Entry, field_name: str) -> Any:
    if slug is None:
        return None
    try:
        return items_module.lookup(session, model, slug)
    except NotFound as e:
        raise entry.error(field_name, str(e)) from None


def update_row(row: Any, values: dict[str, Any], now: datetime) -> str:
    """Set `values` on an existing row; a real change raises its SEQUENCE and stamps `updated_at` with `now`
    (calendar clients ignore edits whose SEQUENCE does not rise)."""
    changed = [name for name, value in values.items() if name != "updated_at" and getattr(row, name) != value]
    for name in changed:
        setattr(row, name, values[name])
    if not changed:
        return "unchanged"
    if hasattr(row, "sequence"):
        row.sequence += 1
        row.updated_at = now
    return "updated"


def _upsert(session: Session, model: type, slug: str, values: dict[str, Any], now: datetime) -> str:
    row = session.scalars(select(model).where(model.slug == slug)).one_or_none()
    if row is None:
        session.add(model(slug=slug, **values))
        return "created"
    return update_row(row, values, now)


def _merged(session: Session, model: type, slug: str, values: dict[str, Any], now: datetime) -> str:
    """As `_upsert`, for series and meetings: a field changes only where the YAML changed it since its last load
    (a three-way merge, as items.merge_loaded), so that what `tracker meeting` or the desk added, announced or
    edited survives reloading an unchanged file. `loaded["yaml"]` keeps the record last loaded, as plain data; a
    row without one (made outside YAML, or loaded before there was one) takes the whole record."""
    loaded = {"yaml": _comparable(values)}
    row = session.scalars(select(model).where(model.slug == slug)).one_or_none()
    if row is None:
        session.add(model(slug=slug, **values, loaded=loaded))
        return "created"
    base = row.loaded.get("yaml") if row.loaded else None
    edited = values if base is None else {k: v for k, v in values.items() if base.get(k) != loaded["yaml"].get(k)}
    if row.loaded != loaded:
        row.loaded = loaded
    return update_row(row, edited, now)


def _comparable(values: dict[str, Any]) -> dict[str, Any]:
    """Column values as JSON can hold them and compare: instants in ISO, rows by slug, enums by value. Without
    `updated_at`, which a record without `recorded:` sets to the time of each load."""

    def plain(value: Any) -> Any:  # noqa: ANN401 - any column's value
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, enum.Enum):
            return value.value
        return getattr(value, "slug", value)

    return {k: plain(v) for k, v in values.items() if k != "updated_at"}


def _write_person(session: Session, entry: Entry, now: datetime) -> str:
    values = person_values(entry.record)
    for name in ("locale", "invitations"):  # left out: what was chosen on the desk (or by the person) stays
        if name not in entry.record.model_fields_set:
            del values[name]
    return _upsert(session, Person, entry.record.slug, values, now)


def person_values(r: PersonIn) -> dict[str, Any]:
    """A person's columns from a validated record (a YAML load, the web's People page); escalation aside."""
    return {
        "name": r.name,
        "email": r.email,
        "tz": r.tz,
        "role": r.role,
        "quiet_hours": r.quiet_hours,
        "locale": r.locale,
        "reminder_policy": r.reminders.stored() if r.reminders else {},
        "invitations": r.invitations,
    }


def _link_escalation(session: Session, entry: Entry) -> None:
    if entry.record.escalation == entry.record.slug:
        raise entry.error("escalation", "a person cannot be their own escalation contact")
    person = _by_slug(session, Person, entry.record.slug, entry, "slug")
    person.escalation = _by_slug(session, Person, entry.record.escalation, entry, "escalation")


def _write_committee(session: Session, entry: Entry, now: datetime) -> str:
    r: CommitteeIn = entry.record
    values = {
        "name": r.name,
        "role": r.role,
        "category": r.category,
        "description": r.description,
        "source_quote": r.source,
    }
    # Given, `members` is the whole set (a reload replaces it; `members: []` empties it); left out, the members
    # chosen on the desk's People page stay. Sorted as the relationship is, so an unchanged set compares equal.
    if "members" in r.model_fields_set:
        people = (_by_slug(session, Person, slug, entry, "members") for slug in r.members)
        values["members"] = sorted(people, key=lambda p: p.slug)
    return _upsert(session, Committee, r.slug, values, now)


def _write_series(session: Session, entry: Entry, now: datetime) -> str:
    return _merged(session, MeetingSeries, entry.record.slug, series_values(session, entry, now), now)


def series_values(session: Session, entry: Entry, now: datetime) -> dict[str, Any]:
    """A series' columns from a validated record (a YAML load, or `tracker meeting` and the desk through
    register.meeting_records); `entry.error` names the field of a problem."""
    r: SeriesIn = entry.record
    when = _local(entry, "start", r.start, zone(r.tz))
    if not when.all_day:
        raise entry.error("start", "a series starts on a date (2010-10-01) or a month (2010-10)")
    uid = _free_uid(session, entry, MeetingSeries, r.uid or f"series-{r.slug}@tracker")
    values = {
        "uid": uid,
        "title": r.title,
        "rrule": r.rrule,
        "tz": r.tz,
        "start": when.at,
        "days": r.days,
        "precision": when.precision,
        "attendees": _attendees(session, entry, r.attendees),
        "description": r.description,
        "source_quote": r.source,
        "updated_at": _recorded(entry, r.tz, now),
    }
    return values


def _infer_overrides(session: Session, entries: list[Entry]) -> list[str]:
    """Give a series' meeting without `overrides:` the occurrence it falls on, when that is unambiguous (see
    tracker.register.overrides); returns the warnings: what was inferred (add the line to say so), and what could not
    be."""
    series = {s.slug: s for s in session.scalars(select(MeetingSeries))}
    by_slug = {e.record.slug: e for e in entries if e.record.series in series}  # a missing series: _write_meeting
    loading = []
    for e in by_slug.values():
        r: MeetingIn = e.record
        s = series[r.series]
        said = _local(e, "overrides", r.overrides, zone(s.tz)).local_date(zone(s.tz)) if r.overrides else None
        day = _local(e, "start", r.start, zone(r.tz)).local_date(zone(r.tz))
        loading.append(overrides.Dated(r.slug, s, day, said, own_uid=r.uid is not None))
    warnings = []
    for f in overrides.findings(session, loading):
        entry = by_slug[f.slug]
        if f.inferred:
            entry.overrides = f.text
            warnings.append(f"{entry.where('start')}: taken as the {f.text} occurrence of series {f.series} (not "
                            f"shown beside it); add `overrides: {f.text}` to say so")  # fmt: skip
        else:
            one = len(f.meetings) == 1
            warnings.append(f"{entry.where('start')}: {' and '.join(f.meetings)} fall{'s' * one} on the {f.text} "
                            f"occurrence of series {f.series}, which is shown beside {'it' if one else 'them'}; add "
                            f"`overrides: {f.text}`{' (and remove its uid)' * bool(entry.record.uid)} to the meeting "
                            "that replaces it")  # fmt: skip
    return warnings


def _meeting_span(entry: Entry, r: MeetingIn) -> tuple[When, datetime]:
    tz = zone(r.tz)
    start = _local(entry, "start", r.start, tz)
    if r.end is None:
        end = start
    else:
        end = _local(entry, "end", r.end, tz)
        if end.all_day != start.all_day:
            raise entry.error("end", "start and end must both be dates or both be date-times")
        if end.at < start.at:
            raise entry.error("end", "the meeting ends before it starts")
    stop = day_after(end.at, r.tz) if start.all_day else end.at
    if stop - start.at > timedelta(days=rules.MAX_MEETING_DAYS):
        raise entry.error("end", f"a meeting lasts at most {rules.MAX_MEETING_DAYS} days")
    return start, stop


def _write_meeting(session: Session, entry: Entry, now: datetime) -> str:
    return _merged(session, Meeting, entry.record.slug, meeting_values(session, entry, now), now)


def meeting_values(session: Session, entry: Entry, now: datetime) -> dict[str, Any]:
    """A meeting's columns from a validated record (a YAML load, or `tracker meeting` and the desk through
    register.meeting_records); `entry.error` names the field of a problem, `entry.overrides` is the occurrence
    inferred when the record does not say."""
    r: MeetingIn = entry.record
    series = _by_slug(session, MeetingSeries, r.series, entry, "series")
    start, end = _meeting_span(entry, r)
    recurrence_id = None
    occurrence = r.overrides or entry.overrides
    if occurrence is not None:
        if series is None:
            raise entry.error("overrides", "only a meeting of a series can override one of its occurrences")
        recurrence_id = _local(entry, "overrides", occurrence, zone(series.tz)).at
        other = session.scalars(select(Meeting.slug).where(Meeting.uid == series.uid, Meeting.slug != r.slug,
                                                           Meeting.recurrence_id == recurrence_id)).first()  # fmt: skip
        if other is not None:
            raise entry.error("overrides", f"meeting {other!r} already overrides this occurrence of {series.slug}")
        if r.uid is not None:
            raise entry.error("uid", "a meeting that overrides an occurrence has its series' uid")
        if abs(start.at - recurrence_id) > rules.MAX_OCCURRENCE_MOVE:
            raise entry.error("start", f"an occurrence is held within a year of the day it replaces ({occurrence}), "
                                       f"not on {r.start}: another year's is announced as that year's")  # fmt: skip
    uid = series.uid if recurrence_id else _free_uid(session, entry, Meeting, r.uid or f"meeting-{r.slug}@tracker")
    values = {
        "uid": uid,
        "title": r.title,
        "number": r.number,
        "series": series,
        "recurrence_id": recurrence_id,
        "start": start.at,
        "end": end,
        "all_day": start.all_day,
        "tz": r.tz,
        "precision": start.precision,
        "place": r.place,
        "host": r.host,
        "theme": r.theme,
        "subthemes": list(r.subthemes),
        "attendees": _attendees(session, entry, r.attendees),
        "our_role": r.our_role,
        "description": r.description,
        "source_quote": r.source,
        "cancelled": r.cancelled,
        "updated_at": _recorded(entry, r.tz, now),
    }
    return values


def _write_item(session: Session, entry: Entry, now: datetime) -> str:
    r: ItemIn = entry.record
    owners = [_by_slug(session, Person, slug, entry, "owners") for slug in r.owners]
    tz = r.tz or (owners[0].tz if owners else None)
    if tz is None:
        raise entry.error("tz", "required when the item has no owner")
    due = None
    if r.due is not None:
        due = _local(entry, "due", r.due, zone(tz))
        if due.precision == Precision.month:
            raise entry.error("due", "a due date needs a day; say what the source gives in due_note")
    for name, model in (("meeting", Meeting), ("committee", Committee), ("decision", Decision)):
        _by_slug(session, model, getattr(r, name), entry, name)
    if r.serves is not None and not _serves_target(session, r.serves):
        raise entry.error("serves", str(items_module.unknown_slug(session, (Meeting, MeetingSeries), r.serves)))
    values = {
        "title": r.title,
        "description": r.description,
        "owners": list(r.owners),
        "due": due.at.isoformat() if due else None,
        "due_all_day": due.all_day if due else True,
        "tz": tz,
        "due_note": r.due_note,
        "status": r.status.value,
        "priority": r.priority,
        "category": r.category,
        "meeting": r.meeting,
        "serves": r.serves,
        "committee": r.committee,
        "decision": r.decision,
        "source_quote": r.source,
        "note": r.note,
        "reminder_policy": r.reminders.stored() if r.reminders else {},
        **_completion(entry, tz),
    }
    uid = r.uid or f"item-{r.slug}@tracker"
    if session.scalars(select(Item.id).where(Item.slug == r.slug)).first() is None:
        _free_uid(session, entry, Item, uid)  # the uid of an existing item never changes
        _free_dav_name(session, entry, "slug", f"{r.slug}.ics")
    if r.caldav_name is not None:
        _free_dav_name(session, entry, "caldav_name", r.caldav_name)
        values["dav_href"] = r.caldav_name
    return items_module.merge_loaded(session, r.slug, values, _recorded(entry, tz, now), now, uid=uid)


def _write_decision(session: Session, entry: Entry, now: datetime) -> str:
    r: DecisionIn = entry.record
    meeting = _by_slug(session, Meeting, r.meeting, entry, "meeting")
    _by_slug(session, MeetingSeries, r.affects_series, entry, "affects_series")
    _by_slug(session, Committee, r.affects_committee, entry, "affects_committee")
    values = {
        "title": r.title,
        "description": r.description,
        "meeting": r.meeting,
        "category": r.category,
        "affects_series": r.affects_series,
        "affects_committee": r.affects_committee,
        "affects_plan": r.affects_plan,
        "source_quote": r.source,
    }
    return decisions_module.merge_loaded(session, r.slug, values, _recorded(entry, meeting.tz, now), now)


def _drop_items(session: Session, entry: Entry, now: datetime) -> None:
    r: DecisionIn = entry.record
    dropped = [_by_slug(session, Item, slug, entry, "drops") for slug in r.drops]
    decisions_module.drop(session, _by_slug(session, Decision, r.slug, entry, "slug"), dropped, now)


def _completion(entry: Entry, tz: str) -> dict[str, Any]:
    """completed_at/by/how of a done item; left out, the load that marks it done stamps them."""
    r: ItemIn = entry.record
    if r.completed_at is None:
        for name in ("completed_by", "completed_how"):
            if getattr(r, name) is not None:
                raise entry.error(name, "needs completed_at")
    elif r.status != Status.done:
        raise entry.error("completed_at", "only a done item has a completion")
    at = _local(entry, "completed_at", r.completed_at, zone(tz)).at if r.completed_at else None
    return {
        "completed_at": at.isoformat() if at else None,
        "completed_by": (r.completed_by or "yaml") if at else None,
        "completed_how": (r.completed_how or "yaml") if at else None,
    }


def _free_uid(session: Session, entry: Entry, model: type, uid: str) -> str:
    """`uid`, unless another record (another override-free meeting, for meetings) already has it."""
    query = select(model.slug).where(model.uid == uid, model.slug != entry.record.slug)
    if model is Meeting:
        query = query.where(Meeting.recurrence_id.is_(None))
    other = session.scalars(query).first()
    if other is not None:
        raise entry.error("uid", f"{rules.shown(uid)} is already the uid of {other!r}")
    return uid


def _free_dav_name(session: Session, entry: Entry, field_name: str, name: str) -> None:
    """Refuse `name` when task apps find another item under it (items.dav_name_holder, as a CalDAV write does)."""
    other = items_module.dav_name_holder(session, name, entry.record.slug)
    if other is not None:
        raise entry.error(field_name, f"task apps already find item {other!r} as {rules.shown(name)}")


def _serves_target(session: Session, slug: str) -> bool:
    return any(
        session.scalars(select(model.id).where(model.slug == slug)).first() is not None
        for model in (Meeting, MeetingSeries)
    )
