"""A delivery that fails, for any reason, fails alone: recorded, retried with backoff, never blocking the rest.

The bad data here is written straight into the database, as data from before the input rules (or from a path
that skipped them) would be: the sender must cope with whatever is stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from starlette.responses import JSONResponse

from tests.test_delivery import send_due, webhook_receiver
from tracker.core import store
from tracker.core.config import load_settings
from tracker.core.models import Delivery, Item, Person, Reminder
from tracker.reminders import delivery
from tracker.reminders.channels import ChannelError, Message

AT = "2008-09-24T10:00+08:00"  # the KPI item's 7-day reminder (fired 23 Sep 09:00) and others are due
BAD_TITLE = "Volunteer for the KPI\r\nBcc: intruder@example.org\u2028drafting\ncommittees"
BAD_NAME = "APEC\r\nSMEWG\u2029officer"


def engine_of(env: dict[str, str]):
    return store.engine(env["TRACKER_DB"])


def spoil(env: dict[str, str], title: str | None = None, name: str | None = None) -> None:
    """Write a title / the officer's name as stored data, bypassing the input rules."""
    with store.transaction(engine_of(env), write=True) as session:
        if title is not None:
            session.execute(update(Item).where(Item.slug == "kpi-committee-volunteer").values(title=title))
        if name is not None:
            session.execute(update(Person).where(Person.slug == "apec-officer").values(name=name))


def deliveries(env: dict[str, str]) -> list[Delivery]:
    with store.transaction(engine_of(env)) as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_line_breaks_in_a_title_and_a_name_do_not_stop_any_mail(invoke, invoke_json, loaded, smtpd, tmp_path,
                                                                 env):  # fmt: skip
    received_hooks, hook = webhook_receiver(lambda n: asyncio.sleep(0, JSONResponse({"ok": True})))
    config = tmp_path / "both.toml"
    config.write_text(f"""[channels.email]
host = "127.0.0.1"
port = {smtpd.port}
security = "plain"
from = "Tracker <tracker@example.org>"

[channels.webhook]
url_env = "TEST_HOOK_URL"
""")
    run_env = {**env, "TRACKER_CONFIG": str(config), "TEST_HOOK_URL": f"{hook.url}/hook"}
    spoil(env, title=BAD_TITLE, name=BAD_NAME)
    try:
        result = invoke("--now", AT, "remind", "send-due", "--json", env=run_env)  # exit code 0: a clean run
    finally:
        hook.stop()
    counts = json.loads(result.stdout)["results"]
    rows = deliveries(env)
    assert counts["failed"] == 0 and counts["sent"] == len(rows) >= 8
    assert {d.status for d in rows} == {"sent"}
    assert len(smtpd.messages) == len([d for d in rows if d.channel == "email"]) >= 4
    assert len(received_hooks) == len([d for d in rows if d.channel == "webhook"]) >= 4

    kpi = [(to, m) for to, m in zip(smtpd.recipients, smtpd.messages, strict=True) if "KPI" in m["Subject"]]
    assert len(kpi) == 1
    recipients, mail = kpi[0]
    assert recipients == ["apec-officer@example.org"]  # the "Bcc:" in the title added no recipient
    assert mail["Subject"] == "Due in 7 days: Volunteer for the KPI Bcc: intruder@example.org drafting committees"
    assert mail["Bcc"] is None and "intruder" not in str(mail["To"])
    assert mail["To"] == "APEC SMEWG officer <apec-officer@example.org>"
    text = mail.get_body(("plain",)).get_content()
    assert "Volunteer for the KPI" in text  # the body keeps the stored text; only headers are folded
    others = [m for to, m in zip(smtpd.recipients, smtpd.messages, strict=True) if to != ["apec-officer@example.org"]]
    assert others, "the other people's reminders went out in the same run"

    history = invoke_json("remind", "history")
    assert len(history) == len(rows) and {h["status"] for h in history} == {"sent"}
    assert all(h["error"] is None for h in history)
    # A later run at the same instant sends nothing again and does not fail.
    again = json.loads(invoke("--now", AT, "remind", "send-due", "--json", env=run_env).stdout)["results"]
    assert (again["sent"], again["failed"]) == (0, 0)


class Picky:
    """A channel that raises an arbitrary (non-ChannelError) exception for one person's KPI reminder, and
    delivers the rest."""

    name = "picky"

    def __init__(self, refuse: str) -> None:
        self.refuse = refuse
        self.sent: list[Message] = []
        self.closed = 0

    def reaches(self, person: Person) -> bool:
        return True

    def send(self, message: Message) -> None:
        if message.data["to"] == self.refuse and "KPI" in message.subject:
            raise RuntimeError(f"boom for {self.refuse}")
        self.sent.append(message)

    def close(self) -> None:
        self.closed += 1


def test_any_exception_from_a_channel_fails_that_delivery_alone(loaded, env, caplog):
    engine, settings = engine_of(env), load_settings(environ=env)
    now = datetime.fromisoformat(AT)
    picky = Picky("apec-officer")
    with caplog.at_level(logging.ERROR, logger="tracker.reminders.delivery"):
        result = delivery.send_due(engine, now, settings, [picky])
    rows = deliveries(env)
    failed = [d for d in rows if d.status != "sent"]
    assert len(failed) == 1 and result.failed == 1 and result.sent == len(rows) - 1 == len(picky.sent) >= 2
    bad = failed[0]
    assert (bad.recipient, bad.status, bad.attempts) == ("apec-officer", "failed", 1)
    assert bad.error == "RuntimeError: boom for apec-officer"
    assert bad.next_attempt_at == now + timedelta(minutes=1)
    logged = [r for r in caplog.records if r.exc_info and "boom for apec-officer" in str(r.exc_info[1])]
    assert logged, "an unexpected exception is logged with its traceback"
    assert picky.closed == 1

    # Not before the backoff; then retried (and still failing) without blocking anything else.
    assert delivery.send_due(engine, now + timedelta(seconds=30), settings, [picky]).as_dict()["failed"] == 0
    later = delivery.send_due(engine, now + timedelta(minutes=2), settings, [picky])
    assert later.failed == 1
    bad = next(d for d in deliveries(env) if d.id == bad.id)
    assert (bad.status, bad.attempts, bad.next_attempt_at) == ("failed", 2, now + timedelta(minutes=7))
    assert not [d for d in deliveries(env) if d.status == "sending"]

    # Healed: it goes out at the next due retry, and every row is settled.
    picky.refuse = "nobody"
    healed = delivery.send_due(engine, now + timedelta(minutes=8), settings, [picky])
    assert healed.sent >= 1 and healed.failed == 0
    assert next(d for d in deliveries(env) if d.id == bad.id).status == "sent"


def test_a_delivery_that_keeps_failing_ends_dead(loaded, env):
    engine, settings = engine_of(env), load_settings(environ=env)
    now = datetime.fromisoformat(AT)
    picky = Picky("apec-officer")
    delivery.send_due(engine, now, settings, [picky])
    bad_id = next(d.id for d in deliveries(env) if d.status == "failed")
    at = now
    for _ in range(delivery.MAX_ATTEMPTS - 1):
        at = next(d for d in deliveries(env) if d.id == bad_id).next_attempt_at
        delivery.send_due(engine, at, settings, [picky])
    bad = next(d for d in deliveries(env) if d.id == bad_id)
    assert (bad.status, bad.attempts, bad.next_attempt_at) == ("dead", delivery.MAX_ATTEMPTS, None)
    assert delivery.send_due(engine, at + timedelta(days=1), settings, [picky]).failed == 0  # never again


def test_a_message_that_cannot_be_composed_fails_alone(loaded, env, caplog):
    """A stored reminder the composer chokes on (here a meeting occurrence that is not a date)."""
    engine, settings = engine_of(env), load_settings(environ=env)
    now = datetime.fromisoformat(AT)
    with store.transaction(engine, write=True) as session:
        officer = session.scalars(select(Person).where(Person.slug == "apec-officer")).one()
        broken = Reminder(key="meeting:broken", kind="meeting-before", fire_at=now - timedelta(hours=1),
                          person_id=officer.id, meeting_uid="nothing@tracker", occurrence="not a date",
                          payload={"days": 1, "title": "Broken"}, state="queued")  # fmt: skip
        session.add(broken)
        session.flush()
        session.add(Delivery(reminder_id=broken.id, recipient="apec-officer", channel="picky", status="pending"))
    picky = Picky("nobody")
    with caplog.at_level(logging.ERROR, logger="tracker.reminders.delivery"):
        result = delivery.send_due(engine, now, settings, [picky])
    rows = deliveries(env)
    bad = next(d for d in rows if d.recipient == "apec-officer" and d.reminder_id == broken.id)
    assert (bad.status, bad.attempts, bad.next_attempt_at) == ("failed", 1, now + timedelta(minutes=1))
    assert bad.error.startswith("ValueError: ") and "not a date" in bad.error
    assert result.failed == 1 and result.sent == len(rows) - 1 == len(picky.sent) >= 2
    assert {d.status for d in rows if d.id != bad.id} == {"sent"}
    assert any(r.exc_info for r in caplog.records)


def test_a_channel_error_is_recorded_as_it_says(loaded, env):
    class Down(Picky):
        def send(self, message: Message) -> None:
            raise ChannelError("smtp example:25: Connection refused")

    engine, settings = engine_of(env), load_settings(environ=env)
    delivery.send_due(engine, datetime.fromisoformat(AT), settings, [Down("x")])
    assert {d.error for d in deliveries(env)} == {"smtp example:25: Connection refused"}


def test_rows_left_sending_by_a_sweep_of_this_worker_are_taken_back(loaded, env):
    """`remind run` keeps one worker id for its life: rows a failed sweep left `sending` must not stay stuck."""
    engine, settings = engine_of(env), load_settings(environ=env)
    now = datetime.fromisoformat(AT)
    worker = delivery.worker_id()
    delivery.prepare(engine, now, settings, [Picky("nobody")])
    claimed = delivery._claim(engine, worker, now, 50)  # a sweep claimed these, then died before sending
    assert claimed
    picky = Picky("nobody")
    assert delivery.send_due(engine, now, settings, [picky], worker=worker).sent == 0  # its lease still runs
    with store.transaction(engine, write=True) as session:  # ... until the lease has run out
        session.execute(update(Delivery).values(lease_until=datetime.fromisoformat("2000-01-01T00:00+00:00")))
    assert delivery.send_due(engine, now, settings, [picky], worker=worker).sent == len(claimed)
    assert {d.status for d in deliveries(env)} == {"sent"}


def test_webhook_text_escapes_slack_markup_and_keeps_the_data_raw(invoke, loaded, env, tmp_path):
    title = "R&D <b>KPI</b> & <!channel> drafting"
    spoil(env, title=title)
    received, server = webhook_receiver(lambda n: asyncio.sleep(0, JSONResponse({"ok": True})))
    config = tmp_path / "hook.toml"
    config.write_text('[channels.webhook]\nurl_env = "TEST_HOOK_URL"\n')
    try:
        invoke("--now", AT, "remind", "send-due", env={**env, "TRACKER_CONFIG": str(config),
                                                        "TEST_HOOK_URL": f"{server.url}/hook"})  # fmt: skip
    finally:
        server.stop()
    kpi = next(r for r in received if r["reminder"].get("item", {}).get("slug") == "kpi-committee-volunteer")
    escaped = "R&amp;D &lt;b&gt;KPI&lt;/b&gt; &amp; &lt;!channel&gt; drafting"
    assert kpi["text"].startswith(f"*Due in 7 days: {escaped}*\n")
    assert f"\n{escaped}\n" in kpi["text"]  # the title line of the text part
    body = kpi["text"].replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    assert not set("<>&") & set(body)
    assert kpi["reminder"]["item"]["title"] == title  # the structured data stays as stored
    assert kpi["reminder"]["links"]["done"].startswith("http://127.0.0.1:8765/done/")


def test_two_sweeps_at_one_instant_each_summarise_what_they_missed(invoke, loaded, env):
    """A catch-up message per sweep and person: a second sweep at the same `now` (a fixed clock, or two senders)
    that finds newly missed reminders summarises them too instead of failing on the first one's key."""
    now = "2009-06-01T10:00+08:00"
    assert send_due(invoke, now, env)["summarised"] > 0
    invoke("--now", "2009-05-20", "add", "Late extra", "--owner", "apec-officer", "--due", "2009-05-25")
    assert send_due(invoke, now, env)["summarised"] > 0
    with store.transaction(engine_of(env)) as session:
        keys = session.scalars(select(Reminder.key).where(Reminder.kind == "catchup")).all()
    assert len([k for k in keys if k.startswith("catchup:")]) == len(set(keys)) >= 2
