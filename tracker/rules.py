"""The rules every input path applies — YAML, ICS, command-line options, and later the web and CalDAV — so
that whatever is stored can be listed, exported and sent. Each check raises ValueError with a short reason;
the input path adds where (file:line: field) and turns it into InvalidInput."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# Line breaks that str.splitlines() honours: LF, CR, VT, FF, FS, GS, RS, NEL, LINE and PARAGRAPH SEPARATOR.
_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
# Bidirectional overrides and isolates: they make a terminal or a page show text in another order than stored.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

EARLIEST_YEAR, LATEST_YEAR = 1900, 2200  # every date tracker stores lies in these years (README "Limits")
SHOWN = 60  # at most this many characters of a value are echoed in an error


def _strip_controls(text: str, keep: str = "") -> str:
    return "".join(c for c in text if c in keep or (unicodedata.category(c) != "Cc" and c not in _BIDI))


def one_line(text: str) -> str:
    """`text` folded to one line: each run of line breaks and tabs becomes a space, other control characters
    go. For e-mail headers, table cells and error messages."""
    return _strip_controls(re.sub(r"(?:" + _BREAKS.pattern + r"|\t)+", " ", text)).strip()


def clean_line(text: str, limit: int) -> str:
    """A one-line field (a title, a name, a place): folded to one line; longer than `limit` is an error."""
    cleaned = one_line(text)
    if len(cleaned) > limit:
        raise ValueError(f"at most {limit} characters (this one has {len(cleaned)})")
    return cleaned


def clean_text(text: str, limit: int = 20_000) -> str:
    """A multi-line field (a description, a source quote): line breaks become \\n, tabs stay, other control
    characters (terminal escapes among them) go; longer than `limit` is an error."""
    cleaned = _strip_controls(_BREAKS.sub("\n", text), keep="\n\t").strip()
    if len(cleaned) > limit:
        raise ValueError(f"at most {limit} characters (this one has {len(cleaned)})")
    return cleaned


def shown(value: object) -> str:
    """A value as an error message echoes it: quoted, control characters escaped, cut to a readable length."""
    text = str(value)
    cut = text[:SHOWN]
    quoted = repr(cut)
    return quoted + (f"… ({len(text)} characters)" if len(text) > SHOWN else "")


def check_date(day: date) -> date:
    """A date within the years tracker stores (1900–2200), checked before any zone arithmetic, which would
    overflow at the edges of Python's range."""
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise ValueError(f"dates must lie in the years {EARLIEST_YEAR}–{LATEST_YEAR}, not {day.year}")
    return day
