"""A change that changes nothing writes nothing: an item edited to the values it already has — in any spelling the
input paths take ("" for no committee, a due date-time written at another offset, a title with the form's stray
spaces) — keeps its history and SEQUENCE (so calendar apps see no new version and ETags stay), and every way of
changing it says so: the CLI's "Nothing changed" and the desk's notice, both told by that SEQUENCE. Revoking an
app password or a subscription that is revoked already changes nothing, and says so."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import dump
from tracker.core import store
from tracker.core.models import Item
from tracker.register import history, items
from tracker.web import item_pages

NOW = datetime.fromisoformat("2009-02-01T09:00+08:00")
TIMED = "forum-host-2009"  # given a due time in another zone than the desk's, for the date-time spellings
DONE = "kpi-committee-volunteer"  # done, with its completion, before the examples
EXAMPLES = settings(max_examples=30, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
EDITABLE = [f for f in items.FIELDS if f != "note"]  # edit's `note` is the history's "why", not the item's note
OFFSETS = ("UTC", "Asia/Kolkata", "America/St_Johns", "Asia/Taipei")  # +00:00, +05:30, -03:30, +08:00


@pytest.fixture
def engine(loaded, db_url: str) -> Iterator[Any]:
    """The shipped data, with one item due at a time of day in Paris and one done."""
    engine = store.engine(db_url)
    with store.transaction(engine, write=True) as session:
        items.edit(session, TIMED, NOW, by="tester", tz="Europe/Paris", due="2009-12-31T17:30")
        items.done(session, DONE, NOW, by="tester")
    yield engine
    engine.dispose()


def spelled(draw: st.DrawFn, item: Item, name: str) -> Any:
    """The value `item` has for field `name`, as one of the input paths may write it."""
    value = items.current(item, name)
    if name == "title":
        return draw(st.sampled_from([value, f"  {value} ", f"{value}\n", f"\t{value}"]))
    if name in ("description", "source_quote", "due_note"):
        return draw(st.sampled_from([value, f" {value}\n", value.replace("\n", "\r\n")]))
    if name in items.OPTIONAL_LINKS and value is None:
        return draw(st.sampled_from(["", None]))  # None: not given
    return value


def due_spelled(draw: st.DrawFn, item: Item) -> str | None:
    """The item's due date as `--due`, the desk's date and time fields or a task app may write it."""
    if item.due is None:
        return draw(st.sampled_from(["", " ", None]))
    local = item.due.astimezone(ZoneInfo(item.tz))
    if item.due_all_day:
        return draw(st.sampled_from([local.date().isoformat(), f" {local.date().isoformat()} "]))
    elsewhere = item.due.astimezone(ZoneInfo(draw(st.sampled_from(OFFSETS))))
    return draw(st.sampled_from([f"{local:%Y-%m-%dT%H:%M}", f"{local:%Y-%m-%d %H:%M}", local.isoformat(),
                                 elsewhere.isoformat(), item.due.isoformat().replace("+00:00", "Z")]))  # fmt: skip


@given(data=st.data())
@EXAMPLES
def test_setting_the_values_an_item_has_changes_nothing(engine, db_url, data):
    with store.transaction(engine) as session:
        slugs = list(session.scalars(select(Item.slug).order_by(Item.slug)))
    slug = data.draw(st.sampled_from(slugs), label="item")
    names = data.draw(st.sets(st.sampled_from(EDITABLE), min_size=1), label="fields")
    before = dump(db_url)
    with store.transaction(engine, write=True) as session:
        item = items.get(session, slug)
        row = items.as_dict(item, NOW)
        fields = {name: spelled(data.draw, item, name) for name in sorted(names - {"due"})}
        if "due" in names:
            fields["due"] = due_spelled(data.draw, item)
        items.edit(session, slug, NOW, by="tester", how="web", note="the same again", **fields)
        after = items.as_dict(item, NOW)
    assert dump(db_url) == before
    assert history.sentence("edit", row, after) == f'Nothing changed on #{row["id"]} "{row["title"]}".'


def test_the_desk_s_edit_form_sent_back_as_shown_changes_no_item(engine, db_url):
    """Every item, the done one and the one due at a time of day in Paris among them, through the form's own
    spelling: "" for each link it lacks (category too), the due date and time split in the item's zone."""
    before = dump(db_url)
    with store.transaction(engine, write=True) as session:
        for item in session.scalars(select(Item)):
            sent = item_pages.form_values(item)
            due, changes = item_pages.edits(sent, item)
            items.edit(session, item.id, NOW, by="tester", how="web", due=due, **changes)
    assert dump(db_url) == before


def test_each_task_a_caldav_app_was_served_sent_back_changes_no_item(engine, db_url):
    from icalendar import Todo

    from tracker.calendars import ics
    from tracker.dav import writes

    with store.transaction(engine) as session:
        for item in session.scalars(select(Item)):
            assert writes.changes(item, Todo.from_ical(ics.item_todo(item).to_ical())) == {}, item.slug


def test_the_cli_says_nothing_changed_exactly_when_nothing_did(invoke, invoke_json, loaded, db_url):
    forum, singapore = invoke_json("show", "6"), invoke_json("show", "16")
    before = dump(db_url)
    for item, option in ((forum, "--meeting"), (singapore, "--category"), (singapore, "--committee"),
                         (singapore, "--decision")):  # fmt: skip
        said = invoke("edit", str(item["id"]), option, "").stderr.strip()
        assert said == f'Nothing changed on #{item["id"]} "{item["title"]}".'
    same = invoke_json("edit", "6", "--committee", "", "--due", "2009-10-04", "--owner", "forum-officer")
    assert same["sequence"] == forum["sequence"]
    assert dump(db_url) == before
    # A change the sentence used not to speak of (the decision) is said, not hidden as "Nothing changed".
    assert invoke("edit", "6", "--decision", "kpis-decided-at-smewg-28").stderr.strip() == (
        f'Changed #6 "{forum["title"]}": decision none → kpis-decided-at-smewg-28.'
    )
    # "" clears a category as it clears the other links.
    assert invoke("edit", "6", "--category", "").stderr.strip() == (
        f'Changed #6 "{forum["title"]}": category market-access → none.'
    )
    shown = invoke_json("show", "6")
    assert (shown["category"], shown["sequence"]) == (None, forum["sequence"] + 2)


def test_the_desk_says_nothing_changed_exactly_when_nothing_did(loaded, make_server, desk_session, db_url):
    from tests.test_web_items import edit_form, post, text_of

    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    form = edit_form(lead, 6)  # no committee, meeting or decision: "" in the form
    before = dump(db_url)
    answer = post(lead, "/items/6/edit", form)
    assert (answer.status_code, answer.headers["location"]) == (303, "/items/6?unchanged")
    assert dump(db_url) == before
    assert "Nothing changed." in text_of(lead.get(answer.headers["location"]).text)
    answer = post(lead, "/items/6/edit", form | {"priority": "high"})
    assert (answer.status_code, answer.headers["location"]) == (303, "/items/6")
    assert "Nothing changed." not in text_of(lead.get(answer.headers["location"]).text)


# --- revoking what is revoked --------------------------------------------------------------------------------


def test_revoking_an_app_password_again_says_it_was_already_and_changes_nothing(loaded, invoke, invoke_json, db_url):
    invoke("user", "role", "apec-officer", "officer")
    number = str(invoke_json("user", "app-password", "apec-officer", "--label", "Phone")["id"])
    first = invoke("--now", "2009-03-01T10:00+08:00", "user", "app-password", "apec-officer", "--revoke", number)
    assert first.stderr.strip() == f"revoked app password {number} (Phone) of apec-officer"
    before = dump(db_url)
    again = invoke("--now", "2009-03-02", "user", "app-password", "apec-officer", "--revoke", number)
    assert again.stderr.strip() == (f"app password {number} (Phone) of apec-officer was already revoked at "
                                    "2009-03-01 10:00: nothing changed")  # fmt: skip
    record = invoke_json("--now", "2009-03-02", "user", "app-password", "apec-officer", "--revoke", number)
    assert (record["already_revoked"], record["revoked_at"]) == (True, "2009-03-01T02:00:00+00:00")
    assert dump(db_url) == before
    fresh = str(invoke_json("user", "app-password", "apec-officer", "--label", "Laptop")["id"])
    assert invoke_json("user", "app-password", "apec-officer", "--revoke", fresh)["already_revoked"] is False


def test_revoking_a_subscription_again_says_it_was_already_and_changes_nothing(loaded, invoke, invoke_json, db_url):
    number = str(invoke_json("subscribe", "add", "--name", "old phone")["id"])
    first = invoke("--now", "2009-03-01T10:00+08:00", "subscribe", "revoke", number)
    assert first.stderr.strip() == f"revoked subscription {number} (old phone)"
    before = dump(db_url)
    again = invoke("--now", "2009-03-02", "subscribe", "revoke", "old phone")
    said = f"subscription {number} (old phone) was already revoked at 2009-03-01 10:00: nothing changed"
    assert again.stderr.strip() == said
    record = invoke_json("--now", "2009-03-02", "subscribe", "revoke", number)
    assert (record["already_revoked"], record["revoked_at"]) == (True, "2009-03-01T02:00:00+00:00")
    assert dump(db_url) == before
    fresh = str(invoke_json("subscribe", "add", "--name", "new phone")["id"])
    assert invoke_json("subscribe", "revoke", fresh)["already_revoked"] is False


def app_password_rows(db_url: str) -> list[str]:
    return [row for row in dump(db_url) if row.startswith("app_passwords:")]


def test_the_desk_revoking_again_changes_nothing_and_shows_the_first_time(
    loaded, invoke, make_server, desk_session, clock, db_url
):
    """A second Revoke (a page left open in another tab) claims nothing: the list shows the first revocation."""
    invoke("user", "role", "apec-officer", "officer")
    clock.set("2009-03-01T10:00+08:00")
    server = make_server()
    officer = desk_session(server, "apec-officer", "officer")
    assert officer.post("/calendars/app-passwords", data={"label": "Phone", "csrf": officer.csrf}).status_code == 200
    number = re.search(r"/calendars/app-passwords/(\d+)/revoke", officer.get("/calendars").text)[1]
    revoke = f"/calendars/app-passwords/{number}/revoke"
    assert officer.post(revoke, data={"csrf": officer.csrf}).status_code == 303
    before = app_password_rows(db_url)
    clock.set("2009-03-01T11:30+08:00")
    again = officer.post(revoke, data={"csrf": officer.csrf})
    assert (again.status_code, again.headers["location"]) == (303, "/calendars#task-apps")
    assert app_password_rows(db_url) == before  # (the session's last visit moves on, as on every request)
    row = re.search(rf'<tr id="app-password-{number}".*?</tr>', officer.get("/calendars").text, re.S)[0]
    assert "revoked 2009-03-01 10:00" in " ".join(re.sub(r"<[^>]+>", " ", row).split())
