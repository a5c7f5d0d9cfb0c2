"""people.yaml's `locale` and committees.yaml's `members`: loaded, refused with file:line and the closest slug,
replaced on reload, written back by `tracker dump`; and people added on the desk (register.people) survive a
reload of the data they do not belong to."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from tests.conftest import dump
from tracker.core import store
from tracker.core.models import Committee, Person
from tracker.register import dataset, people

NOW = datetime.fromisoformat("2008-09-01T09:00:00+08:00")


def _edit(path, old: str, new: str) -> int:
    """Replace `old` (once) in the file; returns the line `new` starts on."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return text[: text.index(new)].count("\n") + 1


def _members(db_url: str) -> dict[str, list[str]]:
    engine = store.engine(db_url)
    try:
        with store.transaction(engine) as session:
            return {c.slug: [p.slug for p in c.members] for c in session.scalars(select(Committee))}
    finally:
        engine.dispose()


def _locales(db_url: str) -> dict[str, str | None]:
    engine = store.engine(db_url)
    try:
        with store.transaction(engine) as session:
            return {p.slug: p.locale for p in session.scalars(select(Person))}
    finally:
        engine.dispose()


INNOVATION = '  - slug: kpi-innovation\n    name: "KPI committee: Innovation"\n    role: member\n'


def test_members_load_and_a_reload_replaces_the_set(invoke, data_copy, db_url):
    committees = data_copy / "committees.yaml"
    _edit(committees, INNOVATION, INNOVATION + "    members: [forum-officer, apec-officer]\n")
    invoke("load", str(data_copy))
    assert _members(db_url) == {"kpi-innovation": ["apec-officer", "forum-officer"],
                                "kpi-management-entrepreneurship": []}  # fmt: skip
    _edit(committees, "members: [forum-officer, apec-officer]", "members: [desk-lead]")
    invoke("load", str(data_copy))
    assert _members(db_url)["kpi-innovation"] == ["desk-lead"]
    _edit(committees, "    members: [desk-lead]\n", "")  # left out: the set stays as it is (the desk may have set it)
    invoke("load", str(data_copy))
    assert _members(db_url)["kpi-innovation"] == ["desk-lead"]
    _edit(committees, INNOVATION, INNOVATION + "    members: []\n")
    invoke("load", str(data_copy))
    assert _members(db_url)["kpi-innovation"] == []


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "committees.yaml",
            INNOVATION,
            INNOVATION + "    members: [apec-oficer]\n",
            "committees kpi-innovation: members: no person with slug 'apec-oficer' "
            "(did you mean 'apec-officer' or 'bilateral-officer'?)",
        ),
        (
            "committees.yaml",
            INNOVATION,
            INNOVATION + "    members: [desk-lead, desk-lead]\n",
            "committees kpi-innovation: members: 'desk-lead' is listed twice",
        ),
        (
            "people.yaml",
            "    role: Working-group delegate; KPI committees\n",
            "    role: Working-group delegate; KPI committees\n    locale: zh-tw\n",
            "people apec-officer: locale: unknown locale 'zh-tw' (did you mean 'zh_TW'?); use one of en, zh_TW",
        ),
        (
            "people.yaml",
            "    role: Working-group delegate; KPI committees\n",
            "    role: Working-group delegate; KPI committees\n    locale: fr\n",
            "people apec-officer: locale: unknown locale 'fr'; use one of en, zh_TW",
        ),
    ],
    ids=["unknown-member", "member-twice", "locale-case", "locale-unknown"],
)
def test_bad_members_and_locales_are_one_line_with_file_and_line(invoke, loaded, db_url, file, old, new, expected):
    before = dump(db_url)
    line = _edit(loaded / file, old, new) + new.count("\n") - 1  # the new field's own line
    error = invoke("load", str(loaded), code=1).stderr
    assert error == f"Error: {loaded / file}:{line}: {expected}\n"
    assert dump(db_url) == before


def test_locale_accepts_the_hyphen_and_dump_round_trips_members_and_locales(invoke, invoke_json, data_copy, db_url,
                                                                            tmp_path):  # fmt: skip
    _edit(data_copy / "people.yaml", "    tz: Asia/Taipei\n", "    tz: Asia/Taipei\n    locale: zh-TW\n")
    _edit(data_copy / "committees.yaml", INNOVATION, INNOVATION + "    members: [apec-officer]\n")
    invoke("load", str(data_copy))
    assert _locales(db_url)["desk-lead"] == "zh_TW" and _locales(db_url)["apec-officer"] is None
    invoke("dump", str(tmp_path / "out"))
    text = (tmp_path / "out" / "committees.yaml").read_text(encoding="utf-8")
    assert "    members: [apec-officer]\n" in text and text.count("members:") == 1  # empty sets are left out
    assert "    locale: zh_TW\n" in (tmp_path / "out" / "people.yaml").read_text(encoding="utf-8")
    read = dataset.read([tmp_path / "out"])
    assert {e.record.slug: e.record.members for e in read.entries["committees"]}["kpi-innovation"] == ["apec-officer"]
    before = dump(db_url)
    rows = invoke_json("load", str(tmp_path / "out"))
    assert all(r["created"] == r["updated"] == 0 for r in rows) and dump(db_url) == before


def test_what_the_desk_set_survives_a_reload_of_the_data(invoke, loaded, db_url, tmp_path):
    """A person added on the desk belongs to no file: reloading data/ neither deletes nor changes them. The locale
    and committees the desk gave a person of people.yaml stay too, as long as the files do not set them."""
    engine = store.engine(db_url)
    officer = {"name": "APEC SMEWG officer", "tz": "Asia/Taipei", "email": "apec-officer@example.org",
               "role": "Working-group delegate; KPI committees", "escalation": "desk-lead", "locale": "zh_TW",
               "committees": ["kpi-innovation"]}  # fmt: skip
    try:
        with store.transaction(engine, write=True) as session:
            added = {"name": "Trade officer", "tz": "UTC", "locale": "en", "committees": ["kpi-innovation"],
                     "access": "officer"}  # fmt: skip
            people.add(session, "trade-officer", added, NOW)
            people.edit(session, "apec-officer", officer, NOW)
    finally:
        engine.dispose()
    invoke("load", str(loaded))
    assert _locales(db_url)["trade-officer"] == "en" and _locales(db_url)["apec-officer"] == "zh_TW"
    assert _members(db_url)["kpi-innovation"] == ["apec-officer", "trade-officer"]
    invoke("dump", str(tmp_path / "out"))
    records = {e.record.slug: e for e in dataset.read([tmp_path / "out"]).entries["people"]}
    assert records["trade-officer"].record.loaded_from is None and records["trade-officer"].record.locale == "en"
