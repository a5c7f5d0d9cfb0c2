"""Views of the register, shared by `tracker items` and the web desk: a filter, sort and order read from text (the
CLI's options, the register page's URL) with the CLI's error words; a page of 50; every row as CSV; and what changed
since a person's last visit."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer, selectinload

from tracker.core import clock, rules
from tracker.core.errors import InvalidInput
from tracker.core.models import Item, ItemChange, ItemOwner
from tracker.core.vocab import N_
from tracker.register import items

PER_PAGE = 50
Q_MAX = 200
TEXT_FILTERS = ("status", "owner", "category", "meeting", "committee", "due_after", "due_before", "overdue", "q")
# The register page's URL parameters, in the order its links write them: a bookmark of a view is its query string.
PARAMS = (*TEXT_FILTERS, "sort", "order")
_YES, _NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")
# Everything a page's rows show, loaded with the page (not one query per row); not the JSON they do not show.
ROW_LOAD = (
    defer(Item.loaded),
    defer(Item.reminder_policy),
    selectinload(Item.owner_links).joinedload(ItemOwner.person),
    *(selectinload(r) for r in (Item.meeting, Item.serves_meeting, Item.serves_series, Item.committee)),
)  # selectin, not joined: a join would wrap the sorted, limited query in a subquery and sort it again


@dataclass(frozen=True)
class View:
    """What to list and how: `filters` are `items.matching`'s keywords; `given` the text each was read from."""

    filters: dict[str, Any]
    sort: str
    order: str | None
    given: dict[str, str]

    def params(self, **changes: str | int | None) -> dict[str, str]:
        """The URL query of this view (with `changes`, e.g. page=2): only what was given, in PARAMS order."""
        given = {**self.given, **{k: str(v) for k, v in changes.items() if v is not None}}
        return {k: given[k] for k in (*PARAMS, "page") if given.get(k)}


def _option(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def view(values: Mapping[str, Any], tz: ZoneInfo) -> View:
    """A view from text values (absent or empty: no such filter); InvalidInput in the CLI's words when one is not
    what that option takes. Slugs (owner, meeting, committee) are checked when the view is queried (NotFound)."""
    given = {k: str(v).strip() for k, v in values.items() if k in PARAMS and v not in (None, False, "")}
    given = {k: "1" if values[k] is True else v for k, v in given.items()}
    filters: dict[str, Any] = {"status": items.parse_statuses(given.get("status"))}
    for name in ("owner", "category", "meeting", "committee"):
        filters[name] = given.get(name)
    for name in ("due_after", "due_before"):
        try:
            filters[name] = clock.parse_instant(given[name], tz) if name in given else None
        except InvalidInput as e:
            raise InvalidInput(f"{_option(name)}: {e}") from None
    overdue = given.get("overdue", "").lower()
    if overdue not in (*_YES, *_NO):
        raise InvalidInput(f"--overdue: use 1 (only overdue items) or 0, not {rules.shown(given['overdue'])}")
    filters["overdue"] = overdue in _YES
    if len(given.get("q", "")) > Q_MAX:
        raise InvalidInput(f"--q: at most {Q_MAX} characters")
    filters["q"] = given.get("q")
    sort, order = given.get("sort", "due"), given.get("order")
    if sort not in items.SORTS:
        raise InvalidInput(f"--sort: use {', '.join(items.SORTS)}, not {rules.shown(sort)}")
    if order is not None and order not in items.ORDERS:
        raise InvalidInput(f"--order: use {' or '.join(items.ORDERS)}, not {rules.shown(order)}")
    return View(filters, sort, order, given)


def page_number(text: str | None) -> int:
    """The page a URL asks for (1 when absent)."""
    if not text:
        return 1
    number = rules.row_id(text.strip())
    if number is None or number < 1:
        raise InvalidInput(f"page: a whole number from 1, not {rules.shown(text)}")
    return number


@dataclass(frozen=True)
class Page:
    items: list[Item]
    total: int  # matching items, on every page
    number: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))


def page(session: Session, now: datetime, view: View, number: int = 1, size: int = PER_PAGE) -> Page:
    """One page of the view, counted and fetched in SQL."""
    return page_of(session, items.matching(session, now, **view.filters), view.sort, view.order, number, size)


def page_of(session: Session, query: Any, sort: str = "due", order: str | None = None, number: int = 1,
            size: int = PER_PAGE) -> Page:  # fmt: skip
    """One page of the items `query` (an `items.matching` query, perhaps narrowed further) selects. The page's ids
    and the count come from one statement (COUNT(*) OVER ()): the filter runs once, not once for each, and the sort
    carries ids and sort keys only, not whole rows with their descriptions; then the page's 50 rows are read."""
    counted = items.ordered(query.with_only_columns(Item.id), sort, order).add_columns(func.count().over())
    found = session.execute(counted.limit(size).offset((number - 1) * size)).all()
    if not found:
        total = session.scalar(query.with_only_columns(func.count(Item.id)).order_by(None))  # a page past the end
        return Page([], total or 0, number, size)
    return Page(_rows(session, [item_id for item_id, _ in found]), found[0][1], number, size)


def due_split(session: Session, query: Any, now: datetime, size: int) -> tuple[Page, Page]:
    """The first `size` overdue items of `query` and the first `size` of the rest, soonest due first, each with its
    count (My desk): one narrow query of ids, then the shown rows."""
    found = session.execute(items.ordered(query.with_only_columns(Item.id, items.overdue_clause(now)), "due")).all()
    late = [item_id for item_id, overdue in found if overdue]
    rest = [item_id for item_id, overdue in found if not overdue]
    shown, cut = _rows(session, late[:size] + rest[:size]), min(size, len(late))
    return Page(shown[:cut], len(late), 1, size), Page(shown[cut:], len(rest), 1, size)


def _rows(session: Session, ids: list[int]) -> list[Item]:
    """The items of `ids`, in that order, with what a row shows loaded."""
    loaded = {item.id: item for item in session.scalars(select(Item).where(Item.id.in_(ids)).options(*ROW_LOAD))}
    return [loaded[item_id] for item_id in ids]


def every(session: Session, now: datetime, view: View) -> list[Item]:
    """Every item of the view, in its order (the CSV, `tracker items`)."""
    query = items.ordered(items.matching(session, now, **view.filters), view.sort, view.order)
    return list(session.scalars(query.options(*ROW_LOAD)).unique())


# The columns, by the names of `tracker items --json`; a person's CSV from the desk heads them in their language
# (marked for the catalogs: a Chinese desk files it as it is), the cells keep the register's values.
CSV_COLUMNS = (N_("id"), N_("slug"), N_("title"), N_("status"), N_("due"), N_("overdue"), N_("owners"), N_("priority"),
               N_("category"), N_("meeting"), N_("serves"), N_("committee"), N_("updated_at"), N_("description"),
               N_("source_quote"), N_("note"))  # fmt: skip
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection"): such a cell gets a
# leading apostrophe, which spreadsheets show as text and do not keep.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A value as a CSV cell: a list joined, yes/no, and text a spreadsheet would run as a formula neutralised."""
    text = ", ".join(value) if isinstance(value, list) else ("yes" if value is True else "no" if value is False
                                                               else "" if value is None else str(value))  # fmt: skip
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows: list[dict[str, Any]], heading: Callable[[str], str] = str) -> str:
    """Rows (`items.readable(items.as_dict(...), tz)`) as CSV, with a BOM so Excel reads UTF-8 (Chinese quotes);
    `heading` writes each column's name in the header (a Language's gettext: in the reader's language)."""
    return csv_table([heading(column) for column in CSV_COLUMNS], ([row[c] for c in CSV_COLUMNS] for row in rows))


def csv_table(header: list[str], rows: Iterable[list[Any]]) -> str:
    """A header and rows of values as CSV (each cell `csv_cell`), with a BOM so Excel reads UTF-8 (Chinese
    quotes); also the reports' CSV (tracker.register.reports)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(name) for name in header])
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return out.getvalue()


def changes_since(
    session: Session, since: datetime, person_id: int, committees: frozenset[int], everything: bool, limit: int = 50
) -> list[tuple[ItemChange, Item]]:
    """The newest changes after `since` (at most `limit`), to the items the person owns or whose committee they sit
    on, or to every item when `everything` (a lead's desk)."""
    query = select(ItemChange, Item).join(Item, ItemChange.item_id == Item.id).where(ItemChange.at > since)
    if not everything:
        mine = Item.owner_links.any(ItemOwner.person_id == person_id)
        query = query.where(or_(mine, Item.committee_id.in_(committees)) if committees else mine)
    return list(session.execute(query.order_by(ItemChange.at.desc(), ItemChange.id.desc()).limit(limit)))
