"""Helpers for reading what tracker publishes with real parsers and clients."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from icalendar import Calendar

BIN = Path(sys.executable).parent


def components(data: bytes) -> dict[tuple[str, str, str], bytes]:
    """(name, UID, RECURRENCE-ID) → the component's own bytes."""
    cal = Calendar.from_ical(data)
    out = {}
    for comp in cal.subcomponents:
        if comp.name == "VTIMEZONE":
            continue
        rid = comp.get("RECURRENCE-ID")
        out[(comp.name, str(comp["UID"]), rid.to_ical().decode() if rid is not None else "")] = comp.to_ical()
    return out


def write_vdir(data: bytes, folder: Path) -> int:
    """Split a calendar into a vdir: one file per UID (master + overrides + the calendar's own VTIMEZONEs of the
    zones they use), as khal requires."""
    cal = Calendar.from_ical(data)
    groups: dict[str, list] = defaultdict(list)
    zones = {str(comp["TZID"]): comp for comp in cal.subcomponents if comp.name == "VTIMEZONE"}
    for comp in cal.subcomponents:
        if comp.name != "VTIMEZONE":
            groups[str(comp["UID"])].append(comp)
    folder.mkdir(parents=True, exist_ok=True)
    for uid, comps in groups.items():
        one = Calendar()
        one.add("PRODID", "-//tests//vdir//EN")
        one.add("VERSION", "2.0")
        for comp in comps:
            one.add_component(comp)
        one.subcomponents[:0] = [zones[tzid] for tzid in sorted(one.get_used_tzids())]
        name = re.sub(r"[^A-Za-z0-9.-]", "_", uid)
        (folder / f"{name}.ics").write_bytes(one.to_ical())
    return len(groups)


def khal(conf_dir: Path, vdir: Path, *args: str) -> str:
    conf = conf_dir / "khal.conf"
    conf.write_text(
        f"""[calendars]
[[tracker]]
path = {vdir}
type = calendar
[locale]
local_timezone = Asia/Taipei
default_timezone = Asia/Taipei
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M
[sqlite]
path = {conf_dir / "khal.db"}
[default]
default_calendar = tracker
"""
    )
    out = subprocess.run([BIN / "khal", "-c", conf, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Skipping" not in out.stderr, out.stderr
    return out.stdout


def todoman(conf_dir: Path, vdir_parent: Path, *args: str) -> str:
    conf = conf_dir / "todoman.py"
    conf.write_text(
        f'path = "{vdir_parent}/*"\ncache_path = "{conf_dir / "todoman.sqlite3"}"\n'
        'date_format = "%Y-%m-%d"\ntime_format = "%H:%M"\ndefault_list = "tracker"\n'
    )
    env = {"TZ": "Asia/Taipei", "PATH": "/usr/bin:/bin", "HOME": str(conf_dir)}
    out = subprocess.run(
        [BIN / "todo", "-c", conf, "--color", "never", *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    return out.stdout
