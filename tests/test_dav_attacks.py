"""CalDAV at /dav/ attacked, and used carelessly, over real HTTP: each test is a request an attacker or a real app
may send, and what the server must answer (tests/test_dav.py has the features themselves)."""

from __future__ import annotations

import re
import urllib.parse

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from radicale import pathutils, xmlutils
from radicale.app.base import _check_path_format

from tests.conftest import dump
from tests.test_dav import LEAD, OFFICER, OWN, VIEWER, app_password, hrefs, new_task, propfind
from tracker.dav.storage import Storage
from tracker.register import items

ITEMS = f"/dav/{OFFICER}/items/"


@pytest.fixture
def dav(loaded, invoke, make_server, db_url, clock):
    """A server over the shipped data with an officer, a lead and a viewer, each with an app password;
    dav.client(slug) signs in as them."""
    for slug, role in ((OFFICER, "officer"), (LEAD, "lead"), (VIEWER, "viewer")):
        invoke("user", "role", slug, role)
    server = make_server()
    server.passwords = {slug: app_password(db_url, slug, clock()) for slug in (OFFICER, LEAD, VIEWER)}
    clients: list[httpx.Client] = []

    def client(login: str, password: str | None = None) -> httpx.Client:
        made = httpx.Client(base_url=server.url, auth=(login, password or server.passwords[login]), timeout=30)
        clients.append(made)
        if password is None:  # its first sign-in writes "last used": done before a test takes its dump
            made.request("PROPFIND", "/dav/", headers={"Depth": "0"})
        return made

    server.client = client
    yield server
    for made in clients:
        made.close()


def ticked(text: str) -> str:
    """What an app sends when the task is ticked: the three completion properties set, nothing else touched."""
    return text.replace("STATUS:NEEDS-ACTION", "STATUS:COMPLETED").replace(
        "PERCENT-COMPLETE:0", "PERCENT-COMPLETE:100\r\nCOMPLETED:20080902T020000Z"
    )


def unticked_text(text: str) -> str:
    """What an app sends when the task is unticked: the three completion properties cleared."""
    text = re.sub(r"COMPLETED:\d{8}T\d{6}Z\r\n", "", text)
    return text.replace("STATUS:COMPLETED", "STATUS:NEEDS-ACTION").replace("PERCENT-COMPLETE:100", "PERCENT-COMPLETE:0")


# --- writes an app makes in the ordinary course -------------------------------------------------------------


def test_an_app_can_untick_a_task_it_has_just_ticked(dav, invoke_json):
    """An app keeps its own copy after a PUT and the ETag the server answered with (DAVx5, tasks.org, vdirsyncer
    do not fetch again while the ETag is unchanged). The server changed the stored task (its DESCRIPTION says
    "Status: done"), yet answered with an ETag as if it had stored the app's bytes; the untick that follows is
    refused 403 because its DESCRIPTION still says "Status: open"."""
    client, path = dav.client(OFFICER), ITEMS + f"{OWN}.ics"
    served = client.get(path)
    done = client.put(path, content=ticked(served.text), headers={"If-Match": served.headers["etag"]})
    assert done.status_code == 204 and invoke_json("show", OWN)["status"] == "done"
    etag, text = done.headers.get("etag"), ticked(served.text)  # the app's copy, as it believes it stored
    if etag is None:  # the fix RFC 4791 §5.3.4 allows: no ETag for a changed resource, so the app fetches again
        fetched = client.get(path)
        etag, text = fetched.headers["etag"], fetched.text
    unticked = client.put(path, content=unticked_text(text), headers={"If-Match": etag})
    assert unticked.status_code == 204, unticked.text
    assert invoke_json("show", OWN)["status"] == "open"


def test_renaming_an_owner_gives_their_tasks_a_new_etag_and_the_app_can_still_complete_them(dav, invoke, loaded):
    """A task's DESCRIPTION names its owners and committee; the ETag (and the per-process text cache) is keyed
    only on the item's own row. After `tracker load` renames the owner, the ETag stays, the server goes on
    serving the old text, and completing the task from that text is refused 403 (the comparison uses the new
    name): the app can never complete it until someone edits the item."""
    client, path = dav.client(OFFICER), ITEMS + f"{OWN}.ics"
    before = client.get(path)
    people = loaded / "people.yaml"
    people.write_text(people.read_text().replace("name: APEC SMEWG officer", "name: APEC SMEWG desk officer"))
    invoke("load", str(loaded))
    after = client.get(path)
    assert after.headers["etag"] != before.headers["etag"]
    assert "APEC SMEWG desk officer" in after.text.replace("\r\n ", "")
    done = client.put(path, content=ticked(after.text), headers={"If-Match": after.headers["etag"]})
    assert done.status_code == 204, done.text


def test_a_task_whose_app_clears_its_priority_is_still_ticked_and_keeps_the_items(dav, invoke_json):
    """The register's priorities are high/medium/low, never none. Apple's "None" (PRIORITY:0, "undefined") or an
    app that drops PRIORITY must not block a tick: the tick lands, the item keeps its priority, and the app, answered
    without an ETag, fetches the task back with it (earlier, the app kept the old ETag and showed no priority)."""
    client, path = dav.client(OFFICER), ITEMS + f"{OWN}.ics"
    for cleared, change, status in (("", ticked, "done"), ("PRIORITY:0\r\n", unticked_text, "open")):
        served = client.get(path)
        assert "PRIORITY:1\r\n" in served.text
        answer = client.put(path, content=change(served.text.replace("PRIORITY:1\r\n", cleared)),
                            headers={"If-Match": served.headers["etag"]})  # fmt: skip
        assert answer.status_code == 204 and "etag" not in answer.headers, answer.text
        assert (invoke_json("show", OWN)["status"], invoke_json("show", OWN)["priority"]) == (status, "high")
        assert "PRIORITY:1\r\n" in client.get(path).text


def test_a_priority_the_app_sets_changes_the_item_and_one_out_of_range_is_refused(dav, invoke_json, db_url):
    client, path = dav.client(OFFICER), ITEMS + f"{OWN}.ics"
    served = client.get(path)
    lowered = client.put(path, content=served.text.replace("PRIORITY:1\r\n", "PRIORITY:9\r\n"),
                         headers={"If-Match": served.headers["etag"]})  # fmt: skip
    assert lowered.status_code == 204 and invoke_json("show", OWN)["priority"] == "low"
    served, before = client.get(path), dump(db_url)
    assert "PRIORITY:9\r\n" in served.text
    wrong = client.put(path, content=served.text.replace("PRIORITY:9\r\n", "PRIORITY:12\r\n"),
                       headers={"If-Match": served.headers["etag"]})  # fmt: skip
    assert wrong.status_code == 400 and "PRIORITY: 0-9" in wrong.text
    assert dump(db_url) == before


def test_a_repeating_task_is_refused_not_made_a_one_off(dav, db_url):
    """An item does not repeat: a new task with an RRULE became a single item (201), the recurrence dropped."""
    client, before = dav.client(OFFICER), dump(db_url)
    body = new_task("weekly-report-0001", "Weekly report", DTSTART="20080905", DUE="20080906", RRULE="FREQ=WEEKLY")
    answer = client.put(ITEMS + "weekly-report-0001.ics", content=body)
    assert answer.status_code in (400, 403), answer.status_code
    assert dump(db_url) == before


def test_a_task_made_in_an_app_is_not_hidden_by_an_item_with_its_name(dav, invoke, invoke_json):
    """An item's href is the app's name for it, else `<slug>.ics`; nothing keeps the two apart. A task an app
    made as `follow-up-with-lima.ics`, then an item added on the desk whose slug is `follow-up-with-lima`, are
    two items under one href in the officer's list: one of them is invisible, and the app's own task is
    replaced in the app by the other."""
    client = dav.client(OFFICER)
    made = client.put(ITEMS + "follow-up-with-lima.ics", content=new_task("app-made-0001", "Made in the app"))
    assert made.status_code == 201
    added = invoke_json("add", "Follow up with Lima", "--owner", OFFICER)
    assert added["slug"] != "follow-up-with-lima"  # the app's name for its task is taken
    taken = invoke("add", "Again", "--owner", OFFICER, "--slug", "follow-up-with-lima", code=1)
    assert "already" in taken.stderr
    owned = invoke_json("items", "--owner", OFFICER, "--status", "all")
    listed = [h for h in hrefs(propfind(client, ITEMS)) if h.endswith(".ics")]
    assert len(listed) == len(owned)
    assert "UID:app-made-0001" in client.get(ITEMS + "follow-up-with-lima.ics").text


def test_a_long_name_for_a_new_task_is_refused_on_either_database(dav, db_url):
    """Radicale takes any href; `items.dav_href` holds 255 characters. PostgreSQL refuses a longer one inside the
    write (400, "a value does not fit the database"), SQLite stores it (201): one register, two behaviours."""
    client, before = dav.client(OFFICER), dump(db_url)
    answer = client.put(ITEMS + "a" * 300 + ".ics", content=new_task("long-name-0001", "A long name"))
    assert answer.status_code in (400, 403, 414), answer.status_code
    assert dump(db_url) == before


def test_an_unchanged_round_trip_keeps_a_due_time_in_the_hour_the_clocks_repeat(dav, invoke_json):
    """A due at the second 01:30 of New York's 2008-11-02 is served in UTC (06:30Z, as ics._in_zone does for an
    ambiguous local time). Sent back unchanged, writes._served_due reads it as the wall time 06:30 while
    _due_text reads the app's 06:30Z as local 01:30: a "change", which items.edit takes as the FIRST 01:30 (05:30Z):
    the due moves an hour earlier, with history "CalDAV by" the officer, though the app changed nothing."""
    added = invoke_json("add", "Call New York", "--owner", OFFICER, "--due", "2008-11-02T01:30-05:00",
                        "--tz", "America/New_York")  # fmt: skip
    client, path = dav.client(OFFICER), ITEMS + f"{added['slug']}.ics"
    served = client.get(path)
    assert "DUE:20081102T063000Z" in served.text
    assert client.put(path, content=served.text, headers={"If-Match": served.headers["etag"]}).status_code == 204
    shown = invoke_json("show", added["slug"])
    assert shown["due"] == "2008-11-02T01:30:00-05:00"
    assert [h for h in shown["history"] if h["how"] == "caldav"] == []


def test_a_task_that_is_not_utf_8_is_refused_not_stored_as_mojibake(dav, db_url):
    """iCalendar is UTF-8 (RFC 5545 §3.1.4); Radicale falls back to Latin-1 for a body that is not, and the
    register gets the title "BÿþX" (201)."""
    client, before = dav.client(OFFICER), dump(db_url)
    body = new_task("latin-1-0001", "B\N{LATIN SMALL LETTER Y WITH DIAERESIS}X").replace("ÿ".encode(), b"\xff\xfe")
    answer = client.put(ITEMS + "latin-1-0001.ics", content=body, headers={"Content-Type": "text/calendar"})
    assert answer.status_code == 400, answer.status_code
    assert dump(db_url) == before


# --- signing in ---------------------------------------------------------------------------------------------


def test_a_header_radicale_reads_cannot_be_smuggled_with_underscores(dav):
    """The mount drops X-Script-Name (Radicale builds every href from it), but a2wsgi maps `X_Script_Name` to the
    same HTTP_X_SCRIPT_NAME: the hrefs then point wherever the header says."""
    client = dav.client(OFFICER)
    for name in ("X-Script-Name", "X_Script_Name", "x_script_name"):
        answer = client.request("PROPFIND", f"/dav/{OFFICER}/", headers={"Depth": "0", name: "/elsewhere"})
        assert answer.status_code == 207
        assert "/elsewhere" not in answer.text and f"<href>/dav/{OFFICER}/</href>" in answer.text, name


# --- requests no app sends ----------------------------------------------------------------------------------


def test_hostile_xml_bodies_are_bad_requests_not_server_errors(dav, db_url):
    """An entity declaration (defusedxml refuses it inside Radicale) and a deeply nested body (Radicale recurses
    over it) are answered 500 "A server error occurred", each after a second's wait, with a traceback in the
    log: they are the client's error, 400."""
    client, before = dav.client(OFFICER), dump(db_url)
    entities = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "eeeeeeeeee">]><D:propfind xmlns:D="DAV:">'
                b"<D:prop><D:getetag/>&e;</D:prop></D:propfind>")  # fmt: skip
    nested = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>' + b"<D:x>" * 5000 + b"</D:x>" * 5000
    nested += b"</D:prop></D:propfind>"
    for body in (entities, nested):
        answer = client.request("PROPFIND", ITEMS, content=body, headers={"Depth": "0"})
        assert answer.status_code == 400, (answer.status_code, answer.text)
    assert dump(db_url) == before


def test_a_refusal_says_its_charset_once(dav):
    """Radicale adds `; charset=utf-8` to the Content-Type tracker already gave: "text/plain; charset=utf-8;
    charset=utf-8" is not a valid media type (RFC 9110 §8.3.1: a parameter once)."""
    answer = dav.client(OFFICER).delete(ITEMS + f"{OWN}.ics")
    assert answer.status_code == 403
    assert answer.headers["content-type"].count("charset") == 1, answer.headers["content-type"]


# --- refused as they should be (guards) ---------------------------------------------------------------------


def test_an_unchanged_round_trip_of_every_task_changes_nothing(dav, db_url):
    """Every task of every list, sent back exactly as served (with its ETag), is accepted and changes nothing."""
    lead = dav.client(LEAD)
    lists = [h for h in hrefs(propfind(lead, f"/dav/{LEAD}/")) if "/person-" in h or "/committee-" in h]
    before, seen = dump(db_url), set()
    for path in lists:
        for href in (h for h in hrefs(propfind(lead, path)) if h.endswith(".ics") and h.rsplit("/")[-1] not in seen):
            seen.add(href.rsplit("/")[-1])
            served = lead.get(href)
            answer = lead.put(href, content=served.content, headers={"If-Match": served.headers["etag"]})
            assert answer.status_code == 204, (href, answer.text)
    assert len(seen) > 20 and dump(db_url) == before


def test_another_persons_task_is_out_of_reach_whatever_the_path_says(dav, db_url):
    officer, lead = dav.client(OFFICER), dav.client(LEAD)
    theirs = f"/dav/{LEAD}/items/attend-every-smewg-and-ministerial.ics"
    assert lead.get(theirs).status_code == 200
    before = dump(db_url)
    tricks = [theirs, f"{ITEMS}../../{LEAD}/items/attend-every-smewg-and-ministerial.ics",
              f"{ITEMS}%2e%2e/%2e%2e/{LEAD}/items/attend-every-smewg-and-ministerial.ics",
              f"{ITEMS}..%2f..%2f{LEAD}%2fitems%2fattend-every-smewg-and-ministerial.ics",
              f"/dav//{LEAD}/items/attend-every-smewg-and-ministerial.ics",
              f"/dav/{LEAD}./items/attend-every-smewg-and-ministerial.ics",
              f"/dav/{OFFICER}/person-{LEAD}/attend-every-smewg-and-ministerial.ics"]  # fmt: skip
    body = new_task("item-attend-every-smewg-and-ministerial@tracker", "Taken over", STATUS="COMPLETED")
    for path in tricks:
        assert officer.get(path).status_code in (403, 404), path
        assert officer.put(path, content=body).status_code in (403, 404, 409), path
    multiget = f"""<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
        <D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>{theirs}</D:href>
        <D:href>{ITEMS}../../{LEAD}/items/attend-every-smewg-and-ministerial.ics</D:href></C:calendar-multiget>"""
    answer = officer.request("REPORT", ITEMS, content=multiget.encode(), headers={"Depth": "1"})
    assert answer.status_code == 207 and "BEGIN:VTODO" not in answer.text
    assert dump(db_url) == before


def test_a_name_an_app_would_find_its_task_under_another_is_refused(dav, db_url):
    """Radicale reads a path's bytes as Latin-1: a task put as `ü.ics` (%C3%BC) was kept as `Ã¼.ics` (201) and
    listed as %C3%83%C2%BC.ics, a name the app never gave it, so a sync saw its task gone and another appear."""
    client, before = dav.client(OFFICER), dump(db_url)
    answer = client.put(ITEMS + "%C3%BC.ics", content=new_task("umlaut-0001", "Umlaut"))
    assert answer.status_code == 400 and "printable ASCII" in answer.text
    assert dump(db_url) == before


@settings(max_examples=300, deadline=None, derandomize=True)
@given(name=st.text(min_size=1, max_size=20) | st.text(st.characters(max_codepoint=0x7F), min_size=1, max_size=20))
def test_the_register_takes_the_names_radicale_takes_and_lists_as_they_are(name):
    """items.check_dav_name (CalDAV writes and YAML's caldav_name) against Radicale itself: the path an app sends
    (its name's UTF-8, percent-encoded, read as Latin-1), Radicale's sanitize_path and path check, and the href it
    lists. A space at the start Radicale takes, a YAML value cannot keep."""
    path = f"/{OFFICER}/items/{name.encode().decode('latin-1')}"
    kept = pathutils.sanitize_path(path) == path and _check_path_format(Storage, path, "no-unicode")
    listed = kept and urllib.parse.unquote(xmlutils.make_href("", path)) == f"/{OFFICER}/items/{name}"
    try:
        items.check_dav_name(name)
    except ValueError:
        assert not listed or name.startswith(" ")
    else:
        assert listed
