"""CalDAV at /dav/ (tracker.dav) over real HTTP: signing in with app passwords, who reads which collection, what a
task sent back changes (and what it may not), sync tokens. The real clients (vdirsyncer, todoman, python-caldav)
are in tests/interop/test_caldav_clients.py."""

from __future__ import annotations

import re
from datetime import datetime

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from sqlalchemy import select

from tests.conftest import dump
from tracker.core import store
from tracker.core.errors import Stale
from tracker.dav import radicale_app
from tracker.register import accounts, app_passwords

OFFICER, LEAD, VIEWER = "apec-officer", "desk-lead", "forum-officer"
OWN = "kpi-committee-volunteer"  # the officer's
SYNC = b"""<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>%s</D:sync-token>
<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"""
PROPFIND = b"""<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><D:displayname/><D:current-user-principal/><C:calendar-home-set/></D:prop></D:propfind>"""


def app_password(db_url: str, slug: str, now: datetime) -> str:
    engine = store.engine(db_url)
    try:
        with store.transaction(engine, write=True) as session:
            return app_passwords.create(session, slug, "test", now)[1]
    finally:
        engine.dispose()


@pytest.fixture
def dav(loaded, invoke, make_server, db_url, clock):
    """A server over the shipped data, with accounts for an officer, a lead and a viewer, and a client for each
    signed in with an app password (dav.client(slug))."""
    for slug, role in ((OFFICER, "officer"), (LEAD, "lead"), (VIEWER, "viewer")):
        invoke("user", "role", slug, role)
    server = make_server()
    passwords = {slug: app_password(db_url, slug, clock()) for slug in (OFFICER, LEAD, VIEWER)}
    clients = []

    def client(slug: str, password: str | None = None) -> httpx.Client:
        made = httpx.Client(base_url=server.url, auth=(slug, password or passwords[slug]), timeout=30)
        clients.append(made)
        if password is None:  # its first sign-in writes "last used": done here, before a test takes its dump
            made.request("PROPFIND", "/dav/", headers={"Depth": "0"})
        return made

    server.client, server.passwords = client, passwords
    yield server
    for made in clients:
        made.close()


def propfind(client: httpx.Client, path: str, depth: str = "1") -> httpx.Response:
    return client.request("PROPFIND", path, content=PROPFIND, headers={"Depth": depth})


def hrefs(response: httpx.Response) -> list[str]:
    return re.findall(r"<href>([^<]+)</href>", response.text)


def todo_of(client: httpx.Client, path: str) -> tuple[Calendar, str]:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return Calendar.from_ical(response.content), response.headers["etag"]


def put(client: httpx.Client, path: str, calendar: Calendar, etag: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "text/calendar; charset=utf-8", **({"If-Match": etag} if etag else {})}
    return client.put(path, content=calendar.to_ical(), headers=headers)


def item(invoke_json, slug: str) -> dict:
    return invoke_json("show", slug)


# --- signing in ---------------------------------------------------------------------------------------------


def test_only_an_app_password_signs_in(dav, invoke, db_url):
    invoke("user", "set-password", OFFICER, "--password-stdin", input="a sign-in password here\n")
    anonymous = httpx.request("PROPFIND", f"{dav.url}/dav/", headers={"Depth": "0"})
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Basic")
    assert propfind(dav.client(OFFICER, "a sign-in password here"), "/dav/").status_code == 401
    assert propfind(dav.client(LEAD, dav.passwords[OFFICER]), "/dav/").status_code == 401  # another's
    assert propfind(dav.client(OFFICER), "/dav/", "0").status_code == 207
    by_mail = dav.client("apec-officer@example.org", dav.passwords[OFFICER])
    assert propfind(by_mail, f"/dav/{OFFICER}/", "0").status_code == 207


def test_a_revoked_password_and_a_disabled_account_are_refused(dav, invoke, db_url, clock):
    engine = store.engine(db_url)
    with store.transaction(engine) as session:
        ref = app_passwords.app_passwords(session, VIEWER)[0]["id"]
    with store.transaction(engine, write=True) as session:
        app_passwords.revoke(session, VIEWER, ref, clock())
    engine.dispose()
    assert propfind(dav.client(VIEWER), "/dav/", "0").status_code == 401
    invoke("user", "disable", OFFICER)
    assert propfind(dav.client(OFFICER), "/dav/", "0").status_code == 401


def test_refused_sign_ins_are_rate_limited_and_the_password_never_stored(dav, db_url):
    wrong = dav.client(OFFICER, "wrong-wrong-wrong-wrong")
    limit = accounts.LIMITS["address"]  # before the person's own (LIMITS["app"]): every test client is 127.0.0.1
    statuses = [propfind(wrong, "/dav/", "0").status_code for _ in range(limit + 1)]
    assert statuses == [401] * limit + [429]
    held = propfind(dav.client(LEAD), "/dav/", "0")  # the address is held, even with a right password
    assert held.status_code == 429 and int(held.headers["retry-after"]) > 0
    rows = "\n".join(dump(db_url))
    assert dav.passwords[OFFICER] not in rows and "wrong-wrong" not in rows


def test_an_app_still_sending_a_revoked_password_holds_nobody(dav, db_url, clock):
    """A lost phone keeps syncing with its revoked password: refused every time, never counted as guessing, so the
    person's other apps (and everyone at the same address) go on working."""
    revoked = dav.client(VIEWER)
    engine = store.engine(db_url)
    with store.transaction(engine, write=True) as session:
        app_passwords.revoke(session, VIEWER, app_passwords.app_passwords(session, VIEWER)[0]["id"], clock())
        other = app_passwords.create(session, VIEWER, "the other phone", clock())[1]
    engine.dispose()
    statuses = {propfind(revoked, "/dav/", "0").status_code for _ in range(accounts.LIMITS["address"] + 5)}
    assert statuses == {401}
    assert propfind(dav.client(VIEWER, other), "/dav/", "0").status_code == 207


def test_refusals_by_slug_and_by_e_mail_count_against_the_same_person(dav, db_url):
    engine = store.engine(db_url)
    with store.transaction(engine) as session:

        def keys(login: str) -> list[str]:  # as tracker.web.dav_mount.signed_in makes them
            return app_passwords.throttle_keys(accounts.person_by_login(session, login), login, "127.0.0.1")

        assert keys(OFFICER) == keys("APEC-Officer@example.org") != keys(LEAD)
    engine.dispose()


def test_a_desk_session_cookie_does_not_reach_caldav(dav, desk_session):
    browser = desk_session(dav, LEAD, "lead")
    assert browser.request("PROPFIND", "/dav/", headers={"Depth": "0"}).status_code == 401


def test_apps_find_the_server_from_its_address(dav):
    well_known = httpx.get(f"{dav.url}/.well-known/caldav")
    assert well_known.status_code == 301 and well_known.headers["location"].endswith("/dav/")
    root = propfind(dav.client(OFFICER), "/", "0")
    assert root.status_code == 207
    assert re.search(r"<current-user-principal><href>/dav/apec-officer/</href>", root.text)
    home = propfind(dav.client(OFFICER), f"/dav/{OFFICER}/")
    assert set(hrefs(home)) >= {f"/dav/{OFFICER}/items/", f"/dav/{OFFICER}/meetings/"}
    assert "calendar-home-set><href>/dav/apec-officer/</href></C:calendar-home-set>" in home.text


# --- who reads what ----------------------------------------------------------------------------------------


def test_my_items_are_the_items_i_own(dav, invoke_json):
    listed = propfind(dav.client(OFFICER), f"/dav/{OFFICER}/items/")
    assert listed.status_code == 207
    found = {h.rsplit("/", 1)[1] for h in hrefs(listed) if h.endswith(".ics")}
    owned = {i["slug"] + ".ics" for i in invoke_json("items", "--owner", OFFICER, "--status", "all")}
    assert found == owned and found
    calendar, _ = todo_of(dav.client(OFFICER), f"/dav/{OFFICER}/items/{OWN}.ics")
    (todo,) = calendar.walk("VTODO")
    assert str(todo["UID"]) == f"item-{OWN}@tracker" and "VALARM" not in calendar.to_ical().decode()


def test_a_person_reads_only_their_own_home_and_a_lead_everyones(dav):
    officer, lead = dav.client(OFFICER), dav.client(LEAD)
    assert propfind(officer, f"/dav/{VIEWER}/items/").status_code == 403
    assert officer.get(f"/dav/{LEAD}/items/").status_code == 403
    assert propfind(lead, f"/dav/{OFFICER}/items/").status_code == 207
    home = hrefs(propfind(lead, f"/dav/{LEAD}/"))
    assert f"/dav/{LEAD}/person-{OFFICER}/" in home
    assert f"/dav/{LEAD}/committee-kpi-management-entrepreneurship/" in home
    assert not [h for h in hrefs(propfind(officer, f"/dav/{OFFICER}/")) if "person-" in h or "committee-" in h]


# --- writes ------------------------------------------------------------------------------------------------


def completed(calendar: Calendar, how: str) -> Calendar:
    (todo,) = calendar.walk("VTODO")
    for name in ("STATUS", "PERCENT-COMPLETE", "COMPLETED"):
        todo.pop(name, None)
    if how == "status":
        todo.add("STATUS", "COMPLETED")
    elif how == "percent":
        todo.add("PERCENT-COMPLETE", 100)
    else:
        todo.add("COMPLETED", datetime.fromisoformat("2008-09-02T10:00:00+00:00"))
    return calendar


@pytest.mark.parametrize("how", ["status", "percent", "completed"])
def test_completing_a_task_any_way_marks_the_item_done_and_unticking_reopens_it(dav, invoke_json, how):
    client, path = dav.client(OFFICER), f"/dav/{OFFICER}/items/{OWN}.ics"
    calendar, etag = todo_of(client, path)
    assert put(client, path, completed(calendar, how), etag).status_code == 204
    shown = item(invoke_json, OWN)
    assert shown["status"] == "done"
    assert shown["history"][-1] | {"at": None} == {
        "at": None,
        "by": "APEC SMEWG officer",
        "how": "caldav",
        "field": "status",
        "old": "open",
        "new": "done",
        "note": "",
    }
    calendar, etag = todo_of(client, path)
    (todo,) = calendar.walk("VTODO")
    assert (str(todo["STATUS"]), int(todo["PERCENT-COMPLETE"]), "COMPLETED" in todo) == ("COMPLETED", 100, True)
    todo.pop("COMPLETED")  # an app unticks by clearing one of the three
    assert put(client, path, calendar, etag).status_code == 204
    assert item(invoke_json, OWN)["status"] == "open"
    (todo,) = todo_of(client, path)[0].walk("VTODO")
    assert (str(todo["STATUS"]), int(todo["PERCENT-COMPLETE"]), "COMPLETED" in todo) == ("NEEDS-ACTION", 0, False)


@pytest.mark.parametrize(("sent", "kept"), [
    ("20270103T020000Z", "2027-01-03T02:00:00+00:00"),  # ticked offline on the 3rd, synced on the 5th: the 3rd
    ("20270103T100000", "2027-01-03T02:00:00+00:00"),  # floating: read in the item's zone (Asia/Taipei)
    ("20270201T000000Z", "2027-01-05T01:00:00+00:00"),  # a device clock ahead: not later than the sync
    ("20080101T000000Z", None),  # nor earlier than the item's last change (when its source recorded it)
])  # fmt: skip
def test_a_task_ticked_offline_is_done_when_the_app_says(dav, invoke_json, clock, sent, kept):
    """An app's COMPLETED is when the person ticked the task; it reaches the server at the next sync, which may be
    days later (a phone offline on a trip). The register's completion time is the app's, kept between the item's
    last change and the sync."""
    clock.set("2027-01-05T09:00:00+08:00")
    client, path = dav.client(OFFICER), f"/dav/{OFFICER}/items/{OWN}.ics"
    calendar, etag = todo_of(client, path)
    text = completed(calendar, "status").to_ical().decode().replace("END:VTODO", f"COMPLETED:{sent}\r\nEND:VTODO")
    changed_before = item(invoke_json, OWN)["updated_at"]
    answer = client.put(path, content=text, headers={"If-Match": etag})
    assert answer.status_code == 204, answer.text
    shown = item(invoke_json, OWN)
    assert (shown["status"], shown["completed_by"]) == ("done", "APEC SMEWG officer")
    done_at = datetime.fromisoformat(shown["completed_at"])
    if kept is None:
        assert done_at == datetime.fromisoformat(changed_before)
    else:
        assert done_at == datetime.fromisoformat(kept)
    assert datetime.fromisoformat(shown["history"][-1]["at"]) == clock()  # the change itself came with the sync


def test_the_feed_shows_a_task_completed_in_an_app_at_once(dav, subscribe):
    token, _ = subscribe("--name", "officer", "--person", OFFICER)
    before = httpx.get(f"{dav.url}/feeds/{token}.ics")
    client, path = dav.client(OFFICER), f"/dav/{OFFICER}/items/{OWN}.ics"
    assert put(client, path, completed(*todo_of(client, path)[:1], "percent")).status_code == 204
    after = httpx.get(f"{dav.url}/feeds/{token}.ics", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    (todo,) = [t for t in Calendar.from_ical(after.content).walk("VTODO") if str(t["UID"]) == f"item-{OWN}@tracker"]
    assert str(todo["STATUS"]) == "COMPLETED"


def test_a_percentage_sets_in_progress_and_the_title_and_due_change_as_an_edit(dav, invoke_json):
    client, path = dav.client(OFFICER), f"/dav/{OFFICER}/items/{OWN}.ics"
    calendar, etag = todo_of(client, path)
    (todo,) = calendar.walk("VTODO")
    todo.pop("PERCENT-COMPLETE")
    todo.add("PERCENT-COMPLETE", 40)
    todo["SUMMARY"] = "Volunteer for the KPI committees (in writing)"
    todo.pop("DUE")
    todo.add("DUE", datetime.fromisoformat("2008-10-15").date())
    assert put(client, path, calendar, etag).status_code == 204
    shown = item(invoke_json, OWN)
    assert (shown["status"], shown["title"], shown["due"][:10]) == (
        "in_progress",
        "Volunteer for the KPI committees (in writing)",
        "2008-10-15",
    )
    assert {h["field"] for h in shown["history"] if h["how"] == "caldav"} >= {"status", "title", "due"}


def test_refused_writes_change_nothing(dav, db_url):
    officer, viewer, path = dav.client(OFFICER), dav.client(VIEWER), f"/dav/{OFFICER}/items/{OWN}.ics"
    calendar, etag = todo_of(officer, path)
    before = dump(db_url)
    stale = put(officer, path, completed(calendar, "status"), '"not-the-etag"')
    assert stale.status_code == 412
    (todo,) = calendar.walk("VTODO")
    todo["DESCRIPTION"] = "Rewritten in the app"
    described = put(officer, path, calendar, etag)
    assert described.status_code == 403 and "description" in described.text
    assert officer.delete(path).status_code == 403
    assert viewer.put(f"/dav/{VIEWER}/items/new.ics", content=calendar.to_ical()).status_code == 403
    meetings = officer.put(f"/dav/{OFFICER}/meetings/x.ics", content=calendar.to_ical())
    assert meetings.status_code == 403
    assert officer.request("MKCALENDAR", f"/dav/{OFFICER}/mine/").status_code == 403
    kind = (
        b'<propertyupdate xmlns="DAV:"><set><prop><resourcetype><collection/></resourcetype></prop></set>'
        b"</propertyupdate>"
    )  # a task list made a plain collection (tests/test_dav_views.py has the rest)
    assert officer.request("PROPPATCH", f"/dav/{OFFICER}/items/", content=kind).status_code == 403
    assert dump(db_url) == before


def test_if_match_is_checked_again_inside_the_write(dav, db_url, clock):
    """Radicale compares If-Match before the write's transaction; a write landing in between must still make the
    stale one fail, so the storage checks again inside it."""
    app = radicale_app.application(store.engine(db_url), clock, "Asia/Taipei")
    (collection,) = app._storage.discover(f"/{OFFICER}/items/")
    ((_, resource),) = collection.get_multi([f"{OWN}.ics"])
    before = dump(db_url)
    with app._storage.acquire_lock("w", OFFICER):
        app._storage.expect('"an-etag-read-before-another-write"')
        with pytest.raises(Stale):
            collection.upload(f"{OWN}.ics", resource)
        app._storage.expect(resource.etag)
        assert collection.upload(f"{OWN}.ics", resource)[0].etag == resource.etag  # unchanged: nothing to write
    assert dump(db_url) == before


def new_task(uid: str, summary: str, **extra: str) -> bytes:
    lines = "".join(f"{k}:{v}\r\n" for k, v in extra.items())
    return (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\n"
        f"DTSTAMP:20080902T100000Z\r\nSUMMARY:{summary}\r\n{lines}END:VTODO\r\nEND:VCALENDAR\r\n"
    ).encode()


def test_a_task_that_does_not_parse_is_refused_with_its_reason(dav, db_url):
    client = dav.client(OFFICER)
    before = dump(db_url)
    answer = client.put(f"/dav/{OFFICER}/items/bad.ics", content=new_task("bad", "x", DUE="20090230"))
    assert answer.status_code == 400 and "20090230" in answer.text
    assert dump(db_url) == before


def test_a_task_made_in_an_app_becomes_an_item_it_finds_again(dav, invoke_json):
    client = dav.client(OFFICER)
    path = f"/dav/{OFFICER}/items/0b6f3c1e-app-made.ics"
    made = client.put(path, content=new_task("0b6f3c1e-app-made", "Call the Lima secretariat", DUE="20081001"),
                      headers={"If-None-Match": "*"})  # fmt: skip
    assert made.status_code == 201 and "etag" not in made.headers  # stored as an item, not as sent: fetch it
    found = [i for i in invoke_json("items", "--owner", OFFICER) if i["title"] == "Call the Lima secretariat"]
    assert len(found) == 1 and found[0]["due"][:10] == "2008-10-01"
    assert item(invoke_json, found[0]["slug"])["history"][0]["how"] == "caldav"
    calendar, etag = todo_of(client, path)
    assert str(calendar.walk("VTODO")[0]["UID"]) == "0b6f3c1e-app-made" and etag
    again = client.put(f"/dav/{OFFICER}/items/other.ics", content=new_task("0b6f3c1e-app-made", "Twice"))
    assert again.status_code == 409


def zoned_task(uid: str, offset: str) -> bytes:
    zone = (f"BEGIN:VTIMEZONE\r\nTZID:Desk Zone\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
            f"TZOFFSETFROM:{offset}\r\nTZOFFSETTO:{offset}\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")  # fmt: skip
    return new_task(uid, f"Due in {offset}", **{"DUE;TZID=Desk Zone": "20081001T100000"}).replace(
        b"BEGIN:VTODO", zone.encode() + b"BEGIN:VTODO", 1
    )


def test_a_zone_an_app_defines_is_read_from_its_own_task_not_from_another_one(dav, invoke_json):
    """icalendar keeps the first definition it reads of a TZID that is no IANA zone for the whole process: two
    tasks (two people's apps, say) defining "Desk Zone" differently must each be read by their own."""
    client = dav.client(OFFICER)
    for uid, offset in (("zone-east", "+0500"), ("zone-west", "-0300")):
        assert client.put(f"/dav/{OFFICER}/items/{uid}.ics", content=zoned_task(uid, offset)).status_code == 201
    dues = {
        i["title"]: i["due_utc"] for i in invoke_json("items", "--owner", OFFICER) if i["title"].startswith("Due in")
    }
    assert dues == {"Due in +0500": "2008-10-01T05:00:00+00:00", "Due in -0300": "2008-10-01T13:00:00+00:00"}


def test_caldav_answers_keep_dav_as_the_default_namespace_after_a_pdf(dav):
    """WeasyPrint (a brief's PDF) registers the empty XML prefix for itself when imported: Radicale's answers
    would then say "ns0:" for DAV:."""
    import weasyprint.pdf.metadata  # noqa: F401

    answer = propfind(dav.client(OFFICER), f"/dav/{OFFICER}/", "0")
    assert answer.status_code == 207 and '<multistatus xmlns="DAV:"' in answer.text and "ns0:" not in answer.text


# --- sync tokens (RFC 6578) --------------------------------------------------------------------------------


def sync(client: httpx.Client, path: str, token: str = "") -> tuple[str, list[str]]:
    response = client.request("REPORT", path, content=SYNC % token.encode(), headers={"Depth": "1"})
    assert response.status_code == 207, response.text
    return re.search(r"<sync-token>([^<]+)</sync-token>", response.text)[1], hrefs(response)


def test_a_sync_lists_only_what_changed_since_its_token(dav, invoke):
    client, path = dav.client(OFFICER), f"/dav/{OFFICER}/items/"
    token, everything = sync(client, path)
    assert len(everything) > 3
    assert sync(client, path, token) == (token, [])
    invoke("done", OWN)
    newer, changed = sync(client, path, token)
    assert changed == [f"{path}{OWN}.ics"] and newer != token
    invoke("edit", OWN, "--owner", LEAD)  # it leaves the officer's list: reported gone
    response = client.request("REPORT", path, content=SYNC % newer.encode(), headers={"Depth": "1"})
    assert f"{path}{OWN}.ics" in response.text and "404" in response.text
    forged = client.request("REPORT", path, content=SYNC % b"urn:x-tracker:sync:0000", headers={"Depth": "1"})
    assert forged.status_code == 403 and "valid-sync-token" in forged.text


def test_a_token_from_before_a_restart_syncs_through_the_kept_changes(dav, invoke, make_server):
    """States after the first are kept as changes of the one before; another process (no memory of them) makes
    them whole from the database."""
    client, path = dav.client(OFFICER), f"/dav/{OFFICER}/items/"
    first, _ = sync(client, path)
    token = first
    for slug in (OWN, "kpi-join-innovation-committee", OWN):
        invoke("done" if slug != OWN or token == first else "reopen", slug)
        token, _ = sync(client, path, token)
    invoke("done", "local-development-principles")
    other = make_server()
    again = httpx.Client(base_url=other.url, auth=(OFFICER, dav.passwords[OFFICER]), timeout=30)
    from_first = again.request("REPORT", path, content=SYNC % first.encode(), headers={"Depth": "1"})
    from_last = again.request("REPORT", path, content=SYNC % token.encode(), headers={"Depth": "1"})  # 3 changes on
    again.close()
    assert set(hrefs(from_first)) == {f"{path}{slug}.ics" for slug in (OWN, "kpi-join-innovation-committee",
                                                                        "local-development-principles")}  # fmt: skip
    assert set(hrefs(from_last)) == {f"{path}local-development-principles.ics"}


# --- any task an app may send -------------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(summary=TEXT, status=st.sampled_from(["", "COMPLETED", "IN-PROCESS", "NEEDS-ACTION", "CANCELLED", "x"]),
       percent=st.one_of(st.none(), st.integers(-5, 120), st.just("lots")), due=TEXT)  # fmt: skip
def test_whatever_a_task_says_the_answer_is_a_status_never_an_error(dav, db_url, summary, status, percent, due):
    client = dav.client(OFFICER)
    extra = {"STATUS": status} if status else {}
    extra |= {"PERCENT-COMPLETE": str(percent)} if percent is not None else {}
    extra |= {"DUE": due.replace("\r", "").replace("\n", "")} if due else {}
    body = new_task("prop-" + str(abs(hash((summary, status, percent, due)))), summary.replace("\n", " "), **extra)
    before = dump(db_url)
    response = client.put(f"/dav/{OFFICER}/items/prop.ics", content=body)
    assert response.status_code in (201, 204, 400, 403, 409, 412), response.text
    if response.status_code >= 400:
        assert dump(db_url) == before
    else:
        assert client.get(f"/dav/{OFFICER}/items/prop.ics").status_code == 200


def test_a_collection_exists_exactly_when_its_home_lists_it(dav, db_url):
    """places.spec checks one collection without listing a lead's every list: it must agree with the listing, for
    every home and every name a path may carry (an owner, a person who owns nothing, a committee, nonsense)."""
    from tracker.core.models import Committee, Person
    from tracker.dav import places

    engine = store.engine(db_url)
    with store.transaction(engine) as session:
        slugs = list(session.scalars(select(Person.slug))) + ["nobody"]
        names = ["items", "meetings", "mine", "person-", "committee-", *("person-" + s for s in slugs),
                 *("committee-" + s for s in session.scalars(select(Committee.slug))), "committee-nobody"]  # fmt: skip
        for home in slugs:
            listed = set(places.collections(session, home))
            for name in names:
                place = places.Place(home, name)
                assert (places.spec(session, place) is not None) == (place in listed), place
        assert places.Place(LEAD, f"person-{OFFICER}") in set(places.collections(session, LEAD))
    engine.dispose()
