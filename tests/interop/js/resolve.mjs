// node resolve.mjs FILE.ics -> one JSON line per DUE/DTSTART/DTEND of each VTODO and VEVENT:
// {"uid", "recurrence_id", "name", "utc"}, each time resolved through the file's own VTIMEZONEs (as Thunderbird's
// parser does for a zone it is given), never through a built-in zone database.
import ICAL from "ical.js";
import fs from "node:fs";

const root = new ICAL.Component(ICAL.parse(fs.readFileSync(process.argv[2], "utf8")));
for (const zone of root.getAllSubcomponents("vtimezone")) ICAL.TimezoneService.register(new ICAL.Timezone(zone));
for (const component of [...root.getAllSubcomponents("vtodo"), ...root.getAllSubcomponents("vevent")]) {
  for (const name of ["due", "dtstart", "dtend"]) {
    const value = component.getFirstPropertyValue(name);
    if (!value || value.isDate) continue;
    const rid = component.getFirstPropertyValue("recurrence-id");
    console.log(JSON.stringify({
      uid: component.getFirstPropertyValue("uid"),
      recurrence_id: rid ? rid.toString() : "",
      name: name.toUpperCase(),
      utc: new Date(value.toUnixTime() * 1000).toISOString(),
    }));
  }
}
