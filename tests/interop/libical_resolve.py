"""Run with Debian's /usr/bin/python3 (python3-gi, gir1.2-ical-3.0): libical, Evolution's parser, reads FILE.ics.

Prints JSON: "errors", the X-LIC-ERROR lines libical adds after check_restrictions on every top-level component
(it stops at the first failure otherwise), and "times", each DUE/DTSTART/DTEND date-time of each VTODO and VEVENT
resolved to UTC through the file's own VTIMEZONE of its TZID (or written in UTC).
"""

import json
import sys
from datetime import UTC, datetime

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib as I  # noqa: E402, E741 - after require_version, as gi wants

KINDS = {"DUE": I.PropertyKind.DUE_PROPERTY, "DTSTART": I.PropertyKind.DTSTART_PROPERTY,
         "DTEND": I.PropertyKind.DTEND_PROPERTY}  # fmt: skip


def top_level(root: I.Component, kind: I.ComponentKind) -> list[I.Component]:
    found, component = [], root.get_first_component(kind)
    while component is not None:
        found.append(component)
        component = root.get_next_component(kind)
    return found


def times(root: I.Component) -> list[dict]:
    out = []
    for kind in (I.ComponentKind.VTODO_COMPONENT, I.ComponentKind.VEVENT_COMPONENT):
        for component in top_level(root, kind):
            rid = component.get_first_property(I.PropertyKind.RECURRENCEID_PROPERTY)
            for name, prop_kind in KINDS.items():
                prop = component.get_first_property(prop_kind)
                value = I.Property.get_datetime_with_component(prop, component) if prop is not None else None
                if value is None or value.is_date():
                    continue
                tzid = prop.get_first_parameter(I.ParameterKind.TZID_PARAMETER)
                zone = root.get_timezone(tzid.get_tzid()) if tzid else I.Timezone.get_utc_timezone()
                utc = datetime.fromtimestamp(value.as_timet_with_zone(zone), UTC)
                recurrence_id = rid.get_recurrenceid().as_ical_string() if rid is not None else ""
                out.append({"uid": component.get_uid(), "recurrence_id": recurrence_id, "name": name,
                            "utc": utc.isoformat()})  # fmt: skip
    return out


def main(path: str) -> None:
    root = I.Component.new_from_string(open(path, encoding="utf-8").read())
    for component in top_level(root, I.ComponentKind.ANY_COMPONENT):
        component.check_restrictions()
    errors = [line for line in root.as_ical_string().splitlines() if "X-LIC-ERROR" in line]
    print(json.dumps({"errors": errors, "times": times(root)}))


if __name__ == "__main__":
    main(sys.argv[1])
