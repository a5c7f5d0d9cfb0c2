"""The base URL is kept once: `tracker serve` records where it listens (or its --base-url) when no base_url is
set, and `subscribe add`, the subscription pages and the links in reminders all use it, saying so when it is an
address other people's calendar apps cannot reach."""

from __future__ import annotations

import json
import re
import socket
import time

from tests.test_server_workers import Served, get


def subscribe_json(invoke, *args: str, **kwargs) -> tuple[dict, str]:
    result = invoke("subscribe", "add", "--name", "phone", "--person", "apec-officer", *args, "--json", **kwargs)
    return json.loads(result.stdout)["results"], result.stderr


def test_subscribe_add_serve_pages_and_reminders_link_to_where_serve_listens(loaded, env, tmp_path, invoke):
    record, note = subscribe_json(invoke)  # before any serve: serve's default address, and why
    assert record["https"].startswith("http://127.0.0.1:8765/feeds/")
    assert "the default: no base URL is set and `tracker serve` has not run yet" in note
    served = Served(env, tmp_path / "serve.log", 1)  # --port 0: the port is known once bound
    try:
        base = f"http://127.0.0.1:{served.port}"
        record, note = subscribe_json(invoke)
        token = record["https"].removeprefix(f"{base}/feeds/").removesuffix(".ics")
        assert record["webcal"] == f"webcal://127.0.0.1:{served.port}/feeds/{token}.ics"
        assert record["page"] == f"{base}/s/{token}/"
        assert f"Note: {base} (where `tracker serve` last listened) is a local address" in note
        assert "TRACKER_BASE_URL" in note and "--base-url https://" in note
        status, _, page = get(served.connect(), f"/s/{token}/")
        assert status == 200 and f'href="{base}/feeds/{token}.ics"' in page.decode()
        sent = invoke("--now", "2008-09-23T10:00+08:00", "remind", "send-due", "--verbose", "--json")  # on stderr
        assert f"Mark done: {base}/done/" in sent.stderr and "127.0.0.1:8765" not in sent.stderr
    finally:
        served.stop()


def test_subscribe_add_uses_serve_base_url_and_a_configured_one_first(loaded, env, tmp_path, invoke):
    served = Served(env, tmp_path / "serve.log", 1, "--base-url", "https://calendars.example.org/desk")
    try:
        record, note = subscribe_json(invoke)
    finally:
        served.stop()
    assert record["https"].startswith("https://calendars.example.org/desk/feeds/")
    assert "Note:" not in note  # a public https address needs no warning
    configured = {**env, "TRACKER_BASE_URL": "http://tracker.desk.example.org:8080"}
    record, note = subscribe_json(invoke, env=configured)
    assert re.match(r"http://tracker\.desk\.example\.org:8080/feeds/[\w-]{43}\.ics$", record["https"])
    assert "Note: http://tracker.desk.example.org:8080 is plain http: Google Calendar subscribes only" in note


def test_serve_with_reminders_links_them_to_the_port_it_listens_on(loaded, env, tmp_path):
    served = Served({**env, "PYTHONUNBUFFERED": "1"}, tmp_path / "serve.log", 1, "--with-reminders")
    try:  # on the real clock the shipped data always has something due: at least the catch-ups
        deadline = time.monotonic() + 60
        while "Your reminders and calendar: http" not in served.log():
            assert time.monotonic() < deadline and served.process.poll() is None, served.log()
            time.sleep(0.05)
    finally:
        served.stop()
    bases = set(re.findall(r"(http://[^/\s]+)/(?:done|snooze|settings)/", served.log()))
    assert bases == {f"http://127.0.0.1:{served.port}"}


def test_the_listening_url_and_what_counts_as_local():
    from tracker.core.addresses import BaseUrl, listening_url

    assert listening_url("127.0.0.1", 9000) == "http://127.0.0.1:9000"
    assert listening_url("::1", 9000) == "http://[::1]:9000"
    assert listening_url("0.0.0.0", 9000) == f"http://{socket.gethostname()}:9000"  # every interface: the name
    local = ["http://127.0.0.1:8765", "http://[::1]:8765", "http://localhost:8765", "https://tracker.localhost/"]
    assert all(BaseUrl(url, "configured").local for url in local)
    assert not BaseUrl("http://10.0.0.5:8765", "configured").local
    assert BaseUrl("https://calendars.example.org", "configured").warning() is None


def test_subscribe_add_labels_each_link_by_what_it_is_and_keeps_it_on_one_line(loaded, env, invoke):
    plain = invoke("subscribe", "add", "--name", "phone", "--person", "apec-officer", env=env).stdout
    lines = plain.splitlines()
    feed = next(line for line in lines if "/feeds/" in line and "webcal" not in line)
    assert re.fullmatch(r"  http: http://127\.0\.0\.1:8765/feeds/[\w-]{43}\.ics", feed)  # one line, named http
    assert not any(line.lstrip().startswith(("https:", "google:")) for line in lines)  # Google needs https
    secure = {**env, "TRACKER_BASE_URL": "https://calendars.example.org/a-rather-long-path/for-the-desk"}
    lines = invoke("subscribe", "add", "--name", "wall", "--calendar", "meetings", env=secure).stdout.splitlines()
    google = next(line for line in lines if line.lstrip().startswith("google:"))
    assert re.fullmatch(r"  google: https://calendar\.google\.com/calendar/r\?cid=webcal%3A%2F%2F\S+\.ics", google)
    assert any(re.fullmatch(r"  https: https://calendars\.example\.org/\S+\.ics", line) for line in lines)
