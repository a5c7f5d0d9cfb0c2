from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from tracker.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


BACKENDS = ("sqlite", "postgresql")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The whole suite leaves a heap of several GB (live servers, engines, hypothesis's examples), and the full
    collections pytest and the interpreter's shutdown run over it after the summary took about ten minutes of
    CI's time. Nothing after the session needs them: frozen objects are left out of every later collection."""
    gc.freeze()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses the database runs on SQLite and on PostgreSQL, except those marked sqlite_only or
    postgresql_only (they test one database's own files, locks or tools)."""
    if "db_url" in metafunc.fixturenames:
        only = [b for b in BACKENDS if metafunc.definition.get_closest_marker(f"{b}_only")]
        metafunc.parametrize("db_url", only or BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory):
    """A PostgreSQL server for the tests: TRACKER_TEST_PG_URL (a libpq URL of a maintenance database, e.g.
    postgresql://postgres@127.0.0.1:5432/postgres), or else a throwaway cluster started here (Debian's
    postgresql package; as root it runs as the postgres user). TRACKER_TEST_PG=skip skips the PostgreSQL runs."""
    if os.environ.get("TRACKER_TEST_PG") == "skip":
        pytest.skip("TRACKER_TEST_PG=skip")
    if os.environ.get("TRACKER_TEST_PG_URL"):
        yield os.environ["TRACKER_TEST_PG_URL"]
        return
    cluster = ThrowawayPostgres()
    try:
        yield cluster.url
    finally:
        cluster.stop()


class ThrowawayPostgres:
    """initdb + pg_ctl in a temporary folder, listening on 127.0.0.1 and a free port, with fsync off."""

    def __init__(self) -> None:
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
        if not versions:
            pytest.fail("PostgreSQL is not installed (apt-get install postgresql), and TRACKER_TEST_PG_URL is unset; "
                        "TRACKER_TEST_PG=skip runs the SQLite half only")  # fmt: skip
        self.bin = versions[-1].parent
        self.folder = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.folder, "postgres", "postgres")
        port = free_port()
        self._run("initdb", "-D", f"{self.folder}/data", "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")  # fmt: skip
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {self.folder} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=400")  # fmt: skip
        self._run("pg_ctl", "-D", f"{self.folder}/data", "-l", f"{self.folder}/server.log", "-w", "-t", "60",
                  "-o", options, "start")  # fmt: skip
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run([*self.as_user, str(self.bin / program), *args], check=True, capture_output=True)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", f"{self.folder}/data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path):
    """The test's own empty database: an empty SQLite file (the counterpart of `createdb`; a missing file is made
    only by init, load and import), or a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        (tmp_path / "tracker.db").touch()
        yield f"sqlite:///{tmp_path / 'tracker.db'}"
        return
    with pg_database(request.getfixturevalue("pg_server"), "test") as url:
        yield url


@contextmanager
def pg_database(admin: str, prefix: str) -> Iterator[str]:
    """A new empty PostgreSQL database on the server of `admin` (a libpq URL), dropped afterwards; yields its
    tracker URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextmanager
def held_write_lock(db_url: str) -> Iterator[None]:
    """Another process in the middle of a write: SQLite's write lock (BEGIN IMMEDIATE) or PostgreSQL's advisory
    write lock, held until the block ends."""
    from sqlalchemy import create_engine

    from tracker.core.store import _WRITE_LOCK

    engine = create_engine(db_url)
    holder = engine.raw_connection()
    try:
        if db_url.startswith("sqlite"):
            holder.driver_connection.isolation_level = None
            holder.cursor().execute("BEGIN IMMEDIATE")
        else:
            holder.cursor().execute(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK})")
        yield
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()


def pg_tool(name: str) -> str:
    """A PostgreSQL client program (pg_restore, psql) of the newest installed version."""
    return str(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))[-1])


@pytest.fixture
def db_path(db_url: str) -> Path:
    """The SQLite file behind db_url (tests of SQLite's own files mark themselves sqlite_only)."""
    assert db_url.startswith("sqlite:///"), "a test that uses db_path must be marked sqlite_only"
    return Path(db_url.removeprefix("sqlite:///"))


@pytest.fixture
def env(db_url: str) -> dict[str, str]:
    return {"TRACKER_DB": db_url, "TRACKER_TZ": "Asia/Taipei", "TRACKER_USER": "tester"}


@pytest.fixture
def invoke(env: dict[str, str]):
    """Run the CLI; assert the exit code; return the result (stdout in .stdout, stderr in .stderr)."""
    runner = CliRunner(env=env)

    def run(*args: str, code: int = 0, **kwargs):
        result = runner.invoke(cli, list(args), catch_exceptions=False, **kwargs)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    return run


@pytest.fixture
def invoke_json(invoke):
    def run(*args: str):
        return json.loads(invoke(*args, "--json").stdout)["results"]

    return run


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped data/ folder."""
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


@pytest.fixture
def loaded(invoke, data_copy: Path) -> Path:
    invoke("load", str(data_copy))
    return data_copy


def dump(db: str | Path) -> list[str]:
    """Every row of every table, sorted: equal dumps mean an unchanged database (a URL, or a SQLite file)."""
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(db if isinstance(db, str) else f"sqlite:///{db}")
    try:
        tables = MetaData()
        tables.reflect(engine)
        with engine.connect() as conn:
            return [f"{name}: {row}" for name, table in sorted(tables.tables.items())
                    for row in sorted(repr(tuple(r)) for r in conn.execute(select(table)))]  # fmt: skip
    finally:
        engine.dispose()


class Clock:
    """A settable clock for the server under test."""

    def __init__(self, at: str) -> None:
        self.set(at)

    def set(self, at: str) -> None:
        from datetime import datetime

        self.at = datetime.fromisoformat(at)

    def __call__(self):
        return self.at


class LiveServer:
    """uvicorn serving an app on a socket already bound to 127.0.0.1, in a thread, stopped cleanly afterwards."""

    def __init__(self, make_app, make_config=None) -> None:
        import socket
        import threading
        import time

        import uvicorn

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = make_app(self.url)
        make_config = make_config or (lambda app: uvicorn.Config(app, access_log=False, log_level="warning"))
        self.server = uvicorn.Server(make_config(self.app))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@pytest.fixture
def clock() -> Clock:
    return Clock("2008-09-01T09:00:00+08:00")


@pytest.fixture
def make_server(env, clock):
    """Start a live server over the test database; settings overrides as keyword arguments."""
    from tracker.core import store
    from tracker.core.config import load_settings
    from tracker.web.server import create_app

    servers = []

    def start(**overrides):
        def make_app(url: str):
            settings = load_settings(environ=env, overrides={"base_url": url, **overrides})
            return create_app(settings, store.engine(settings.db), clock)

        server = LiveServer(make_app)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def subscribe(invoke_json):
    """Create a subscription; returns (token, its record)."""

    def add(*args: str):
        record = invoke_json("subscribe", "add", *args)
        return record["https"].rsplit("/", 1)[1].removesuffix(".ics"), record

    return add


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts, and the envelope recipients of each."""

    def __init__(self) -> None:
        self.messages = []
        self.recipients = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        import email
        import email.policy

        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtpd():
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    mailbox.port = controller.port
    yield mailbox
    controller.stop()


@pytest.fixture
def mail_config(tmp_path, smtpd, env) -> dict[str, str]:
    """Environment for a tracker that mails through the test SMTP server."""
    config = tmp_path / "tracker.toml"
    config.write_text(f"""[channels.email]
host = "127.0.0.1"
port = {smtpd.port}
security = "plain"
from = "Tracker <tracker@example.org>"
""")
    return {**env, "TRACKER_CONFIG": str(config)}


class AsgiClient:
    """An ASGI app driven synchronously over httpx's ASGITransport, one event loop per request (no server)."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:  # noqa: ANN003
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(go())

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str) -> httpx.Response:
        return self.request("POST", path)


@pytest.fixture
def desk_session(env, clock):
    """Sign a person in as the web desk does, without the sign-in page: give them an account with `role` and open a
    session; returns an httpx.Client for `server` carrying the session cookie (its csrf token as `.csrf`)."""
    from tracker.core import store
    from tracker.core.models import AccessRole, Account, Person
    from tracker.web import auth, sessions

    clients = []

    def sign_in(server, slug: str, role: str = "officer"):
        import httpx
        from sqlalchemy import select

        engine = store.engine(env["TRACKER_DB"])
        try:
            with store.transaction(engine, write=True) as session:
                person = session.scalars(select(Person).where(Person.slug == slug)).one()
                account = session.get(Account, person.id) or Account(person_id=person.id, created_at=clock())
                account.role = AccessRole(role)
                session.add(account)
                token, row = sessions.open_session(session, person, "password", clock())
                csrf = row.csrf
        finally:
            engine.dispose()
        client = httpx.Client(base_url=server.url, cookies={auth.COOKIE: token}, headers={"Origin": server.url})
        client.csrf = csrf
        clients.append(client)
        return client

    yield sign_in
    for client in clients:
        client.close()
