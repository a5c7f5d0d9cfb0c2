"""Run with Debian's /usr/bin/python3 (python3-gi, gir1.2-ical-3.0): libical, Evolution's parser, checks an iTIP
message (FILE.ics). check_restrictions on the VCALENDAR applies RFC 5546's table for its METHOD to each component
(ORGANIZER, ATTENDEE, SEQUENCE, ...); prints the X-LIC-ERROR lines it adds, as JSON."""

import json
import sys

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib as I  # noqa: E402, E741 - after require_version, as gi wants

root = I.Component.new_from_string(open(sys.argv[1], encoding="utf-8").read())
root.check_restrictions()
print(json.dumps([line for line in root.as_ical_string().splitlines() if "X-LIC-ERROR" in line]))
