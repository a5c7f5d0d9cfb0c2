"""CalDAV benchmark: a 10,000-task collection served by `tracker serve` (/dav/, tracker's storage) beside Radicale
3.9 with its own multifilesystem storage holding the same VTODOs, all in one run, interleaved per repeat:

- PROPFIND, Depth 1, getetag (what a client asks first to see what changed);
- the full report: calendar-query REPORT, comp-filter VTODO, getetag + calendar-data (a first sync);
- a sync-collection REPORT (RFC 6578, getetag) after one change, with the token from the previous sync.

    .venv/bin/python bench/dav_server.py [--items 10000] [--repeats 5] [--max-seconds 600]

Prints medians and the ratios that matter on a noisy machine: ours / Radicale for the full report (target ≤ 1.0)
and our one-change sync / our full report (target ≤ 0.05), Radicale's own for context. Radicale gets the bytes our
server serves, as one VCALENDAR PUT to its collection URL (Radicale splits it into one item per UID). Our change is
`items.done` (what the CLI and the web call), Radicale's a PUT of that item with STATUS:COMPLETED. Both servers bind
127.0.0.1; every wait is bounded and the measured loop stops after --max-seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from feed_server import free_port, wait_for  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from tracker.core import store  # noqa: E402
from tracker.core.models import AccessRole, Account, Item, ItemOwner, Person, Status  # noqa: E402
from tracker.register import app_passwords, items  # noqa: E402

NOW = datetime(2008, 9, 1, tzinfo=UTC)
OWNER = "bench"
TARGETS = {"full report": 1.0, "one-change sync": 0.05}
DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
PROPFIND = b"""<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>"""
CALENDAR_QUERY = b"""<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:getetag/><c:calendar-data/></d:prop>
  <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VTODO"/></c:comp-filter></c:filter>
</c:calendar-query>"""
SYNC_COLLECTION = """<?xml version="1.0" encoding="utf-8"?>
<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level>
  <d:prop><d:getetag/></d:prop></d:sync-collection>"""
# A VTODO or VTIMEZONE block as served (BEGIN/END lines are never folded); VALARMs stay inside their VTODO.
COMPONENT = re.compile(rb"^BEGIN:(VTODO|VTIMEZONE)\r?\n.*?^END:\1\r?\n", re.MULTILINE | re.DOTALL)
TZID = re.compile(rb"^TZID:(.*?)\r?$", re.MULTILINE)
UID = re.compile(rb"^UID:(.*?)\r?$", re.MULTILINE)


def seed(engine, n: int) -> str:
    """One person with an account owning `n` open items (every other one due at a time of day in Asia/Taipei, so
    VTIMEZONEs are served too), last changed a second apart as in a register worked on over time, inserted in
    bulk; returns the person's app password."""
    with store.transaction(engine, write=True) as session:
        person = Person(slug=OWNER, name="Bench Owner", email="bench@example.org", tz="Asia/Taipei")
        session.add(person)
        session.flush()
        session.add(Account(person_id=person.id, role=AccessRole.officer, created_at=NOW))
        session.execute(insert(Item), [
            {"slug": f"bench-{i}", "uid": f"item-bench-{i}@tracker",
             "title": f"跟進事項 {i}: follow-up, with commas; and semicolons",
             "description": "說明 " * 40 + f"\nline two of {i}, with; punctuation\\ and a backslash",
             "due": NOW + timedelta(days=i % 700, hours=i % 2 * 9), "due_all_day": i % 2 == 0, "tz": "Asia/Taipei",
             "status": Status.open, "priority": ("high", "medium", "low")[i % 3], "category": "innovation",
             "source_quote": "會中並鼓勵各會員體自願在9月底前參加各項KPIs制訂小組",
             "created_at": NOW - timedelta(days=1), "updated_at": NOW - timedelta(seconds=n - i), "loaded": {}}
            for i in range(n)
        ])  # fmt: skip
        ids = session.scalars(select(Item.id)).all()
        session.execute(insert(ItemOwner), [{"item_id": i, "person_id": person.id, "position": 0} for i in ids])
        _, password = app_passwords.create(session, OWNER, "bench", NOW)
    return password


def start_tracker(db: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "TRACKER_DB": db, "TRACKER_NOW": NOW.isoformat()}
    command = [ROOT / ".venv/bin/tracker", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{port}/healthz")
    return server, f"http://127.0.0.1:{port}"


def start_radicale(folder: Path, user: str, password: str) -> tuple[subprocess.Popen, str]:
    """Radicale from the venv with its multifilesystem storage in `folder`, htpasswd (plain), no failure delay."""
    port = free_port()
    (folder / "users").write_text(f"{user}:{password}\n")
    config = folder / "radicale.conf"
    config.write_text(f"""[server]
hosts = 127.0.0.1:{port}
[auth]
type = htpasswd
htpasswd_filename = {folder / "users"}
htpasswd_encryption = plain
delay = 0
[rights]
type = owner_only
[storage]
filesystem_folder = {folder / "collections"}
[logging]
level = warning
""")
    command = [ROOT / ".venv/bin/python", "-m", "radicale", "--config", str(config)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{port}/.web/")
    return server, f"http://127.0.0.1:{port}"


def one_calendar(calendars: list[bytes]) -> bytes:
    """The VTODOs of `calendars` (byte for byte) in one VCALENDAR, each VTIMEZONE they use once."""
    zones: dict[bytes, bytes] = {}
    todos = []
    for calendar in calendars:
        for found in COMPONENT.finditer(calendar):
            block = found.group(0)
            if found.group(1) == b"VTODO":
                todos.append(block)
            else:
                zones.setdefault(TZID.search(block).group(1), block)
    head = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tracker//caldav bench//EN\r\n"
    return head + b"".join([*zones.values(), *todos]) + b"END:VCALENDAR\r\n"


class Collection:
    """One CalDAV collection on one server, with a kept-alive HTTP client and the sync token it last saw."""

    def __init__(self, name: str, url: str, auth: tuple[str, str]) -> None:
        self.name, self.url = name, url
        self.client = httpx.Client(auth=auth, timeout=600)
        self.token = ""

    def request(self, method: str, body: bytes, depth: str = "1") -> tuple[float, ElementTree.Element]:
        """Seconds until the whole body of a 207 had arrived, and the parsed multistatus (parsed after timing)."""
        headers = {"Depth": depth, "Content-Type": "application/xml; charset=utf-8"}
        started = time.perf_counter()
        response = self.client.request(method, self.url, content=body, headers=headers)
        seconds = time.perf_counter() - started
        if response.status_code != 207:
            raise SystemExit(f"{self.name}: {method} {self.url} gave {response.status_code}: {response.text[:500]}")
        return seconds, ElementTree.fromstring(response.content)

    def propfind(self, n: int) -> float:
        seconds, tree = self.request("PROPFIND", PROPFIND)
        responses = tree.findall(f"{DAV}response")
        check(self.name, "PROPFIND responses (the collection and its items)", len(responses), n + 1)
        etags = [e for e in tree.iterfind(f"{DAV}response/{DAV}propstat/{DAV}prop/{DAV}getetag") if e.text]
        check(self.name, "PROPFIND getetags of items", len(etags) >= n, True)
        return seconds

    def full_report(self, n: int) -> tuple[float, dict[str, bytes]]:
        """The calendar-query REPORT's time, and the calendar-data it served by href."""
        seconds, tree = self.request("REPORT", CALENDAR_QUERY)
        served = {}
        for response in tree.iterfind(f"{DAV}response"):
            data = response.find(f"{DAV}propstat/{DAV}prop/{CALDAV}calendar-data")
            if data is not None and data.text and "BEGIN:VTODO" in data.text:
                # XML parsing turns the served CRLFs into LFs (XML 1.0 §2.11): put them back
                served[response.findtext(f"{DAV}href")] = data.text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
        check(self.name, "calendar-query VTODOs with calendar-data", len(served), n)
        return seconds, served

    def sync(self, changed: set[str]) -> float:
        """A sync-collection REPORT from the last token: it must list exactly the hrefs in `changed`."""
        seconds, tree = self.request("REPORT", SYNC_COLLECTION.format(token=self.token).encode(), depth="0")
        self.token = tree.findtext(f"{DAV}sync-token")
        listed = {response.findtext(f"{DAV}href") for response in tree.iterfind(f"{DAV}response")}
        if changed and listed != changed:
            raise SystemExit(f"{self.name}: sync-collection listed {sorted(listed)[:5]}, expected {sorted(changed)}")
        return seconds


def check(name: str, what: str, got: object, expected: object) -> None:
    if got != expected:
        raise SystemExit(f"{name}: {what}: {got}, expected {expected}")


def load_radicale(radicale: Collection, served: dict[str, bytes]) -> float:
    """PUT our served VTODOs into Radicale as one VCALENDAR; seconds taken."""
    started = time.perf_counter()
    response = radicale.client.put(
        radicale.url, content=one_calendar(list(served.values())), headers={"Content-Type": "text/calendar"}
    )
    if response.status_code not in (200, 201, 204):
        raise SystemExit(f"Radicale: PUT of the calendar gave {response.status_code}: {response.text[:500]}")
    return time.perf_counter() - started


def by_uid(served: dict[str, bytes]) -> dict[str, str]:
    """The href of each served VTODO, by UID."""
    return {UID.search(body).group(1).decode(): href for href, body in served.items()}


def change_ours(engine, i: int) -> None:
    with store.transaction(engine, write=True) as session:
        items.done(session, f"bench-{i}", NOW + timedelta(minutes=i + 1), by="bench")


def change_radicale(radicale: Collection, href: str) -> None:
    url = httpx.URL(radicale.url).join(href)
    body = radicale.client.get(url).content
    completed = body.replace(b"STATUS:NEEDS-ACTION", b"STATUS:COMPLETED", 1)
    if completed == body:
        raise SystemExit(f"Radicale: {href} has no STATUS:NEEDS-ACTION to complete")
    response = radicale.client.put(url, content=completed, headers={"Content-Type": "text/calendar"})
    if response.status_code not in (201, 204):
        raise SystemExit(f"Radicale: PUT {href} gave {response.status_code}")


def measure(
    collections: list[Collection], changes: dict[str, Callable[[int], str]], args: argparse.Namespace
) -> dict[str, dict[str, list[float]]]:
    """Each repeat: PROPFIND, full report and a one-change sync (item number `repeat` completed, `changes` gives
    its href) on every server, alternating which goes first."""
    times = {c.name: {"propfind": [], "report": [], "sync": []} for c in collections}
    started = time.monotonic()
    for repeat in range(args.repeats):
        order = collections if repeat % 2 == 0 else collections[::-1]
        for collection in order:
            times[collection.name]["propfind"].append(collection.propfind(args.items))
        for collection in order:
            times[collection.name]["report"].append(collection.full_report(args.items)[0])
        for collection in order:
            changed = changes[collection.name](repeat)
            times[collection.name]["sync"].append(collection.sync({changed}))
        elapsed = time.monotonic() - started
        if elapsed * (repeat + 2) / (repeat + 1) > args.max_seconds:  # another repeat would pass the cap
            print(f"stopped after {repeat + 1} repeat(s): --max-seconds {args.max_seconds}")
            break
    return times


def report(times: dict[str, dict[str, list[float]]], ours: str, theirs: str) -> None:
    median = {name: {what: statistics.median(runs) for what, runs in rows.items()} for name, rows in times.items()}
    repeats = len(times[ours]["report"])
    for what in ("propfind", "report", "sync"):
        a, b = median[ours][what], median[theirs][what]
        runs = {name: [round(t, 3) for t in times[name][what]] for name in (ours, theirs)}
        print(f"{what:>8}: tracker {a * 1000:8.1f} ms, Radicale {b * 1000:8.1f} ms: ratio {a / b:.2f}  "
              f"runs tracker {runs[ours]} Radicale {runs[theirs]}")  # fmt: skip
    full = median[ours]["report"] / median[theirs]["report"]
    sync = median[ours]["sync"] / median[ours]["report"]
    print(f"full report, tracker / Radicale: {full:.2f} (target ≤ {TARGETS['full report']:.2f}) "
          f"{'ok' if full <= TARGETS['full report'] else 'MISSED'}  (medians of {repeats})")  # fmt: skip
    print(f"one-change sync / full report, tracker: {sync:.1%} (target ≤ {TARGETS['one-change sync']:.0%}) "
          f"{'ok' if sync <= TARGETS['one-change sync'] else 'MISSED'}")  # fmt: skip
    print(f"one-change sync / full report, Radicale (context): {median[theirs]['sync'] / median[theirs]['report']:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=600, help="stop repeating after this long")
    args = parser.parse_args()
    if not 1 <= args.repeats <= args.items:
        parser.error("--repeats: from 1 to --items (each repeat completes another item)")
    folder = Path(tempfile.mkdtemp(prefix="tracker-dav-bench-"))
    db = f"sqlite:///{folder / 'bench.db'}"
    engine = store.engine(db)
    store.init(engine)
    password = seed(engine, args.items)
    servers: list[subprocess.Popen] = []
    try:
        server, base = start_tracker(db)
        servers.append(server)
        ours = Collection("tracker", f"{base}/dav/{OWNER}/items/", (OWNER, password))
        server, base = start_radicale(folder, OWNER, password)
        servers.append(server)
        theirs = Collection("Radicale", f"{base}/{OWNER}/items/", (OWNER, password))
        first, served = ours.full_report(args.items)  # unmeasured warm-up, and the bytes Radicale gets
        size = sum(map(len, served.values())) / 1e6
        print(f"{args.items} VTODOs, {size:.1f} MB of calendar-data; first full report from tracker {first:.2f} s")
        print(f"Radicale: one PUT of them all {load_radicale(theirs, served):.1f} s")
        ours_hrefs = by_uid(served)
        theirs_hrefs = by_uid(theirs.full_report(args.items)[1])  # also warms Radicale's item cache

        def change_ours_item(i: int) -> str:
            change_ours(engine, i)
            return ours_hrefs[f"item-bench-{i}@tracker"]

        def change_theirs_item(i: int) -> str:
            change_radicale(theirs, theirs_hrefs[f"item-bench-{i}@tracker"])
            return theirs_hrefs[f"item-bench-{i}@tracker"]

        for collection in (ours, theirs):
            collection.propfind(args.items)
            started = time.perf_counter()
            collection.sync(set())
            print(f"{collection.name}: initial sync-collection (no token) {time.perf_counter() - started:.2f} s")
        changes = {ours.name: change_ours_item, theirs.name: change_theirs_item}
        times = measure([ours, theirs], changes, args)
        report(times, ours.name, theirs.name)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
