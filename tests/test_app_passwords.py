"""App passwords, everywhere a person handles them: the core (made at random, only their SHA-256 kept, a revoked
one or a disabled account's refused, each only its owner's), `tracker user app-password` (make, list, revoke,
--json, one-line errors that change nothing) and the "Task apps (CalDAV)" section of My calendars over real HTTP
(shown once on the POST's answer and never again, revoked with a button, every role their own and nobody
another's). A hypothesis property holds the CLI's --label and the form's label to the one rule."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import dump
from tracker.cli.main import cli
from tracker.core import store
from tracker.core.errors import NotFound
from tracker.core.models import AppPassword
from tracker.register import app_passwords
from tracker.register.accounts import person_by_login

SHAPE = re.compile(r"^[a-km-np-z2-9]{4}(?:-[a-km-np-z2-9]{4}){4}$")  # app_passwords.ALPHABET, five groups of four
PASSWORD = re.compile(r"\b[a-km-np-z2-9]{4}(?:-[a-km-np-z2-9]{4}){4}\b")
NOW = datetime.fromisoformat("2026-03-01T09:00:00+00:00")


@pytest.fixture
def accounts(loaded, invoke):
    """desk-lead (lead), apec-officer (officer) and forum-officer (viewer) have desk accounts."""
    for slug, role in (("desk-lead", "lead"), ("apec-officer", "officer"), ("forum-officer", "viewer")):
        invoke("user", "role", slug, role)


@pytest.fixture
def engine(env):
    engine = store.engine(env["TRACKER_DB"])
    yield engine
    engine.dispose()


def _check(engine, login: str, password: str) -> str | None:
    """Whose live app password `password` is, signing in as `login` (None: refused)."""
    with store.transaction(engine) as session:
        found = app_passwords.check(session, person_by_login(session, login), password)
        return found.person.slug if found else None


def _dav(server, login: str, password: str) -> int:
    """The status of a task app's first request (PROPFIND on the CalDAV root) with these credentials."""
    answer = httpx.request("PROPFIND", f"{server.url}/dav/", auth=(login, password), headers={"Depth": "0"})
    return answer.status_code


def _make(invoke_json, slug: str, label: str) -> dict:
    return invoke_json("user", "app-password", slug, "--label", label)


# --- the core ----------------------------------------------------------------------------------------------------


def test_a_new_password_signs_its_owner_in_and_only_its_hash_is_stored(accounts, engine, db_url):
    with store.transaction(engine, write=True) as session:
        record, password = app_passwords.create(session, "apec-officer", "  Thunderbird\nat the office ", NOW)
    assert SHAPE.match(password) and record["label"] == "Thunderbird at the office"
    assert record["person"] == "apec-officer" and record["status"] == "active" and record["last_used_at"] is None
    rows = "\n".join(dump(db_url))
    assert password not in rows and password.replace("-", "") not in rows
    assert hashlib.sha256(password.encode()).hexdigest() in rows  # what is kept instead

    assert _check(engine, "apec-officer", password) == "apec-officer"
    assert _check(engine, "APEC-Officer@Example.org", f" {password.upper()} ") == "apec-officer"  # as a phone types it
    one_off = password[:-1] + ("2" if password[-1] != "2" else "3")
    for login, wrong in (("apec-officer", one_off), ("apec-officer", ""), ("forum-officer", password),
                         ("desk-lead", password), ("nobody", password), ("", password)):  # fmt: skip
        assert _check(engine, login, wrong) is None, (login, wrong)


def test_a_task_app_signs_in_with_it_and_last_use_is_kept_to_the_hour(accounts, make_server, clock, invoke_json):
    server = make_server()
    password = _make(invoke_json, "apec-officer", "Phone")["password"]
    assert invoke_json("user", "app-password", "apec-officer", "--list")[0]["last_used_at"] is None
    start = clock()
    seen = []
    for minutes in (0, 30, 61):
        clock.set((start + timedelta(minutes=minutes)).isoformat())
        assert _dav(server, "apec-officer", password) == 207
        seen.append(invoke_json("user", "app-password", "apec-officer", "--list")[0]["last_used_at"])
    assert [datetime.fromisoformat(at) for at in seen] == [start, start, start + timedelta(minutes=61)]
    assert _dav(server, "apec-officer", "not-the-password") == 401


def test_a_revoked_password_and_a_disabled_account_are_refused(accounts, engine, invoke, invoke_json):
    phone, laptop = (_make(invoke_json, "apec-officer", label)["password"] for label in ("Phone", "Laptop"))
    phone_id = invoke_json("user", "app-password", "apec-officer", "--list")[1]["id"]
    with store.transaction(engine, write=True) as session:
        app_passwords.revoke(session, "apec-officer", phone_id, NOW)
    assert _check(engine, "apec-officer", phone) is None
    assert _check(engine, "apec-officer", laptop) == "apec-officer"  # each is revoked on its own
    assert "1 app password revoked" in invoke("user", "disable", "apec-officer").stderr
    assert _check(engine, "apec-officer", laptop) is None
    invoke("user", "enable", "apec-officer")  # brings no app password back: a lost laptop's app stays out
    assert _check(engine, "apec-officer", laptop) is None and _check(engine, "apec-officer", phone) is None


def test_revoking_another_persons_password_is_not_found_and_changes_nothing(accounts, engine, invoke_json, db_url):
    theirs = _make(invoke_json, "forum-officer", "Forum phone")
    before = dump(db_url)
    for ref in (theirs["id"], 99999, 0, -1, 2**63):
        with pytest.raises(NotFound), store.transaction(engine, write=True) as session:
            app_passwords.revoke(session, "apec-officer", ref, NOW)
    assert dump(db_url) == before


def test_a_person_without_an_account_gets_none(loaded, engine, db_url):
    before = dump(db_url)
    with pytest.raises(NotFound, match="no account"), store.transaction(engine, write=True) as s:
        app_passwords.create(s, "bilateral-officer", "Phone", NOW)
    assert dump(db_url) == before


# --- the CLI -----------------------------------------------------------------------------------------------------


def test_the_cli_makes_lists_and_revokes(accounts, invoke, invoke_json, engine, env):
    made = invoke("user", "app-password", "apec-officer", "--label", "Thunderbird")
    password = PASSWORD.search(made.stdout)[0]
    assert "user: apec-officer" in made.stdout and "server: http://127.0.0.1:8765/dav/" in made.stdout
    told = " ".join(made.stderr.split())
    assert "user name apec-officer" in told and "server URL http://127.0.0.1:8765/dav/" in told
    assert "shown only now" in told and "Note: http://127.0.0.1:8765 is a local address" in told
    assert _check(engine, "apec-officer", password) == "apec-officer"

    record = _make(invoke_json, "apec-officer", "Phone")
    assert SHAPE.match(record["password"]) and record["password"] != password
    assert record["server"] == "http://127.0.0.1:8765/dav/" and record["user"] == "apec-officer"

    table = invoke("user", "app-password", "apec-officer", "--list").stdout
    assert "Thunderbird" in table and "Phone" in table and "active" in table
    listed = invoke("user", "app-password", "apec-officer", "--list", "--json").stdout
    for secret in (password, record["password"]):
        digest = hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in table + listed and digest not in table + listed
    rows = json.loads(listed)["results"]
    assert [r["label"] for r in rows] == ["Phone", "Thunderbird"]  # newest first
    assert set(rows[0]) == {"id", "person", "label", "created_at", "last_used_at", "revoked_at", "status"}

    said = invoke("user", "app-password", "apec-officer", "--revoke", str(rows[1]["id"]))
    assert said.stderr.strip() == f"revoked app password {rows[1]['id']} (Thunderbird) of apec-officer"
    assert _check(engine, "apec-officer", password) is None
    again = invoke_json("user", "app-password", "apec-officer", "--revoke", str(rows[1]["id"]))
    assert again["status"] == "revoked"  # revoking twice is no error, and keeps the first time
    assert again["revoked_at"] == invoke_json("user", "app-password", "apec-officer", "--list")[1]["revoked_at"]
    assert _check(engine, "apec-officer", record["password"]) == "apec-officer"

    with_base = CliRunner(env=env | {"TRACKER_BASE_URL": "https://desk.example.org/tracker"})
    shown = with_base.invoke(cli, ["user", "app-password", "apec-officer", "--label", "Tablet"])
    assert "server: https://desk.example.org/tracker/dav/" in shown.stdout and "Note:" not in shown.stderr


@pytest.mark.parametrize("args, said", [
    (["apec-officer"], "Error: app-password: give --label to make one, --list or --revoke N"),
    (["apec-officer", "--list", "--revoke", "1"], "Error: app-password: give one of --label, --list or --revoke "
                                                  "(not --list and --revoke)"),
    (["apec-officer", "--label", " \t"], "Error: --label: say which app it is for (e.g. 'Thunderbird at the office')"),
    (["apec-officer", "--label", "x" * 101], "Error: --label: at most 100 characters (this one has 101)"),
    (["apec-officer", "--revoke", "{theirs}"], "Error: apec-officer has no app password {theirs} (see `tracker user "
                                               "app-password apec-officer --list`)"),
    (["apec-officer", "--revoke", "99999999999999999999"], "Error: apec-officer has no app password "
     "99999999999999999999 (see `tracker user app-password apec-officer --list`)"),
    (["bilateral-officer", "--label", "Phone"], "Error: bilateral-officer has no account yet (see `tracker user role "
                                                "bilateral-officer officer`)"),
    (["apec-oficer", "--list"], "Error: no person with slug 'apec-oficer' (did you mean 'apec-officer' or "
     "'bilateral-officer'?)"),
])  # fmt: skip
def test_cli_errors_are_one_line_and_change_nothing(accounts, invoke, invoke_json, db_url, args, said):
    theirs = str(_make(invoke_json, "forum-officer", "Forum phone")["id"])
    before = dump(db_url)
    result = invoke("user", "app-password", *[a.format(theirs=theirs) for a in args], code=1)
    assert result.stderr == said.format(theirs=theirs) + "\n" and result.stdout == ""
    assert dump(db_url) == before


# --- the web: My calendars ---------------------------------------------------------------------------------------


@pytest.fixture
def server(accounts, make_server):
    return make_server()


def _post(client, path: str, fields: dict | None = None) -> httpx.Response:
    return client.post(path, data={**(fields or {}), "csrf": client.csrf})


def test_a_person_makes_an_app_password_sees_it_once_and_revokes_it(server, desk_session):
    officer = desk_session(server, "apec-officer", "officer")
    page = officer.get("/calendars")
    assert page.status_code == 200 and 'id="task-apps"' in page.text and "No app passwords yet." in page.text
    assert f'id="dav-url">{server.url}/dav/<' in page.text and 'id="dav-user">apec-officer<' in page.text

    made = _post(officer, "/calendars/app-passwords", {"label": "Thunderbird <office>"})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    password = re.search(r'id="app-password">([^<]+)<', made.text)[1]
    assert SHAPE.match(password) and "Thunderbird &lt;office&gt;" in made.text
    assert f'id="dav-url">{server.url}/dav/<' in made.text and "shown only now" in made.text
    assert password not in str(made.url) and _dav(server, "apec-officer@example.org", password) == 207

    again = officer.get("/calendars")
    assert password not in again.text and "Thunderbird &lt;office&gt;" in again.text and "never" in again.text
    number = re.search(r'action="/calendars/app-passwords/(\d+)/revoke"', again.text)[1]
    revoked = _post(officer, f"/calendars/app-passwords/{number}/revoke")
    assert revoked.status_code == 303 and revoked.headers["location"] == "/calendars#task-apps"
    assert _dav(server, "apec-officer", password) == 401
    after = officer.get("/calendars").text
    assert f'id="app-password-{number}" class="revoked"' in after
    assert f'action="/calendars/app-passwords/{number}/revoke"' not in after


def test_a_viewer_manages_their_own_app_passwords_but_no_subscriptions(server, desk_session, engine):
    viewer = desk_session(server, "forum-officer", "viewer")
    page = viewer.get("/calendars")
    assert page.status_code == 200 and 'href="/calendars"' in page.text  # the desk's menu leads there too
    assert 'action="/calendars/app-passwords"' in page.text and 'action="/calendars"' not in page.text
    made = _post(viewer, "/calendars/app-passwords", {"label": "Phone"})
    password = re.search(r'id="app-password">([^<]+)<', made.text)[1]
    assert _check(engine, "forum-officer", password) == "forum-officer"
    assert _post(viewer, "/calendars", {"name": "Sneaky"}).status_code == 403  # subscriptions stay refused


def test_nobody_sees_or_revokes_another_persons_app_passwords(server, desk_session, invoke_json, engine, db_url):
    theirs = _make(invoke_json, "apec-officer", "Officer's phone")
    for slug, role in (("desk-lead", "lead"), ("forum-officer", "viewer")):
        other = desk_session(server, slug, role)
        assert "Officer&#39;s phone" not in other.get("/calendars").text, role
        before = dump(db_url)
        forged = _post(other, f"/calendars/app-passwords/{theirs['id']}/revoke")
        assert forged.status_code == 404, role
        for junk in ("99999", "x", "-1", "1e3", "٣", "99999999999999999999"):
            assert _post(other, f"/calendars/app-passwords/{junk}/revoke").status_code == 404, (role, junk)
        assert dump(db_url) == before
    assert _check(engine, "apec-officer", theirs["password"]) == "apec-officer"


def test_web_refusals_change_nothing(server, desk_session, invoke_json, db_url):
    own = _make(invoke_json, "apec-officer", "Phone")
    officer = desk_session(server, "apec-officer", "officer")
    before = dump(db_url)
    for path in ("/calendars/app-passwords", f"/calendars/app-passwords/{own['id']}/revoke"):
        assert officer.post(path, data={"label": "x"}).status_code == 403, path  # no CSRF token
        forged = {"label": "x", "csrf": officer.csrf}
        assert officer.post(path, data=forged, headers={"Origin": "https://evil.example"}).status_code == 403, path
        with httpx.Client(base_url=server.url, headers={"Origin": server.url}) as stranger:
            assert stranger.post(path, data={"label": "x", "csrf": officer.csrf}).status_code in (303, 401), path
    with httpx.Client(base_url=server.url) as stranger:
        assert stranger.get("/calendars").status_code in (303, 401)
    blank = _post(officer, "/calendars/app-passwords", {"label": "  "})
    assert blank.status_code == 400 and 'id="label-error">say which app it is for' in blank.text
    assert 'aria-invalid="true" aria-describedby="label-error"' in blank.text
    long = _post(officer, "/calendars/app-passwords", {"label": "é" * 101})
    assert long.status_code == 400 and 'id="label-error">at most 100 characters (this one has 101)<' in long.text
    assert 'value="' + "é" * 101 + '"' in long.text  # the form again, as typed
    assert dump(db_url) == before


# --- one rule for the label: the CLI's --label and the form's ----------------------------------------------------


EDGES = ["", " ", "\t\n", "Thunderbird", "<b>x</b>", "a\r\nb", "\x00", "\x1b[2J", "高雄手機", "x" * 100, "x" * 101,
         " " + "y" * 100 + " ", "\u2028", "%(label)s", "{{ 7*7 }}", "😀" * 50]  # fmt: skip
LABELS = st.one_of(st.sampled_from(EDGES), st.text(st.characters(exclude_categories=("Cs",)), max_size=110))


def test_the_cli_and_the_form_take_a_label_by_the_same_rule(server, desk_session, env, engine):
    officer = desk_session(server, "apec-officer", "officer")
    runner = CliRunner(env=env)

    def labels() -> list[str]:
        with store.transaction(engine) as session:
            return list(session.scalars(select(AppPassword.label).order_by(AppPassword.id)))

    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(label=LABELS)
    def same_rule(label: str) -> None:
        before = labels()
        cli_result = runner.invoke(cli, ["user", "app-password", "apec-officer", "--label", label])
        web = _post(officer, "/calendars/app-passwords", {"label": label})
        added = labels()[len(before) :]
        if cli_result.exit_code == 0:
            assert web.status_code == 200 and len(added) == 2 and added[0] == added[1], (label, added)
            assert PASSWORD.search(web.text) and added[0].strip() == added[0] and added[0]
        else:
            assert cli_result.exit_code == 1 and web.status_code == 400 and added == [], label
            problem = cli_result.stderr.strip().removeprefix("Error: --label: ")
            shown = re.search(r'id="label-error">([^<]*)<', web.text)[1].replace("&#39;", "'")
            assert shown == problem, label

    same_rule()
