"""The only printer: rich tables for people, sorted JSON for programs. Whatever is stored, nothing printed
here can drive the terminal: control characters are dropped (tracker.core.rules) and rich markup is escaped."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from tracker.core.rules import one_line, visible


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def render_json(command: str, now: datetime, results: Any) -> None:
    """One envelope everywhere: {"command", "now", "results"}."""
    print(json_text(command, now, results))


def json_text(command: str, now: datetime, results: Any) -> str:
    """The envelope render_json prints (also what a command writes to a file)."""
    envelope = {"command": command, "now": now.isoformat(), "results": results}
    return json.dumps(envelope, sort_keys=True, ensure_ascii=False, indent=2, default=_default)


# Columns of words: wrapped at spaces to fit the terminal (a word longer than the column is folded). Every
# other column holds ids, slugs, codes, numbers or times, and keeps each value whole on one line (a list gets
# a line per value), so a narrow terminal never breaks `apec-officer` into `apec-off` and `icer`.
PROSE = frozenset({"title", "name", "role", "email", "about", "place", "note", "error", "old", "new", "when", "will",
                   "records", "path", "affects"})  # fmt: skip


def render_table(title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]], empty: str = "nothing") -> None:
    """A table of `columns` (keys of each row); a row with "_style" gets that rich style."""
    from rich.console import Console  # rich is imported only by what prints with it: --json does not need it
    from rich.table import Table
    from rich.text import Text

    console = Console(highlight=False)
    if not rows:
        console.print(f"[bold]{title}[/bold]: {empty}")
        return
    table = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        table.add_column(column.replace("_", " "), overflow="fold", no_wrap=column not in PROSE)
    for row in rows:
        table.add_row(*(Text(_shown(row.get(c), c in PROSE)) for c in columns), style=row.get("_style"))
    console.print(table)


def _shown(value: Any, prose: bool) -> str:
    if isinstance(value, list) and not prose:
        return "\n".join(one_line(_cell(v)) for v in value)
    return one_line(_cell(value))


def render_record(title: str, record: dict[str, Any], links: bool = False) -> None:
    """`title`, then each field on its own line, wrapped to the terminal; with `links`, the values are links left
    for the terminal to wrap, so that each stays one line to copy."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=links)
    console.print(f"[bold]{escape(one_line(title))}[/bold]")
    for key, value in record.items():
        if value not in (None, "", [], False):
            console.print(f"  [bold]{key.replace('_', ' ')}[/bold]: {escape(visible(_cell(value)))}")


def message(text: str) -> None:
    from rich.console import Console

    Console(highlight=False, stderr=True, soft_wrap=True).print(visible(text), markup=False)  # the terminal wraps


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
