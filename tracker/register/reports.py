"""Reports for people who file or forward them: the register (filtered as `tracker items` and the register page),
what a meeting was promised and where each promise stands now, and who is late with what. Rows hold what a person
reads (owners' names, status words, priority-area names, meeting titles, dates) in the reader's language and zone,
written as CSV (register.listing's, formulas neutralised), as XLSX (openpyxl: typed cells, dates as dates, text
never a formula) or as JSON.

"role" is our role in the item's committee (lead or member, Committee.role): what the desk answers for. Owners'
job titles are on the people pages."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tracker.core.i18n import Language, language
from tracker.core.models import Item, Meeting, MeetingSeries, Status
from tracker.core.vocab import N_
from tracker.register import items, listing

ENGLISH = language("en")
FORMATS = ("csv", "xlsx", "json")
# (key, header): the key names the value in JSON; the header heads the column, in the reader's language.
REGISTER = (("id", N_("id")), ("slug", N_("slug")), ("title", N_("title")), ("owners", N_("owners")),
            ("role", N_("our role")), ("category", N_("category")), ("committee", N_("committee")),
            ("meeting", N_("from meeting")), ("serves", N_("serves")), ("due", N_("due")), ("status", N_("status")),
            ("completed", N_("completed")), ("source_quote", N_("source quote")),
            ("last_change", N_("last change")))  # fmt: skip
PROMISED = (*REGISTER[:11], ("days_late", N_("days late")), *REGISTER[11:])
OVERDUE = (("owner", N_("owner")), *(c for c in REGISTER if c[0] in ("id", "slug", "title", "due")),
           ("days_late", N_("days late")), *(c for c in REGISTER if c[0] in ("status", "category", "committee",
                                                                            "meeting", "serves")))  # fmt: skip
COUNTS = (("done", N_("done")), ("open", N_("open, not late")), ("overdue", N_("overdue")),
          ("cancelled", N_("cancelled")), ("total", N_("total")))  # fmt: skip


@dataclass(frozen=True)
class Report:
    """One report: `rows` of typed values (int, str, date, aware datetime in the reader's zone, or None) under
    `columns`; `summary` (label, value) pairs shown beside them (a meeting's counts)."""

    name: str
    title: str
    columns: tuple[tuple[str, str], ...]
    rows: list[dict[str, Any]]
    summary: list[tuple[str, str, Any]] = field(default_factory=list)  # (key, label, value)


def _local(at: datetime | None, tz: ZoneInfo) -> datetime | None:
    """An instant in the reader's zone, to the minute (as the tables show it: timing.minute)."""
    return at and (at + timedelta(seconds=30)).astimezone(tz).replace(second=0, microsecond=0)


def _due(item: Item, tz: ZoneInfo) -> date | datetime | None:
    """A due day is a date (the item's own day); a due time is an instant in the reader's zone."""
    if item.due is None:
        return None
    return item.due.astimezone(ZoneInfo(item.tz)).date() if item.due_all_day else _local(item.due, tz)


def days_late(item: Item, now: datetime) -> int | None:
    """Whole days since an overdue item's deadline (0 on its first late day); None when it is not overdue."""
    return (now - items.deadline(item)).days if items.is_overdue(item, now) else None


def row(item: Item, now: datetime, tz: ZoneInfo, lang: Language = ENGLISH) -> dict[str, Any]:
    """An item as a report's row (every key of PROMISED)."""
    serves = item.serves_meeting or item.serves_series
    committee = item.committee
    return {
        "id": item.id, "slug": item.slug, "title": item.title, "owners": ", ".join(p.name for p in item.owners),
        "role": lang.pgettext("committee role", committee.role.value) if committee else None,
        "category": lang.category(item.category) if item.category else None,
        "committee": committee.name if committee else None, "meeting": item.meeting and item.meeting.title,
        "serves": serves and serves.title, "due": _due(item, tz), "status": lang.status(item.status.value),
        "days_late": days_late(item, now), "completed": _local(item.completed_at, tz),
        "source_quote": item.source_quote or None, "last_change": _local(item.updated_at, tz),
    }  # fmt: skip


def register(session: Session, now: datetime, view: listing.View, tz: ZoneInfo, lang: Language = ENGLISH) -> Report:
    """Every item of the register's view (the filters of `tracker items`), in its order."""
    rows = [row(item, now, tz, lang) for item in listing.every(session, now, view)]
    return Report("register", lang.gettext("Register"), REGISTER, rows)


def _promised_query(session: Session, slug: str) -> tuple[str, Any]:
    """The title of the meeting or series `slug`, and the clause of the items promised for it: those that came from
    it or serve it, and (a meeting of a series) those that serve its series; for a series, those that serve it or
    came from or serve any of its meetings."""
    meeting = items.by_slug(session, Meeting, slug)
    if meeting is not None:
        clauses = [Item.meeting_id == meeting.id, Item.serves_meeting_id == meeting.id]
        if meeting.series_id is not None:
            clauses.append(Item.serves_series_id == meeting.series_id)
        return meeting.title, or_(*clauses)
    series = items.by_slug(session, MeetingSeries, slug)
    if series is None:
        raise items.unknown_slug(session, (Meeting, MeetingSeries), slug)
    held = select(Meeting.id).where(Meeting.series_id == series.id)
    return series.title, or_(Item.serves_series_id == series.id, Item.meeting_id.in_(held),
                             Item.serves_meeting_id.in_(held))  # fmt: skip


def promised(session: Session, now: datetime, slug: str, tz: ZoneInfo, lang: Language = ENGLISH) -> Report:
    """What meeting (or series) `slug` was promised and where each promise stands now, soonest due first, with
    the counts: done, open and not late, overdue, cancelled (these four add up to the total)."""
    title, promised_here = _promised_query(session, slug)
    found = list(session.scalars(items.ordered(select(Item).where(promised_here)).options(*listing.ROW_LOAD)))
    counts = dict.fromkeys((key for key, _ in COUNTS), 0)
    for item in found:
        state = item.status.value if item.status in (Status.done, Status.cancelled) else "open"
        counts["overdue" if items.is_overdue(item, now) else state] += 1
    counts["total"] = len(found)
    summary = [("meeting", lang.gettext("Meeting"), title), ("as_of", lang.gettext("As of"), _local(now, tz)),
               *((key, lang.gettext(label), counts[key]) for key, label in COUNTS)]  # fmt: skip
    rows = [row(item, now, tz, lang) for item in found]
    return Report("promised", lang.gettext("Promised vs status"), PROMISED, rows, summary)


def overdue(session: Session, now: datetime, view: listing.View, tz: ZoneInfo, lang: Language = ENGLISH) -> Report:
    """Each owner's overdue items (of the view's other filters), owners by name, the latest item first; an item
    with several owners is listed under each (only under the one --owner names), one without under "no owner"."""
    late = replace(view, filters={**view.filters, "status": None, "overdue": True})
    nobody = [(lang.gettext("no owner"), "")]
    rows = []
    for item in listing.every(session, now, late):
        base = row(item, now, tz, lang)
        owners = [(p.name, p.slug) for p in item.owners if view.filters["owner"] in (None, p.slug)]
        rows += [{"owner": name, "owner_slug": slug, **base} for name, slug in owners or nobody]
    rows.sort(key=lambda r: (r["owner_slug"] == "", r["owner"], r["owner_slug"], -r["days_late"], r["id"]))
    return Report("overdue", lang.gettext("Overdue by owner"), OVERDUE, rows)


# --- writers ---------------------------------------------------------------------------------------------------


def text(value: Any) -> Any:
    """A value as the CSV writes it: a time to the minute ("2008-09-01 09:05"), a date in ISO."""
    return f"{value:%Y-%m-%d %H:%M}" if isinstance(value, datetime) else value


def csv_text(report: Report, lang: Language = ENGLISH) -> str:
    """The report's rows as CSV, headed in `lang`; cells a spreadsheet would run as formulas are neutralised."""
    rows = ([text(r[key]) for key, _ in report.columns] for r in report.rows)
    return listing.csv_table([lang.gettext(header) for _, header in report.columns], rows)


def as_json(report: Report) -> dict[str, Any] | list[dict[str, Any]]:
    """The report for programs: its rows (keys as in `columns`), with the summary's values for a meeting's."""
    rows = [{key: _iso(r[key]) for key, _ in report.columns} | _owner_slug(r) for r in report.rows]
    if not report.summary:
        return rows
    return {key: _iso(value) for key, _, value in report.summary} | {"items": rows}


def _owner_slug(r: dict[str, Any]) -> dict[str, Any]:
    return {"owner_slug": r["owner_slug"] or None} if "owner_slug" in r else {}


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


_DATE, _TIME = "yyyy-mm-dd", "yyyy-mm-dd hh:mm"  # what the CSV writes: LibreOffice's CSV of the XLSX is the same
_WIDEST = 60  # characters: a long title or quote wraps in its cell instead of widening the sheet


def xlsx_bytes(report: Report, lang: Language = ENGLISH) -> bytes:
    """The report as an XLSX workbook: a sheet of its rows (a bold, frozen header with a filter, columns as wide as
    their text up to _WIDEST, dates as dates), then a sheet of its summary, if any."""
    from openpyxl import Workbook  # only what writes a workbook pays for importing openpyxl

    book = Workbook()
    sheet = book.active
    sheet.title = _sheet_name(report.title)
    _fill(sheet, [lang.gettext(header) for _, header in report.columns],
          [[r[key] for key, _ in report.columns] for r in report.rows])  # fmt: skip
    if report.rows:
        sheet.auto_filter.ref = sheet.dimensions
    if report.summary:
        _fill(book.create_sheet(_sheet_name(lang.gettext("Summary"))), [lang.gettext("what"), lang.gettext("value")],
              [[label, value] for _, label, value in report.summary])  # fmt: skip
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_name(title: str) -> str:
    """Excel's sheet names: at most 31 characters, none of []:*?/\\."""
    return "".join(c for c in title if c not in "[]:*?/\\")[:31]


def _fill(sheet: Any, header: list[str], rows: Iterable[list[Any]]) -> None:  # noqa: ANN401 - an openpyxl Worksheet
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    widths = [_width(name) for name in header]
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for values in rows:
        sheet.append([_cell_value(v) for v in values])
        for n, (cell, value) in enumerate(zip(sheet[sheet.max_row], values, strict=True)):
            _type(cell, value)
            widths[n] = max(widths[n], _width(cell.value))
    for n, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(n)].width = min(width, _WIDEST) + 2
        if width > _WIDEST:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=n, max_col=n):
                cell.alignment = Alignment(wrap_text=True, vertical="top")


def _cell_value(value: Any) -> Any:
    """A value openpyxl can store: Excel has no time zones (a time is the reader's wall clock), and a workbook
    cannot hold the control characters openpyxl refuses."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def _type(cell: Any, value: Any) -> None:  # noqa: ANN401 - an openpyxl Cell
    """Text stays text: openpyxl would store "=HYPERLINK(…)" as a formula, which a spreadsheet runs; a string cell
    with Excel's quote prefix shows it as typed, and never runs it. Dates and times get their ISO formats."""
    if isinstance(value, str):
        cell.data_type = "s"
        cell.quotePrefix = value.startswith(listing.FORMULA_STARTS)
    elif isinstance(value, datetime):
        cell.number_format = _TIME
    elif isinstance(value, date):
        cell.number_format = _DATE


def _width(value: Any) -> int:
    """Characters a value takes in a column; East Asian wide characters count two; a cell's longest line counts."""
    if value is None:
        return 0
    if isinstance(value, datetime | date):
        return len(_TIME if isinstance(value, datetime) else _DATE)
    lines = str(value).splitlines() or [""]
    return max(sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line) for line in lines)
