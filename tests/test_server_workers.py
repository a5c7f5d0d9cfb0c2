"""`tracker serve --workers 2` as a real subprocess on 127.0.0.1: connections land on both workers, which
agree on every feed's ETag and Last-Modified, see a change made by another process at the next request, and
survive one of them being killed. The server runs on the real clock, as in production."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from tracker.calendars import ics
from tracker.calendars.feeds import FeedCache
from tracker.core import store
from tracker.register import items

LINUX_PROC = Path("/proc/net/tcp").exists()
CONNECTIONS = 24  # connections opened to the pair of workers


class Served:
    """`tracker serve --port 0 --workers N [args]` in a process of its own, its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int, *args: str) -> None:
        environ = {k: v for k, v in {**os.environ, **env}.items() if k != "TRACKER_NOW"}
        self.log_path = log_path
        with open(log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tracker", "serve", "--port", "0", "--workers", str(workers), *args],
                env=environ, stdout=log_file, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.port = self._wait_for_workers(workers)

    def log(self) -> str:
        return self.log_path.read_text()

    def _wait_for_workers(self, workers: int) -> int:
        deadline = time.monotonic() + 60
        while True:
            log = self.log()
            assert self.process.poll() is None and time.monotonic() < deadline, log
            found = re.search(r"running on http://127\.0\.0\.1:(\d+)", log)
            if found and log.count("Application startup complete.") >= workers:
                return int(found[1])
            time.sleep(0.05)

    def connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.connect()
        return conn

    def children(self) -> set[int]:
        """The worker processes (multiprocessing's resource tracker, also a child, is not one)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = set()
        for pid in path.read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    pids.add(int(pid))
            except FileNotFoundError:  # ended while we looked
                continue
        return pids

    def stop(self) -> int:
        """SIGTERM, as systemd stops it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            raise


@pytest.fixture
def two_workers(loaded, env, tmp_path):
    served = Served(env, tmp_path / "serve.log", workers=2)
    yield served
    served.stop()


def get(conn: http.client.HTTPConnection, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    conn.request("GET", path, headers={k.replace("_", "-"): v for k, v in headers.items()})
    response = conn.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def worker_of(conn: http.client.HTTPConnection, pids: set[int]) -> int:
    """The pid of the worker holding the server's end of `conn` (from /proc: the socket's inode)."""
    server_port, client_port = conn.sock.getpeername()[1], conn.sock.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(address.split(":")[1], 16) for address in fields[1:3])
        if (local, remote) == (server_port, client_port):
            inode = fields[9]
    assert inode is not None and inode != "0", "the server has not accepted the connection"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except FileNotFoundError:  # a descriptor closed while we looked
                continue
    raise AssertionError(f"no worker among {pids} holds socket {inode}")


def assert_dated(headers: dict[str, str]) -> None:
    """RFC 9110 §8.8.2.1: Last-Modified is never later than the response's Date."""
    assert parsedate_to_datetime(headers["last-modified"]) <= parsedate_to_datetime(headers["date"]), headers


def accepted_by(conn: http.client.HTTPConnection, pids: set[int]) -> int:
    """worker_of, once a worker has accepted `conn` (polled, for at most ten seconds)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return worker_of(conn, pids)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def spread(served: Served, path: str) -> tuple[list[http.client.HTTPConnection], dict[int, int]]:
    """CONNECTIONS kept-alive connections, each having fetched `path` once, and how many each worker holds.
    Idle workers race for each new connection and one may win them all, so each worker in turn is paused
    (SIGSTOP, only until the others have accepted; the supervisor's health check allows seconds)."""
    conns: list[http.client.HTTPConnection] = []
    workers = sorted(served.children())
    holders: dict[int, int] = {}
    for paused in workers:
        os.kill(paused, signal.SIGSTOP)
        try:
            batch = [served.connect() for _ in range(CONNECTIONS // len(workers))]
            for conn in batch:
                pid = accepted_by(conn, set(workers))
                holders[pid] = holders.get(pid, 0) + 1
        finally:
            os.kill(paused, signal.SIGCONT)
        conns += batch
    for conn in conns:
        assert get(conn, path)[0] == 200
    return conns, holders


def assert_agree(answers: list) -> None:
    """Every worker gives the same ETag and bytes, and the same stored Last-Modified, except that a stamp still
    ahead of the clock (a second change within one second gets the next second) is shown as the response's Date
    (RFC 9110: never later than Date), so answers on either side of a second boundary may differ there."""
    assert len({(h["etag"], body) for _, h, body in answers}) == 1
    assert len({h["last-modified"] for _, h, _ in answers if h["last-modified"] != h["date"]}) <= 1


@pytest.mark.skipif(not LINUX_PROC, reason="finds each connection's worker through Linux's /proc")
def test_two_workers_agree_and_see_every_change_at_once(two_workers, subscribe, invoke):
    token, _ = subscribe("--name", "desk", "--calendar", "action-items")
    path = f"/feeds/{token}.ics"
    conns, holders = spread(two_workers, path)
    try:
        assert len(holders) == 2, holders  # both workers hold connections (so both built the feed themselves)
        answers = [get(conn, path) for conn in conns]
        assert {status for status, _, _ in answers} == {200}
        assert_agree(answers)
        for _, headers, _ in answers:
            assert_dated(headers)
        etag = answers[0][1]["etag"]
        assert {get(conn, path, If_None_Match=etag)[0] for conn in conns} == {304}

        invoke("done", "kpi-committee-volunteer")  # another process commits
        after = [get(conn, path, If_None_Match=etag) for conn in conns]
        assert {status for status, _, _ in after} == {200}  # no worker answers 304 to the old ETag any more
        assert_agree(after)
        new = after[0][1]
        assert new["etag"] != etag and b"STATUS:COMPLETED" in after[0][2]
        for _, headers, _ in after:
            assert_dated(headers)  # the first response after a change too
        assert {get(conn, path, If_None_Match=new["etag"])[0] for conn in conns} == {304}
    finally:
        for conn in conns:
            conn.close()


@pytest.mark.skipif(not LINUX_PROC, reason="finds each connection's worker through Linux's /proc")
def test_a_killed_worker_is_replaced_and_requests_go_on(two_workers, subscribe):
    token, _ = subscribe("--name", "desk", "--calendar", "all")
    path = f"/feeds/{token}.ics"
    conns, holders = spread(two_workers, path)
    for conn in conns:
        conn.close()
    assert len(holders) == 2, holders
    victim, survivor = sorted(holders)
    os.kill(victim, signal.SIGKILL)
    served = 0
    deadline = time.monotonic() + 30  # the supervisor checks its workers every half second
    while True:
        conn = two_workers.connect()
        status, headers, _ = get(conn, path)  # answered while the victim is dead or being replaced
        conn.close()
        assert status == 200 and headers["etag"]
        served += 1
        pids = two_workers.children()
        if victim not in pids and len(pids) >= 2 and "Application startup complete." in two_workers.log()[-2000:]:
            break
        assert time.monotonic() < deadline, two_workers.log()
        time.sleep(0.05)
    assert served >= 1 and survivor in pids
    _, after = spread(two_workers, path)
    assert victim not in after and sum(after.values()) == CONNECTIONS


def test_last_modified_is_never_after_date_with_one_worker(loaded, env, tmp_path, subscribe, invoke):
    """The default single process, on the real clock: the first response after a change (which moves
    Last-Modified) is dated no earlier than its Last-Modified. It used to be 1-2 s earlier: stamps were a second
    ahead, and uvicorn's Date lags by up to a second."""
    served = Served(env, tmp_path / "serve.log", workers=1)
    try:
        token, _ = subscribe("--name", "desk", "--calendar", "action-items")
        conn = served.connect()
        status, first, _ = get(conn, f"/feeds/{token}.ics")
        assert status == 200
        assert_dated(first)
        invoke("done", "kpi-committee-volunteer")
        status, second, _ = get(conn, f"/feeds/{token}.ics")
        assert status == 200 and second["etag"] != first["etag"]
        assert_dated(second)
        conn.close()
    finally:
        served.stop()  # uvicorn shuts down, then dies of the SIGTERM it caught, as a lone process should
    assert "Finished server process" in served.log()


def test_sigterm_stops_every_worker(loaded, env, tmp_path):
    served = Served(env, tmp_path / "serve.log", workers=2)
    workers = served.children()
    assert len(workers) == 2
    assert served.stop() == 0
    log = served.log()
    assert log.count("Finished server process") == 2 and "Traceback" not in log
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


@pytest.mark.parametrize("workers", ["0", "65", "two"])
def test_a_bad_worker_count_is_one_error_line(env, invoke, workers):
    result = invoke("serve", "--workers", workers, code=2)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "--workers" in lines[0], lines


def test_a_build_overtaken_by_a_change_stores_nothing(loaded, env, monkeypatch):
    """Two processes' caches (here two FeedCaches): A reads the data, B's commit and B's build of the newer
    data happen while A serialises; A must not store its stale ETag (that gave the newer bytes a second
    Last-Modified when A rebuilt them), but build again and agree with B."""
    engine = store.engine(env["TRACKER_DB"])
    now = datetime(2008, 9, 1, tzinfo=UTC)
    a = FeedCache(engine, timedelta(hours=1), lambda: now)
    b = FeedCache(engine, timedelta(hours=1), lambda: now + timedelta(seconds=5))
    spec = ics.CalendarSpec("all", "everything", meetings=True, todos=True, deadlines=True)
    original, overtaken = ics.part, []

    def part_with_another_process(component):  # noqa: ANN001, ANN202 - ics.part's own signature
        if not overtaken:
            overtaken.append(None)
            with store.transaction(engine, write=True) as session:
                items.done(session, "forum-host-2009", now, by="test")
            overtaken.append(b.build(spec, alarms=True))
        return original(component)

    monkeypatch.setattr(ics, "part", part_with_another_process)
    ours = a.build(spec, alarms=True)
    theirs = overtaken[1]
    assert (ours.etag, ours.last_modified, ours.body) == (theirs.etag, theirs.last_modified, theirs.body)
    assert ours.last_modified == now + timedelta(seconds=5)  # B's stamp: the first writer's
    engine.dispose()
