"""Desk pages benchmark: the register (a page of 50 of 10,000 items, filtered and sorted), an item page and My desk,
beside the feed's cached GET, all against one `tracker serve` in the same run. Prints requests/s and p95 latency
for each, and each page's requests/s as a ratio of the feed's (the reference measured in the same run).

    .venv/bin/python bench/web_pages.py [--items 10000] [--seconds 5] [--connections 8] [--workers 1]

wrk (2 threads, `--connections` concurrent clients, each keeping its connection) runs on the same machine; the
target is p95 under 150 ms with 8 clients on a 2-core machine. Needs Debian's wrk (installed by .ci/run).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from feed_server import free_port, wait_for  # noqa: E402
from sqlalchemy import select  # noqa: E402

from tracker.calendars import subscriptions  # noqa: E402
from tracker.core import store  # noqa: E402
from tracker.core.models import AccessRole, Account, Item, ItemOwner, Person, Status  # noqa: E402
from tracker.core.vocab import CATEGORIES  # noqa: E402
from tracker.register.dataset import load  # noqa: E402
from tracker.web import sessions  # noqa: E402
from tracker.web.auth import COOKIE  # noqa: E402

NOW = datetime(2009, 6, 1, 1, 0, tzinfo=UTC)
OWNERS = ("apec-officer", "forum-officer", "bilateral-officer", "desk-lead")
STATUSES = (Status.open, Status.open, Status.in_progress, Status.done, Status.cancelled)
TARGET_P95_MS = 150
# The wrk script prints the p95 latency (µs) after wrk's own summary.
P95 = (
    "done = function(summary, latency, requests)\n"
    '  io.write(string.format("p95_us %d\\n", latency:percentile(95)))\nend\n'
)


def seed(engine, n: int) -> None:
    """The shipped data plus `n` items spread over owners, areas, statuses and three years of due dates."""
    start = datetime(2008, 3, 1, tzinfo=UTC)
    with store.transaction(engine, write=True) as session:
        load(session, [ROOT / "data"], start)
        people = {p.slug: p for p in session.scalars(select(Person).where(Person.slug.in_(OWNERS)))}
        areas = list(CATEGORIES)
        for i in range(n):
            created = start + timedelta(hours=i * 10 % (450 * 24))
            status = STATUSES[i % len(STATUSES)]
            item = Item(
                slug=f"bench-{i}", uid=f"item-bench-{i}@tracker", title=f"跟進事項 {i}: follow-up number {i}",
                description="說明 " * 20 + f"\nline two of {i}", due=start + timedelta(days=i % 1100),
                due_all_day=True, tz="Asia/Taipei", status=status, priority=("high", "medium", "low")[i % 3],
                category=areas[i % len(areas)], source_quote="會中並鼓勵各會員體自願在9月底前參加各項KPIs制訂小組",
                created_at=created, updated_at=created + timedelta(days=1),
                completed_at=created + timedelta(days=20) if status == Status.done else None, loaded={},
            )  # fmt: skip
            item.owner_links = [ItemOwner(person=people[OWNERS[i % len(OWNERS)]], position=0)]
            session.add(item)


def sign_in(engine, slug: str) -> str:
    """A session cookie for `slug` as a lead, opened as the sign-in page would."""
    with store.transaction(engine, write=True) as session:
        person = session.scalars(select(Person).where(Person.slug == slug)).one()
        session.add(Account(person_id=person.id, role=AccessRole.lead, created_at=NOW))
        session.flush()
        token, _ = sessions.open_session(session, person, "password", NOW)
    return token


def wrk(url: str, seconds: int, connections: int, script: Path, cookie: str | None = None) -> tuple[float, float]:
    """Requests/s and p95 in milliseconds."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script)]
    if cookie:
        args += ["-H", f"Cookie: {COOKIE}={cookie}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 30).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"{url}: wrk saw error responses:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]), int(re.search(r"p95_us (\d+)", out)[1]) / 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: run .ci/run (it installs Debian's wrk)")
    folder = Path(tempfile.mkdtemp(prefix="tracker-web-bench-"))
    script = folder / "p95.lua"
    script.write_text(P95)
    db = f"sqlite:///{folder / 'bench.db'}"
    engine = store.engine(db)
    store.init(engine)
    seed(engine, args.items)
    cookie = sign_in(engine, "apec-officer")
    with store.transaction(engine, write=True) as session:
        _, feed_token = subscriptions.add(session, NOW, "bench", calendar="action-items", alarms=False)
    port = free_port()
    env = {**os.environ, "TRACKER_DB": db, "TRACKER_NOW": NOW.isoformat()}
    command = [ROOT / ".venv/bin/tracker", "serve", "--port", str(port), "--workers", str(args.workers)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/healthz")
        targets = {
            "register, 50 of the innovation items by priority, page 3": (
                f"{base}/register?status=all&category=innovation&sort=priority&page=3", cookie),
            "register, words in the text, latest change first": (
                f"{base}/register?status=all&q=follow-up+number+12&sort=updated&order=desc", cookie),
            "register, overdue, by due date": (f"{base}/register?overdue=1&owner=apec-officer", cookie),
            "an item page (fields, history, actions)": (f"{base}/items/bench-4242", cookie),
            "My desk": (f"{base}/desk", cookie),
            "feed, cached full GET": (f"{base}/feeds/{feed_token}.ics", None),
        }  # fmt: skip
        results = {}
        for label, (url, with_cookie) in targets.items():
            first = httpx.get(url, cookies={COOKIE: with_cookie} if with_cookie else None, timeout=120)
            assert first.status_code == 200, (label, first.status_code)
            wrk(url, 1, args.connections, script, with_cookie)  # unmeasured warm-up: caches, connections
            results[label] = (*wrk(url, args.seconds, args.connections, script, with_cookie), len(first.content))
        feed_rate = results["feed, cached full GET"][0]
        for label, (rate, p95, size) in results.items():
            verdict = "ok" if p95 < TARGET_P95_MS or label.startswith("feed") else f"over {TARGET_P95_MS} ms"
            print(
                f"{label:<58} {rate:8,.0f} req/s ({rate / feed_rate:5.2f}x the feed)  p95 {p95:7.1f} ms  "
                f"({size / 1000:,.0f} kB) {verdict}"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
