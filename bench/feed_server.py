"""Feed server benchmark: `tracker serve` beside nginx serving the same bytes, and one-item rebuilds beside full
builds, all in one run. Prints ratios (the figures that matter on a noisy machine).

    .venv/bin/python bench/feed_server.py [--items 10000] [--seconds 5] [--repeats 3] [--workers 1 2]

For each worker count N, `tracker serve --workers N` is measured against nginx with `worker_processes N`,
interleaved, for full bodies and for 304s; wrk (2 threads, 32 connections) runs on the same machine.

Needs Debian's nginx and wrk (installed by .ci/run). Everything binds 127.0.0.1; every load is bounded.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.calendars import ics, subscriptions  # noqa: E402
from tracker.calendars.feeds import FeedCache  # noqa: E402
from tracker.core import store  # noqa: E402
from tracker.core.models import Item, ItemOwner, Person, Status  # noqa: E402
from tracker.register import items  # noqa: E402
from tracker.register.dataset import load  # noqa: E402

NOW = datetime(2008, 9, 1, tzinfo=UTC)
SPEC = ics.CalendarSpec("action-items", "bench", todos=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(engine, n: int) -> None:
    with store.transaction(engine) as session:
        load(session, [ROOT / "data"], NOW)
        owner = items.lookup(session, Person, "apec-officer")
        for i in range(n):
            item = Item(
                slug=f"bench-{i}", uid=f"item-bench-{i}@tracker",
                title=f"跟進事項 {i}: follow-up, with commas; and semicolons",
                description="說明 " * 40 + f"\nline two of {i}, with; punctuation\\ and a backslash",
                due=NOW + timedelta(days=i % 700), due_all_day=True, tz="Asia/Taipei",
                status=Status.open, priority=("high", "medium", "low")[i % 3], category="innovation",
                source_quote="會中並鼓勵各會員體自願在9月底前參加各項KPIs制訂小組",
                created_at=NOW, updated_at=NOW, loaded={},
            )  # fmt: skip
            item.owner_links = [ItemOwner(person=owner, position=0)]
            session.add(item)


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_builds(engine, repeats: int) -> tuple[float, float, int]:
    def full() -> None:
        with store.transaction(engine) as session:
            ics.build(session, SPEC)

    full_time = median_time(full, repeats)
    cache = FeedCache(engine, timedelta(hours=1), lambda: NOW)
    body = cache.build(SPEC, alarms=False).body
    one_item = []
    for i in range(repeats):
        with store.transaction(engine) as session:
            items.done(session, f"bench-{i}", NOW, by="bench")
        started = time.perf_counter()
        body = cache.build(SPEC, alarms=False).body
        one_item.append(time.perf_counter() - started)
    with store.transaction(engine) as session:
        assert body == ics.build(session, SPEC), "incremental bytes differ from a full build"
    return full_time, statistics.median(one_item), len(body)


def wrk(url: str, seconds: int, header: str | None = None) -> float:
    args = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--timeout", "10s"]
    if header:
        args += ["-H", header]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 30).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])


def start_nginx(folder: Path, body: bytes, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    folder = folder / f"nginx-{workers}"
    (folder / "html").mkdir(parents=True)
    (folder / "tmp").mkdir()
    (folder / "html" / "feed.ics").write_bytes(body)
    os.chmod(folder, 0o755)
    conf = folder / "nginx.conf"
    conf.write_text(f"""worker_processes {workers};
daemon off;
user root;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ text/calendar ics; }}
    access_log off;
    sendfile on;
    client_body_temp_path {folder}/tmp/body; proxy_temp_path {folder}/tmp/proxy;
    fastcgi_temp_path {folder}/tmp/fastcgi; uwsgi_temp_path {folder}/tmp/uwsgi; scgi_temp_path {folder}/tmp/scgi;
    server {{ listen 127.0.0.1:{port}; root {folder}/html; location / {{ try_files $uri =404; }} }}
}}
""")
    proc = subprocess.Popen(["nginx", "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")])
    url = f"http://127.0.0.1:{port}/feed.ics"
    wait_for(url)
    return proc, url


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=5)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: run .ci/run (it installs Debian's nginx and wrk)")
    folder = Path(tempfile.mkdtemp(prefix="tracker-bench-"))
    db = f"sqlite:///{folder / 'bench.db'}"
    engine = store.engine(db)
    store.init(engine)
    seed(engine, args.items)
    full, one, size = bench_builds(engine, args.repeats)
    print(f"feed of {args.items} VTODOs: {size / 1e6:.1f} MB")
    print(f"full build {full:.2f} s, one-item rebuild {one * 1000:.0f} ms: ratio {one / full:.1%} (target ≤ 5%)")

    with store.transaction(engine) as session:
        sub, token = subscriptions.add(session, NOW, "bench", calendar="action-items", alarms=False)
    try:
        for workers in args.workers:
            compare(folder, db, token, workers, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


TARGETS = {"full": 0.90, "304": 0.30}


def start_tracker(db: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "TRACKER_DB": db, "TRACKER_NOW": NOW.isoformat()}
    command = [ROOT / ".venv/bin/tracker", "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{port}/healthz")
    return server, f"http://127.0.0.1:{port}"


def compare(folder: Path, db: str, token: str, workers: int, args: argparse.Namespace) -> None:
    """tracker with `workers` processes beside nginx with as many, same bytes, runs interleaved."""
    server, base = start_tracker(db, workers)
    nginx = None
    try:
        ours = f"{base}/feeds/{token}.ics"
        first = httpx.get(ours, timeout=60)
        wrk(ours, args.seconds)  # unmeasured: every worker builds its own cache on its first requests
        nginx, theirs = start_nginx(folder, first.content, workers)
        assert httpx.get(theirs).content == first.content
        our_etag, their_etag = first.headers["etag"], httpx.get(theirs).headers["etag"]
        rows = {"full": ([], []), "304": ([], [])}
        for _ in range(args.repeats):  # interleaved, so drift hits both alike
            rows["full"][0].append(wrk(ours, args.seconds))
            rows["full"][1].append(wrk(theirs, args.seconds))
            rows["304"][0].append(wrk(ours, args.seconds, f"If-None-Match: {our_etag}"))
            rows["304"][1].append(wrk(theirs, args.seconds, f"If-None-Match: {their_etag}"))
        for name, (mine, nginx_rates) in rows.items():
            a, b = statistics.median(mine), statistics.median(nginx_rates)
            print(f"{workers} worker(s) {name:>4}: tracker {a:,.0f} req/s, nginx ({workers} worker process(es)) "
                  f"{b:,.0f} req/s: ratio {a / b:.2f} (target ≥ {TARGETS[name]:.2f}) "
                  f"runs tracker {mine} nginx {nginx_rates}")  # fmt: skip
    finally:
        for proc in (server, nginx):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
