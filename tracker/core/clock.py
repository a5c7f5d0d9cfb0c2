"""The package's only reader of the wall clock, and the parser for instants given by people."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker.core.errors import InvalidInput
from tracker.core.rules import OutOfRange, SkippedTime, check_date, check_wall_time, date_problem, shown


def zone(name: str) -> ZoneInfo:
    """The IANA zone called `name`, or InvalidInput naming it."""
    try:
        if len(name) > 64:  # the longest IANA name has 32 characters; longer ones only reach the file system
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(f"unknown time zone {shown(name)} (use an IANA name such as Asia/Taipei)") from None


def parse_instant(text: str, tz: ZoneInfo) -> datetime:
    """An aware UTC datetime from ISO-8601 text; a date or a naive time is read in `tz`."""
    try:
        value = datetime.fromisoformat(text.strip())
        check_date(value.date())
    except ValueError as e:
        if isinstance(e, OutOfRange):
            raise InvalidInput(f"{e}: {shown(text)}") from None
        raise InvalidInput(date_problem(text) or f"not an ISO-8601 date or date-time: {shown(text)}") from None
    if value.tzinfo is None:
        try:
            value = check_wall_time(value.replace(tzinfo=tz))
        except SkippedTime as e:
            raise InvalidInput(str(e)) from None
    return value.astimezone(UTC)


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight of `day` in `tz`, as aware UTC."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def now(tz: ZoneInfo, override: str | None = None, environ: dict[str, str] | None = None) -> datetime:
    """The current instant in UTC: `override`, else TRACKER_NOW, else the real clock."""
    environ = os.environ if environ is None else environ
    text = override or environ.get("TRACKER_NOW")
    if text:
        try:
            return parse_instant(text, tz)
        except InvalidInput as e:
            raise InvalidInput(f"{'--now' if override else 'TRACKER_NOW'}: {e}") from None
    return datetime.now(UTC)


def wall() -> datetime:
    """The real time, never overridden: only for operational timeouts (delivery leases), not for the data."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Fixed:
    """A clock stopped at `at` (--now / TRACKER_NOW)."""

    at: datetime

    def __call__(self) -> datetime:
        return self.at


def clock(tz: ZoneInfo, override: str | None = None) -> Callable[[], datetime]:
    """`now` as a function for long-running processes: the override (or TRACKER_NOW), parsed once, else the
    real time at each call. Picklable, so it reaches the server's worker processes."""
    if override or os.environ.get("TRACKER_NOW"):
        return Fixed(now(tz, override))
    return wall
