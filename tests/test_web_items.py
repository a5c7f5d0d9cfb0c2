"""The item page and every change to an item from the browser (issue 12 §3 "Item page" and "New item"), over
real HTTP: what each role may do, the same core calls and error words as the CLI, one transaction per change, no
lost updates, and headless Chromium screenshots."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from tests.conftest import dump

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
KPI = 1  # kpi-committee-volunteer: owner apec-officer, committee kpi-management-entrepreneurship, due 2008-09-30
INNOVATION = 3  # kpi-join-innovation-committee: owner apec-officer, committee kpi-innovation
ACTIONS = ("done", "reopen", "cancel", "snooze", "edit")


class FormReader(HTMLParser):
    """The values a browser would send from the forms of a page, by form action: inputs (checked boxes only),
    textareas and each select's selected option."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, list[tuple[str, str]]] = {}
        self.action: str | None = None
        self.field: tuple[str, str] | None = None  # (kind, name) of the open textarea or select
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a.get("action", "")
            self.forms[self.action] = []
        elif self.action is None or "name" not in a and tag != "option":
            return
        elif tag == "input" and (a.get("type") != "checkbox" or "checked" in a):
            self.forms[self.action].append((a["name"], a.get("value", "")))
        elif tag in ("textarea", "select"):
            self.field, self.text = (tag, a["name"]), ""
        elif tag == "option" and self.field and "selected" in a:
            self.forms[self.action].append((self.field[1], a.get("value", "")))

    def handle_data(self, data: str) -> None:
        self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self.field:
            self.forms[self.action].append((self.field[1], self.text))
        if tag in ("textarea", "select"):
            self.field = None
        if tag == "form":
            self.action = None


def form_of(page: str, action: str) -> dict[str, list[str]]:
    reader = FormReader()
    reader.feed(page)
    out: dict[str, list[str]] = {}
    for name, value in reader.forms[action]:
        out.setdefault(name, []).append(value)
    return out


def edit_form(client: httpx.Client, ref: int) -> dict[str, list[str]]:
    page = client.get(f"/items/{ref}/edit")
    assert page.status_code == 200, page.text
    return form_of(page.text, f"/items/{ref}/edit")


def post(client: httpx.Client, path: str, fields: dict) -> httpx.Response:
    return client.post(path, data={"csrf": client.csrf, **fields})


def version(client: httpx.Client, ref: int) -> str:
    return re.search(r'name="version" value="(\d+)"', client.get(f"/items/{ref}").text)[1]


def text_of(page: str) -> str:
    """The page as a person reads it: tags and styles gone, entities decoded, spaces collapsed."""
    import html

    page = re.sub(r"(?s)<style>.*?</style>", "", page)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def todo_of(calendar: str) -> str:
    """The VTODO of item KPI in a feed."""
    todos = re.findall(r"BEGIN:VTODO\r\n.*?END:VTODO", calendar, re.S)
    return next(t for t in todos if "UID:item-kpi-committee-volunteer@tracker" in t)


def set_person(env: dict, slug: str, **values) -> None:
    from sqlalchemy import select

    from tracker.core import store
    from tracker.core.models import Person

    engine = store.engine(env["TRACKER_DB"])
    with store.transaction(engine, write=True) as session:
        person = session.scalars(select(Person).where(Person.slug == slug)).one()
        for name, value in values.items():
            setattr(person, name, value)
    engine.dispose()


def join_committee(env: dict, slug: str, committee: str) -> None:
    from sqlalchemy import select

    from tracker.core import store
    from tracker.core.models import Committee, CommitteeMember, Person

    engine = store.engine(env["TRACKER_DB"])
    with store.transaction(engine, write=True) as session:
        person = session.scalars(select(Person).where(Person.slug == slug)).one()
        group = session.scalars(select(Committee).where(Committee.slug == committee)).one()
        session.add(CommitteeMember(committee_id=group.id, person_id=person.id))
    engine.dispose()


# --- the page ------------------------------------------------------------------------------------------------


def test_the_item_page_shows_every_field_the_meetings_and_the_history(loaded, make_server, desk_session, env, clock):
    set_person(env, "forum-officer", tz="Europe/London")
    clock.set("2008-10-10T09:00:00+08:00")
    server = make_server()
    reader = desk_session(server, "forum-officer", "viewer")
    page = reader.get(f"/items/{KPI}")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "Volunteer for the KPI drafting committees" in shown
    assert "會中並鼓勵各會員體自願在9月底前參加各項KPIs制訂小組" in shown  # the source quote
    assert "2008-09-30 (all day, Asia/Taipei)" in shown and "end of September 2008" in shown
    # Due at the end of 2008-09-30 in Taipei is 17:00 that day in London; ten days later it is 9 days overdue.
    assert "In your zone: due by 2008-09-30 17:00 Europe/London" in shown
    assert "overdue by 9 days" in shown
    assert "APEC SMEWG officer (apec-officer)" in shown
    assert "KPI committee: Building Management Capability and Promoting Entrepreneurship" in shown
    assert 'href="/meetings/apec-sme-ministerial-15"' in page.text and 'href="/meetings/apec-smewg-28"' in page.text
    assert "Building management capability and promoting entrepreneurship" in shown  # the priority area, in words
    assert re.search(r"History .* yaml · via load Created: “Volunteer for the KPI drafting committees”", shown)
    # A viewer sees no controls at all.
    assert "<form" not in page.text.replace('action="/sign-out"', "").split("</header>")[1]
    assert f"/items/{KPI}/edit" not in page.text


def test_an_unknown_item_is_404_and_the_page_needs_a_session(loaded, make_server, desk_session):
    server = make_server()
    assert desk_session(server, "desk-lead", "lead").get("/items/999").status_code == 404
    assert httpx.get(f"{server.url}/items/{KPI}").status_code == 401
    assert httpx.post(f"{server.url}/items/{KPI}/done", data={"version": "0"}).status_code == 401


# --- who may change what -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("slug", "role"), [("forum-officer", "viewer"), ("forum-officer", "officer"),
                                            ("apec-officer", "viewer")])  # fmt: skip
def test_a_role_that_may_not_change_the_item_sees_no_controls_and_is_refused(
    loaded, make_server, desk_session, db_url, slug, role
):
    """A viewer, and an officer who neither owns the item nor sits on its committee: no controls, and every
    forged POST is 403 with the database unchanged."""
    server = make_server()
    client = desk_session(server, slug, role)
    page = client.get(f"/items/{KPI}").text
    assert 'id="actions"' not in page and f"/items/{KPI}/done" not in page
    assert client.get(f"/items/{KPI}/edit").status_code == 403
    before = dump(db_url)
    fields = {"version": "0", "note": "forged", "title": "Forged", "tz": "Asia/Taipei", "priority": "low"}
    for action in ACTIONS:
        answer = post(client, f"/items/{KPI}/{action}", fields)
        assert answer.status_code == 403, (action, answer.text)
        assert "does not allow" in answer.text
    assert dump(db_url) == before


def test_a_viewer_cannot_create_items(loaded, make_server, desk_session, db_url):
    server = make_server()
    viewer = desk_session(server, "forum-officer", "viewer")
    assert viewer.get("/items/new").status_code == 403
    before = dump(db_url)
    assert post(viewer, "/items/new", {"title": "Forged", "tz": "Asia/Taipei", "priority": "low"}).status_code == 403
    assert dump(db_url) == before


def test_every_change_needs_the_csrf_token(loaded, make_server, desk_session, db_url):
    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    before = dump(db_url)
    for path in [*(f"/items/{KPI}/{a}" for a in ACTIONS), "/items/new"]:
        answer = lead.post(path, data={"version": "0", "title": "x", "note": "x", "tz": "UTC", "priority": "low"})
        assert answer.status_code == 403, path
    assert dump(db_url) == before


def test_an_officer_changes_the_items_of_a_committee_they_sit_on(loaded, make_server, desk_session, env, invoke_json):
    join_committee(env, "bilateral-officer", "kpi-innovation")
    server = make_server()
    officer = desk_session(server, "bilateral-officer", "officer")
    assert f"/items/{INNOVATION}/done" in officer.get(f"/items/{INNOVATION}").text
    assert f"/items/{KPI}/done" not in officer.get(f"/items/{KPI}").text  # another committee's
    answer = post(officer, f"/items/{INNOVATION}/done", {"version": version(officer, INNOVATION), "note": ""})
    assert answer.status_code == 303 and answer.headers["location"] == f"/items/{INNOVATION}"
    shown = invoke_json("show", str(INNOVATION))
    assert (shown["status"], shown["completed_by"], shown["completed_how"]) == ("done", "bilateral-officer", "web")


# --- the changes ---------------------------------------------------------------------------------------------


def test_done_from_the_web_reaches_show_the_history_the_feed_and_the_reminders(
    loaded, make_server, desk_session, subscribe, invoke, invoke_json
):
    server = make_server()
    token, _ = subscribe("--name", "officer", "--person", "apec-officer")
    feed = httpx.get(f"{server.url}/feeds/{token}.ics")
    planned = invoke_json("--now", "2008-09-01T09:00:00+08:00", "remind", "plan", "--days", "60")
    assert any(row["item_id"] == KPI for row in planned)
    officer = desk_session(server, "apec-officer", "officer")
    answer = post(officer, f"/items/{KPI}/done", {"version": "0", "note": "Letter sent <b>today</b>"})
    assert answer.status_code == 303

    shown = invoke_json("show", str(KPI))
    assert (shown["status"], shown["completed_by"], shown["completed_how"]) == ("done", "apec-officer", "web")
    assert shown["completed_at"] == "2008-09-01T01:00:00+00:00"  # the server clock: 09:00 in Taipei
    change = shown["history"][-1]
    assert (change["by"], change["how"], change["field"], change["new"], change["note"]) == (
        "apec-officer", "web", "status", "done", "Letter sent <b>today</b>")  # fmt: skip

    after = httpx.get(f"{server.url}/feeds/{token}.ics", headers={"if-none-match": feed.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != feed.headers["etag"]
    assert "STATUS:COMPLETED" not in todo_of(feed.text) and "STATUS:COMPLETED" in todo_of(after.text)
    # Its reminders are no longer planned (the plan is derived from the data, as after `tracker done`).
    planned = invoke_json("--now", "2008-09-01T09:00:00+08:00", "remind", "plan", "--days", "60")
    assert not any(row["item_id"] == KPI for row in planned)

    page = officer.get(f"/items/{KPI}").text
    shown_page = text_of(page)
    assert "APEC SMEWG officer · via web Status : open → done Note: Letter sent <b>today</b>" in shown_page
    assert "Letter sent &lt;b&gt;today&lt;/b&gt;" in page  # the note is text, not markup
    assert "2008-09-01 09:00 by APEC SMEWG officer (web)" in shown_page


def test_reopen_and_cancel_with_a_note(loaded, make_server, desk_session, invoke_json):
    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    for action, status, expected_version in (("done", "done", 1), ("reopen", "open", 2), ("cancel", "cancelled", 3)):
        page = lead.get(f"/items/{KPI}").text
        assert f'formaction="/items/{KPI}/{action}"' in page
        answer = post(lead, f"/items/{KPI}/{action}", {"version": version(lead, KPI), "note": f"why {action}"})
        assert answer.status_code == 303, answer.text
        shown = invoke_json("show", str(KPI))
        assert (shown["status"], shown["sequence"]) == (status, expected_version)
        assert (shown["history"][-1]["by"], shown["history"][-1]["note"]) == ("desk-lead", f"why {action}")
    page = lead.get(f"/items/{KPI}").text  # a cancelled item offers reopen only
    assert f"/items/{KPI}/reopen" in page and f"/items/{KPI}/done" not in page


def test_a_note_the_cli_would_refuse_is_refused_beside_it(loaded, make_server, desk_session, db_url, invoke):
    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    words = invoke("done", str(KPI), "--note", "x" * 20_001, code=1).stderr
    before = dump(db_url)
    answer = post(lead, f"/items/{KPI}/done", {"version": "0", "note": "x" * 20_001})
    assert answer.status_code == 400
    problem = re.search(r"--note: (.*)", words)[1].strip()
    assert f'<p class="error" id="status_note-error">{problem}' in answer.text
    assert dump(db_url) == before


def test_editing_fields_through_the_form(loaded, make_server, desk_session, invoke_json, db_url):
    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    form = edit_form(lead, KPI)
    before = dump(db_url)
    assert post(lead, f"/items/{KPI}/edit", form).status_code == 303  # sent back unchanged: nothing changes
    assert dump(db_url) == before

    form |= {"title": "Volunteer for the KPI committees", "due_date": "2009-10-15", "due_time": "17:00",
             "tz": "Europe/Paris", "owners": ["apec-officer", "forum-officer"], "priority": "low",
             "category": "financing", "committee": "", "meeting": "apec-smewg-27", "serves": "apec-smewg",
             "due_note": "", "note": "moved by the lead economy"}  # fmt: skip
    answer = post(lead, f"/items/{KPI}/edit", form)
    assert answer.status_code == 303, answer.text
    shown = invoke_json("show", str(KPI))
    assert shown["title"] == "Volunteer for the KPI committees"
    assert (shown["due"], shown["tz"], shown["due_note"]) == ("2009-10-15T17:00:00+02:00", "Europe/Paris", "")
    assert (shown["owners"], shown["priority"], shown["category"]) == (["apec-officer", "forum-officer"], "low",
                                                                       "financing")  # fmt: skip
    assert (shown["committee"], shown["meeting"], shown["serves"]) == (None, "apec-smewg-27", "apec-smewg")
    assert shown["sequence"] == 1  # one change, one version
    web = [c for c in shown["history"] if c["how"] == "web"]
    assert {c["by"] for c in web} == {"desk-lead"} and {c["note"] for c in web} == {"moved by the lead economy"}
    assert {c["field"] for c in web} >= {"title", "due", "tz", "owners", "committee", "meeting", "serves"}
    page = text_of(lead.get(f"/items/{KPI}").text)
    assert "Due : 2009-09-30 → 2009-10-15 17:00 Europe/Paris" not in page  # history shows each due as written
    assert "Due : 2008-09-30 → 2009-10-15 17:00 Europe/Paris" in page
    assert "Committee : kpi-management-entrepreneurship → none" in page

    # Clearing the due date: an empty date removes it.
    form = edit_form(lead, KPI) | {"due_date": "", "due_time": ""}
    assert post(lead, f"/items/{KPI}/edit", form).status_code == 303
    assert invoke_json("show", str(KPI))["due"] is None


@pytest.mark.parametrize(("change", "field", "cli"), [
    ({"due_date": "2009-02-30"}, "due_date", ["--due", "2009-02-30"]),
    ({"due_date": "2009-03-01", "due_time": "25:00"}, "due_date", ["--due", "2009-03-01T25:00"]),
    ({"owners": ["apec-officer", "nobody"]}, "owners", ["--owner", "apec-officer", "--owner", "nobody"]),
    ({"title": "   "}, "title", ["--title", "   "]),
    ({"tz": "Mars/Olympus"}, "tz", ["--tz", "Mars/Olympus"]),
    ({"category": "space"}, "category", ["--category", "space"]),
    ({"committee": "no-such-committee"}, "committee", ["--committee", "no-such-committee"]),
    ({"serves": "apec-smewg-99"}, "serves", ["--serves", "apec-smewg-99"]),
])  # fmt: skip
def test_a_bad_field_is_refused_beside_it_in_the_cli_s_words(
    loaded, make_server, desk_session, db_url, invoke, change, field, cli
):
    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    form = edit_form(lead, KPI) | {"title": "<script>alert(1)</script> KPI"} | change
    words = invoke("edit", str(KPI), *cli, code=1).stderr.strip()
    before = dump(db_url)
    answer = post(lead, f"/items/{KPI}/edit", form)
    assert answer.status_code == 400
    assert dump(db_url) == before
    problem = re.sub(r"^Error: (--[a-z-]+: )?", "", words)
    shown = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', answer.text, re.S)[1]
    assert text_of(shown).strip() == problem
    assert 'aria-invalid="true"' in answer.text
    # The form comes back with what was typed, as text.
    assert "<script>alert(1)" not in answer.text
    if field != "title":
        assert 'value="&lt;script&gt;alert(1)&lt;/script&gt; KPI"' in answer.text


def test_a_forged_priority_or_status_is_refused(loaded, make_server, desk_session, db_url):
    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    before = dump(db_url)
    for change, field in (({"priority": "urgent"}, "priority"), ({"status": "finished"}, "status")):
        answer = post(lead, f"/items/{KPI}/edit", edit_form(lead, KPI) | change)
        assert answer.status_code == 400
        assert re.search(rf'id="{field}-error">use one of', answer.text)
    assert dump(db_url) == before


def test_html_in_a_title_is_shown_as_text(loaded, make_server, desk_session, invoke_json):
    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    title = '<img src=x onerror="alert(1)"> KPI & co'
    assert post(lead, f"/items/{KPI}/edit", edit_form(lead, KPI) | {"title": title}).status_code == 303
    assert invoke_json("show", str(KPI))["title"] == title
    page = lead.get(f"/items/{KPI}").text
    assert "<img" not in page
    assert '<h1 id="title">&lt;img src=x onerror=&#34;alert(1)&#34;&gt; KPI &amp; co</h1>' in page
    assert page.count("&lt;img src=x") >= 3  # the heading, the page title and the history


# --- no lost updates -----------------------------------------------------------------------------------------


def test_an_edit_against_an_older_version_is_refused_with_both_versions(
    loaded, make_server, desk_session, db_url, invoke_json
):
    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    officer = desk_session(server, "apec-officer", "officer")
    stale = edit_form(lead, KPI)  # the lead opens the form at version 0 ...
    assert post(officer, f"/items/{KPI}/done", {"version": "0", "note": ""}).status_code == 303  # ... it moves on
    before = dump(db_url)

    answer = post(lead, f"/items/{KPI}/edit", stale | {"title": "The lead's title", "priority": "low"})
    assert answer.status_code == 409
    assert dump(db_url) == before
    shown = text_of(answer.text)
    assert "on version 0; the item is now at version 1, last changed 2008-09-01 09:00 by APEC SMEWG officer" in shown
    assert "Title Volunteer for the KPI drafting committees The lead's title" in shown  # now | what you sent
    assert "Status done open" in shown and "Priority high low" in shown
    # The form to send again carries the lead's values and the version they have now seen.
    again = form_of(answer.text, f"/items/{KPI}/edit")
    assert again["title"] == ["The lead's title"] and again["version"] == ["1"]

    assert post(lead, f"/items/{KPI}/reopen", {"version": "0", "note": ""}).status_code == 409  # actions too
    assert dump(db_url) == before
    assert invoke_json("show", str(KPI))["status"] == "done"
    assert post(lead, f"/items/{KPI}/edit", again).status_code == 303  # sent again knowingly: saved
    assert invoke_json("show", str(KPI))["title"] == "The lead's title"


def test_of_edits_sent_at_once_from_one_version_exactly_one_is_saved(loaded, make_server, desk_session, invoke_json):
    """The version is compared inside the write transaction, which holds the database's write lock."""
    from concurrent.futures import ThreadPoolExecutor

    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    form = edit_form(lead, KPI)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda n: post(lead, f"/items/{KPI}/edit", form | {"title": f"Title {n}"}), range(6)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [303, 409, 409, 409, 409, 409], codes
    winner = next(n for n, a in enumerate(answers) if a.status_code == 303)
    shown = invoke_json("show", str(KPI))
    assert (shown["title"], shown["sequence"]) == (f"Title {winner}", 1)


def test_a_change_from_the_cli_also_makes_the_form_stale(loaded, make_server, desk_session, db_url, invoke):
    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    stale = edit_form(lead, KPI)
    invoke("--now", "2008-09-01T10:00", "edit", str(KPI), "--priority", "low")
    before = dump(db_url)
    answer = post(lead, f"/items/{KPI}/edit", stale | {"title": "Mine"})
    assert answer.status_code == 409 and "last changed 2008-09-01 10:00 by tester (CLI)" in text_of(answer.text)
    assert dump(db_url) == before


# --- snooze --------------------------------------------------------------------------------------------------


def test_snooze_my_reminders(loaded, make_server, desk_session, db_url):
    server = make_server()
    officer = desk_session(server, "apec-officer", "officer")
    lead = desk_session(server, "desk-lead", "lead")
    outsider = desk_session(server, "vice-minister-shih", "lead")
    page = officer.get(f"/items/{KPI}").text
    assert f'action="/items/{KPI}/snooze"' in page and 'id="held"' not in page
    assert post(officer, f"/items/{KPI}/snooze", {"version": "7"}).status_code == 409  # read at another version
    answer = post(officer, f"/items/{KPI}/snooze", {"version": "0"})
    assert answer.status_code == 303
    # The next reminder after 2008-09-01 09:00 is 7 days before the due date (09-23 09:00); held 7 days past it.
    assert "held until 2008-09-30 09:00 (Asia/Taipei)" in text_of(officer.get(f"/items/{KPI}").text)
    before = dump(db_url)
    assert post(officer, f"/items/{KPI}/snooze", {"version": "0"}).status_code == 303  # again: no change
    assert dump(db_url) == before
    # The lead owns nothing here but is the owner's escalation contact: they may hold their copies; someone who
    # gets no reminders of the item has no snooze to press.
    assert f"/items/{KPI}/snooze" in lead.get(f"/items/{KPI}").text
    assert f"/items/{KPI}/snooze" not in outsider.get(f"/items/{KPI}").text
    assert post(outsider, f"/items/{KPI}/snooze", {"version": "0"}).status_code == 403
    assert dump(db_url) == before


# --- new item ------------------------------------------------------------------------------------------------


def test_an_officer_adds_an_item(loaded, make_server, desk_session, invoke_json):
    server = make_server()
    officer = desk_session(server, "forum-officer", "officer")
    page = officer.get("/items/new")
    assert page.status_code == 200
    form = form_of(page.text, "/items/new")
    assert form["tz"] == ["Asia/Taipei"] and form["owners"] == ["forum-officer"]  # the viewer's defaults
    assert len(re.findall(r'<select id="category".*?</select>', page.text, re.S)[0].split("<option")) == 1 + 7
    form |= {"title": "Book the forum venue", "owners": ["forum-officer", "desk-lead"], "due_date": "2009-04-15",
             "category": "market-access", "serves": "apec-smewg", "committee": "kpi-innovation",
             "meeting": "apec-smewg-27", "description": "Two halls", "source_quote": "場地"}  # fmt: skip
    answer = post(officer, "/items/new", form)
    assert answer.status_code == 303
    new_id = int(answer.headers["location"].rsplit("/", 1)[1])
    shown = invoke_json("show", str(new_id))
    assert (shown["title"], shown["slug"], shown["owners"]) == ("Book the forum venue", "book-the-forum-venue",
                                                               ["forum-officer", "desk-lead"])  # fmt: skip
    assert (shown["due"], shown["tz"], shown["category"], shown["serves"]) == (
        "2009-04-15", "Asia/Taipei", "market-access", "apec-smewg")  # fmt: skip
    assert (shown["committee"], shown["meeting"], shown["source_quote"]) == ("kpi-innovation", "apec-smewg-27", "場地")
    assert [(c["by"], c["how"], c["field"]) for c in shown["history"]] == [("forum-officer", "web", "created")]
    assert officer.get(f"/items/{new_id}").status_code == 200


@pytest.mark.parametrize(("change", "field"), [({"title": ""}, "title"), ({"due_date": "2009-13-01"}, "due_date"),
                                               ({"owners": ["ghost"]}, "owners")])  # fmt: skip
def test_a_bad_new_item_is_refused_beside_the_field(loaded, make_server, desk_session, db_url, change, field):
    server = make_server()
    officer = desk_session(server, "forum-officer", "officer")
    form = form_of(officer.get("/items/new").text, "/items/new") | {"title": "<b>Bold</b> plan"} | change
    before = dump(db_url)
    answer = post(officer, "/items/new", form)
    assert answer.status_code == 400
    assert f'id="{field}-error"' in answer.text
    assert dump(db_url) == before
    if field != "title":
        assert 'value="&lt;b&gt;Bold&lt;/b&gt; plan"' in answer.text


# --- in a browser --------------------------------------------------------------------------------------------


@pytest.mark.interop
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is installed by .ci/run")
def test_the_item_page_in_headless_chromium(loaded, make_server, desk_session, invoke_json):
    """A phone (390 px) and a desktop (1280 px): no sideways scrolling on the page and its edit form; and without
    JavaScript, the done button works from the page (the browser sends its Origin, which web.auth checks)."""
    from playwright.sync_api import sync_playwright

    from tests.interop.test_subscribers import FLAGS
    from tracker.web.auth import COOKIE

    server = make_server()
    officer = desk_session(server, "apec-officer", "officer")
    cookie = {"name": COOKIE, "value": officer.cookies[COOKIE], "url": server.url}
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            for width in (390, 1280):  # measured with a script; the page itself has none
                context = browser.new_context(viewport={"width": width, "height": 900})
                context.add_cookies([cookie])
                page = context.new_page()
                page.goto(f"{server.url}/items/{KPI}")
                assert page.locator("h1#title").inner_text() == "Volunteer for the KPI drafting committees"
                for path, name in ((f"/items/{KPI}", "item-page"), (f"/items/{KPI}/edit", "item-edit")):
                    page.goto(f"{server.url}{path}")
                    assert page.evaluate("document.documentElement.scrollWidth") <= width, path
                    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
                context.close()
            context = browser.new_context(viewport={"width": 390, "height": 900}, java_script_enabled=False)
            context.add_cookies([cookie])
            page = context.new_page()
            page.goto(f"{server.url}/items/{KPI}")
            page.fill("#status_note", "Sent from a phone")
            with page.expect_navigation():
                page.get_by_role("button", name="Mark done").click()
            assert page.url == f"{server.url}/items/{KPI}"
            assert "done" in page.locator("#status").inner_text()
            page.screenshot(path=str(ARTIFACTS / "item-page-done-390.png"), full_page=True)
        finally:
            browser.close()
    assert invoke_json("show", str(KPI))["history"][-1]["note"] == "Sent from a phone"
