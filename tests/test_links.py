"""The signed links in reminders act once, and only on the state they were sent for: pressing again (or an
older link, or a link from before a reopen) changes nothing, and the page says what happened.

Through the real Starlette app in process; the links are those of messages composed by send_due.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from tests.conftest import AsgiClient, dump
from tests.test_exactly_once import NOW, many_items
from tracker.calendars import subscriptions
from tracker.core import signing, store
from tracker.core.config import load_settings
from tracker.core.models import Snooze, Subscription
from tracker.register import items
from tracker.reminders import delivery
from tracker.reminders.channels import Message
from tracker.web.server import create_app

KPI = "kpi-committee-volunteer"


class Recorder:
    """A channel that keeps every message (for their links)."""

    name = "console"

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def reaches(self, person) -> bool:  # noqa: ANN001
        return True

    def send(self, message: Message) -> None:
        self.messages.append(message)

    def close(self) -> None:
        pass


class Desk:
    """The test database, its app, and the reminders sent so far."""

    def __init__(self, env: dict[str, str], clock) -> None:  # noqa: ANN001
        self.settings = load_settings(environ=env, overrides={"base_url": "http://testserver"})
        self.engine = store.engine(self.settings.db)
        self.clock = clock
        self.client = AsgiClient(create_app(self.settings, self.engine, clock))
        self.recorder = Recorder()

    def send(self, at: str) -> list[Message]:
        """Send what is due at `at`; the KPI reminders to its owner that went out."""
        before = len(self.recorder.messages)
        delivery.send_due(self.engine, datetime.fromisoformat(at), self.settings, [self.recorder])
        return [m for m in self.recorder.messages[before:] if m.data.get("item", {}).get("slug") == KPI]

    def press(self, url: str, method: str = "POST", **form: str):
        path = url.removeprefix("http://testserver")
        return self.client.request(method, path, data=form or None)

    def snooze_until(self) -> datetime | None:
        with store.transaction(self.engine) as session:
            return session.scalar(select(Snooze.until))

    def item(self) -> dict:
        with store.transaction(self.engine) as session:
            return items.as_dict(items.get(session, KPI), self.clock())


@pytest.fixture
def desk(loaded, env, clock) -> Desk:
    return Desk(env, clock)


def link(message: Message, action: str) -> str:
    return message.data["links"][action]


def test_a_second_snooze_press_and_an_older_link_move_nothing(desk, db_url):
    older = desk.send("2008-08-31T10:00+08:00")[0]  # the 30-day reminder (fired 31 Aug 09:00)
    newer = desk.send("2008-09-24T10:00+08:00")[0]  # the 7-day one (fired 23 Sep 09:00)
    desk.clock.set("2008-09-24T11:00:00+08:00")

    shown = desk.press(link(newer, "snooze"), "GET")
    assert "Move your next reminder about this item by 7 days, to 2008-10-06 09:00 Asia/Taipei?" in shown.text
    first = desk.press(link(newer, "snooze"))
    assert first.status_code == 200 and "will come on 2008-10-06 09:00" in first.text  # 29 Sep 09:00 + 7 days
    assert desk.snooze_until() == datetime.fromisoformat("2008-10-06T09:00+08:00")

    after_first = dump(db_url)
    desk.clock.set("2008-09-25T11:00:00+08:00")  # pressed again the next day: still the same target
    for _ in range(2):
        again = desk.press(link(newer, "snooze"))
        assert again.status_code == 200 and "Already moved" in again.text and "2008-10-06 09:00" in again.text
        assert '<form method="post"' not in again.text
    old = desk.press(link(older, "snooze"))
    assert old.status_code == 200 and "later than this (older) link would hold them: it changes nothing" in old.text
    assert "2008-10-06 09:00" in old.text
    assert dump(db_url) == after_first


def test_an_older_snooze_link_pressed_first_and_then_the_newer_one(desk):
    older = desk.send("2008-08-31T10:00+08:00")[0]
    newer = desk.send("2008-09-24T10:00+08:00")[0]
    desk.clock.set("2008-09-24T11:00:00+08:00")
    assert "2008-09-30 09:00" in desk.press(link(older, "snooze")).text  # the reminder after 31 Aug: 23 Sep + 7
    assert desk.snooze_until() == datetime.fromisoformat("2008-09-30T09:00+08:00")
    assert "2008-10-06 09:00" in desk.press(link(newer, "snooze")).text  # a newer reminder's link may go further
    assert desk.snooze_until() == datetime.fromisoformat("2008-10-06T09:00+08:00")


def test_a_done_link_acts_once_and_not_after_a_reopen(desk, db_url):
    sent = desk.send("2008-09-24T10:00+08:00")[0]
    desk.clock.set("2008-09-24T11:00:00+08:00")
    done = desk.press(link(sent, "done"))
    assert done.status_code == 200 and "Marked done" in done.text
    assert (desk.item()["status"], desk.item()["sequence"]) == ("done", 1)

    after_done = dump(db_url)
    again = desk.press(link(sent, "done"))
    assert again.status_code == 200 and "Already done by apec-officer on 2008-09-24 11:00" in again.text
    assert dump(db_url) == after_done

    desk.clock.set("2008-09-25T09:00:00+08:00")
    with store.transaction(desk.engine, write=True) as session:
        items.reopen(session, KPI, desk.clock(), by="desk-lead")
    reopened = dump(db_url)
    for action in ("done", "snooze"):
        for method in ("GET", "POST"):
            page = desk.press(link(sent, action), method)
            assert page.status_code == 409, (action, method, page.text)
            assert "This item was reopened since this reminder was sent; use the newest reminder" in page.text
            assert '<form method="post"' not in page.text
    assert dump(db_url) == reopened and desk.item()["status"] == "open"

    # The next reminder carries links for the item as it is now, and they work.
    fresh = desk.send("2008-09-29T10:00+08:00")[0]
    assert fresh.subject == "Due in 1 day: Volunteer for the KPI drafting committees"
    desk.clock.set("2008-09-29T11:00:00+08:00")
    assert "Marked done" in desk.press(link(fresh, "done")).text
    assert desk.item()["status"] == "done" and desk.item()["completed_by"] == "apec-officer"
    assert desk.press(link(sent, "done")).status_code == 200  # done again: the old link just says so
    assert "Already done" in desk.press(link(sent, "done")).text


def test_a_status_change_other_than_a_reopen_also_outdates_the_links(desk, db_url):
    sent = desk.send("2008-09-24T10:00+08:00")[0]
    desk.clock.set("2008-09-24T11:00:00+08:00")
    with store.transaction(desk.engine, write=True) as session:
        items.set_status(session, KPI, items.Status.in_progress, desk.clock(), by="desk-lead", how="cli")
    before = dump(db_url)
    page = desk.press(link(sent, "done"))
    assert page.status_code == 409 and "status has changed since this reminder was sent (it is now in progress)" in (
        page.text
    )
    assert dump(db_url) == before


def subscriptions_of(desk: Desk) -> list[Subscription]:
    with store.transaction(desk.engine) as session:
        return list(session.scalars(select(Subscription).order_by(Subscription.id)))


def test_subscribe_from_the_settings_page_makes_one_subscription(desk, db_url):
    sent = desk.send("2008-09-24T10:00+08:00")[0]
    settings_url = sent.unsubscribe
    desk.clock.set("2008-09-24T11:00:00+08:00")
    assert "Create my calendar subscription" in desk.press(settings_url, "GET").text

    first = desk.press(settings_url, action="subscribe")
    assert first.status_code == 200 and "Your calendar subscription is ready" in first.text
    [sub] = subscriptions_of(desk)
    assert (sub.calendar, sub.alarms, sub.name) == ("people/apec-officer", True, "apec-officer (from a reminder)")
    https = next(line for line in first.text.splitlines() if "/feeds/" in line and "<code>" in line)
    token = https.split("/feeds/")[1].split(".ics")[0]
    assert subscriptions.TOKEN_PATTERN.fullmatch(token) and subscriptions.hash_token(token) == sub.token_hash
    assert desk.client.get(f"/feeds/{token}.ics").status_code == 200
    # http://testserver is plain http: no button says https, and Google (https only) is not offered
    assert "Outlook (plain http link)" in first.text and "https link" not in first.text
    assert "calendar.google.com" not in first.text and f'href="webcal://testserver/feeds/{token}.ics"' in first.text

    after_first = dump(db_url)
    again = desk.press(settings_url, action="subscribe")
    assert again.status_code == 200 and "here are its links again" in again.text and https in again.text
    assert dump(db_url) == after_first and len(subscriptions_of(desk)) == 1

    with store.transaction(desk.engine, write=True) as session:
        subscriptions.revoke(session, str(sub.id), desk.clock())
    revoked = dump(db_url)
    page = desk.press(settings_url, action="subscribe")
    assert page.status_code == 200 and "was revoked on 2008-09-24 11:00 Asia/Taipei; ask your desk" in page.text
    assert "/feeds/" not in page.text
    assert dump(db_url) == revoked
    with store.transaction(desk.engine) as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_links_made_before_the_binding_say_so_and_change_nothing(desk, db_url):
    from tracker.core import signing

    desk.clock.set("2008-09-24T11:00:00+08:00")
    with store.transaction(desk.engine) as session:
        key, kpi = signing.secret(session), items.get(session, KPI)
        legacy_done = signing.make(key, "done", desk.clock(), i=kpi.id, p=kpi.owners[0].id)
        legacy_snooze = signing.make(key, "snooze", desk.clock(), i=kpi.id, p=kpi.owners[0].id)
    before = dump(db_url)
    for path in (f"/done/{legacy_done}", f"/snooze/{legacy_snooze}"):
        page = desk.client.post(path)
        assert page.status_code == 410 and "older reminder" in page.text
    assert dump(db_url) == before


def test_each_message_of_a_batch_carries_its_own_items_status_mark(desk, invoke, loaded):
    """The sender reads the status marks of a whole batch at once: each link still gets its own item's."""
    many_items(loaded, 3)  # due-day reminders at NOW, sent in one batch
    invoke("load", str(loaded))
    with store.transaction(desk.engine, write=True) as session:
        items.done(session, "batch-0", desk.clock(), by="desk-lead")
        items.reopen(session, "batch-0", desk.clock(), by="desk-lead")
    desk.send(NOW)
    sent = [m for m in desk.recorder.messages if "done" in m.data.get("links", {})]
    with store.transaction(desk.engine) as session:
        key = signing.secret(session, desk.settings.secret)
        marks = {m.data["item"]["id"]: signing.status_mark(session, m.data["item"]["id"]) for m in sent}
        reopened = items.get(session, "batch-0").id
    assert len(marks) >= 2 and marks[reopened] > 0 and 0 in marks.values()
    for m in sent:
        token = link(m, "done").rsplit("/", 1)[1]
        claims = signing.read(key, "done", token, datetime.fromisoformat(NOW))
        assert (claims["i"], claims["s"]) == (m.data["item"]["id"], marks[m.data["item"]["id"]])
