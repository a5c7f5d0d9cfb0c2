"""Several senders at once, on several hosts: row-level claims, worker leases, the SMTP connection pool."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from tests.conftest import Mailbox, free_port
from tests.test_exactly_once import NOW, expected_ids, ledger_statuses, many_items, run_env, unfinished, wait_for
from tracker.core import clock, store, workers
from tracker.core.config import load_settings
from tracker.core.models import Delivery, Person, Worker
from tracker.reminders import channels, delivery
from tracker.reminders.channels import Message


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[Message] = []

    def reaches(self, person: Person) -> bool:
        return True

    def send(self, message: Message) -> None:
        self.sent.append(message)

    def close(self) -> None:
        pass


def register(engine, worker: str, lease_until: datetime) -> None:
    with store.transaction(engine, write=True) as session:
        session.add(Worker(id=worker, host=worker.split(":")[0], pid=int(worker.split(":")[1]),
                           started_at=lease_until - timedelta(hours=1), lease_until=lease_until))  # fmt: skip


def claimed_by(engine) -> Counter:
    with store.transaction(engine) as session:
        return Counter(session.scalars(select(Delivery.claimed_by).where(Delivery.status == "sending")))


def test_rows_of_a_worker_whose_lease_ran_out_on_another_host_are_taken_over(loaded, env):
    """Another host's pid means nothing here: only the worker lease tells a dead worker from a live one."""
    engine, settings = store.engine(env["TRACKER_DB"]), load_settings(environ=env)
    now = datetime.fromisoformat("2008-09-24T10:00+08:00")
    dead, live = "other-host-a:4242:deadbeef", "other-host-b:4242:cafecafe"
    register(engine, dead, clock.wall() - timedelta(seconds=1))
    register(engine, live, clock.wall() + timedelta(minutes=1))
    delivery.prepare(engine, now, settings, [Recorder()])
    taken = {worker: delivery._claim(engine, worker, now, 3) for worker in (live, dead)}
    assert len(taken[live]) == 3 and taken[dead]
    recorder = Recorder()
    result = delivery.send_due(engine, now, settings, [recorder])
    assert claimed_by(engine) == {live: 3}  # the live worker's rows stay its own, within their row lease
    with store.transaction(engine) as session:
        rows = session.execute(select(Delivery.id, Delivery.status).where(Delivery.status != "sending"))
        done = dict(rows.all())
    assert set(taken[dead]) <= set(done) and not set(taken[live]) & set(done)
    assert result.sent == Counter(done.values())["sent"] == len(recorder.sent) > 0


def test_a_worker_registers_renews_its_lease_and_retires(loaded, env):
    engine = store.engine(env["TRACKER_DB"])
    worker = workers.worker_id()

    def lease() -> datetime:
        with store.transaction(engine) as session:
            return session.get(Worker, worker).lease_until

    with workers.Heartbeat(engine, worker, timedelta(seconds=0.3)):
        first = lease()
        assert first > clock.wall()
        wait_for(lambda: lease() > first, timeout=10)  # renewed by the heartbeat thread
    assert lease() <= clock.wall()  # a clean exit ends the lease at once
    with store.transaction(engine) as session:
        assert workers.expired(session, {worker, "never-registered:1:x"}) == {worker}


def test_claims_and_records_do_not_wait_for_the_global_write_lock(loaded, env, db_url):
    """PostgreSQL: a sender claims, sends and records while another process holds the write lock for long,
    and `prepare` with nothing to do does not queue behind it."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time: its claims wait for the write lock")
    engine, settings = store.engine(env["TRACKER_DB"]), load_settings(environ=env)
    now = datetime.fromisoformat("2008-09-24T10:00+08:00")
    recorder = Recorder()
    delivery.prepare(engine, now, settings, [recorder])
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction(engine, write=True):
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        holding.wait(10)
        result = delivery.send_due(engine, now, settings, [recorder])  # Busy after 10 s if it waited
        assert not release.is_set() and result.sent == len(recorder.sent) > 0
    finally:
        release.set()
        holder.join()
    assert set(ledger_statuses(env)) == {"sent"}


class Peers(Mailbox):
    """Also notes the client's address and port of each message: one per connection."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[tuple[str, int]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


def test_the_smtp_pool_carries_many_messages_over_few_connections_across_sweeps(invoke, loaded, env, monkeypatch):
    many_items(loaded, 120)
    invoke("load", str(loaded))
    engine, settings = store.engine(env["TRACKER_DB"]), load_settings(environ=env)
    mailbox, port = Peers(), free_port()
    server = Controller(mailbox, hostname="127.0.0.1", port=port)
    server.start()
    email = channels.EmailChannel("127.0.0.1", port, "tracker@example.org", "plain", connections=2)
    worker, now = workers.worker_id(), datetime.fromisoformat(NOW)
    try:
        first = delivery.sweep(engine, now, settings, [email], worker)
        assert first.sent == len(mailbox.messages) >= 120 and first.failed == 0
        assert 1 <= len(set(mailbox.peers)) <= 2  # 120 messages, at most two connections
        many_items(loaded, 150)  # 30 more, a day later
        invoke("load", str(loaded))
        second = delivery.sweep(engine, now + timedelta(days=1), settings, [email], worker)
        opened = set(mailbox.peers[: first.sent])
        assert second.sent > 0 and set(mailbox.peers[first.sent :]) <= opened  # over the first sweep's connections
        server.stop()  # the server drops the idle connections; the next sweep notices (NOOP) and reconnects
        server = Controller(mailbox, hostname="127.0.0.1", port=port)
        server.start()
        monkeypatch.setattr(email, "IDLE_CHECK", 0.0)
        many_items(loaded, 170)
        invoke("load", str(loaded))
        before = len(mailbox.messages)
        third = delivery.sweep(engine, now + timedelta(days=2), settings, [email], worker)
        assert third.failed == 0 and third.sent == len(mailbox.messages) - before > 0
        assert not set(mailbox.peers[before:]) & set(mailbox.peers[:before])
    finally:
        email.close()
        server.stop()


KILLS = 10


@pytest.mark.parametrize("seed", [2008])
def test_killed_workers_lose_nothing_and_duplicate_at_most_once_per_kill(invoke, loaded, smtpd, mail_config,
                                                                         db_url, seed):  # fmt: skip
    """Several `remind run` at once (PostgreSQL: 4, SQLite: 2), one of them SIGKILLed at a random point 10
    times and restarted each time. Nothing is lost, and each kill costs at most one duplicate."""
    postgres = not db_url.startswith("sqlite")
    count, processes = (1500, 4) if postgres else (400, 2)
    many_items(loaded, count)
    invoke("load", str(loaded))
    env = run_env(mail_config)
    rng = random.Random(seed)
    command = [sys.executable, "-m", "tracker", "remind", "run", "--interval", "1"]

    def start() -> subprocess.Popen:
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    procs = [start() for _ in range(processes)]
    try:
        for _ in range(KILLS):
            target = len(smtpd.messages) + rng.randint(10, count // (2 * KILLS))
            wait_for(lambda t=target: len(smtpd.messages) >= t, timeout=120)
            victim = rng.randrange(processes)
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(timeout=10)
            procs[victim] = start()
        wait_for(lambda: ledger_statuses(env) and not unfinished(env), timeout=240)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    ids = Counter(m["Message-ID"] for m in smtpd.messages)
    batch = {m["Message-ID"] for m in smtpd.messages if m["Subject"].startswith("Due today: Batch item")}
    assert len(batch) == count and set(ids) == expected_ids(env)  # nothing lost
    duplicates = sum(n - 1 for n in ids.values())
    print(f"{processes} workers, {KILLS} kills: {duplicates} duplicates of {len(ids)} messages")
    assert duplicates <= KILLS
    assert set(ledger_statuses(env)) <= {"sent", "skipped"}


def test_sigterm_stops_remind_run_cleanly_and_ends_its_lease(loaded, env, tmp_path):
    """systemd stops a service with SIGTERM: the worker must exit 0 and retire its lease, as on Ctrl-C."""
    log = (tmp_path / "run.log").open("w")
    run = subprocess.Popen([sys.executable, "-m", "tracker", "remind", "run", "--interval", "60"],
                           env={**os.environ, **env}, stdout=log, stderr=log)  # fmt: skip
    engine = store.engine(env["TRACKER_DB"])
    try:
        deadline = time.monotonic() + 30
        while True:  # until the worker has registered
            with store.transaction(engine) as session:
                workers = session.scalars(select(Worker).where(Worker.pid == run.pid)).all()
            if workers:
                break
            assert run.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.1)
        assert workers[0].lease_until > clock.wall()
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=30) == 0, (tmp_path / "run.log").read_text()
        with store.transaction(engine) as session:
            assert session.get(Worker, workers[0].id).lease_until <= clock.wall()  # retired, not left to run out
    finally:
        run.kill()
        log.close()
        engine.dispose()
