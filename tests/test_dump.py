"""`tracker dump DIR`: the database back as data/-style YAML. load → change → dump → load into a fresh database
gives the same register, and dumping that database gives the same bytes (a fixed point)."""

from __future__ import annotations

import re
import tempfile
import urllib.parse
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import make_url

from tests.conftest import DATA, dump
from tests.test_dav import OFFICER, app_password, completed, dav, new_task, propfind, put, todo_of  # noqa: F401 - dav: a fixture
from tracker.cli.main import cli
from tracker.core import rules, store
from tracker.core.errors import Conflict, InvalidInput
from tracker.core.models import Committee, Decision, Item, Meeting, MeetingSeries, Meta, Person
from tracker.core.vocab import CATEGORIES, POLICY_KEY
from tracker.register import dataset, dumping, items

FILES = ["committees.yaml", "decisions.yaml", "items.yaml", "meetings.yaml", "people.yaml"]

CALENDAR = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//tests//dump//EN
X-WR-TIMEZONE:Europe/Berlin
BEGIN:VEVENT
UID:smewg-series@example.org
SUMMARY:Outside working group
DTSTART;VALUE=DATE:20090302
DTEND;VALUE=DATE:20090304
RRULE:FREQ=MONTHLY;INTERVAL=6
END:VEVENT
BEGIN:VEVENT
UID:smewg-series@example.org
RECURRENCE-ID;VALUE=DATE:20090902
SUMMARY:Outside working group (moved)
DTSTART;VALUE=DATE:20090910
DTEND;VALUE=DATE:20090912
LOCATION:Singapore
END:VEVENT
BEGIN:VEVENT
UID:call-1@example.org
SUMMARY:Call with the lead economy
DTSTART;TZID=America/New_York:20090115T090000
DTEND;TZID=America/New_York:20090115T100000
DESCRIPTION:Agenda:\\n1. KPIs\\n2. the forum
END:VEVENT
BEGIN:VTODO
UID:todo-1@example.org
SUMMARY:Send the minutes of the call
DUE;TZID=America/New_York:20090120T170000
PRIORITY:1
CATEGORIES:Innovation
DESCRIPTION:Minutes to the lead economy\\nand to the desk
END:VTODO
END:VCALENDAR
"""


@pytest.fixture
def second_env(env: dict[str, str], request: pytest.FixtureRequest, tmp_path: Path):
    """The environment of a second, empty database of the same kind as `env`'s (as conftest's db_url makes)."""
    if env["TRACKER_DB"].startswith("sqlite:"):
        yield {**env, "TRACKER_DB": f"sqlite:///{tmp_path / 'second.db'}"}
        return
    import psycopg

    admin = request.getfixturevalue("pg_server")
    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(drivername="postgresql+psycopg", database=name)
    yield {**env, "TRACKER_DB": url.render_as_string(hide_password=False)}
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def run(environ: dict[str, str], *args: str, code: int = 0):
    result = CliRunner(env=environ).invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def register(url: str) -> dict[str, Any]:
    """Every row that a dump carries, keyed by slug, with links as slugs; ids, SEQUENCE, the data version of an
    item's last change, the merge baselines, the time of creation (a reload creates the items anew) and the file a
    record belongs to aside (what `add` or `import` made belongs to no file until loaded: then to the dump's file;
    test_cli_errors checks the rest)."""
    engine = store.engine(url)
    try:
        with store.transaction(engine) as session:
            out: dict[str, Any] = {"policy": getattr(session.get(Meta, POLICY_KEY), "value", None)}
            for model in (Person, Committee, MeetingSeries, Meeting, Decision, Item):
                rows = session.execute(model.__table__.select()).all()
                out[model.__tablename__] = {row.slug: _row(row) for row in rows}
            for slug, row in out["items"].items():
                item = session.scalars(select(Item).where(Item.slug == slug)).one()  # a slug may look like an id
                row["owners"] = [p.slug for p in item.owners]
            return out
    finally:
        engine.dispose()


def _row(row: Any) -> dict[str, Any]:
    skip = {"id", "sequence", "version", "loaded", "created_at", "email_muted", "loaded_from"}
    links = {"escalation_id": Person, "series_id": MeetingSeries, "meeting_id": Meeting, "committee_id": Committee,
             "serves_meeting_id": Meeting, "serves_series_id": MeetingSeries, "decision_id": Decision,
             "affects_series_id": MeetingSeries, "affects_committee_id": Committee}  # fmt: skip
    return {name: (links[name], value) if name in links else value for name, value in row._mapping.items()
            if name not in skip}  # fmt: skip


def _slugs(url: str, snapshot: dict[str, Any]) -> dict[str, Any]:
    """`snapshot` with (model, id) links replaced by the slug they point to."""
    engine = store.engine(url)
    try:
        with store.transaction(engine) as session:

            def slug(value: Any) -> Any:
                if isinstance(value, tuple):
                    model, key = value
                    return session.get(model, key).slug if key is not None else None
                return value

            return {
                table: rows if not isinstance(rows, dict) else
                {s: {k: slug(v) for k, v in r.items()} for s, r in rows.items()}
                for table, rows in snapshot.items()
            }  # fmt: skip
    finally:
        engine.dispose()


def same_register(first: dict[str, str], second: dict[str, str]) -> None:
    a, b = (_slugs(e["TRACKER_DB"], register(e["TRACKER_DB"])) for e in (first, second))
    assert a.keys() == b.keys()
    for table in a:
        assert a[table] == b[table], table


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def calendars(folder: Path) -> dict[str, bytes]:
    """Every exported calendar without SEQUENCE and CREATED (how many changes a row saw, and when an item was
    created: history, which a dump does not carry)."""
    return {str(p.relative_to(folder)): re.sub(rb"(SEQUENCE|CREATED):\w+\r\n", b"", p.read_bytes())
            for p in sorted(folder.rglob("*.ics"))}  # fmt: skip


def test_round_trip_after_changes_is_the_same_register_and_a_fixed_point(
    invoke, invoke_json, loaded, env, second_env, tmp_path
):
    invoke("done", "kpi-committee-volunteer", "--note", "letter sent to the SMEWG chair")
    invoke("add", "Send KPI draft to Thailand", "--owner", "apec-officer", "--owner", "desk-lead",
           "--due", "2009-02-15T17:30", "--tz", "Europe/Paris", "--priority", "high", "--category", "innovation",
           "--serves", "apec-smewg", "--committee", "kpi-innovation", "--meeting", "apec-sme-ministerial-15",
           "--description", "First line\nsecond line: 部長會議", "--source", "並自願加入「創新委員會」")  # fmt: skip
    invoke("edit", "forum-host-2009", "--due", "2009-10-15", "--note", "date fixed by the host")
    invoke("edit", "kpi-join-innovation-committee", "--status", "in_progress")
    invoke("cancel", "forum-case-study-book", "--note", "merged into the forum")
    (tmp_path / "outside.ics").write_text(CALENDAR)
    assert invoke_json("import", str(tmp_path / "outside.ics"))["created"] == 4
    invoke("done", "send-the-minutes-of-the-call-" + _digest("todo-1@example.org"))

    first, second = tmp_path / "first", tmp_path / "second"
    invoke("dump", str(first))
    run(second_env, "load", str(first))
    run(second_env, "dump", str(second))

    same_register(env, second_env)
    assert files(second) == files(first)
    invoke("export", "--out", str(tmp_path / "cal1"))
    run(second_env, "export", "--out", str(tmp_path / "cal2"))
    assert calendars(tmp_path / "cal2") == calendars(tmp_path / "cal1")
    # loading the dump into the database it came from changes nothing
    assert all(row["created"] == row["updated"] == 0 for row in invoke_json("load", str(first)))


def _digest(uid: str) -> str:
    import hashlib

    return hashlib.sha256(uid.encode()).hexdigest()[:8]


def test_dump_keeps_what_the_cli_did(invoke, invoke_json, loaded, tmp_path):
    done = invoke_json("done", "kpi-committee-volunteer", "--note", "letter sent")
    invoke("add", "Call Lima", "--owner", "apec-officer", "--due", "2009-02-15T17:30", "--tz", "America/Lima")
    invoke("dump", str(tmp_path / "out"))
    records = {e.record.slug: e.record for e in dataset.read([tmp_path / "out"]).entries["items"]}
    volunteer, call = records["kpi-committee-volunteer"], records["call-lima"]
    assert volunteer.status == "done" and volunteer.note == "" and volunteer.completed_by == "tester"
    assert datetime.fromisoformat(volunteer.completed_at) == datetime.fromisoformat(done["completed_at"])
    assert volunteer.completed_how == "cli"
    assert (call.due, call.tz, call.owners) == ("2009-02-15T17:30-05:00", "America/Lima", ["apec-officer"])


def test_dump_is_deterministic_and_keeps_the_chinese_verbatim(invoke, invoke_json, loaded, tmp_path):
    out = tmp_path / "out"
    written = invoke_json("dump", str(out))
    assert [Path(row["path"]).name for row in written] == ["people.yaml", "committees.yaml", "meetings.yaml",
                                                           "decisions.yaml", "items.yaml"]  # fmt: skip
    assert all(row["changed"] for row in written)
    before = files(out)
    again = invoke_json("dump", str(out))
    assert not any(row["changed"] for row in again) and files(out) == before
    assert {s: n for row in again for s, n in row["records"].items()} == {
        s: len(e) for s, e in dataset.read([DATA]).entries.items()
    }
    text = b"".join(before.values()).decode("utf-8")
    shipped = [e.record for entries in dataset.read([DATA]).entries.values() for e in entries]
    quotes = [getattr(r, "source", "") for r in shipped if getattr(r, "source", "")]
    assert any(re.search(r"[\u4e00-\u9fff]", q) for q in quotes)
    for quote in quotes:  # as written, not escaped (YAML folds long text only at spaces)
        assert all(word in text for word in quote.split()), quote

    def sources(folder: Path) -> dict[tuple[str, str], str | None]:
        entries = dataset.read([folder]).entries.values()
        return {(e.section, e.record.slug): getattr(e.record, "source", None) for es in entries for e in es}

    assert sources(out) == sources(DATA)


def test_an_empty_database_dumps_empty_sections_that_read(invoke, tmp_path):
    invoke("dump", str(tmp_path / "out"))
    assert sorted(files(tmp_path / "out")) == FILES
    # Valid files without a record: loading them is the "nothing to load" error, not a YAML one.
    names = ", ".join(str(tmp_path / "out" / name) for name in sorted(FILES))
    assert invoke("load", str(tmp_path / "out"), code=1).stderr == f"Error: nothing to load: {names} have no records\n"


def test_dir_that_is_a_file_is_one_error_and_nothing_written(invoke, loaded, tmp_path):
    target = tmp_path / "data.yaml"
    target.write_text("keep me\n")
    before = sorted(tmp_path.iterdir())
    result = invoke("dump", str(target), code=1)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: dump: ")
    assert "not a folder" in result.stderr
    assert target.read_text() == "keep me\n"
    assert sorted(tmp_path.iterdir()) == before


def test_other_yaml_in_dir_is_refused_other_files_are_kept(invoke, loaded, tmp_path):
    out = tmp_path / "out"
    (out / "source").mkdir(parents=True)
    (out / "notes.md").write_text("ours\n")
    (out / "items.yaml").write_text("items: []\n")
    (out / "extra.yml").write_text("items: []\n")
    result = invoke("dump", str(out), code=1)
    assert result.stderr.count("\n") == 1 and "extra.yml" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["extra.yml", "items.yaml", "notes.md", "source"]
    assert (out / "items.yaml").read_text() == "items: []\n"
    (out / "extra.yml").unlink()
    invoke("dump", str(out))
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, "notes.md", "source"])
    assert (out / "notes.md").read_text() == "ours\n"
    assert len(dataset.read([out]).entries["items"]) == len(dataset.read([DATA]).entries["items"])


def test_unwritable_dir_is_one_error(invoke, loaded):
    """/sys refuses new files even to root (the tests may run as root, whom a chmod does not stop)."""
    out = Path("/sys/kernel/tracker-dump")
    result = invoke("dump", str(out), code=1)
    assert result.stderr == f"Error: dump: cannot write {out}/people.yaml: Operation not permitted\n"
    assert not out.exists()


# --- the format's additions: uid and completion ---------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("completed_at: 2008-09-01T10:00", "items x: completed_at: only a done item has a completion"),
        ("status: done\n    completed_by: me", "items x: completed_by: needs completed_at"),
        ("uid: a@example.org\n  - slug: y\n    title: Y\n    tz: UTC\n    uid: a@example.org",
         "items y: uid: 'a@example.org' is already the uid of 'x'"),
    ],
)  # fmt: skip
def test_completion_and_uid_are_checked(invoke, tmp_path, record, error):
    (tmp_path / "items.yaml").write_text(f"items:\n  - slug: x\n    title: X\n    tz: UTC\n    {record}\n")
    result = invoke("load", str(tmp_path / "items.yaml"), code=1)
    assert error in result.stderr and result.stderr.count("\n") == 1


def test_completion_from_yaml_is_kept_and_a_reload_changes_nothing(invoke, invoke_json, tmp_path):
    (tmp_path / "items.yaml").write_text(
        "items:\n  - slug: x\n    title: X\n    tz: Asia/Taipei\n    status: done\n"
        "    completed_at: 2008-09-03T10:00\n    completed_by: desk-lead\n"
    )
    invoke("load", str(tmp_path / "items.yaml"))
    shown = invoke_json("show", "x")
    assert (shown["completed_at"], shown["completed_by"], shown["completed_how"]) == (
        "2008-09-03T02:00:00+00:00", "desk-lead", "yaml")  # fmt: skip
    invoke("reopen", "x")
    assert invoke_json("load", str(tmp_path / "items.yaml"))[-1]["unchanged"] == 1  # the reopen survives
    assert invoke_json("show", "x")["completed_at"] is None


# --- property: random items through add → dump → load are the same -------------------------------------

NOW = datetime.fromisoformat("2009-02-01T09:00+08:00")
ZONES = ["Asia/Taipei", "America/Lima", "Europe/Paris", "UTC", "Australia/Lord_Howe"]
PEOPLE = [e.record.slug for e in dataset.read([DATA / "people.yaml"]).entries["people"]]
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
one_line = text.filter(lambda t: 0 < len(rules.one_line(t)) <= rules.TITLE_MAX)
due = st.one_of(
    st.none(),
    st.dates(datetime(1990, 1, 1).date(), datetime(2100, 12, 31).date()).map(str),
    st.datetimes(datetime(1990, 1, 1), datetime(2100, 12, 31)).map(lambda d: d.isoformat(timespec="minutes")),
)


def _valid(check, value: str) -> bool:  # noqa: ANN001 - a check raising ValueError
    try:
        check(value)
    except ValueError:
        return False
    return True


dav_names = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40).filter(
    lambda t: _valid(items.check_dav_name, t)
)
item = st.fixed_dictionaries(
    {
        "title": one_line,
        "owners": st.lists(st.sampled_from(PEOPLE), unique=True, max_size=3),
        "tz": st.one_of(st.none(), st.sampled_from(ZONES)),
        "due": due,
        "description": text,
        "source_quote": text,
        "priority": st.sampled_from(["high", "medium", "low"]),
        "category": st.one_of(st.none(), st.sampled_from(list(CATEGORIES))),
        "dav_name": st.one_of(st.none(), dav_names),  # as a task app names the task it creates
        "then": st.sampled_from([None, "done", "cancel"]),
    }
)


def _database(folder: Path, name: str) -> str:
    url = f"sqlite:///{folder / name}"
    engine = store.engine(url)
    store.init(engine)
    engine.dispose()
    return url


def _in(url: str, work) -> Any:  # noqa: ANN001 - a callable taking a session
    engine = store.engine(url)
    try:
        with store.transaction(engine, write=True) as session:
            return work(session)
    finally:
        engine.dispose()


def _add_all(session, generated: list[dict[str, Any]]) -> None:  # noqa: ANN001
    dataset.load(session, [DATA / "people.yaml"], now=NOW)
    for fields in generated:
        fields = {k: v for k, v in fields.items() if v is not None}
        then = fields.pop("then", None)
        added = items.add(session, NOW, by="prop", default_tz="Asia/Taipei", **fields)
        if then:
            getattr(items, then)(session, str(added.id), NOW, by="prop", note="by the property test")


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(item, min_size=1, max_size=4))
def test_added_items_survive_dump_and_load(generated):
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        first, second = _database(work, "first.db"), _database(work, "second.db")
        try:
            _in(first, lambda s: _add_all(s, generated))
        except (InvalidInput, Conflict):
            return  # refused on the way in (a due date a zone's clock skips, a task's name taken): nothing to dump
        _in(first, lambda s: dumping.dump(s, work / "one"))
        _in(second, lambda s: dataset.load(s, [work / "one"], now=NOW))
        _in(second, lambda s: dumping.dump(s, work / "two"))
        assert files(work / "two") == files(work / "one")
        assert _slugs(first, register(first)) == _slugs(second, register(second))


# --- a task app's name for the task it created ---------------------------------------------------------------

APP_NAME = "3F2A9C1E-5B7D-4E21-9F0A-ACDC00112233.ics"  # as Apple Reminders names a new task
TICKED_NAME = "call lima (draft) 2.ics"  # sent percent-encoded (%20), kept decoded


def _etags(client, path: str) -> dict[str, str]:  # noqa: ANN001 - an httpx client
    """{href: ETag} of a CalDAV collection, as an app sees it when it syncs."""
    found = propfind(client, path)
    assert found.status_code == 207, found.text
    return dict(re.findall(r"<href>([^<]+\.ics)</href>.*?<getetag>([^<]+)</getetag>", found.text, re.S))


def test_a_task_an_app_made_keeps_its_name_uid_and_etag_through_dump_and_load(
    dav, invoke, env, second_env, make_server, clock, tmp_path  # noqa: F811 - the fixture imported above
):  # fmt: skip
    """After a restore (dump, then load into a fresh database) an app finds its tasks where it put them: were they
    served as `<slug>.ics`, it would see them deleted and new ones appear."""
    client, items_path = dav.client(OFFICER), f"/dav/{OFFICER}/items/"
    made = client.put(items_path + APP_NAME, content=new_task("3f2a9c1e-apple", "Call the Lima secretariat"))
    ticked = client.put(items_path + TICKED_NAME, content=new_task("lima-2@example.org", "Book Kaohsiung"))
    assert made.status_code == ticked.status_code == 201
    calendar, etag = todo_of(client, items_path + TICKED_NAME)
    assert put(client, items_path + TICKED_NAME, completed(calendar, "status"), etag).status_code == 204
    served = client.get(items_path + APP_NAME)
    before = _etags(client, items_path)
    assert {urllib.parse.unquote(href) for href in before} >= {items_path + APP_NAME, items_path + TICKED_NAME}

    invoke("dump", str(tmp_path / "dump"))
    assert f"caldav_name: {APP_NAME}\n" in (tmp_path / "dump" / "items.yaml").read_text()
    run(second_env, "load", str(tmp_path / "dump"))
    same_register(env, second_env)
    run(second_env, "user", "role", OFFICER, "officer")
    restored = make_server(db=second_env["TRACKER_DB"])
    with httpx.Client(base_url=restored.url, timeout=30,
                      auth=(OFFICER, app_password(second_env["TRACKER_DB"], OFFICER, clock()))) as again:  # fmt: skip
        after = _etags(again, items_path)
        assert after.keys() == before.keys()  # every task where the app has it
        changed = [urllib.parse.unquote(href) for href in before if after[href] != before[href]]
        assert changed == [items_path + TICKED_NAME]  # ticked: its SEQUENCE, history, is not carried
        answer = again.get(items_path + APP_NAME)
        assert (answer.text, answer.headers["etag"]) == (served.text, served.headers["etag"])
        calendar, _ = todo_of(again, items_path + TICKED_NAME)
        todo = calendar.walk("VTODO")[0]
        assert (str(todo["UID"]), str(todo["STATUS"])) == ("lima-2@example.org", "COMPLETED")


def _app_made(db_url: str, title: str, name: str) -> str:
    """An item a task app made under `name`, through the core call a CalDAV PUT makes (items.add); its slug."""
    return _in(db_url, lambda s: items.add(s, NOW, title, by="app", default_tz="UTC", how="caldav", dav_name=name).slug)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("a" * 252 + ".ics", "at most 255 characters (this one has 256)"),
        ("lists/x.ics", "a task's name in task apps is printable ASCII without / : ' \" * ? , or spaces at either end, "
                        "and not . or ..: 'lists/x.ics'"),
        ("..", "a task's name in task apps is printable ASCII without / : ' \" * ? , or spaces at either end, "
               "and not . or ..: '..'"),
        ("高雄.ics", "a task's name in task apps is printable ASCII without / : ' \" * ? , or spaces at either end, "
                   "and not . or ..: '高雄.ics'"),
        (APP_NAME, f"task apps already find item 'call-the-lima-secretariat' as '{APP_NAME}'"),
        ("kpi-committee-volunteer.ics", "task apps already find item 'kpi-committee-volunteer' as "
                                        "'kpi-committee-volunteer.ics'"),
    ],
)  # fmt: skip
def test_a_caldav_name_task_apps_could_not_use_is_refused_in_yaml(invoke, loaded, db_url, tmp_path, value, problem):
    _app_made(db_url, "Call the Lima secretariat", APP_NAME)
    path = tmp_path / "items.yaml"
    path.write_text(f"items:\n  - slug: x\n    title: X\n    tz: UTC\n    caldav_name: '{value}'\n", encoding="utf-8")
    before = dump(db_url)
    assert invoke("load", str(path), code=1).stderr == f"Error: {path}:5: items x: caldav_name: {problem}\n"
    assert dump(db_url) == before


def test_a_new_slug_whose_name_a_task_app_gave_another_item_is_refused(invoke, db_url, tmp_path):
    """Served as `follow-up.ics`, the new item would hide the one an app made under that name."""
    invoke("init")
    made = _app_made(db_url, "Made in the app", "follow-up.ics")
    path = tmp_path / "items.yaml"
    path.write_text("items:\n  - slug: follow-up\n    title: Follow up\n    tz: UTC\n")
    before = dump(db_url)
    expected = f"Error: {path}:2: items follow-up: slug: task apps already find item '{made}' as 'follow-up.ics'\n"
    assert invoke("load", str(path), code=1).stderr == expected
    assert dump(db_url) == before


def test_a_reload_changes_a_caldav_name_only_where_the_yaml_changed_it(invoke, invoke_json, db_url, tmp_path):
    """The three-way merge of every item field; left out, the name stays (a file from before dumps carried it
    never moves an app's task)."""
    path = tmp_path / "items.yaml"

    def load(extra: str) -> dict:
        path.write_text(f"items:\n  - slug: x\n    title: X\n    tz: UTC\n{extra}")
        return invoke_json("load", str(path))[-1]

    def name() -> str | None:
        return _in(db_url, lambda s: s.scalars(select(Item.dav_href).where(Item.slug == "x")).one())

    assert load("    caldav_name: a.ics\n")["created"] == 1 and name() == "a.ics"
    assert load("    caldav_name: a.ics\n")["unchanged"] == 1
    assert load("    caldav_name: b.ics\n")["updated"] == 1 and name() == "b.ics"
    assert invoke_json("show", "x")["history"][-1]["field"] == "dav_href"
    assert load("")["unchanged"] == 1 and name() == "b.ics"
