"""Nothing sent twice, nothing lost: two senders at once, and a scheduler killed with SIGKILL mid-batch."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

NOW = "2008-09-02T10:00:00+08:00"


def many_items(folder: Path, count: int) -> None:
    """`count` items due 2 September 2008 (all-day), whose due-day reminders (09:00 Taipei) are due at NOW."""
    rows = "".join(
        f"  - slug: batch-{n}\n    title: Batch item {n}\n    owners: [apec-officer]\n    due: 2008-09-02\n"
        for n in range(count)
    )
    (folder / "zz-batch.yaml").write_text(f"recorded: 2008-08-29\nitems:\n{rows}", encoding="utf-8")


def expected_ids(env: dict) -> set[str]:
    from sqlalchemy import select

    from tracker.core import store
    from tracker.core.models import Delivery, Reminder
    from tracker.reminders import delivery
    from tracker.reminders.messages import message_id

    with store.transaction(store.engine(env["TRACKER_DB"])) as session:
        rows = session.execute(select(Reminder, Delivery.recipient).join(Delivery, Delivery.reminder_id == Reminder.id)
                               .where(Delivery.channel == "email", Delivery.status == "sent"))  # fmt: skip
        assert delivery  # imported for its side of the schema
        return {message_id(r, recipient) for r, recipient in rows}


ENGINES: dict = {}


def ledger_statuses(env: dict) -> Counter:
    from sqlalchemy import select

    from tracker.core import store
    from tracker.core.models import Delivery

    engine = ENGINES.setdefault(env["TRACKER_DB"], store.engine(env["TRACKER_DB"]))
    with store.transaction(engine) as session:
        return Counter(session.scalars(select(Delivery.status)))


def unfinished(env: dict) -> bool:
    return bool(set(ledger_statuses(env)) - {"sent", "skipped"})


def run_env(mail_config: dict) -> dict:
    return {**os.environ, **mail_config, "TRACKER_NOW": NOW}


def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)  # polling for an event, not waiting for the clock


def test_two_senders_at_once_never_send_twice(invoke, loaded, smtpd, mail_config):
    many_items(loaded, 150)
    invoke("load", str(loaded))
    env = run_env(mail_config)
    command = [sys.executable, "-m", "tracker", "remind", "send-due"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    ids = Counter(m["Message-ID"] for m in smtpd.messages)
    assert ids and max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    assert set(ids) == expected_ids(env)
    assert sum(1 for m in smtpd.messages if m["Subject"].startswith("Due today: Batch item")) == 150
    assert set(ledger_statuses(env)) <= {"sent", "skipped"}


def test_serve_with_reminders_beside_remind_run(invoke, loaded, smtpd, mail_config, tmp_path):
    many_items(loaded, 60)
    invoke("load", str(loaded))
    env = run_env(mail_config)
    runner = subprocess.Popen([sys.executable, "-m", "tracker", "remind", "run", "--interval", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    server = subprocess.Popen([sys.executable, "-m", "tracker", "serve", "--port", "0", "--with-reminders"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for(lambda: sum(1 for m in smtpd.messages if m["Subject"].startswith("Due today: Batch")) >= 60)
        wait_for(lambda: set(ledger_statuses(env)) <= {"sent", "skipped"})
    finally:
        for proc in (runner, server):
            proc.terminate()
            proc.wait(timeout=30)
    ids = Counter(m["Message-ID"] for m in smtpd.messages)
    assert max(ids.values()) == 1 and set(ids) == expected_ids(env)


@pytest.mark.parametrize("seed", [2008])
def test_killed_scheduler_loses_nothing_and_duplicates_at_most_one_per_kill(invoke, loaded, smtpd, mail_config,
                                                                             seed):  # fmt: skip
    """The README's crash semantics: at-least-once, at most one duplicate per crashed worker per channel."""
    many_items(loaded, 200)
    invoke("load", str(loaded))
    env = run_env(mail_config)
    rng = random.Random(seed)
    command = [sys.executable, "-m", "tracker", "remind", "run", "--interval", "1"]
    kills = 0
    while kills == 0 or (kills < 30 and unfinished(env)):
        target = len(smtpd.messages) + rng.randint(1, 10)
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill at a random point of the batch: after a random number of messages arrived (or all are sent).
        wait_for(lambda t=target: len(smtpd.messages) >= t or (ledger_statuses(env) and not unfinished(env)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)  # reaped: its pid is gone, so the next worker takes over its claimed rows
        kills += 1
    assert kills >= 20
    final = subprocess.run([sys.executable, "-m", "tracker", "remind", "send-due"], env=env, capture_output=True,
                           timeout=120)  # fmt: skip
    assert final.returncode == 0, final.stderr
    ids = Counter(m["Message-ID"] for m in smtpd.messages)
    assert set(ids) == expected_ids(env)  # every due reminder arrived
    batch = [m for m in smtpd.messages if m["Subject"].startswith("Due today: Batch item")]
    assert len({m["Message-ID"] for m in batch}) == 200
    duplicates = sum(n - 1 for n in ids.values())
    print(f"crash test: {kills} kills, {duplicates} duplicates, {len(ids)} distinct messages")
    assert duplicates <= kills, f"{duplicates} duplicates after {kills} kills"
    assert set(ledger_statuses(env)) <= {"sent", "skipped"}
