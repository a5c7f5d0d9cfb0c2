"""Attacks on what issue 14's polishing added: PROPPATCH kept as a person's view of a list (tracker.dav.views), and
the access log's status for a client that closes once it has the whole answer (tracker.web.server.Front)."""

from __future__ import annotations

import asyncio
import logging
import threading

import httpx
import pytest

from tests.conftest import dump
from tests.test_dav import LEAD, OFFICER
from tests.test_dav_views import ITEMS, proppatch, shown
from tests.test_dav_views import dav as dav  # the fixture, shared
from tracker.dav import views

ZONE = "BEGIN:VTIMEZONE\r\nTZID:Asia/Taipei\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0800\r\n" \
       "TZOFFSETTO:+0800\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"  # fmt: skip
SMUGGLED = "BEGIN:VTODO\r\nUID:smuggled\r\nSUMMARY:not a time zone\r\nEND:VTODO\r\n"


@pytest.mark.parametrize("inside", [ZONE + SMUGGLED, ZONE + ZONE.replace("Asia/Taipei", "Europe/Paris")])
def test_a_calendar_timezone_is_one_vtimezone_and_nothing_else(dav, db_url, inside):
    """RFC 4791 §5.2.2: calendar-timezone is "an iCalendar object containing a single valid VTIMEZONE component".
    A task or a second zone alongside it is a bad value, not something kept and served back to the person's apps."""
    officer = dav.client(OFFICER)
    before = dump(db_url)
    answer = proppatch(officer, ITEMS, f"<C:calendar-timezone>BEGIN:VCALENDAR\r\n{inside}END:VCALENDAR"
                                       "</C:calendar-timezone>")  # fmt: skip
    assert (answer.status_code, "C:calendar-timezone" in answer.text) == (400, True), answer.text
    assert dump(db_url) == before


@pytest.mark.parametrize("lines", ["", "ACTION:DISPLAY\r\n", "TRIGGER:-PT30M\r\n"])
def test_a_default_alarm_has_its_action_and_its_trigger(dav, db_url, lines):
    """RFC 5545 §3.6.6: ACTION and TRIGGER are required in a VALARM. An app would take a default alarm without them
    as it is served back (RFC 4791's default-alarm properties), so it is a bad value: 400, nothing kept."""
    officer = dav.client(OFFICER)
    before = dump(db_url)
    answer = proppatch(officer, ITEMS, f"<C:default-alarm-vtodo-datetime>BEGIN:VALARM\r\n{lines}END:VALARM"
                                       "</C:default-alarm-vtodo-datetime>")  # fmt: skip
    assert (answer.status_code, "C:default-alarm-vtodo-datetime" in answer.text) == (400, True), answer.text
    assert dump(db_url) == before


def test_a_name_with_markup_is_refused_not_cut_to_its_first_words(dav, db_url):
    """DAV:displayname is text (RFC 4918 §15.2: PCDATA). Radicale keeps only the text before a child element, so
    "Work <b>urgent</b> list" was answered 200 OK and kept as "Work": the app shows a name the server never has."""
    officer = dav.client(OFFICER)
    own = shown(officer, ITEMS)["displayname"]
    before = dump(db_url)
    answer = proppatch(officer, ITEMS, "<D:displayname>Work <D:b>urgent</D:b> list</D:displayname>")
    assert answer.status_code == 400, answer.text
    assert dump(db_url) == before and shown(officer, ITEMS)["displayname"] == own
    transparent = "<C:schedule-calendar-transp><C:transparent/></C:schedule-calendar-transp>"
    assert proppatch(officer, ITEMS, transparent).status_code == 403  # a property not kept here stays a 403


def test_two_apps_of_one_person_setting_different_properties_at_once_keep_both(dav, monkeypatch):
    """Radicale reads the list's properties, adds the request's and asks the storage to keep the whole set; the read
    is a transaction of its own, before the write's. Two PROPPATCHes of one person at once (a phone and a laptop
    syncing) each keep their set, and the later one drops what the earlier one set, though both were answered
    200 OK."""
    officer = dav.client(OFFICER)
    both_read = threading.Barrier(2, timeout=10)
    checked = views.wanted

    waited = threading.local()

    def wanted_once_both_have_read(base, props):
        if not getattr(waited, "done", False):  # the first check of each request, before its write
            waited.done = True
            both_read.wait()  # each request has read the properties, neither has written
        return checked(base, props)

    monkeypatch.setattr(views, "wanted", wanted_once_both_have_read)
    second = httpx.Client(base_url=dav.url, auth=officer.auth, timeout=30)
    answers = {}
    threads = [threading.Thread(target=lambda c=client, k=key, v=value: answers.setdefault(k, proppatch(c, ITEMS, v)))
               for client, key, value in ((officer, "colour", "<I:calendar-color>#00AA00</I:calendar-color>"),
                                          (second, "order", "<I:calendar-order>7</I:calendar-order>"))]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    second.close()
    monkeypatch.setattr(views, "wanted", checked)
    assert [answers[k].status_code for k in ("colour", "order")] == [207, 207]
    seen = shown(officer, ITEMS)
    assert (seen.get("calendar-color"), seen.get("calendar-order")) == ("#00AA00", "7"), seen


def test_what_a_lead_sets_on_an_officers_list_is_the_leads_view_only(dav, db_url):
    """A lead may read (and write) an officer's home; a colour set there is the lead's view of it, never the
    officer's."""
    officer, lead = dav.client(OFFICER), dav.client(LEAD)
    answer = proppatch(lead, ITEMS, "<I:calendar-color>#123456</I:calendar-color><D:displayname>Theirs</D:displayname>")
    assert answer.status_code == 207, answer.text
    assert shown(lead, ITEMS)["calendar-color"] == "#123456"
    mine = shown(officer, ITEMS)
    assert "calendar-color" not in mine and mine["displayname"] != "Theirs"


# --- the access log of a client that leaves ------------------------------------------------------------------------


def logged(caplog, method: str, status: int, headers: list, bodies: list[bytes], sent_before_close: int) -> str:
    """What Front logs for an answer (start, then `bodies`) whose client is gone after `sent_before_close` sends."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from tracker.web.server import Front

    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for n, body in enumerate(bodies, 1):
            await send({"type": "http.response.body", "body": body, "more_body": n < len(bodies)})

    sent = []

    async def send(message) -> None:
        if len(sent) == sent_before_close:
            raise OSError("the client closed")  # as uvicorn's send raises once the transport is gone (serving)
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    front = Front(Starlette(routes=[Mount("/dav", app=app)]), ctx=None)
    scope = {"type": "http", "method": method, "path": f"/dav/{OFFICER}/items/", "root_path": "", "headers": [],
             "query_string": b""}  # fmt: skip
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tracker.web.server"):  # a 304 is logged at DEBUG
        asyncio.run(front(scope, receive, send))
    assert "unhandled" not in caplog.text, caplog.text
    return caplog.text


@pytest.mark.parametrize(("method", "status", "headers", "bodies"), [
    ("HEAD", 200, [(b"content-length", b"5")], [b"", b""]),  # a2wsgi: HEAD's headers carry GET's length, no body
    ("GET", 204, [], [b"", b""]),
    ("GET", 304, [(b"etag", b'"x"')], [b"", b""]),
])  # fmt: skip
def test_a_client_that_closes_after_an_answer_without_content_is_logged_with_its_status(caplog, method, status,
                                                                                          headers, bodies):  # fmt: skip
    """A HEAD's answer, a 204 and a 304 have no content (RFC 9110 §9.3.2, §15.3.5, §15.4.5): once the client has
    their headers it has the whole answer, as one that closes after a body's Content-Length bytes has, which is
    logged with its status since 6b8b995. A client that leaves before the headers is still a 499."""
    assert f"{method} /dav/… {status} " in logged(caplog, method, status, headers, bodies, sent_before_close=1)
    assert f"{method} /dav/… 499 " in logged(caplog, method, status, headers, bodies, sent_before_close=0)


def test_a_client_gone_before_the_end_of_an_answer_of_unknown_length_is_still_a_499(caplog):
    """Without Content-Length (chunked), only the last, empty part tells the client the answer is whole: a client
    gone before it never knew it had everything."""
    assert "GET /dav/… 499 " in logged(caplog, "GET", 200, [], [b"BEGIN:VCALENDAR", b""], sent_before_close=2)
