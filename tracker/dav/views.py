"""How a person's app shows a collection: the properties it sets with PROPPATCH (a list's name, colour, order,
description, time zone and default alarms), kept per person and collection in `dav_views`.

Apple's Calendar and Reminders set a colour and an order on a calendar they may write, and stop syncing an account
whose server refuses (sabre-io/dav#935). What they set is the person's view, not the register's: it renames or
colours nothing for anybody else, and only the properties below are taken. What a collection is (its resource
type, the components it holds) is the register's and is refused."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime

from icalendar import Calendar, Component
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.core import rules
from tracker.core.errors import Forbidden, InvalidInput
from tracker.core.models import DavView, Person

PROTECTED = ("tag", "C:supported-calendar-component-set")  # what the collection is: the register decides
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}(?:[0-9A-Fa-f]{2})?")


def _name(value: str) -> str:
    return rules.clean_line(value, 200)


def _description(value: str) -> str:
    return rules.clean_text(value, 2000)


def _color(value: str) -> str:
    if not _COLOR.fullmatch(value.strip()):
        raise ValueError("a colour is #RRGGBB or #RRGGBBAA")
    return value.strip()


def _order(value: str) -> str:
    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise ValueError("an order is a whole number of at most 9 digits")
    return str(int(text))


def _ical(value: str, limit: int, parse: Callable[[str], Component]) -> Component | None:
    """The iCalendar text of a property, parsed; None when empty (no such setting)."""
    text = value.strip()
    if not text:
        return None
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters (this one has {len(text)})")
    try:
        return parse(text)
    except ValueError as e:
        raise ValueError(f"not iCalendar text: {rules.one_line(str(e))[:200]}") from None


def _time_zone(value: str) -> str:
    """RFC 4791 §5.2.2: a VCALENDAR holding one VTIMEZONE and nothing else."""
    found = _ical(value, 20_000, Calendar.from_ical)
    if found is not None and (found.name != "VCALENDAR" or [c.name for c in found.subcomponents] != ["VTIMEZONE"]):
        raise ValueError("not a VTIMEZONE alone in a VCALENDAR")
    return value.strip()


def _alarm(value: str) -> str:
    """A VALARM with its ACTION and TRIGGER (RFC 5545 §3.6.6): apps take a default alarm as it is served back."""
    found = _ical(value, 4000, Component.from_ical)
    if found is not None and found.name != "VALARM":
        raise ValueError("not a VALARM")
    if found is not None and not {"ACTION", "TRIGGER"} <= set(found):
        raise ValueError("a VALARM has an ACTION and a TRIGGER")
    return value.strip()


# Radicale's names of the properties an app may set, each with its check.
PROPERTIES: dict[str, Callable[[str], str]] = {
    "D:displayname": _name,
    "C:calendar-description": _description,
    "ICAL:calendar-color": _color,
    "ICAL:calendar-order": _order,
    "C:calendar-timezone": _time_zone,
    "C:default-alarm-vevent-date": _alarm,
    "C:default-alarm-vevent-datetime": _alarm,
    "C:default-alarm-vtodo-date": _alarm,
    "C:default-alarm-vtodo-datetime": _alarm,
}


def views(session: Session, user: str) -> dict[str, dict[str, str]]:
    """{collection path ("apec-officer/items"): the properties set on it} of everything `user`'s apps have set."""
    found = select(DavView.collection, DavView.props).join(Person, Person.id == DavView.person_id)
    return {collection: props for collection, props in session.execute(found.where(Person.slug == user))}


def wanted(base: Mapping[str, str], props: Mapping[str, str]) -> dict[str, str]:
    """What differs from the collection's own properties (`base`) in `props`, the whole set Radicale asks to keep
    after a PROPPATCH, checked. Forbidden for a change to what the collection is or a property not taken here;
    InvalidInput for a bad value."""
    for name in PROTECTED:
        if props.get(name) != base.get(name):
            raise Forbidden("A list's kind is the register's: an app may set its name, colour, order, description, "
                            "time zone and default alarms.")  # fmt: skip
    changed = {name: value for name, value in props.items() if name not in PROTECTED and base.get(name) != value}
    unknown = sorted(set(changed) - set(PROPERTIES))
    if unknown:
        raise Forbidden(f"The property {rules.shown(unknown[0])} is not kept here: an app may set a list's name, "
                        "colour, order, description, time zone and default alarms.")  # fmt: skip
    checked = {}
    for name, value in changed.items():
        try:
            checked[name] = PROPERTIES[name](value)
        except ValueError as e:
            raise InvalidInput(f"{name}: {e}") from None
    return {name: value for name, value in checked.items() if value or name != "D:displayname"}


def keep(session: Session, user: str, collection: str, props: dict[str, str], now: datetime) -> None:
    """Keep `props` (from `wanted`) as `user`'s view of `collection`: none left, the row goes."""
    person_id = session.scalar(select(Person.id).where(Person.slug == user))
    row = session.get(DavView, (person_id, collection))
    if not props:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        session.add(DavView(person_id=person_id, collection=collection, props=props, updated_at=now))
    else:
        row.props, row.updated_at = props, now
