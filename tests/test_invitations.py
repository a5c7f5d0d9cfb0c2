"""Meetings sent as iMIP invitations (RFC 6047 / RFC 5546) through the reminders' ledger, to a real SMTP server:
the feeds' UID and SEQUENCE, a new REQUEST when a meeting moves (once, however often the sender runs), a CANCEL
when it is cancelled, nothing to those who opted out, nothing for meetings past. libical (Evolution) checks
each message against RFC 5546's tables; icalendar parses it."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import recurring_ical_events
import yaml
from icalendar import Calendar
from sqlalchemy import select

from tracker.core import config, store
from tracker.core.models import Person
from tracker.reminders import channels, delivery

LIBICAL = Path(__file__).parent / "interop" / "libical_itip.py"
SYSTEM_PYTHON = "/usr/bin/python3"
NOW = "2026-12-01T10:00+08:00"

PEOPLE = {"people": [
    {"slug": "ann", "name": "Ann Lee", "email": "ann@example.org", "tz": "Asia/Taipei", "locale": "zh_TW"},
    {"slug": "bob", "name": "Bob Wu", "email": "bob@example.org", "tz": "Asia/Taipei"},
    {"slug": "cy", "name": "Cy Lin", "email": "cy@example.org", "tz": "Asia/Taipei", "invitations": False},
]}  # fmt: skip
TALKS = {"slug": "trade-talks", "title": "Trade talks", "start": "2027-05-10T09:30", "end": "2027-05-10T17:00",
         "tz": "Asia/Taipei", "place": "Taipei", "attendees": ["ann", "bob", "cy"]}  # fmt: skip
MEETINGS = {
    "series": [{"slug": "smewg", "title": "SME working group", "rrule": "FREQ=MONTHLY;INTERVAL=6", "start": "2027-03",
                "attendees": ["ann"]}],
    "meetings": [
        TALKS,
        {"slug": "smewg-29", "title": "29th SME working group", "series": "smewg", "overrides": "2027-09",
         "start": "2027-09-14", "tz": "America/Lima", "place": "Lima"},
        {"slug": "old-talks", "title": "Old talks", "start": "2008-10-06", "tz": "Asia/Taipei",
         "attendees": ["ann", "bob"]},
    ],
}  # fmt: skip


@pytest.fixture
def desk(tmp_path, invoke):
    """A desk of three (cy opted out) with a meeting and a series ahead and one past; returns a loader for
    meetings.yaml with changes to the trade talks."""
    folder = tmp_path / "desk"
    folder.mkdir()
    (folder / "people.yaml").write_text(yaml.safe_dump(PEOPLE, allow_unicode=True))

    def load(**talks) -> None:
        data = {**MEETINGS, "meetings": [TALKS | talks, *MEETINGS["meetings"][1:]]}
        (folder / "meetings.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
        invoke("load", str(folder))

    load()
    return load


def plan(invoke, env, days: int) -> list[dict]:
    return json.loads(invoke("--now", NOW, "remind", "plan", "--days", str(days), "--json", env=env).stdout)["results"]


def send(invoke, env, now: str = NOW) -> dict:
    return json.loads(invoke("--now", now, "remind", "send-due", "--json", env=env).stdout)["results"]


def invitations(mailbox) -> list[tuple[str, Calendar, object]]:
    """(To address, the iTIP calendar, the message) of each message that carries one (reminders attach their
    item or meeting as METHOD:PUBLISH)."""
    found = []
    for mail in mailbox.messages:
        part = next((p for p in mail.walk() if p.get_content_type() == "text/calendar"
                     and p.get_param("method") != "PUBLISH"), None)  # fmt: skip
        if part is not None:
            found.append((mail["To"].addresses[0].addr_spec, Calendar.from_ical(part.get_content()), mail))
    return found


def event(cal: Calendar):
    return cal.events[0]


def identity(cal: Calendar) -> tuple[str, str, str, int]:
    """METHOD, UID, RECURRENCE-ID ("" for none) and SEQUENCE."""
    e = event(cal)
    rid = e.get("RECURRENCE-ID")
    return str(cal["METHOD"]), str(e["UID"]), rid.to_ical().decode() if rid else "", int(e["SEQUENCE"])


def libical_errors(data: bytes, tmp_path: Path) -> list[str]:
    if not Path(SYSTEM_PYTHON).exists() or subprocess.run([SYSTEM_PYTHON, "-c", "import gi"]).returncode:
        if os.environ.get("CI"):
            pytest.fail("libical (python3-gi, gir1.2-ical-3.0) is missing")
        pytest.skip("libical (python3-gi, gir1.2-ical-3.0) is missing")
    path = tmp_path / "itip.ics"
    path.write_bytes(data)
    out = subprocess.run([SYSTEM_PYTHON, str(LIBICAL), str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def check_itip(found, tmp_path: Path) -> None:
    """Each message is a valid iTIP message to its recipient, as Outlook and Gmail expect one."""
    for to, cal, mail in found:
        method = str(cal["METHOD"])
        part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
        assert part.get_param("method") == method and part.get_content_charset() == "utf-8"
        assert mail.get_content_type() == "multipart/mixed"
        alternative = next(mail.iter_parts())
        assert alternative.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html", "text/calendar"]
        attachment = next(mail.iter_attachments())
        assert attachment.get_filename() == "invite.ics" and attachment.get_content() == cal.to_ical()
        e = event(cal)
        assert str(e["ORGANIZER"]) == "mailto:tracker@example.org"
        attendee = e["ATTENDEE"]
        assert str(attendee) == f"mailto:{to}" and attendee.params["ROLE"] == "REQ-PARTICIPANT"
        if method == "REQUEST":
            assert (attendee.params["PARTSTAT"], attendee.params["RSVP"]) == ("NEEDS-ACTION", "TRUE")
        assert libical_errors(cal.to_ical(), tmp_path) == []


def feed_sequences(invoke, tmp_path: Path) -> dict[tuple[str, str], int]:
    """SEQUENCE of each VEVENT of the published meetings calendar, by (UID, RECURRENCE-ID)."""
    out = tmp_path / "feeds"
    invoke("--now", NOW, "export", "--out", str(out))
    cal = Calendar.from_ical((out / "meetings.ics").read_bytes())
    return {(str(e["UID"]), e["RECURRENCE-ID"].to_ical().decode() if e.get("RECURRENCE-ID") else ""):
            int(e["SEQUENCE"]) for e in cal.events}  # fmt: skip


TALKS_UID = "meeting-trade-talks@tracker"
SERIES_UID = "series-smewg@tracker"


def test_meetings_ahead_arrive_as_itip_requests_with_the_feeds_uid_and_sequence(invoke, desk, smtpd, mail_config,
                                                                                  tmp_path):  # fmt: skip
    planned = [r for r in plan(invoke, mail_config, 1)
               if r["kind"] == "invitation-request"]  # fmt: skip
    assert sorted((r["to"], r["meeting"], r["will"]) for r in planned) == [
        ("ann", "29th SME working group", "send now"), ("ann", "SME working group", "send now"),
        ("ann", "Trade talks", "send now"), ("bob", "Trade talks", "send now")]  # fmt: skip
    assert send(invoke, mail_config)["failed"] == 0
    found = invitations(smtpd)
    # Nothing for the past meeting, nothing to cy (opted out); the series and its announced occurrence to ann.
    assert sorted((to, identity(cal)) for to, cal, _ in found) == [
        ("ann@example.org", ("REQUEST", TALKS_UID, "", 0)),
        ("ann@example.org", ("REQUEST", SERIES_UID, "", 0)),
        ("ann@example.org", ("REQUEST", SERIES_UID, "20270901", 0)),
        ("bob@example.org", ("REQUEST", TALKS_UID, "", 0)),
    ]
    feeds = feed_sequences(invoke, tmp_path)
    assert all(feeds[identity(cal)[1:3]] == identity(cal)[3] for _, cal, _ in found)
    check_itip(found, tmp_path)
    subjects = {(to, identity(cal)[1]): mail["Subject"] for to, cal, mail in found if not identity(cal)[2]}
    assert subjects[("bob@example.org", TALKS_UID)] == "Invitation: Trade talks (2027-05-10 09:30 Asia/Taipei)"
    assert subjects[("ann@example.org", TALKS_UID)].startswith("邀請：Trade talks")  # her locale
    series = [event(cal) for _, cal, _ in found if identity(cal)[1:3] == (SERIES_UID, "")]
    assert series[0]["RRULE"].to_ical() == b"FREQ=MONTHLY;INTERVAL=6"
    # Opted out of invitations, cy still gets the meeting's reminders.
    kinds = {r["kind"] for r in plan(invoke, mail_config, 200) if r["to"] == "cy"}
    assert "meeting-before" in kinds and not {k for k in kinds if k.startswith("invitation")}
    assert send(invoke, mail_config)["sent"] == 0 and len(invitations(smtpd)) == 4


def test_moving_a_meeting_sends_one_new_request_and_cancelling_one_cancel(invoke, desk, smtpd, mail_config, tmp_path):
    send(invoke, mail_config)
    before = len(smtpd.messages)
    desk(start="2027-05-12T09:30", end="2027-05-12T17:00")
    send(invoke, mail_config)
    send(invoke, mail_config, "2026-12-01T11:00+08:00")  # the sender again, later: nothing twice
    moved = invitations(smtpd)[4:]
    assert len(smtpd.messages) == before + 2
    assert sorted((to, identity(cal)) for to, cal, _ in moved) == [
        ("ann@example.org", ("REQUEST", TALKS_UID, "", 1)),
        ("bob@example.org", ("REQUEST", TALKS_UID, "", 1)),
    ]
    assert all(event(cal).decoded("DTSTART").isoformat() == "2027-05-12T09:30:00+08:00" for _, cal, _ in moved)
    assert {mail["Subject"] for to, _, mail in moved if to == "bob@example.org"} == {
        "Updated invitation: Trade talks (2027-05-12 09:30 Asia/Taipei)"
    }

    desk(start="2027-05-12T09:30", end="2027-05-12T17:00", cancelled=True)
    send(invoke, mail_config, "2026-12-02T10:00+08:00")
    send(invoke, mail_config, "2026-12-02T10:00+08:00")
    cancels = invitations(smtpd)[6:]
    assert sorted((to, identity(cal)) for to, cal, _ in cancels) == [
        ("ann@example.org", ("CANCEL", TALKS_UID, "", 2)),
        ("bob@example.org", ("CANCEL", TALKS_UID, "", 2)),
    ]
    assert all(str(event(cal)["STATUS"]) == "CANCELLED" for _, cal, _ in cancels)
    check_itip(moved + cancels, tmp_path)


def test_a_request_not_yet_sent_is_superseded_by_the_newer_one(invoke, desk, smtpd, mail_config, db_url):
    settings = config.load_settings(environ=mail_config, path=mail_config["TRACKER_CONFIG"])
    engine = store.engine(db_url)
    try:
        now = datetime.fromisoformat(NOW)
        delivery.prepare(engine, now, settings, channels.load(settings.channels, mail_config))  # queued, not sent
        desk(start="2027-05-12T09:30", end="2027-05-12T17:00")
        desk(start="2027-05-14T09:30", end="2027-05-14T17:00")
        result = delivery.send_due(engine, now, settings, channels.load(settings.channels, mail_config))
    finally:
        engine.dispose()
    talks = [(to, identity(cal)) for to, cal, _ in invitations(smtpd) if identity(cal)[1] == TALKS_UID]
    assert sorted(talks) == [("ann@example.org", ("REQUEST", TALKS_UID, "", 2)),
                             ("bob@example.org", ("REQUEST", TALKS_UID, "", 2))]  # fmt: skip
    assert result.skipped == 2  # the queued sequence-0 requests


def test_the_shipped_2008_data_sends_only_the_series_still_ahead(invoke, loaded, smtpd, mail_config):
    send(invoke, mail_config, "2026-11-26T10:00+08:00")
    found = sorted((to, identity(cal)) for to, cal, _ in invitations(smtpd))
    assert found == [
        ("apec-officer@example.org", ("REQUEST", "series-apec-smewg@tracker", "", 0)),
        ("desk-lead@example.org", ("REQUEST", "series-apec-sme-ministerial@tracker", "", 0)),
        ("desk-lead@example.org", ("REQUEST", "series-apec-smewg@tracker", "", 0)),
    ]


def test_without_email_nothing_is_planned_as_an_invitation(invoke, env, desk):
    planned = plan(invoke, env, 200)
    assert planned and not [r for r in planned if r["kind"].startswith("invitation")]


def test_the_opt_out_is_kept_by_a_dump(invoke, desk, tmp_path):
    out = tmp_path / "dumped"
    invoke("dump", str(out))
    people = {p["slug"]: p for p in yaml.safe_load((out / "people.yaml").read_text())["people"]}
    assert people["cy"]["invitations"] is False and "invitations" not in people["ann"]


def _invited(db_url: str, slug: str) -> bool:
    engine = store.engine(db_url)
    try:
        with store.transaction(engine) as session:
            return session.scalars(select(Person.invitations).where(Person.slug == slug)).one()
    finally:
        engine.dispose()


def test_a_person_turns_invitations_off_by_their_link_and_a_lead_on_again(invoke, desk, smtpd, mail_config, make_server,
                                                                          desk_session, clock, db_url):  # fmt: skip
    clock.set(NOW)
    server = make_server()
    send(invoke, {**mail_config, "TRACKER_BASE_URL": server.url})
    mail = next(m for to, _, m in invitations(smtpd) if to == "bob@example.org")
    link = re.search(r"Turn meeting invitations off: (\S+)", mail.get_body(("plain",)).get_content())[1]
    assert (
        "Meeting invitations (for Outlook and other calendar programs) are <strong>on</strong>" in httpx.get(link).text
    )
    page = httpx.post(link, data={"action": "invitations-off"})
    assert page.status_code == 200 and "Meeting invitations are off." in page.text
    assert _invited(db_url, "bob") is False
    desk(start="2027-05-12T09:30", end="2027-05-12T17:00")
    send(invoke, mail_config)
    assert [to for to, _, _ in invitations(smtpd)[4:]] == ["ann@example.org"]  # bob gets no update
    assert {r["kind"] for r in plan(invoke, mail_config, 200) if r["to"] == "bob"} >= {"meeting-before"}

    lead = desk_session(server, "ann", "lead")
    form = lead.get("/people/bob/edit").text
    assert 'id="invitations" name="invitations" value="on"' in form and 'value="on" checked' not in form  # off
    fields = {"name": "Bob Wu", "email": "bob@example.org", "tz": "Asia/Taipei", "quiet_hours": "20:00-08:00",
              "invitations": "on", "csrf": lead.csrf}  # fmt: skip
    assert lead.post("/people/bob/edit", data=fields).status_code == 303
    assert _invited(db_url, "bob") is True
    send(invoke, mail_config)
    assert [(to, identity(cal)) for to, cal, _ in invitations(smtpd)[5:]] == [
        ("bob@example.org", ("REQUEST", TALKS_UID, "", 1))
    ]
    del fields["invitations"]  # an unticked box sends nothing
    assert lead.post("/people/bob/edit", data=fields).status_code == 303
    assert _invited(db_url, "bob") is False


def test_announcing_moving_and_cancelling_from_the_cli_invites_each_attendee_once_per_change(
    invoke, desk, smtpd, mail_config, tmp_path
):
    """`tracker meeting announce` (and again: a move) and `tracker meeting cancel` on an occurrence of a series:
    one REQUEST, one updated REQUEST, one CANCEL per attendee, with the feed's SEQUENCE each time."""
    send(invoke, mail_config)
    sent = len(invitations(smtpd))

    def changed(*args: str, now: str) -> list:
        nonlocal sent
        invoke("--now", now, "meeting", *args)
        send(invoke, mail_config, now)
        send(invoke, mail_config, now)  # the sender again: nothing twice
        found = invitations(smtpd)[sent:]
        sent += len(found)
        assert all(feed_sequences(invoke, tmp_path)[identity(cal)[1:3]] == identity(cal)[3] for _, cal, _ in found)
        return sorted((to, identity(cal)[:3]) for to, cal, _ in found)

    occurrence = [("ann@example.org", ("REQUEST", SERIES_UID, "20280301"))]
    assert changed("announce", "smewg", "2028-03", "--start", "2028-03-07", "--place", "Manila",
                   now="2026-12-03T10:00+08:00") == occurrence  # fmt: skip
    assert changed("announce", "smewg", "2028-03", "--start", "2028-03-14", now="2026-12-04T10:00+08:00") == occurrence
    moved = invitations(smtpd)[-1][1]
    assert event(moved).decoded("DTSTART").isoformat() == "2028-03-14" and str(event(moved)["LOCATION"]) == "Manila"
    assert changed("cancel", "smewg", "2028-03", now="2026-12-05T10:00+08:00") == [
        ("ann@example.org", ("CANCEL", SERIES_UID, "20280301"))]  # fmt: skip
    check_itip(invitations(smtpd)[-3:], tmp_path)


def test_cancelling_an_occurrence_never_announced_cancels_it_for_each_attendee_sent_the_series(
    invoke, desk, smtpd, mail_config, tmp_path
):
    """A placeholder occurrence cancelled (`tracker meeting cancel SERIES OCCURRENCE`, never announced): the series'
    REQUEST covered it, so each attendee sent the series gets one CANCEL of it (not cy, who opted out)."""
    invoke("--now", NOW, "meeting", "edit", "smewg", "--attendee", "ann", "--attendee", "bob", "--attendee", "cy")
    send(invoke, mail_config)
    before = len(invitations(smtpd))
    later = "2026-12-03T10:00+08:00"
    invoke("--now", later, "meeting", "cancel", "smewg", "2028-09")
    send(invoke, mail_config, later)
    send(invoke, mail_config, "2026-12-04T10:00+08:00")  # the sender again: nothing twice
    cancels = invitations(smtpd)[before:]
    sequence = feed_sequences(invoke, tmp_path)[(SERIES_UID, "20280901")]
    assert sorted((to, identity(cal)) for to, cal, _ in cancels) == [
        ("ann@example.org", ("CANCEL", SERIES_UID, "20280901", sequence)),
        ("bob@example.org", ("CANCEL", SERIES_UID, "20280901", sequence)),
    ]
    for _, cal, _ in cancels:
        assert b"RECURRENCE-ID;VALUE=DATE:20280901" in cal.to_ical() and str(event(cal)["STATUS"]) == "CANCELLED"
    assert {m["Subject"] for to, _, m in cancels if to == "bob@example.org"} == {
        "Cancelled: SME working group (2028-09, day TBC)"  # no parentheses within parentheses
    }
    check_itip(cancels, tmp_path)


def _occurrences(cal: Calendar) -> list[tuple]:
    """Each occurrence of the series in 2027–2029 as a calendar shows it."""
    return [(o.start, o.end, str(o["SUMMARY"]), str(o.get("STATUS", "")), str(o.get("LOCATION", "")))
            for o in recurring_ical_events.of(cal).between("20270101", "20300101")
            if str(o["UID"]) == SERIES_UID]  # fmt: skip


def test_a_series_request_carries_the_master_and_every_override(invoke, desk, smtpd, mail_config, tmp_path):
    """After one occurrence was announced and another cancelled, the series REQUEST an attendee added later gets is
    the whole recurring component (RFC 5546 3.2.2): master and overrides, as the feed has them (the cancelled one an
    EXDATE), stamped when made; a calendar reading it shows the feed's occurrences."""
    send(invoke, mail_config)
    invoke("--now", "2026-12-02T10:00+08:00", "meeting", "cancel", "smewg", "2028-09")
    invoke("--now", "2026-12-02T10:00+08:00", "meeting", "announce", "smewg", "2028-03", "--start", "2028-03-07T09:30",
           "--end", "2028-03-07T17:00", "--tz", "Asia/Manila", "--place", "Manila")  # fmt: skip
    later = "2026-12-03T10:00+08:00"
    invoke("--now", later, "meeting", "edit", "smewg", "--attendee", "ann", "--attendee", "bob")
    before = len(invitations(smtpd))
    send(invoke, mail_config, later)
    found = [(to, cal, mail) for to, cal, mail in invitations(smtpd)[before:] if identity(cal)[1:3] == (SERIES_UID, "")]
    sequence = feed_sequences(invoke, tmp_path)[(SERIES_UID, "")]
    assert sorted((to, identity(cal)) for to, cal, _ in found) == [
        ("ann@example.org", ("REQUEST", SERIES_UID, "", sequence)),
        ("bob@example.org", ("REQUEST", SERIES_UID, "", sequence)),
    ]
    bob = next(cal for to, cal, _ in found if to == "bob@example.org")
    rids = [e["RECURRENCE-ID"].to_ical().decode() if e.get("RECURRENCE-ID") else "" for e in bob.events]
    assert rids == ["", "20270901", "20280301"]
    assert [str(e.get("STATUS", "")) for e in bob.events] == ["TENTATIVE", "", ""]
    assert b"EXDATE;VALUE=DATE:20280901" in bob.to_ical()  # the cancelled occurrence (a REQUEST has no CANCELLED)
    stamp = datetime.fromisoformat(later).astimezone(UTC)
    for e in bob.events:
        assert e.decoded("DTSTAMP") == stamp
        assert (str(e["ORGANIZER"]), str(e["ATTENDEE"])) == ("mailto:tracker@example.org", "mailto:bob@example.org")
    feed = Calendar.from_ical((tmp_path / "feeds" / "meetings.ics").read_bytes())
    assert [str(t["TZID"]) for t in bob.walk("VTIMEZONE")] == ["Asia/Manila"]
    shown = [o for o in _occurrences(feed) if o[3] != "CANCELLED"]
    assert _occurrences(bob) == shown and len(shown) == 5
    check_itip(found, tmp_path)
