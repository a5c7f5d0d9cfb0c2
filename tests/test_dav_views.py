"""PROPPATCH over real HTTP: what an app sets on a list (name, colour, order, description, time zone, default alarms)
is kept as that person's view of it (tracker.dav.views); what a list is, and any other property, is refused with a
status and the database unchanged. Apple's apps stop syncing an account whose server refuses their colour."""

from __future__ import annotations

import re

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import dump
from tests.test_dav import LEAD, OFFICER, VIEWER, app_password

ITEMS = f"/dav/{OFFICER}/items/"
NAMESPACES = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:I="http://apple.com/ns/ical/"'
SHOWN = f"""<?xml version="1.0" encoding="utf-8"?><D:propfind {NAMESPACES}><D:prop><D:displayname/>
<I:calendar-color/><I:calendar-order/><C:calendar-description/><C:default-alarm-vevent-datetime/>
<C:supported-calendar-component-set/><D:resourcetype/></D:prop></D:propfind>"""
ALARM = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT30M\r\nEND:VALARM"


@pytest.fixture
def dav(loaded, invoke, make_server, db_url, clock):
    for slug, role in ((OFFICER, "officer"), (LEAD, "lead"), (VIEWER, "viewer")):
        invoke("user", "role", slug, role)
    server = make_server()
    clients = []

    def client(slug: str) -> httpx.Client:
        made = httpx.Client(base_url=server.url, auth=(slug, app_password(db_url, slug, clock())), timeout=30)
        made.request("PROPFIND", "/dav/", headers={"Depth": "0"})  # its first sign-in writes "last used"
        clients.append(made)
        return made

    server.client = client
    yield server
    for made in clients:
        made.close()


def proppatch(client: httpx.Client, path: str, sets: str = "", removes: str = "") -> httpx.Response:
    body = f'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate {NAMESPACES}>'
    body += f"<D:set><D:prop>{sets}</D:prop></D:set>" if sets else ""
    body += f"<D:remove><D:prop>{removes}</D:prop></D:remove>" if removes else ""
    return client.request("PROPPATCH", path, content=(body + "</D:propertyupdate>").encode())


def shown(client: httpx.Client, path: str) -> dict[str, str]:
    """The properties a PROPFIND finds (200), by local name, as text."""
    answer = client.request("PROPFIND", path, content=SHOWN.encode(), headers={"Depth": "0"})
    assert answer.status_code == 207, answer.text
    found = re.search(r"<propstat>\s*<prop>(.*?)</prop>\s*<status>HTTP/1.1 200 OK", answer.text, re.S)
    return {m[1]: m[2] for m in re.finditer(r"<(?:\w+:)?([\w-]+)(?: [^>]*)?>([^<]*)</", found[1] if found else "")}


def test_apples_colour_and_order_are_kept_for_the_person_who_set_them(dav, db_url):
    officer, lead = dav.client(OFFICER), dav.client(LEAD)
    before = dump(db_url)
    answer = proppatch(
        officer,
        ITEMS,
        "<I:calendar-color>#FF2968FF</I:calendar-color>"
        "<I:calendar-order>3</I:calendar-order><D:displayname>Work</D:displayname>"
        f"<C:default-alarm-vevent-datetime>{ALARM}</C:default-alarm-vevent-datetime>",
    )
    assert answer.status_code == 207 and "200 OK" in answer.text, answer.text
    seen = shown(officer, ITEMS)
    assert (seen["calendar-color"], seen["calendar-order"], seen["displayname"]) == ("#FF2968FF", "3", "Work")
    assert "TRIGGER:-PT30M" in seen["default-alarm-vevent-datetime"]
    assert [row for row in dump(db_url) if row not in before] == [row for row in dump(db_url)
                                                                    if row.startswith("dav_views:")]  # fmt: skip
    # The lead's view of the officer's list is the lead's own; the officer's other list is untouched.
    theirs = shown(lead, f"/dav/{LEAD}/person-{OFFICER}/")
    assert "calendar-color" not in theirs and theirs["displayname"] != "Work"
    assert "calendar-color" not in shown(officer, f"/dav/{OFFICER}/meetings/")


def test_a_removed_property_goes_back_to_the_lists_own(dav, db_url):
    officer = dav.client(OFFICER)
    own_name = shown(officer, ITEMS)["displayname"]
    before = dump(db_url)
    assert proppatch(officer, ITEMS, "<D:displayname>Work</D:displayname>"
                                     "<I:calendar-color>#00AA00</I:calendar-color>").status_code == 207  # fmt: skip
    assert proppatch(officer, ITEMS, removes="<I:calendar-color/>").status_code == 207
    assert "calendar-color" not in shown(officer, ITEMS)
    assert proppatch(officer, ITEMS, removes="<D:displayname/>").status_code == 207
    assert shown(officer, ITEMS)["displayname"] == own_name
    assert dump(db_url) == before  # nothing left to keep: the row is gone


@pytest.mark.parametrize(("sets", "status", "said"), [
    ("<D:resourcetype><D:collection/></D:resourcetype>", 403, "kind is the register's"),
    ('<C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>', 403,
     "kind is the register's"),
    ('<X:shared xmlns:X="urn:example:x">yes</X:shared>', 403, "is not kept here"),
    ("<I:calendar-color>red</I:calendar-color>", 400, "ICAL:calendar-color: a colour is #RRGGBB"),
    ("<I:calendar-order>-1</I:calendar-order>", 400, "ICAL:calendar-order: an order is a whole number"),
    ("<D:displayname>" + "n" * 201 + "</D:displayname>", 400, "D:displayname: at most 200 characters"),
    ("<C:calendar-timezone>BEGIN:VCALENDAR\r\nEND:VCALENDAR</C:calendar-timezone>", 400, "not a VTIMEZONE"),
    ("<C:default-alarm-vevent-date>BEGIN:VEVENT\r\nEND:VEVENT</C:default-alarm-vevent-date>", 400, "not a VALARM"),
    ("<C:default-alarm-vevent-date>BEGIN:VALARM</C:default-alarm-vevent-date>", 400, "not iCalendar text"),
])  # fmt: skip
def test_what_a_list_is_and_bad_values_are_refused_and_change_nothing(dav, db_url, sets, status, said):
    officer = dav.client(OFFICER)
    before = dump(db_url)
    answer = proppatch(officer, ITEMS, "<I:calendar-color>#00AA00</I:calendar-color>" + sets)
    assert (answer.status_code, said in answer.text) == (status, True), answer.text
    assert dump(db_url) == before and "calendar-color" not in shown(officer, ITEMS)


def test_read_only_lists_and_other_peoples_homes_take_no_properties(dav, db_url):
    officer, viewer = dav.client(OFFICER), dav.client(VIEWER)
    before = dump(db_url)
    colour = "<I:calendar-color>#00AA00</I:calendar-color>"
    assert proppatch(officer, f"/dav/{OFFICER}/meetings/", colour).status_code == 403  # read-only: no write privilege
    assert proppatch(viewer, f"/dav/{VIEWER}/items/", colour).status_code == 403  # a viewer writes nothing
    assert proppatch(officer, f"/dav/{LEAD}/items/", colour).status_code in (403, 404)
    assert proppatch(officer, f"/dav/{OFFICER}/", colour).status_code == 403  # the home is no calendar
    assert dump(db_url) == before


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    colour=st.one_of(st.from_regex(r"#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?", fullmatch=True), st.text(max_size=12)),
    order=st.one_of(st.integers(0, 10**9).map(str), st.text(max_size=12)),
    name=st.text(max_size=40),
)
def test_any_value_is_kept_as_checked_or_refused_with_nothing_changed(dav, db_url, colour, order, name):
    """Whatever an app sends for a name, a colour or an order: 207 and a PROPFIND shows what was kept, or a 4xx
    with the database as it was."""
    officer = getattr(dav, "officer", None) or dav.client(OFFICER)
    dav.officer = officer
    escape = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
    before = dump(db_url)
    sets = "".join(f"<{tag}>{value.translate(escape)}</{tag}>" for tag, value in
                   (("I:calendar-color", colour), ("I:calendar-order", order), ("D:displayname", name)))  # fmt: skip
    answer = proppatch(officer, ITEMS, sets)
    assert answer.status_code in (207, 400, 403), answer.text
    if answer.status_code != 207:
        assert dump(db_url) == before
        return
    seen = shown(officer, ITEMS)
    assert re.fullmatch(r"#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?", seen["calendar-color"])
    assert seen["calendar-order"].isdigit()
    assert "\n" not in seen["displayname"] and seen["displayname"].strip()
