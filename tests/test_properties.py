"""Property-based guard of the input paths (hypothesis): generated and mutated YAML and ICS go through `load` and
`import`; then either every read path — items, agenda, meetings, export, remind plan, the feed and the page —
answers within a bound, or the command printed one `Error:` line, exited non-zero and left the database as it
was. CI runs TRACKER_FUZZ_EXAMPLES (default 100) examples per test; a longer run by hand:
`TRACKER_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest tests/test_properties.py`."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import make_url

from tests.conftest import BACKENDS, DATA, ROOT, AsgiClient, dump
from tracker.calendars import subscriptions
from tracker.cli.main import cli
from tracker.core import store

EXAMPLES = int(os.environ.get("TRACKER_FUZZ_EXAMPLES", "100"))
BUDGET = 30  # seconds for all the read paths of one example: a hang fails the test instead of stalling CI
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
NOW = "2009-02-01T09:00+08:00"

READ_PATHS = [
    ["items", "--status", "all", "--json"],
    ["agenda", "--days", "400"],
    ["meetings", "--from", "2006-01-01", "--to", "2011-01-01", "--json"],  # 5 years: within MAX_OCCURRENCES
    ["remind", "plan", "--days", "400", "--json"],
]


class Template:
    """A database holding the shipped data, one item done, and a subscription to every calendar; each example
    works on a fresh copy of it (a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL)."""

    def __init__(self, url: str, token: str, admin: str | None) -> None:
        self.url, self.token, self.admin = url, token, admin

    @contextmanager
    def copy(self, work: Path) -> Iterator[str]:
        if self.admin is None:
            shutil.copy(self.url.removeprefix("sqlite:///"), work / "tracker.db")
            yield f"sqlite:///{work / 'tracker.db'}"
            return
        import psycopg

        name = f"fuzz_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(self.url).database}"')
        try:
            yield make_url(self.url).set(database=name).render_as_string(hide_password=False)
        finally:
            with psycopg.connect(self.admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=BACKENDS)
def template(request, tmp_path_factory) -> Iterator[Template]:
    if request.param == "sqlite":
        url, admin = f"sqlite:///{tmp_path_factory.mktemp('template') / 'tracker.db'}", None
    else:
        import psycopg

        admin = request.getfixturevalue("pg_server")
        name = f"fuzz_template_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = make_url(admin).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    runner = CliRunner(env=_env(url))
    for args in (["load", str(DATA)], ["done", "1"]):
        assert runner.invoke(cli, args, catch_exceptions=False).exit_code == 0
    engine = store.engine(url)
    with store.transaction(engine) as session:
        _, token = subscriptions.add(session, datetime.fromisoformat(NOW), "fuzz", calendar="all", alarms=True)
    engine.dispose()  # a PostgreSQL template must have no connections when it is copied
    yield Template(url, token, admin)
    if admin is not None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)')


def _env(url: str) -> dict[str, str]:
    return {"TRACKER_DB": url, "TRACKER_TZ": "Asia/Taipei", "TRACKER_NOW": NOW, "TRACKER_USER": "fuzz"}


@contextmanager
def time_limit(seconds: int):
    def expired(*_):
        raise TimeoutError(f"a read path took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check(template: Template, command: str, name: str, content: str | bytes) -> None:
    """The invariant, on a fresh copy of the template database."""
    with tempfile.TemporaryDirectory() as work, template.copy(Path(work)) as db:
        work = Path(work)
        path = work / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        runner = CliRunner(env=_env(db))
        before = dump(db)
        result = runner.invoke(cli, [command, str(path)], catch_exceptions=False)
        event(f"{command}: {'accepted' if result.exit_code == 0 else 'refused'}")
        if result.exit_code != 0:
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
            assert dump(db) == before
            return
        with time_limit(BUDGET):
            for args in READ_PATHS:
                answer = runner.invoke(cli, args, catch_exceptions=False)
                assert answer.exit_code == 0, (args, answer.stderr)
            assert runner.invoke(cli, ["export", "--out", str(work / "out")], catch_exceptions=False).exit_code == 0
            _feed_and_page(db, template.token)


def _feed_and_page(db: str, token: str) -> None:
    from tracker.core.config import load_settings
    from tracker.web.server import create_app

    settings = load_settings(environ=_env(db))
    engine = store.engine(settings.db)
    app = create_app(settings, engine, lambda: datetime.fromisoformat(NOW))
    client = AsgiClient(app)
    feed = client.get(f"/feeds/{token}.ics")
    assert feed.status_code == 200 and feed.content.startswith(b"BEGIN:VCALENDAR")
    assert client.get(f"/s/{token}/").status_code == 200
    engine.dispose()


# --- values: what people paste, and the edges ----------------------------------------------------------------


def mostly(valid: st.SearchStrategy, hostile: st.SearchStrategy) -> st.SearchStrategy:
    """Usually a good value, so that many examples get past validation to the read paths; sometimes not."""
    return st.one_of(valid, valid, valid, hostile)


SPECIALS = ["\x1b[2J", "\x1b]0;t\x07", "\r\n", "\u2028", "\u2029", "\x85", "\x00", "\t", "\u202e", "a" * 600, ""]
texts = st.one_of(st.text(max_size=40), st.sampled_from(SPECIALS), st.builds("".join, st.lists(st.sampled_from(
    [*SPECIALS, "Kaohsiung ", "高雄 ", "x"]), max_size=5)))  # fmt: skip
years = st.one_of(st.integers(1, 9999), st.integers(1895, 2205))
dates = st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", years, st.integers(1, 12), st.integers(1, 31))
good_dates = st.builds(lambda y, m, d: f"{y:04d}-{m:02d}-{d:02d}", st.integers(1990, 2100), st.integers(1, 12),
                       st.integers(1, 28))  # fmt: skip
whens = mostly(
    good_dates,
    st.one_of(
        dates,
        st.builds(lambda y, m: f"{y:04d}-{m:02d}", years, st.integers(0, 13)),
        st.builds(
            lambda d, h, z: f"{d}T{h:02d}:30{z}", dates, st.integers(0, 23), st.sampled_from(["", "Z", "+14:00"])
        ),
        texts,
    ),
)
numbers = st.one_of(st.integers(-5, 40), st.integers(-(2**70), 2**70))
zones = st.sampled_from(["UTC", "Asia/Taipei", "America/Lima", "Australia/Lord_Howe", "Pacific/Kiritimati",
                         "America/St_Johns", "Mars/Base", "", "../../etc/passwd", "Asia/" + "x" * 300])  # fmt: skip
PEOPLE = ["desk-lead", "apec-officer", "forum-officer", "nobody"]
SERIES = ["apec-smewg", "apec-sme-ministerial", "new-series"]
slugs = mostly(st.sampled_from(["kpi-committee-volunteer", "new-item", "apec-smewg-28", *SERIES, *PEOPLE]), texts)
titles = mostly(st.sampled_from(["Send the KPI draft", "高雄 forum", "Lead economy"]), texts)
good_zones = st.sampled_from(["UTC", "Asia/Taipei", "America/Lima", "Australia/Lord_Howe"])
rrule_parts = st.one_of(
    st.builds("FREQ={}".format, st.sampled_from(["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "SECONDLY", "X"])),
    st.builds("INTERVAL={}".format, numbers),
    st.builds("COUNT={}".format, numbers),
    st.builds("BYMONTH={}".format, st.integers(-2, 14)),
    st.builds("BYMONTHDAY={}".format, st.integers(-32, 32)),
    st.builds("BYDAY={}".format, st.sampled_from(["MO", "5FR", "-1TH", "XX", "MO,TU"])),
    st.builds("BYSETPOS={}".format, st.integers(-10, 10)),
    st.builds("BYHOUR={}".format, st.integers(0, 25)),
    st.builds("UNTIL={}".format, st.sampled_from(["20300101", "99991231", "20300101T000000Z", "x"])),
)
rrules = mostly(
    st.sampled_from(
        ["FREQ=YEARLY;INTERVAL=2", "FREQ=MONTHLY;INTERVAL=6", "FREQ=WEEKLY;BYDAY=MO", "FREQ=DAILY;COUNT=9"]
    ),
    st.builds(";".join, st.lists(rrule_parts, min_size=1, max_size=4)),
)


def maybe(**fields) -> st.SearchStrategy:
    """A record: each field present or not."""
    return st.fixed_dictionaries({}, optional=fields)


def record(required: dict, **optional: st.SearchStrategy) -> st.SearchStrategy:
    """A record with its required fields (usually) and any of the optional ones."""
    return mostly(st.fixed_dictionaries(required, optional=optional), maybe(**required, **optional))


zones = mostly(good_zones, zones)
# A record of the shipped data's slug is refused from another file, unless it says it belongs to that file (as a dump
# does): without loaded_from most generated records would stop at that rule.
files = mostly(st.sampled_from(["people.yaml", "committees.yaml", "meetings.yaml", "items.yaml"]),
               st.sampled_from(["", "a/b.yaml", "x"]))  # fmt: skip
locales = mostly(st.sampled_from(["en", "zh_TW", "zh-TW"]), st.one_of(texts, st.sampled_from(["zh-tw", "fr", None])))
records = {
    "people": record({"slug": slugs, "name": titles, "tz": zones}, email=texts, escalation=st.sampled_from(PEOPLE),
                     locale=locales, loaded_from=files),
    "committees": record({"slug": mostly(st.sampled_from(["kpi-innovation", "new-committee"]), texts),
                          "name": titles, "role": mostly(st.just("member"), st.sampled_from(["lead", "chair", ""]))},
                         category=st.sampled_from(["innovation", "x"]), loaded_from=files,
                         members=mostly(st.lists(st.sampled_from(PEOPLE), max_size=3, unique=True),
                                        st.one_of(st.lists(st.sampled_from(PEOPLE), max_size=3), texts))),
    "series": record({"slug": st.sampled_from(SERIES), "title": titles, "rrule": rrules, "start": whens},
                     days=numbers, tz=zones, loaded_from=files),
    "meetings": record(
        {"slug": slugs, "title": titles, "start": whens, "tz": zones}, end=whens, series=st.sampled_from(SERIES),
        overrides=whens, number=numbers, place=texts, subthemes=st.lists(texts, max_size=3), loaded_from=files,
    ),
    "items": record(
        {"slug": slugs, "title": titles, "owners": mostly(st.just(["apec-officer"]), st.lists(st.sampled_from(PEOPLE),
                                                                                             max_size=2))},
        due=whens, tz=zones, status=st.sampled_from(["open", "done", "x"]), description=texts, source=texts,
        reminders=maybe(at=st.lists(whens, max_size=2), item_before_days=st.lists(numbers, max_size=3),
                        due_day_at=st.sampled_from(["09:00", "25:00", "x"])), loaded_from=files,
        caldav_name=mostly(st.sampled_from(["3F2A-app.ics", "new-item.ics", "kpi-committee-volunteer.ics"]),
                           st.one_of(texts, st.sampled_from(["a/b.ics", "..", "高雄.ics", "a:b.ics"]))),
    ),
}  # fmt: skip
documents = st.dictionaries(st.sampled_from(list(records)), st.just(None), min_size=1).flatmap(
    lambda sections: st.fixed_dictionaries({name: st.lists(records[name], max_size=2) for name in sections})
)


@FUZZ
@given(document=documents)
def test_generated_yaml_loads_or_is_refused_cleanly(template, document):
    check(template, "load", "fuzz.yaml", yaml.safe_dump(document, allow_unicode=True))


# --- mutations of the shipped files ------------------------------------------------------------------------


YAML_BITS = [": ", "- ", "&a ", "*a", "{", "[", "\n  ", "!!python/object ", "<<: *a"]


@st.composite
def mutated(draw, text: str) -> str:
    """`text` with a few random edits: characters inserted, a slice deleted, a line repeated."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["insert", "delete", "repeat", "replace"]))
        if edit == "insert":
            text = text[:at] + draw(st.one_of(texts, st.sampled_from(YAML_BITS))) + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        else:
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at) + 1 or len(text)
            new = text[start:end] if edit == "repeat" else draw(texts) + "\n"
            text = text[:end] + new + text[end:] if edit == "repeat" else text[:start] + new + text[end:]
    return text


SHIPPED = {p.name: p.read_text(encoding="utf-8") for p in DATA.glob("*.yaml")}


@FUZZ
@given(data=st.data(), name=st.sampled_from(sorted(SHIPPED)))
def test_mutated_shipped_yaml_loads_or_is_refused_cleanly(template, data, name):
    check(template, "load", name, data.draw(mutated(SHIPPED[name])))


EXPORT = (ROOT / "calendars" / "all.ics").read_text(encoding="utf-8")


@FUZZ
@given(data=st.data())
def test_mutated_export_imports_or_is_refused_cleanly(template, data):
    check(template, "import", "all.ics", data.draw(mutated(EXPORT)))


# --- generated calendars -----------------------------------------------------------------------------------

good_moments = st.one_of(
    st.builds(lambda d: f";VALUE=DATE:{d.replace('-', '')}", good_dates),
    st.builds(lambda d, z: f";TZID={z}:{d.replace('-', '')}T093000", good_dates, good_zones),
)
moments = mostly(
    good_moments,
    st.one_of(
        st.builds(lambda y: f";VALUE=DATE:{y:04d}0101", years),
        st.builds(lambda y, z: f":{y:04d}0601T093000{z}", years, st.sampled_from(["", "Z"])),
        st.builds(lambda z, y: f";TZID={z}:{y:04d}0601T093000", zones, years),
        st.sampled_from([";VALUE=PERIOD:20090101T000000Z/20090102T000000Z", ":notadate", ";VALUE=DATE:20090230", ":"]),
    ),
)
uids = st.sampled_from(["a@x", "b@x", "item-kpi-committee-volunteer@tracker", "series-apec-smewg@tracker", "", " "])
properties = st.one_of(
    st.builds("UID:{}".format, uids),
    st.builds("DTSTART{}".format, moments),
    st.builds("DTEND{}".format, moments),
    st.builds("DUE{}".format, moments),
    st.builds("RECURRENCE-ID{}".format, moments),
    st.builds("RRULE:{}".format, rrules),
    st.builds("SUMMARY:{}".format, texts),
    st.builds("DESCRIPTION:{}".format, texts),
    st.builds("STATUS:{}".format, st.sampled_from(["COMPLETED", "CANCELLED", "IN-PROCESS", "X"])),
    st.builds("PRIORITY:{}".format, numbers),
    st.builds("SEQUENCE:{}".format, numbers),
    st.builds("PERCENT-COMPLETE:{}".format, numbers),
    st.builds("DURATION:{}".format, st.sampled_from(["P1D", "PT1H", "-P1D", "P99999D", "x"])),
)
components = st.builds(
    lambda kind, uid, when, lines, alarm: [
        f"BEGIN:{kind}",
        f"UID:{uid}",
        f"{kind == 'VTODO' and 'DUE' or 'DTSTART'}{when}",
        *lines,
        *alarm,
        f"END:{kind}",
    ],
    st.sampled_from(["VEVENT", "VTODO"]),
    st.sampled_from(["a@x", "b@x", "c@x", "d@x"]),
    good_moments,
    st.lists(properties, max_size=4),
    st.sampled_from([[], ["BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT15M", "END:VALARM"]]),
)
calendars = st.builds(
    lambda parts: "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fuzz//EN",
                               *[line for part in parts for line in part], "END:VCALENDAR"]) + "\r\n",
    st.lists(components, max_size=4),
)  # fmt: skip


@FUZZ
@given(text=calendars)
def test_generated_ics_imports_or_is_refused_cleanly(template, text):
    check(template, "import", "fuzz.ics", text)
