"""Reminder delivery benchmark, all in one run:

- 10,000 reminders due at the same instant, and 10,000 spread over one minute, delivered by `tracker remind run`
  to a local SMTP sink (aiosmtpd): lost, duplicated, p50/p99 lateness, messages/s; on SQLite (one worker) and on
  PostgreSQL with 1 and 4 workers (`--workers 1,4`);
- beside a bare `smtplib` loop sending the same number of messages of the same size over one connection;
- the start-up of `tracker remind run` over a database with 100,000 planned reminders.

    .venv/bin/python bench/reminders.py [--count 10000] [--planned 100000] [--workers 1,4] [--connections 1]

PostgreSQL: TRACKER_BENCH_PG_URL (or TRACKER_TEST_PG_URL), a maintenance database's URL on a server where the
bench may create and drop databases; otherwise a throwaway cluster like the tests'. Binds 127.0.0.1 only;
every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiosmtpd.controller import Controller
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import ThrowawayPostgres  # noqa: E402
from tracker.core import store  # noqa: E402
from tracker.core.config import load_settings  # noqa: E402
from tracker.core.models import Delivery, Item, ItemOwner, Person, Reminder, Status  # noqa: E402
from tracker.reminders import delivery  # noqa: E402
from tracker.reminders.messages import message_id  # noqa: E402

MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)", re.MULTILINE | re.IGNORECASE)


class Sink:
    def __init__(self) -> None:
        self.arrivals: list[tuple[str, float]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        # Only the Message-ID: parsing whole mails made the sink, not the senders, the bottleneck.
        found = MESSAGE_ID.search(envelope.content)
        self.arrivals.append((found[1].decode() if found else "", time.time()))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(db: str, instants: list[datetime]) -> None:
    """One person and one item per instant, each with an explicit reminder at that instant (`reminders.at`)."""
    engine = store.engine(db)
    store.init(engine)
    now = datetime.now(UTC)
    with store.transaction(engine) as session:
        person = Person(slug="bench", name="Bench", email="bench@example.org", tz="UTC", quiet_hours="",
                        reminder_policy={"digest": False, "overdue_every_days": 0})  # fmt: skip
        session.add(person)
        session.flush()
        session.execute(insert(Item), [
            {"slug": f"b{n}", "uid": f"item-b{n}@tracker", "title": f"Bench reminder {n}", "tz": "UTC",
             "status": Status.open, "created_at": now, "updated_at": now, "loaded": {},
             "reminder_policy": {"at": [at.isoformat()]}}
            for n, at in enumerate(instants)
        ])  # fmt: skip
        ids = session.scalars(select(Item.id)).all()
        session.execute(insert(ItemOwner), [{"item_id": i, "person_id": person.id, "position": 0} for i in ids])


class Databases:
    """Fresh databases for each run: SQLite files in `folder`, PostgreSQL databases on `pg_url` (dropped at the end)."""

    def __init__(self, folder: Path, pg_url: str | None) -> None:
        self.folder, self.pg_url, self.made = folder, pg_url, []

    def new(self, label: str) -> str:
        if not label.startswith("pg"):
            return f"sqlite:///{self.folder / f'{label}.db'}"
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "bench_{label}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "bench_{label}"')
        self.made.append(f"bench_{label}")
        return "postgresql+psycopg://" + self.pg_url.split("://", 1)[1].rsplit("/", 1)[0] + f"/bench_{label}"

    def drop(self) -> None:
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            for name in self.made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_delivery(label: str, instants: list[datetime], dbs: Databases, timeout: float, workers: int = 1,
                 connections: int = 1) -> dict:  # fmt: skip
    db = dbs.new(label)
    seed(db, instants)
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    config = dbs.folder / f"{label}.toml"
    config.write_text(f'[channels.email]\nhost = "127.0.0.1"\nport = {controller.port}\nsecurity = "plain"\n'
                      f'from = "bench@example.org"\nconnections = {connections}\n')  # fmt: skip
    env = {**os.environ, "TRACKER_DB": db, "TRACKER_CONFIG": str(config)}
    env.pop("TRACKER_NOW", None)
    command = [ROOT / ".venv/bin/tracker", "remind", "run", "--interval", "5"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(workers)]  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while len(sink.arrivals) < len(instants) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)  # let stragglers (duplicates) arrive before counting
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
        controller.stop()
    engine = store.engine(db)
    with store.transaction(engine) as session:
        rows = session.execute(select(Reminder, Delivery.recipient).join(Delivery, Delivery.reminder_id == Reminder.id))
        scheduled = {message_id(r, recipient): r.fire_at.timestamp() for r, recipient in rows}
    expected = set(scheduled)
    got = [mid for mid, _ in sink.arrivals]
    lateness = sorted(max(0.0, t - scheduled[mid]) for mid, t in sink.arrivals if mid in scheduled)
    first, last = min(t for _, t in sink.arrivals), max(t for _, t in sink.arrivals)
    return {
        "label": f"{label} ({workers} worker{'s' * (workers > 1)}, {connections} conn.)",
        "planned": len(instants),
        "queued": len(expected),
        "lost": len(instants) - len(set(got) & expected),
        "duplicated": len(got) - len(set(got)),
        "p50": statistics.median(lateness),
        "p99": lateness[int(len(lateness) * 0.99) - 1],
        "rate": len(got) / max(last - first, 1e-9),
    }


BARE_LOOP = """
import smtplib, sys, time
from email.message import EmailMessage
port, count = int(sys.argv[1]), int(sys.argv[2])
started = time.perf_counter()
with smtplib.SMTP("127.0.0.1", port) as smtp:
    for n in range(count):
        mail = EmailMessage()
        mail["Subject"], mail["From"], mail["To"] = f"Reminder {n}", "bench@example.org", "x@example.org"
        mail["Message-ID"] = f"<{n}@bench>"
        mail.set_content("text " * 60)
        mail.add_alternative("<p>" + "html " * 60 + "</p>", subtype="html")
        mail.add_attachment(b"BEGIN:VCALENDAR\\r\\nX:" + b"y" * 1500 + b"\\r\\nEND:VCALENDAR\\r\\n",
                            maintype="text", subtype="calendar", filename="r.ics")
        smtp.send_message(mail)
print(count / (time.perf_counter() - started))
"""


def bare_smtplib(count: int) -> float:
    """Messages/s of a bare smtplib loop (text, HTML, .ics; one connection), in its own process like tracker's,
    into the same kind of sink."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        out = subprocess.run([sys.executable, "-c", BARE_LOOP, str(controller.port), str(count)], capture_output=True,
                             text=True, timeout=600, check=True)  # fmt: skip
    finally:
        controller.stop()
    return float(out.stdout)


def startup(folder: Path, planned: int) -> tuple[float, float]:
    """Seconds from process start to the end of the first sweep, over `planned` reminders already planned."""
    db = f"sqlite:///{folder / 'startup.db'}"
    soon = datetime.now(UTC) + timedelta(hours=12)
    seed(db, [soon + timedelta(seconds=n % 3600) for n in range(planned)])
    engine = store.engine(db)
    started = time.perf_counter()
    delivery.prepare(engine, datetime.now(UTC), load_settings(environ={"TRACKER_DB": db}), [])  # the first plan
    plan_time = time.perf_counter() - started
    env = {**os.environ, "TRACKER_DB": db}
    env.pop("TRACKER_NOW", None)
    started = time.perf_counter()
    proc = subprocess.Popen([ROOT / ".venv/bin/tracker", "remind", "run"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        for line in proc.stderr:
            if "first sweep done" in line:
                return time.perf_counter() - started, plan_time
        raise SystemExit("remind run exited before its first sweep")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def deliveries(dbs: Databases, count: int, timeout: float, workers: list[int], connections: int) -> list[dict]:
    lead = timedelta(seconds=20)  # enough for the schedulers to start and plan before the first is due
    rows = []
    for label, n in [("burst", 1), *((f"pg-burst-{n}", n) for n in workers if dbs.pg_url)]:
        at = datetime.now(UTC) + lead
        rows.append(run_delivery(label, [at] * count, dbs, timeout, n, connections))
    for label, n in [("spread", 1), *((f"pg-spread-{n}", n) for n in workers[-1:] if dbs.pg_url)]:
        at = datetime.now(UTC) + lead
        spread = [at + timedelta(seconds=60 * k / count) for k in range(count)]
        rows.append(run_delivery(label, spread, dbs, timeout, n, connections))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--planned", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--workers", default="1,4", help="numbers of `remind run` processes on PostgreSQL")
    parser.add_argument("--connections", type=int, default=1, help="[channels.email] connections per worker")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tracker-remind-bench-"))
    cluster = None
    pg_url = os.environ.get("TRACKER_BENCH_PG_URL") or os.environ.get("TRACKER_TEST_PG_URL")
    if not pg_url and not args.no_pg:
        cluster = ThrowawayPostgres()
        pg_url = cluster.url
    dbs = Databases(folder, None if args.no_pg else pg_url)
    try:
        rows = deliveries(dbs, args.count, args.timeout, [int(n) for n in args.workers.split(",")], args.connections)
        baseline = bare_smtplib(args.count)
    finally:
        if dbs.pg_url:
            dbs.drop()
        if cluster is not None:
            cluster.stop()
    for row in rows:
        print(f"{row['label']:>32}: {row['planned']} reminders, lost {row['lost']}, duplicated {row['duplicated']}, "
              f"lateness p50 {row['p50']:.2f} s p99 {row['p99']:.2f} s, {row['rate']:.0f} msg/s "
              f"= {row['rate'] / baseline:.2f} of bare smtplib ({baseline:.0f} msg/s)")  # fmt: skip
    if not args.planned:
        return
    seconds, plan_time = startup(folder, args.planned)
    print(f"start-up of remind run over {args.planned} planned reminders: {seconds:.2f} s to the end of the first "
          f"sweep (target ≤ 1 s); planning them the first time took {plan_time:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
