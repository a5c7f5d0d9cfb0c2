"""The feed server over real HTTP on loopback: headers, conditional GET, tokens, scoping, logs, health."""

from __future__ import annotations

import logging

import httpx
import pytest
from icalendar import Calendar


@pytest.fixture
def served(loaded, make_server):
    return make_server()


def get(server, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.url + path, headers=headers)


def test_feed_headers_whatever_the_client_sends(served, subscribe):
    token, _ = subscribe("--name", "desk", "--calendar", "all")
    with httpx.Client() as client:
        bare = client.build_request("GET", f"{served.url}/feeds/{token}.ics")
        for name in list(bare.headers):
            if name.lower() not in ("host",):
                del bare.headers[name]  # Google sends no Accept (and no Accept-Encoding)
        response = client.send(bare)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert "content-disposition" not in response.headers
    assert response.headers["etag"].startswith('"') and response.headers["last-modified"].endswith("GMT")
    cal = Calendar.from_ical(response.content)
    assert len(cal.todos) == 23 and len(cal.events) == 12 + 13
    gz = get(served, f"/feeds/{token}.ics", **{"Accept-Encoding": "gzip", "Accept": "text/html"})
    assert "content-encoding" not in gz.headers and gz.content == response.content


def test_gzip_only_when_enabled(loaded, make_server, subscribe):
    server = make_server(feed_gzip=True)
    token, _ = subscribe("--name", "desk")
    plain = get(server, f"/feeds/{token}.ics", **{"Accept-Encoding": "identity"})
    zipped = httpx.get(f"{server.url}/feeds/{token}.ics", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == plain.content  # httpx decodes
    assert zipped.headers["etag"] == plain.headers["etag"] and zipped.headers["vary"] == "Accept-Encoding"


def test_conditional_get_and_head(served, subscribe, invoke, clock):
    token, _ = subscribe("--name", "desk", "--calendar", "action-items")
    path = f"/feeds/{token}.ics"
    first = get(served, path)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert get(served, path, **{"If-None-Match": etag}).status_code == 304
    assert get(served, path, **{"If-Modified-Since": modified}).status_code == 304
    assert get(served, path, **{"If-None-Match": '"other"', "If-Modified-Since": modified}).status_code == 200
    assert get(served, path, **{"If-Modified-Since": "not a date"}).status_code == 200
    head = httpx.head(served.url + path)
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag
    assert int(head.headers["content-length"]) == len(first.content)

    # Another process changes the database: the very next poll sees it, within the same second too.
    invoke("--now", "2008-09-01T09:00:00+08:00", "done", "kpi-committee-volunteer")
    second = get(served, path, **{"If-None-Match": etag})
    assert second.status_code == 200 and second.headers["etag"] != etag and second.content != first.content
    assert get(served, path, **{"If-Modified-Since": modified}).status_code == 200
    assert b"STATUS:COMPLETED" in second.content
    # Its Last-Modified is a second past the first one's, ahead of the (stopped) clock: the response shows the
    # clock's second instead (never later than Date), which is the first one's, so it cannot earn a 304 ...
    assert second.headers["last-modified"] == modified
    assert get(served, path, **{"If-Modified-Since": second.headers["last-modified"]}).status_code == 200
    # ... until the clock reaches it.
    clock.set("2008-09-01T09:00:01+08:00")
    third = get(served, path, **{"If-None-Match": second.headers["etag"]})
    assert third.status_code == 304 and third.headers["last-modified"] == "Mon, 01 Sep 2008 01:00:01 GMT"
    assert get(served, path, **{"If-Modified-Since": third.headers["last-modified"]}).status_code == 304


def test_every_bad_token_gets_the_same_404(served, subscribe, invoke):
    revoked, _ = subscribe("--name", "old phone")
    invoke("subscribe", "revoke", "old phone")
    rotated, record = subscribe("--name", "laptop")
    rotation = invoke("subscribe", "rotate", str(record["id"]), "--json").stdout
    fresh = rotation.split("/feeds/")[1].split(".ics")[0]
    assert get(served, f"/feeds/{fresh}.ics").status_code == 200
    answers = [
        get(served, f"/feeds/{t}.ics")
        for t in (revoked, rotated, "A" * 43, "short", "%00%ff", "../../etc/passwd", fresh[:-1] + "x")
    ]
    answers.append(get(served, f"/s/{revoked}/"))
    answers.append(get(served, "/no/such/route"))
    assert {(r.status_code, r.content, r.headers["content-type"]) for r in answers} == {
        (404, b"Not found.\n", "text/plain; charset=utf-8")
    }


def test_a_persons_feed_holds_only_their_items(served, subscribe):
    token, _ = subscribe("--name", "forum", "--person", "forum-officer")
    cal = Calendar.from_ical(get(served, f"/feeds/{token}.ics").content)
    assert sorted(str(t["UID"]) for t in cal.todos) == [
        "item-forum-align-with-2009-theme@tracker", "item-forum-case-study-book@tracker",
        "item-forum-host-2009@tracker"]  # fmt: skip
    assert all("Owner: Forum and events officer" in str(t["DESCRIPTION"]) for t in cal.todos)
    assert {str(e["UID"]) for e in cal.events if not str(e["UID"]).startswith("deadline-")} == {
        "meeting-apec-smewg-27@tracker",
        "meeting-apec-sme-ministerial-16@tracker",
    }
    assert list(cal.walk("VALARM"))  # a person's own feed carries alarms by default
    lead, _ = subscribe("--name", "lead", "--person", "desk-lead")
    lead_events = {str(e["UID"]) for e in Calendar.from_ical(get(served, f"/feeds/{lead}.ics").content).events}
    assert "series-apec-sme-ministerial@tracker" in lead_events  # no item of theirs serves it: they attend it
    assert "series-apec-sme-ministerial@tracker" not in {str(e["UID"]) for e in cal.events}


def test_alarms_only_when_the_subscription_asks(served, subscribe):
    without, _ = subscribe("--name", "a", "--calendar", "action-items", "--no-alarms")
    with_alarms, _ = subscribe("--name", "b", "--calendar", "action-items", "--alarms")
    assert b"BEGIN:VALARM" not in get(served, f"/feeds/{without}.ics").content
    assert b"BEGIN:VALARM" in get(served, f"/feeds/{with_alarms}.ics").content


def test_tokens_never_reach_the_info_log(served, subscribe, caplog):
    token, _ = subscribe("--name", "desk")
    with caplog.at_level(logging.INFO):
        get(served, f"/feeds/{token}.ics")
        get(served, f"/s/{token}/")
        get(served, f"/feeds/{token[:-2]}xx.ics")
    # Everything logged on the server side (the test's own HTTP client logs the URL it fetched; skip that).
    lines = [r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any("GET /feeds/… 200" in line for line in lines) and any("GET /s/…/ 200" in line for line in lines)
    assert not any(token[:12] in line for line in lines)


def test_page_and_about(served, subscribe):
    token, _ = subscribe("--name", "desk", "--person", "apec-officer")
    page = get(served, f"/s/{token}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert (
        "Volunteer for the KPI drafting committees" in page.text and "as of 2008-09-01 09:00 Asia/Taipei" in page.text
    )
    assert f"webcal://{served.url.removeprefix('http://')}/feeds/{token}.ics" in page.text
    about = get(served, "/")
    assert about.status_code == 200 and "Volunteer" not in about.text and "/feeds/" not in about.text
    download = get(served, f"/s/{token}/calendar.ics")
    assert download.headers["content-disposition"] == 'attachment; filename="tracker.ics"'
    assert download.content.startswith(b"BEGIN:VCALENDAR")


@pytest.mark.sqlite_only
def test_healthz(loaded, make_server, env, tmp_path):
    import shutil

    assert get(make_server(), "/healthz").json() == {"status": "ok"}
    folder = tmp_path / "gone"
    folder.mkdir()
    shutil.copy(env["TRACKER_DB"].removeprefix("sqlite:///"), folder / "db.sqlite")
    server = make_server(db=f"sqlite:///{folder / 'db.sqlite'}")
    assert get(server, "/healthz").status_code == 200
    shutil.rmtree(folder)
    server.app.ctx.engine.dispose()
    down = get(server, "/healthz")
    assert down.status_code == 503 and down.json() == {"status": "database unreachable"}


def test_page_scopes_and_windows_whatever_the_clocks_offset(loaded, make_server, subscribe, invoke, clock):
    # 30 days after 2008-09-01T01:00Z is 2008-10-01T01:00Z; an item due at 2008-09-30T21:00Z is inside the window.
    # With the clock written at -05:00 that instant reads "2008-09-30T20:00-05:00", which sorts before the due
    # date's UTC text: only a comparison of instants, not of strings, gets this right.
    clock.set("2008-08-31T20:00:00-05:00")
    invoke(
        "add", "Call the Thai co-host", "--owner", "forum-officer", "--due", "2008-10-01T05:00", "--tz", "Asia/Taipei"
    )
    server = make_server()
    token, _ = subscribe("--name", "forum", "--person", "forum-officer")
    page = get(server, f"/s/{token}/")
    due = page.text.split('id="due"')[1].split("</ul>")[0]
    meetings = page.text.split('id="meetings"')[1].split("</ul>")[0]
    assert "Call the Thai co-host" in due
    # Only the meetings of this subscription's calendar: the forum officer neither attends nor serves Lima.
    assert "Lima" not in meetings and "APEC SME Working Group meeting" not in meetings
