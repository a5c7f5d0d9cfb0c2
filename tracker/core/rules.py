"""The rules every input path applies — YAML, ICS, command-line options, and later the web and CalDAV — so
that whatever is stored can be listed, exported and sent. Each check raises ValueError with a short reason;
the input path adds where (file:line: field) and turns it into InvalidInput."""

from __future__ import annotations

import calendar
import difflib
import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

# Line breaks that str.splitlines() honours: LF, CR, VT, FF, FS, GS, RS, NEL, LINE and PARAGRAPH SEPARATOR.
_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# Bidirectional overrides and isolates: they make a terminal or a page show text in another order than stored.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

EARLIEST_YEAR, LATEST_YEAR = 1900, 2200  # every date tracker stores lies in these years (README "What is accepted")
SHOWN = 60  # at most this many characters of a value are echoed in an error
TITLE_MAX = 500  # an item's title; places, meeting and committee titles have 300, people's names and roles 200
RRULE_MAX = 300  # as stored
MAX_MEETING_DAYS = 31  # the longest meeting (or occurrence of a series), in days
# How far an announced occurrence may move from the day its series scheduled it: further, it is another year's
# occurrence (a typo such as 2127 for 2027 would otherwise stretch every listing of the series over a century).
MAX_OCCURRENCE_MOVE = timedelta(days=366)
MEETING_PAGES = ("new", "record")  # /meetings/new and /meetings/record: no meeting or series may take these slugs
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,99}")


def _strip_controls(text: str, keep: str = "") -> str:
    return "".join(c for c in text if c in keep or (unicodedata.category(c) != "Cc" and c not in _BIDI))


def one_line(text: str) -> str:
    """`text` folded to one line: each run of line breaks and tabs becomes a space, other control characters
    go. For e-mail headers, table cells and error messages."""
    return _strip_controls(re.sub(r" *(?:" + _BREAKS.pattern + r"|\t)+ *", " ", text)).strip()


def plural(count: int, noun: str, nouns: str = "") -> str:
    """ "1 day", "2 days", "0 days": a count with its noun, for every sentence that says how many; `nouns` is the
    plural where it is not the noun + s ("person", "people")."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def visible(text: str) -> str:
    """`text` safe to print on a terminal: line breaks become \\n, tabs stay, other control characters go."""
    return _strip_controls(_BREAKS.sub("\n", text), keep="\n\t")


def clean_line(text: str, limit: int) -> str:
    """A one-line field (a title, a name, a place): folded to one line; longer than `limit` is an error."""
    cleaned = one_line(text)
    if len(cleaned) > limit:
        raise ValueError(f"at most {limit} characters (this one has {len(cleaned)})")
    return cleaned


def clean_text(text: str, limit: int = 20_000) -> str:
    """A multi-line field (a description, a source quote): line breaks become \\n, tabs stay, other control
    characters (terminal escapes among them) go; longer than `limit` is an error."""
    cleaned = visible(text).strip()
    if len(cleaned) > limit:
        raise ValueError(f"at most {limit} characters (this one has {len(cleaned)})")
    return cleaned


def shown(value: object) -> str:
    """A value as an error message echoes it: quoted, control characters escaped, cut to a readable length."""
    text = str(value)
    cut = text[:SHOWN]
    quoted = repr(cut)
    return quoted + (f"… ({len(text)} characters)" if len(text) > SHOWN else "")


def did_you_mean(wrong: str, known: Iterable[str]) -> str:
    """' (did you mean "owners"?)' style advice when something in `known` is close to `wrong`, else ''."""
    close = difflib.get_close_matches(str(wrong), list(known), n=3, cutoff=0.6)
    if not close:
        return ""
    choices = [repr(c) for c in close]
    return f" (did you mean {', '.join(choices[:-1])}{' or ' * (len(choices) > 1)}{choices[-1]}?)"


def row_id(ref: str) -> int | None:
    """The number a reference like "3" names, if it can be a row's id (a database integer), else None. ASCII digits
    only: str.isdigit() also accepts "²" (which int() refuses) and "٣" (which int() reads as 3)."""
    return int(ref) if ref.isascii() and ref.isdigit() and len(ref) <= 18 else None


def findable(value: str) -> bool:
    """Whether a row can hold `value`: no stored text has a NUL (the rules strip control characters, and PostgreSQL
    refuses them), so a lookup by one finds nothing. Asked anyway, PostgreSQL fails the query (DataError: "a value
    does not fit the database", naming no field) where SQLite finds nothing: ask only when this is true."""
    return "\x00" not in value


def is_slug(value: str) -> bool:
    return _SLUG.fullmatch(value) is not None


def check_slug(value: str) -> str:
    """A stable id: lower-case letters, digits and '-', at most 100."""
    if not is_slug(value):
        raise ValueError(f"{shown(value)} is not a slug (lower-case letters, digits and '-', at most 100)")
    return value


def check_unique(values: list[str]) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{shown(repeated[0])} is listed twice")
    return values


class OutOfRange(ValueError):
    """A date outside the years tracker stores: its message says so, where other parse errors get the input
    path's own wording."""


_DAY = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")


def date_problem(text: str) -> str | None:
    """Why the date in `text` (2009-02-30, or 20090230 as calendars write it) names no day, in words
    ("2009-02-30: February 2009 has 28 days"); None when it does, or when `text` holds no date."""
    found = _DAY.search(str(text))
    if found is None:
        return None
    year, month, day = (int(part) for part in found.groups())
    if not 1 <= month <= 12:
        return f"{found[0]}: there is no month {month} (months are 01–12)"
    if year < 1:
        return None
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        return f"{found[0]}: {calendar.month_name[month]} {year} has {last} days"
    return None


class SkippedTime(ValueError):
    """A local time the clocks skip (the hour they go forward): it does not exist in its zone."""


def check_wall_time(value: datetime) -> datetime:
    """`value`, an aware local time, unless its zone skips it: zoneinfo would quietly move it by the gap
    (02:30 on a spring-forward night in New York becomes 03:30), and the user would never know."""
    wall = value.replace(tzinfo=None)
    if value.astimezone(UTC).astimezone(value.tzinfo).replace(tzinfo=None) != wall:
        raise SkippedTime(f"{wall:%Y-%m-%dT%H:%M} does not exist in {value.tzinfo}: the clocks go forward over it "
                          "that night; give a time before or after the change")  # fmt: skip
    return value


def check_date(day: date) -> date:
    """A date within the years tracker stores (1900–2200), checked before any zone arithmetic, which would
    overflow at the edges of Python's range."""
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise OutOfRange(f"dates must lie in the years {EARLIEST_YEAR}–{LATEST_YEAR}, not {day.year}")
    return day


# --- recurrence rules of meeting series ------------------------------------------------------------------

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")  # a meeting series meets at most daily
_PARTS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYYEARDAY", "BYWEEKNO",
          "BYSETPOS", "WKST"}  # fmt: skip
_RANGES = {"BYMONTHDAY": 31, "BYMONTH": 12, "BYYEARDAY": 366, "BYWEEKNO": 53, "BYSETPOS": 366}
MAX_INTERVAL = 100
MAX_COUNT = 10_000
MAX_GAP_YEARS = 10  # a series whose next meeting is further away than this is not a series
GAPS_CHECKED = 24
_CYCLE = 400  # the Gregorian calendar, weekdays included, repeats every 400 years


def check_rrule(text: str, start: date) -> str:
    """An RFC 5545 RRULE for a meeting series that starts on `start`: at most daily, every part once and in its
    range, and meeting again within MAX_GAP_YEARS — so that expanding it can never hang. Returns it unchanged."""
    # Imported here: every command reads this module, few check RRULEs, and these two cost more than the rest.
    from dateutil.rrule import rrulestr  # recurring-ical-events expands with dateutil: check with what expands
    from icalendar.prop import vRecur

    if len(text) > RRULE_MAX:
        raise ValueError(f"an RRULE has at most {RRULE_MAX} characters (this one has {len(text)})")
    parts = [p.partition("=") for p in text.strip().upper().split(";") if p]
    names = [name for name, _, _ in parts]
    for name, eq, _ in parts:
        if not eq or name not in _PARTS:
            raise ValueError(f"RRULE part {shown(name)} is not allowed (use {', '.join(sorted(_PARTS))})")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"RRULE part {repeated[0]} given twice")
    try:
        rule = vRecur.from_ical(text)
    except (ValueError, TypeError) as e:
        raise ValueError(f"not an RFC 5545 RRULE: {e}") from None
    freq = rule.get("FREQ", [None])[0]
    if freq not in FREQUENCIES:
        raise ValueError(f"FREQ must be one of {', '.join(FREQUENCIES)} (a meeting series meets at most daily)")
    _check_numbers(rule)
    if "COUNT" in rule and "UNTIL" in rule:
        raise ValueError("RRULE has both COUNT and UNTIL")
    for until in rule.get("UNTIL", []):
        check_date(until if isinstance(until, date) else until.date())
    pattern = ";".join(f"{n}={v}" for n, _, v in parts if n not in ("COUNT", "UNTIL"))
    # Seen from the same day 400k years later the pattern is the same; there, dateutil can search at most a
    # few hundred years before it gives up, where from `start` a rule that never meets again took seconds.
    shifted = start.replace(year=start.year + _CYCLE * ((9999 - MAX_GAP_YEARS - _CYCLE - start.year) // _CYCLE))
    begin = datetime.combine(shifted, time())
    try:
        rule = rrulestr(pattern, dtstart=begin)
        previous = begin
        for _ in range(GAPS_CHECKED):  # not only the first gap: a rule may meet once soon, then centuries later
            following = rule.after(previous)
            if following is None or following.year - previous.year > MAX_GAP_YEARS:
                raise ValueError(f"this RRULE does not meet at least once every {MAX_GAP_YEARS} years")
            previous = following
    except (TypeError, OverflowError) as e:
        raise ValueError(f"not an RFC 5545 RRULE: {e}") from None
    return text.strip()


def _check_numbers(rule: dict) -> None:
    interval = rule.get("INTERVAL", [1])[0]
    if not isinstance(interval, int) or not 1 <= interval <= MAX_INTERVAL:
        raise ValueError(f"INTERVAL must be a whole number from 1 to {MAX_INTERVAL}")
    for count in rule.get("COUNT", []):
        if not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
            raise ValueError(f"COUNT must be a whole number from 1 to {MAX_COUNT}")
    for name, bound in _RANGES.items():
        for value in rule.get(name, []):
            try:
                number = int(value)
            except ValueError:
                raise ValueError(f"{name} value {shown(value)} is not a whole number") from None
            if number == 0 or abs(number) > bound or (name == "BYMONTH" and number < 0):
                raise ValueError(f"{name} value {number} is out of range")
