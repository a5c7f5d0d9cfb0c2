"""Real CalDAV clients against `tracker serve`'s /dav/ on loopback: vdirsyncer (a caldav storage paired two-way
with a filesystem vdir) and todoman on that vdir; python-caldav (discovery from the bare server URL, RFC 6578
sync-collection, If-Match, who may read whose collection); and the feeds' interop parsers (icalendar, vobject,
ical, libical, ical.js) on every resource CalDAV serves."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import caldav
import httpx
import pytest
import vobject
import yaml
from caldav.elements import dav as dav_elements
from caldav.elements import ical
from caldav.lib import error
from icalendar import Calendar
from sqlalchemy import select

from tests.conftest import dump
from tests.icsutil import components, todoman
from tests.interop.test_subscribers import vdirsyncer, vdirsyncer_config
from tests.interop.test_timezones import embedded_only, read_ical, read_ical_js, read_icalendar, read_libical
from tracker.core import store
from tracker.core.models import Meeting, MeetingSeries
from tracker.register import app_passwords

pytestmark = pytest.mark.interop

OFFICER, OFFICER_NAME = "bilateral-officer", "Bilateral relations officer"  # owns six shipped items
OTHER_OFFICER = "apec-officer"  # attends the yearly SMEWG series (with its overrides), owns the most items
LEAD = "desk-lead"
CLIENT_NOW = "2008-09-20T10:00:00+08:00"  # when the CLI changes things behind the clients' backs


@pytest.fixture
def app_password(invoke, env, clock):
    """Give a person an account with `role` and a new app password (through the core function the CLI and the
    "My calendars" page call); returns the password."""

    def make(slug: str, role: str = "officer") -> str:
        invoke("user", "role", slug, role)
        engine = store.engine(env["TRACKER_DB"])
        try:
            with store.transaction(engine, write=True) as session:
                return app_passwords.create(session, slug, "interop test", clock())[1]
        finally:
            engine.dispose()

    return make


def uids(objects) -> list[str]:  # noqa: ANN001 - python-caldav's result collections
    return sorted(str(o.icalendar_component["UID"]) for o in objects)


def owned_uids(invoke_json, slug: str) -> list[str]:
    return sorted(item["uid"] for item in invoke_json("items", "--owner", slug, "--status", "all"))


# vdirsyncer + todoman ------------------------------------------------------------------------------------------


def sync_pair(tmp_path: Path, url: str, user: str, password: str) -> Path:
    """A vdirsyncer pair of the CalDAV server at `url` (every collection it finds) and a vdir, tmp_path/vdir."""
    remote = f'type = "caldav"\nurl = "{url}"\nusername = "{user}"\npassword = "{password}"'
    return vdirsyncer_config(tmp_path, 'collections = ["from a"]\nimplicit = "create"', remote, f"{tmp_path / 'vdir'}/")


def open_todos(tmp_path: Path) -> dict[str, dict]:
    """todoman's open tasks of the vdir, by title (its --porcelain JSON)."""
    todos = json.loads(todoman(tmp_path, tmp_path / "vdir", "--porcelain", "list"))
    assert len({t["summary"] for t in todos}) == len(todos), todos
    return {t["summary"]: t for t in todos}


def attended(data: Path, slug: str) -> set[str]:
    """The UIDs of the single meetings in data/meetings.yaml that `slug` attends."""
    meetings = yaml.safe_load((data / "meetings.yaml").read_text(encoding="utf-8"))["meetings"]
    return {f"meeting-{m['slug']}@tracker" for m in meetings if slug in m.get("attendees", [])}


def local_vtodo(vdir: Path, uid: str) -> str:
    """The text of the one local file (vdirsyncer names them at random) holding the VTODO `uid`."""
    found = [
        p.read_text()
        for p in vdir.glob("*.ics")
        if str(Calendar.from_ical(p.read_bytes()).walk("VTODO")[0]["UID"]) == uid
    ]
    assert len(found) == 1, uid
    return found[0]


def test_vdirsyncer_and_todoman_complete_reopen_and_create(loaded, make_server, app_password, invoke, invoke_json,
                                                           tmp_path):  # fmt: skip
    slug = "singapore-invite-business-alliance-conference"
    uid, title = f"item-{slug}@tracker", "Invite Singapore to the Taiwan Business Alliance Conference"
    conf = sync_pair(tmp_path, make_server().url + "/", OFFICER, app_password(OFFICER))  # the bare server URL
    vdirsyncer(conf, "discover")
    vdirsyncer(conf, "sync")
    items = tmp_path / "vdir" / "items"
    assert sorted(p.name for p in (tmp_path / "vdir").iterdir()) == ["items", "meetings"]
    assert sorted(open_todos(tmp_path)) == sorted(i["title"] for i in invoke_json("items", "--owner", OFFICER))
    meetings = {
        str(Calendar.from_ical(p.read_bytes()).walk("VEVENT")[0]["UID"])
        for p in (tmp_path / "vdir" / "meetings").glob("*.ics")
    }
    assert attended(loaded, OFFICER) <= meetings

    todoman(tmp_path, tmp_path / "vdir", "done", str(open_todos(tmp_path)[title]["id"]))
    vdirsyncer(conf, "sync")
    shown = invoke_json("show", slug)
    assert (shown["status"], shown["completed_how"], shown["completed_by"]) == ("done", "caldav", OFFICER_NAME)
    last = shown["history"][-1]
    assert (last["field"], last["new"], last["how"], last["by"]) == ("status", "done", "caldav", OFFICER_NAME)
    assert title not in open_todos(tmp_path)

    invoke("--now", CLIENT_NOW, "reopen", slug)
    vdirsyncer(conf, "sync")
    assert title in open_todos(tmp_path)
    text = local_vtodo(items, uid)
    assert "STATUS:COMPLETED" not in text and "COMPLETED:" not in text and "PERCENT-COMPLETE:100" not in text

    todoman(tmp_path, tmp_path / "vdir", "new", "--list", "items", "--due", "2008-10-20 17:00", "Book the show hall")
    vdirsyncer(conf, "sync")
    vdirsyncer(conf, "sync")  # a second round trip makes no duplicate on either side
    new = [i for i in invoke_json("items", "--owner", OFFICER) if i["title"] == "Book the show hall"]
    assert len(new) == 1, new
    assert new[0]["owners"] == [OFFICER] and new[0]["due_utc"] == "2008-10-20T09:00:00+00:00"
    assert list(open_todos(tmp_path)).count("Book the show hall") == 1


# python-caldav ------------------------------------------------------------------------------------------------


@dataclass
class Dav:
    """A python-caldav client of a live server, signed in as one person with an app password."""

    url: str  # the bare server URL, as a person types it into an app
    auth: tuple[str, str]
    client: caldav.DAVClient

    def calendar(self, path: str) -> caldav.Calendar:
        return self.client.calendar(url=self.url + path)


@pytest.fixture
def dav(make_server, app_password):
    """Connect a python-caldav client to a new live server as the person `slug` with role `role`."""
    clients = []

    def connect(slug: str, role: str = "officer") -> Dav:
        url, password = make_server().url, app_password(slug, role)
        clients.append(caldav.DAVClient(url=url + "/", username=slug, password=password))
        return Dav(url, (slug, password), clients[-1])

    yield connect
    for client in clients:
        client.close()


def test_python_caldav_finds_every_collection_from_the_bare_server_url(loaded, dav):
    officer = dav(OFFICER).client.principal()
    found = {c.url.path: c.get_supported_components() for c in officer.calendars()}
    assert found == {f"/dav/{OFFICER}/items/": ["VTODO"], f"/dav/{OFFICER}/meetings/": ["VEVENT"]}

    lead = {c.url.path for c in dav(LEAD, "lead").client.principal().calendars()}
    assert {f"/dav/{LEAD}/items/", f"/dav/{LEAD}/meetings/", f"/dav/{LEAD}/person-{OFFICER}/",
            f"/dav/{LEAD}/person-{OTHER_OFFICER}/", f"/dav/{LEAD}/committee-kpi-innovation/"} <= lead  # fmt: skip


def test_python_caldav_renames_and_colours_a_list_for_its_person_only(loaded, dav):
    """python-caldav's set_properties is a PROPPATCH, as Apple's colour and order are: kept as the person's view."""
    officer = dav(OFFICER).calendar(f"/dav/{OFFICER}/items/")
    officer.set_properties([dav_elements.DisplayName("Work"), ical.CalendarColor("#FF2968FF"), ical.CalendarOrder("2")])
    again = dav(OFFICER).calendar(f"/dav/{OFFICER}/items/")  # a second app of the same person
    found = again.get_properties([dav_elements.DisplayName(), ical.CalendarColor(), ical.CalendarOrder()])
    assert list(found.values()) == ["Work", "#FF2968FF", "2"]
    lead = dav(LEAD, "lead").calendar(f"/dav/{LEAD}/person-{OFFICER}/")
    assert lead.get_properties([dav_elements.DisplayName()])[dav_elements.DisplayName.tag] != "Work"
    with pytest.raises(error.PropsetError):
        officer.set_properties([ical.CalendarColor("red")])


def test_sync_collection_returns_only_what_changed_since_its_token(loaded, dav, invoke, invoke_json):
    calendar = dav(OFFICER).calendar(f"/dav/{OFFICER}/items/")
    first = calendar.get_objects_by_sync_token(load_objects=True, disable_fallback=True)
    assert uids(first) == owned_uids(invoke_json, OFFICER)

    invoke("--now", CLIENT_NOW, "done", "us-invite-business-alliance-conference")
    invoke("--now", CLIENT_NOW, "done", "kpi-committee-volunteer")  # another person's item: not in this collection
    changed = calendar.get_objects_by_sync_token(sync_token=first.sync_token, load_objects=True, disable_fallback=True)
    assert uids(changed) == ["item-us-invite-business-alliance-conference@tracker"]
    assert changed.objects[0].icalendar_component["STATUS"] == "COMPLETED"
    assert changed.sync_token != first.sync_token
    assert uids(calendar.get_objects_by_sync_token(sync_token=changed.sync_token, disable_fallback=True)) == []


def test_a_stale_if_match_gets_412_and_changes_nothing(loaded, dav, invoke, invoke_json, env):
    slug = "peru-textile-show-delegation"
    stale = dav(OFFICER).calendar(f"/dav/{OFFICER}/items/").get_object_by_uid(f"item-{slug}@tracker")
    assert stale.etag
    invoke("--now", CLIENT_NOW, "done", slug)  # done on the desk after the app read it: its ETag moves on
    before = dump(env["TRACKER_DB"])
    with stale.edit_icalendar_instance() as ical:
        ical.walk("VTODO")[0]["PERCENT-COMPLETE"] = 50  # would make it in_progress, undoing the desk's done
    with pytest.raises(error.ETagMismatchError):
        stale.save()  # python-caldav sends If-Match with the ETag it read
    assert dump(env["TRACKER_DB"]) == before
    assert invoke_json("show", slug)["status"] == "done"


def test_an_officer_gets_no_other_persons_collection_and_a_lead_reads_it(loaded, dav, invoke_json, env):
    officer = dav(OFFICER)
    other = f"{officer.url}/dav/{OTHER_OFFICER}/items/"
    with pytest.raises((error.AuthorizationError, error.NotFoundError)):
        officer.calendar(f"/dav/{OTHER_OFFICER}/items/").get_objects_by_sync_token(disable_fallback=True)
    own = httpx.get(f"{officer.url}/dav/{OFFICER}/items/peru-textile-show-delegation.ics", auth=officer.auth)
    assert own.status_code == 200
    before = dump(env["TRACKER_DB"])
    refused = {
        "PROPFIND": httpx.request("PROPFIND", other, auth=officer.auth, headers={"Depth": "1"}),
        "GET": httpx.get(other + "kpi-committee-volunteer.ics", auth=officer.auth),
        "PUT": httpx.put(
            other + "kpi-committee-volunteer.ics",
            auth=officer.auth,
            content=own.content,
            headers={"Content-Type": "text/calendar"},
        ),  # fmt: skip
        "a lead's view": httpx.request(
            "PROPFIND", f"{officer.url}/dav/{LEAD}/person-{OFFICER}/", auth=officer.auth, headers={"Depth": "1"}
        ),  # fmt: skip
    }
    assert {name: r.status_code for name, r in refused.items() if r.status_code not in (403, 404)} == {}
    assert dump(env["TRACKER_DB"]) == before

    lead = dav(LEAD, "lead").calendar(f"/dav/{LEAD}/person-{OFFICER}/")
    assert uids(lead.get_objects_by_sync_token(load_objects=True, disable_fallback=True)) == owned_uids(
        invoke_json, OFFICER
    )


# The feeds' parsers on what CalDAV serves -------------------------------------------------------------------


def served(dav: Dav, path: str) -> list[bytes]:
    """The body of every resource of the collection at `path`, each fetched with a plain GET."""
    bodies = []
    for obj in dav.calendar(path).get_objects_by_sync_token(disable_fallback=True):
        response = httpx.get(str(obj.url), auth=dav.auth)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
        bodies.append(response.content)
    return bodies


def attended_in_db(db_url: str, slug: str) -> set[str]:
    """The UIDs of the meetings and series `slug` attends, from the database."""
    engine = store.engine(db_url)
    try:
        with store.transaction(engine) as session:
            rows = [*session.scalars(select(Meeting)), *session.scalars(select(MeetingSeries))]
            return {row.uid for row in rows if slug in row.attendees}
    finally:
        engine.dispose()


def test_the_feeds_parsers_accept_every_resource_caldav_serves(loaded, dav, invoke, subscribe, tmp_path, db_url):
    # A timed item in New York on the day clocks go forward: every parser must read its DUE through the zone the
    # resource itself carries.
    invoke("add", "Call the New York office", "--slug", "ny-call", "--owner", OTHER_OFFICER, "--due",
           "2009-03-08T03:30", "--tz", "America/New_York")  # fmt: skip
    officer = dav(OTHER_OFFICER)
    resources = served(officer, f"/dav/{OTHER_OFFICER}/items/") + served(officer, f"/dav/{OTHER_OFFICER}/meetings/")
    token, _ = subscribe("--name", "officer", "--person", OTHER_OFFICER, "--no-alarms")
    feed = components(httpx.get(f"{officer.url}/feeds/{token}.ics").content)

    seen, times = {}, {}
    for n, data in enumerate(resources):
        found = components(data)
        uid = {uid for _, uid, _ in found}
        assert len(uid) == 1, found  # one UID per resource: a master and its overrides
        assert {
            c.uid.value for c in vobject.readOne(data.decode()).getChildren() if c.name in ("VTODO", "VEVENT")
        } == uid
        seen |= found
        path = tmp_path / f"resource-{n}.ics"
        path.write_bytes(data)
        assert read_libical(path)[0] == [], data.decode()
        embedded = embedded_only(data)
        path.write_bytes(embedded)
        errors, libical = read_libical(path)
        assert errors == [], embedded.decode()
        for reader, read in (("ical.js", read_ical_js(path)), ("libical", libical), ("ical", read_ical(embedded)),
                             ("icalendar", read_icalendar(embedded))):  # fmt: skip
            times.setdefault(reader, {}).update(read)
    # The person's feed's components, byte for byte (UIDs and SEQUENCE included): all its tasks, and of its meetings
    # the ones the person attends (the feed also has those their items come from or serve, and deadline twins).
    assert {key: feed[key] for key in seen} == seen
    assert {key for key in feed if key[0] == "VTODO"} == {key for key in seen if key[0] == "VTODO"}
    assert {uid for name, uid, _ in seen if name == "VEVENT"} == attended_in_db(db_url, OTHER_OFFICER)
    due = ("item-ny-call@tracker", "", "DUE")
    assert {reader: read.get(due) for reader, read in times.items()} == dict.fromkeys(
        times, datetime(2009, 3, 8, 7, 30, tzinfo=UTC)
    )
    assert all(read == times["icalendar"] for read in times.values()), times
