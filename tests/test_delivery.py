"""Sending reminders to real servers: SMTP (aiosmtpd), webhooks on loopback; and the mark-done link."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from icalendar import Calendar
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import LiveServer, dump


def send_due(invoke, now: str, env) -> dict:
    import json

    return json.loads(invoke("--now", now, "remind", "send-due", "--json", env=env).stdout)["results"]


def kpi_mails(mailbox):
    return [m for m in mailbox.messages if "Volunteer for the KPI drafting committees" in m["Subject"]]


def test_the_kpi_deadline_reminder_reaches_the_owner_by_smtp(invoke, invoke_json, loaded, smtpd, mail_config):
    result = send_due(invoke, "2008-09-24T10:00+08:00", mail_config)
    assert result["failed"] == 0 and result["sent"] >= 1
    mail = kpi_mails(smtpd)[0]
    assert mail["Subject"] == "Due in 7 days: Volunteer for the KPI drafting committees"
    assert mail["To"] == "APEC SMEWG officer <apec-officer@example.org>"
    assert mail["From"] == "Tracker <tracker@example.org>"
    assert mail["Date"] == "Wed, 24 Sep 2008 02:00:00 +0000"
    assert re.fullmatch(r"<[0-9a-f]{32}@tracker>", mail["Message-ID"])
    assert mail["List-Unsubscribe"].startswith("<http://127.0.0.1:8765/settings/")
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "「會中並鼓勵各會員體自願在9月底前參加各項KPIs制訂小組」" in text and "Mark done" in html
    assert re.search(r"Mark done: http://127.0.0.1:8765/done/\S+", text)
    attachment = next(p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar")
    cal = Calendar.from_ical(attachment.get_content().encode() if isinstance(attachment.get_content(), str)
                             else attachment.get_content())  # fmt: skip
    todo = cal.todos[0]
    assert str(todo["UID"]) == "item-kpi-committee-volunteer@tracker"
    assert todo.decoded("DUE").isoformat() == "2008-09-30"
    # Sending again at the same instant sends nothing twice.
    count = len(smtpd.messages)
    assert send_due(invoke, "2008-09-24T10:00+08:00", mail_config)["sent"] == 0
    assert len(smtpd.messages) == count
    history = invoke_json("remind", "history")
    assert all(h["status"] in ("sent", "skipped") for h in history)
    assert any(h["recipient"] == "apec-officer@example.org" and h["channel"] == "email" for h in history)


def test_old_reminders_become_one_catch_up_message(invoke, loaded, smtpd, mail_config):
    send_due(invoke, "2009-06-01T10:00+08:00", mail_config)
    to_officer = [m for m in smtpd.messages if "apec-officer@" in m["To"]]
    catch_up = [m for m in to_officer if m["Subject"].startswith("Missed while reminders were off: ")]
    assert len(catch_up) == 1
    assert (
        "Volunteer for the KPI drafting committees (due in 30 days)" in catch_up[0].get_body(("plain",)).get_content()
    )
    assert not any(m["Subject"].startswith("Due in 30 days") for m in to_officer)


def webhook_receiver(make_response):
    received = []

    async def hook(request: Request):
        received.append(await request.json())
        return await make_response(len(received))

    return received, LiveServer(lambda url: Starlette(routes=[Route("/hook", hook, methods=["POST"])]))


@pytest.fixture
def webhook_env(tmp_path, env):
    def configure(url: str, timeout: float = 5) -> dict[str, str]:
        config = tmp_path / "webhook.toml"
        config.write_text(f'[channels.webhook]\nurl_env = "TEST_HOOK_URL"\ntimeout = {timeout}\n')
        return {**env, "TRACKER_CONFIG": str(config), "TEST_HOOK_URL": url}

    return configure


def test_webhook_gets_slack_style_json(invoke, loaded, webhook_env):
    received, server = webhook_receiver(lambda n: asyncio.sleep(0, JSONResponse({"ok": True})))
    try:
        send_due(invoke, "2008-09-24T10:00+08:00", webhook_env(f"{server.url}/hook"))
    finally:
        server.stop()
    kpi = [r for r in received if r["reminder"].get("item", {}).get("slug") == "kpi-committee-volunteer"]
    assert kpi and kpi[0]["text"].startswith("*Due in 7 days: Volunteer for the KPI drafting committees*")
    assert kpi[0]["reminder"]["item"]["due"] == "2008-09-30" and kpi[0]["idempotency_key"].endswith("@tracker>")


@pytest.mark.parametrize("failure", ["500", "hang"])
def test_a_failing_webhook_is_recorded_and_retried(invoke, invoke_json, loaded, webhook_env, failure):
    healthy = {"value": False}

    async def answer(n):
        if healthy["value"]:
            return JSONResponse({"ok": True})
        if failure == "hang":
            await asyncio.sleep(3)
        return JSONResponse({"error": "down"}, status_code=500)

    received, server = webhook_receiver(answer)
    env = webhook_env(f"{server.url}/hook", timeout=0.5)
    try:
        first = send_due(invoke, "2008-09-24T10:00+08:00", env)
        assert first["sent"] == 0 and first["failed"] >= 1
        failed = [h for h in invoke_json("remind", "history") if h["status"] == "failed"]
        assert failed and all(h["attempts"] == 1 for h in failed)
        assert all(("HTTP 500" if failure == "500" else "ReadTimeout") in h["error"] for h in failed)
        assert failed[0]["next_attempt_at"] == "2008-09-24T02:01:00+00:00"  # first backoff: one minute
        assert send_due(invoke, "2008-09-24T10:00:30+08:00", env)["sent"] == 0  # not before the backoff
        healthy["value"] = True
        again = send_due(invoke, "2008-09-24T10:02+08:00", env)
        assert again["sent"] == len(failed) and again["failed"] == 0
    finally:
        server.stop()
    assert {h["status"] for h in invoke_json("remind", "history")} == {"sent"}


def test_mark_done_from_the_reminder(invoke, invoke_json, loaded, smtpd, mail_config, make_server, db_url, clock,
                                     tmp_path):  # fmt: skip
    clock.set("2008-09-24T11:00:00+08:00")  # the server's clock: an hour after the reminder went out
    server = make_server()
    mail_env = {**mail_config, "TRACKER_BASE_URL": server.url}
    send_due(invoke, "2008-09-24T10:00+08:00", mail_env)
    text = kpi_mails(smtpd)[0].get_body(("plain",)).get_content()
    done_url = re.search(r"Mark done: (\S+)", text)[1]
    snooze_url = re.search(r"Remind me in 7 days: (\S+)", text)[1]
    assert done_url.startswith(f"{server.url}/done/")

    before = dump(db_url)
    for _ in range(2):  # a mail scanner opening the link, then the person: nothing changes
        page = httpx.get(done_url)
        assert page.status_code == 200 and "Mark this item done?" in page.text and '<form method="post"' in page.text
        assert "會中並鼓勵各會員體自願在9月底前參加各項KPIs制訂小組" in page.text
    assert httpx.head(done_url).status_code == 200
    assert dump(db_url) == before

    posted = httpx.post(done_url)
    assert posted.status_code == 200 and "Marked done" in posted.text
    item = invoke_json("show", "kpi-committee-volunteer")
    assert (item["status"], item["completed_by"], item["completed_how"]) == ("done", "apec-officer", "email link")
    assert item["sequence"] == 1
    assert "kpi-committee-volunteer" not in [i["slug"] for i in invoke_json("items")]
    invoke("export", "--out", str(tmp_path / "cal"))
    todo = next(t for t in Calendar.from_ical((tmp_path / "cal" / "action-items.ics").read_bytes()).todos
                if str(t["UID"]) == "item-kpi-committee-volunteer@tracker")  # fmt: skip
    assert str(todo["STATUS"]) == "COMPLETED" and todo["SEQUENCE"] == 1

    after_done = dump(db_url)
    again = httpx.post(done_url)
    assert again.status_code == 200 and "Already done by apec-officer" in again.text
    assert dump(db_url) == after_done
    assert not [r for r in invoke_json("--now", "2008-09-24T10:00+08:00", "remind", "plan", "--days", "60")
                if r["item_id"] == item["id"]]  # fmt: skip
    count = len(kpi_mails(smtpd))
    send_due(invoke, "2008-09-30T10:00+08:00", mail_env)
    assert len(kpi_mails(smtpd)) == count  # no further reminders

    snoozed = httpx.post(snooze_url)
    assert snoozed.status_code == 200 and "no longer open" in snoozed.text


def test_bad_links_get_a_clear_4xx_and_change_nothing(invoke, invoke_json, loaded, smtpd, mail_config, make_server,
                                                      clock, db_url, env):  # fmt: skip
    from tracker.core import signing, store

    clock.set("2008-09-24T11:00:00+08:00")
    server = make_server()
    send_due(invoke, "2008-09-24T10:00+08:00", {**mail_config, "TRACKER_BASE_URL": server.url})
    done_url = re.search(r"Mark done: (\S+)", kpi_mails(smtpd)[0].get_body(("plain",)).get_content())[1]
    with store.transaction(store.engine(env["TRACKER_DB"])) as session:
        key = signing.secret(session)
        kpi = invoke_json("show", "kpi-committee-volunteer")["id"]
        someone_else = signing.make(key, "done", clock(), i=kpi, p=4)  # the bilateral officer: not an owner
        wrong_action = signing.make(key, "snooze", clock(), i=kpi, p=2)
    before = dump(db_url)
    forged = done_url[:-3] + ("abc" if not done_url.endswith("abc") else "xyz")
    cases = [
        (forged, 400, "not valid"),
        (f"{server.url}/done/{someone_else}", 403, "no longer responsible"),
        (f"{server.url}/done/{wrong_action}", 400, "not valid"),
        (f"{server.url}/done/garbage", 400, "not valid"),
    ]
    for url, status, words in cases:
        for method in (httpx.get, httpx.post):
            response = method(url)
            assert response.status_code == status and words in response.text, (url, response.text)
    clock.set("2008-10-25T10:00:00+08:00")  # 31 days later
    expired = httpx.post(done_url)
    assert expired.status_code == 410 and "expired" in expired.text
    assert dump(db_url) == before


def test_snooze_moves_the_next_reminder_by_seven_days(invoke, invoke_json, loaded, smtpd, mail_config, make_server,
                                                       clock):  # fmt: skip
    clock.set("2008-09-24T11:00:00+08:00")
    server = make_server()
    send_due(invoke, "2008-09-24T10:00+08:00", {**mail_config, "TRACKER_BASE_URL": server.url})
    snooze_url = re.search(r"Remind me in 7 days: (\S+)", kpi_mails(smtpd)[0].get_body(("plain",)).get_content())[1]
    assert "Move your next reminder" in httpx.get(snooze_url).text
    page = httpx.post(snooze_url)
    assert page.status_code == 200 and "2008-10-06 09:00" in page.text  # next was 29 Sep 09:00, now 7 days later
    rows = [r for r in invoke_json("--now", "2008-09-24T10:00+08:00", "remind", "plan", "--days", "30")
            if r["item"] == "Volunteer for the KPI drafting committees" and r["will"] == "send"]  # fmt: skip
    assert rows[0]["when"] == "2008-10-06T09:00:00+08:00" and rows[0]["kind"] == "item-snoozed"
    assert invoke_json("show", "kpi-committee-volunteer")["due"] == "2008-09-30"


def test_weekly_digest_lists_what_is_overdue_due_and_ahead(invoke, loaded, smtpd, mail_config):
    send_due(invoke, "2008-09-29T08:30+08:00", mail_config)  # Monday, half an hour after the digest hour
    digests = {m["To"]: m for m in smtpd.messages if m["Subject"].startswith("Weekly digest")}
    officer = digests["APEC SMEWG officer <apec-officer@example.org>"]
    assert officer["Subject"] == "Weekly digest: 0 overdue, 1 due in 14 days, 0 meetings ahead"
    assert "Volunteer for the KPI drafting committees (due 2008-09-30)" in officer.get_body(("plain",)).get_content()
    bilateral = digests["Bilateral relations officer <bilateral-officer@example.org>"]
    assert (
        bilateral["Subject"] == "Weekly digest: 0 overdue, 2 due in 14 days, 2 meetings ahead"
    )  # 15 Oct is past 14 days
    text = bilateral.get_body(("plain",)).get_content()
    assert "Invite a US delegation to the Taiwan Business Alliance Conference (due 2008-10-06)" in text
    assert "Taiwan Business Alliance Conference（全球招商大會） (2008-10-06, Taipei)" in text


def test_the_console_summary_counts_people_kinds_and_catch_ups():
    from datetime import UTC, datetime

    from tracker.reminders.channels import SUMMARY_PEOPLE, summary
    from tracker.reminders.mail import Message

    def message(to: str, kind: str, **data) -> Message:
        when = datetime(2026, 1, 1, tzinfo=UTC)
        return Message("s", "t", "h", f"<{to}{kind}@x>", when, {"kind": kind, "to": to, **data})

    held = [message(f"p{i:02}", "item-overdue") for i in range(SUMMARY_PEOPLE + 3)]
    held += [message("p00", "catchup", missed=[{"when": "2009-03-02"}, {"when": "2008-10-06"}])]
    lines = summary(held, ["email"])
    assert lines[0].startswith(f"{SUMMARY_PEOPLE + 4} reminders for {SUMMARY_PEOPLE + 3} people sent to the console")
    assert lines[1] == "  p00: 1 catch-up, 1 overdue" and lines[SUMMARY_PEOPLE + 1] == "  … and 3 more people"
    assert "1 catch-up: one message per person" in lines[-3] and lines[-3].endswith("the oldest on 2008-10-06.")
    assert lines[-1] == "Also sent by: email." and len(lines) == SUMMARY_PEOPLE + 5
