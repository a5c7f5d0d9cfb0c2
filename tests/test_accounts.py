"""Accounts of the web desk from the command line (`tracker user …`) and register.accounts: argon2id passwords,
roles, disabling (which ends every session), and the sign-in rate limit's counting."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from tests.conftest import dump
from tracker.core import store
from tracker.core.errors import TooManyAttempts
from tracker.core.models import Account, Person
from tracker.register import accounts
from tracker.web import sessions

NOW = datetime.fromisoformat("2008-09-01T09:00:00+08:00")
PASSWORD = "a desk with many lanterns"


@pytest.fixture
def engine(loaded, db_url):
    eng = store.engine(db_url)
    yield eng
    eng.dispose()


def _account(engine, slug: str) -> Account | None:
    with store.transaction(engine) as session:
        person = session.scalars(select(Person).where(Person.slug == slug)).one()
        account = session.get(Account, person.id)
        if account is not None:
            session.expunge(account)
        return account


def _verify(engine, slug: str, password: str) -> bool:
    with store.transaction(engine, write=True) as session:
        return accounts.verify_password(session, accounts.person_by_login(session, slug), password)


def test_set_password_stores_only_an_argon2id_hash_and_makes_a_viewer(engine, invoke, invoke_json, db_url):
    result = invoke("user", "set-password", "apec-officer", "--password-stdin", input=PASSWORD + "\n")
    assert "password set for apec-officer (role viewer)" in result.stderr + result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    account = _account(engine, "apec-officer")
    assert account.password_hash.startswith("$argon2id$")
    assert account.role.value == "viewer"  # least privilege until a lead gives a role
    assert not any(PASSWORD in row for row in dump(db_url))
    assert _verify(engine, "apec-officer", PASSWORD)
    assert _verify(engine, "apec-officer@example.org", PASSWORD)  # by e-mail too
    assert not _verify(engine, "apec-officer", PASSWORD + "!")
    assert not _verify(engine, "forum-officer", PASSWORD)  # no account


def test_the_hidden_prompt_asks_twice(engine, invoke):
    result = invoke("user", "set-password", "desk-lead", input=f"{PASSWORD}\nsomething else entirely\n{PASSWORD}\n"
                    f"{PASSWORD}\n")  # fmt: skip
    assert "do not match" in result.stderr + result.stdout
    assert PASSWORD not in result.stdout
    assert _verify(engine, "desk-lead", PASSWORD)


def test_a_bad_password_or_slug_is_one_line_and_changes_nothing(engine, invoke, db_url):
    before = dump(db_url)
    short = invoke("user", "set-password", "apec-officer", "--password-stdin", input="lantern\n", code=1)
    assert short.stderr.strip().splitlines() == [
        "Error: password: from 12 to 1024 characters, please (this one has 7); a few words in a row make a good one"
    ]
    assert "lantern" not in short.stderr.replace("this one has", "")
    long = invoke("user", "set-password", "apec-officer", "--password-stdin", input="x" * 1025 + "\n", code=1)
    assert "this one has 1025" in long.stderr
    empty = invoke("user", "set-password", "apec-officer", "--password-stdin", input="", code=1)
    assert "standard input holds no password" in empty.stderr
    typo = invoke("user", "role", "apec-oficer", "officer", code=1)
    assert typo.stderr.strip().startswith("Error: no person with slug 'apec-oficer' (did you mean 'apec-officer'")
    typo = invoke("user", "set-password", "desk-laed", "--password-stdin", input=PASSWORD + "\n", code=1)
    assert "did you mean 'desk-lead'?" in typo.stderr
    assert "not one of 'lead', 'officer', 'viewer'" in invoke("user", "role", "desk-lead", "boss", code=2).stderr
    assert "has no account yet" in invoke("user", "disable", "forum-officer", code=1).stderr
    assert dump(db_url) == before


def test_an_unknown_role_from_the_core_suggests_the_closest(engine):
    with store.transaction(engine, write=True) as session, pytest.raises(Exception, match="did you mean 'officer'"):
        accounts.set_role(session, "apec-officer", "oficer", NOW)


def test_role_list_and_json(engine, invoke, invoke_json):
    assert invoke_json("user", "role", "desk-lead", "lead")["role"] == "lead"
    invoke("user", "role", "apec-officer", "officer")
    invoke("user", "set-password", "apec-officer", "--password-stdin", input=PASSWORD + "\n")
    rows = invoke_json("user", "list")
    assert [(r["slug"], r["role"], r["password"], r["disabled_at"]) for r in rows] == [
        ("apec-officer", "officer", True, None),
        ("desk-lead", "lead", False, None),
    ]
    table = invoke("user", "list").stdout
    assert "apec-officer" in table and "officer" in table and "none" in table


def test_disable_ends_every_session_and_enable_does_not_bring_them_back(engine, invoke, invoke_json):
    invoke("user", "role", "apec-officer", "officer")
    invoke("user", "set-password", "apec-officer", "--password-stdin", input=PASSWORD + "\n")
    with store.transaction(engine, write=True) as session:
        person = accounts.person_by_login(session, "apec-officer")
        tokens = [sessions.open_session(session, person, how, NOW)[0] for how in ("password", "link")]
    record = invoke_json("user", "disable", "apec-officer")
    assert record["sessions_ended"] == 2 and record["disabled_at"]
    assert not _verify(engine, "apec-officer", PASSWORD)
    invoke("user", "enable", "apec-officer")
    with store.transaction(engine) as session:
        assert [sessions.current(session, t, NOW) for t in tokens] == [None, None]
    assert _verify(engine, "apec-officer", PASSWORD)


def test_a_hash_made_with_older_parameters_is_replaced_at_the_next_sign_in(engine, invoke):
    invoke("user", "role", "apec-officer", "officer")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with store.transaction(engine, write=True) as session:
        session.get(Account, accounts.person_by_login(session, "apec-officer").id).password_hash = weak
    assert not _verify(engine, "apec-officer", "wrong password here")
    assert _account(engine, "apec-officer").password_hash == weak  # only a known password is rehashed
    assert _verify(engine, "apec-officer", PASSWORD)
    rehashed = _account(engine, "apec-officer").password_hash
    assert rehashed != weak and not accounts.HASHER.check_needs_rehash(rehashed)
    assert _verify(engine, "apec-officer", PASSWORD)


def test_the_rate_limit_counts_within_its_window_and_says_how_long_to_wait(engine):
    keys = ["account:x", "address:192.0.2.1"]
    with store.transaction(engine, write=True) as session:
        for minute in range(accounts.LIMITS["account"]):
            accounts.throttle(session, keys, NOW + timedelta(minutes=minute))
            accounts.count_attempt(session, keys, NOW + timedelta(minutes=minute))
        with pytest.raises(TooManyAttempts) as refused:
            accounts.throttle(session, keys, NOW + timedelta(minutes=5))
        assert refused.value.retry_after == 10 * 60 + 1  # the first attempt leaves the window at minute 15
        accounts.throttle(session, keys, NOW + accounts.WINDOW + timedelta(seconds=1))
        accounts.throttle(session, ["account:y", "address:192.0.2.1"], NOW + timedelta(minutes=5))
        accounts.forget_failures(session, "account:x")
        accounts.throttle(session, keys, NOW + timedelta(minutes=5))


@pytest.mark.sqlite_only  # the probe reads only --help
def test_the_user_commands_help_imports_nothing_heavy(loaded, env, tmp_path):
    from tests.test_cli_startup import probe

    for args in (["user", "--help"], ["user", "set-password", "--help"], ["user", "list", "--help"]):
        report, out = probe(tmp_path, env, *args)
        assert "Usage: tracker user" in out
        assert report["modules"] == [], args
