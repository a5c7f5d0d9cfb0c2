"""The read side of the web desk over real HTTP: My desk, the register (filters, sort, pages, CSV), meetings and the
progress chart; every route needs a session, every title is shown as text."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import select

from tests.interop.test_subscribers import ARTIFACTS, CHROMIUM, FLAGS
from tracker.core import store
from tracker.core.models import Account, Item, ItemOwner, Person, Status

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
DONE = '<span class="change-field">Status</span>: open → done'  # the field's label, our words in the reader's language
ROUTES = ["/desk", "/register", "/register.csv", "/meetings", "/meetings/apec-smewg-28", "/meetings/apec-smewg"]


def ids(page: httpx.Response) -> list[int]:
    """The items a page's table lists, in its order."""
    body = page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [int(n) for n in re.findall(r'<a href="/items/(\d+)">', body)]


def cli_ids(invoke_json, *args: str) -> list[int]:
    """`tracker items ARGS` (global options such as --now may come first)."""
    at = list(args[:2]) if args[:1] == ("--now",) else []
    return [row["id"] for row in invoke_json(*at, "items", *args[len(at) :])]


def seed(db_url: str, n: int, now: datetime) -> None:
    """`n` more items owned by apec-officer, due a day apart, of every priority."""
    engine = store.engine(db_url)
    with store.transaction(engine, write=True) as session:
        owner = session.scalars(select(Person).where(Person.slug == "apec-officer")).one()
        for i in range(n):
            item = Item(slug=f"extra-{i}", uid=f"item-extra-{i}@tracker", title=f"Extra follow-up {i}",
                        due=now + timedelta(days=i - n // 2), due_all_day=True, tz="Asia/Taipei",
                        status=Status.open, priority=("high", "medium", "low")[i % 3], category="innovation",
                        created_at=now, updated_at=now + timedelta(minutes=i), loaded={})  # fmt: skip
            item.owner_links = [ItemOwner(person=owner, position=0)]
            session.add(item)
    engine.dispose()


@pytest.fixture
def desk(loaded, make_server, desk_session):
    server = make_server()
    return server, desk_session(server, "apec-officer", "officer")


def test_every_page_needs_a_session_and_every_role_may_read(loaded, make_server, desk_session):
    server = make_server()
    for path in ROUTES:
        response = httpx.get(server.url + path)
        assert response.status_code == 401 or (
            response.status_code in (302, 303) and "/sign-in" in response.headers["location"]
        ), path
        forged = httpx.get(server.url + path, cookies={"tracker_session": "not-a-session"})
        assert forged.status_code == response.status_code, path
    assert httpx.get(server.url + "/").status_code == 200  # the page about tracker, before signing in
    for slug, role in (("desk-lead", "lead"), ("apec-officer", "officer"), ("forum-officer", "viewer")):
        client = desk_session(server, slug, role)
        home = client.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/desk"
        for path in ROUTES:
            assert client.get(path).status_code == 200, (role, path)


def test_the_register_filters_sorts_and_pages_as_the_cli_lists(desk, invoke_json, db_url):
    server, client = desk
    seed(db_url, 120, datetime(2008, 9, 1, tzinfo=UTC))
    query = {"owner": "apec-officer", "sort": "priority", "category": "innovation"}
    expected = cli_ids(invoke_json, "--owner", "apec-officer", "--sort", "priority", "--category", "innovation")
    assert len(expected) > 100
    first = client.get("/register", params=query)
    assert first.status_code == 200 and len(ids(first)) == 50
    seen, page, pages = ids(first), first, 1
    while 'rel="next"' in page.text:  # the next link carries every filter: a bookmark of the view
        link = html.unescape(re.search(r'<a href="([^"]+)" rel="next">', page.text)[1])
        assert {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()} == {**query, "page": str(pages + 1)}
        page, pages = client.get(link), pages + 1
        seen += ids(page)
    assert seen == expected and pages == 3
    assert f"{len(expected)} items match" in first.text
    beyond = client.get("/register", params={**query, "page": "9"})  # past the end: no rows, still the count
    assert beyond.status_code == 200 and ids(beyond) == [] and f"{len(expected)} items match" in beyond.text
    # Descending due date, text search (any case) and a committee, as `tracker items` takes them.
    for params, args in (
        ({"sort": "due", "order": "desc", "status": "all"}, ["--sort", "due", "--order", "desc", "--status", "all"]),
        ({"q": "kpi", "status": "all"}, ["--q", "kpi", "--status", "all"]),
        ({"committee": "kpi-innovation", "sort": "updated"}, ["--committee", "kpi-innovation", "--sort", "updated"]),
        ({"meeting": "apec-smewg-28", "due_after": "2008-09-01", "due_before": "2009-01-01"},
         ["--meeting", "apec-smewg-28", "--due-after", "2008-09-01", "--due-before", "2009-01-01"]),
    ):  # fmt: skip
        listed = cli_ids(invoke_json, *args)
        assert listed and ids(client.get("/register", params=params)) == listed[:50], params
    assert "Volunteer for the KPI" in client.get("/register", params={"q": "KPI DRAFTING"}).text
    assert ids(client.get("/register", params={"q": "100%_"})) == []  # LIKE's wildcards are plain characters


@pytest.mark.parametrize(
    ("param", "value", "option"),
    [("status", "bogus", "--status"), ("owner", "apec-oficer", "--owner"), ("due_after", "2008-13-01", "--due-after"),
     ("sort", "colour", "--sort"), ("order", "up", "--order"), ("committee", "kpi-inovation", "--committee"),
     ("meeting", "apec-smewg-29", "--meeting")],
)  # fmt: skip
def test_a_bad_filter_is_400_in_the_cli_s_words(desk, invoke, db_url, param, value, option):
    from tests.conftest import dump

    server, client = desk
    words = invoke("items", option, value, code=1).stderr.strip().removeprefix("Error: ")
    before = dump(db_url)
    page = client.get("/register", params={param: value})
    assert page.status_code == 400 and str(escape(words)) in page.text
    assert 'name="' + param + '"' in page.text  # the form again, to correct it
    spreadsheet = client.get("/register.csv", params={param: value})
    assert spreadsheet.status_code == 400 and words in spreadsheet.text
    assert dump(db_url) == before
    assert client.get("/register", params={"page": "0"}).status_code == 400


def test_the_csv_has_every_row_of_the_view_and_defuses_formulas(desk, invoke, invoke_json, db_url):
    server, client = desk
    seed(db_url, 70, datetime(2008, 9, 1, tzinfo=UTC))
    for title in ('=HYPERLINK("http://evil.example","x")', "+1+2", "-3", "@SUM(A1)", EVIL):
        invoke("add", "--owner", "apec-officer", "--category", "innovation", "--due", "2008-10-01", "--", title)
    response = client.get("/register.csv", params={"owner": "apec-officer", "category": "innovation"})
    assert response.status_code == 200 and response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    expected = invoke_json("items", "--owner", "apec-officer", "--category", "innovation")
    assert [int(r["id"]) for r in rows] == [r["id"] for r in expected] and len(rows) > 50  # every row, not a page
    titles = {r["title"] for r in rows}
    assert {'\'=HYPERLINK("http://evil.example","x")', "'+1+2", "'-3", "'@SUM(A1)", EVIL} <= titles
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r.values())
    everything = list(csv.DictReader(io.StringIO(client.get("/register.csv?status=all").content.decode("utf-8-sig"))))
    assert any("會中" in r["source_quote"] for r in everything)  # the Chinese quotes, intact


def test_titles_with_html_are_text_on_every_page(desk, invoke, db_url):
    server, client = desk
    invoke("add", EVIL, "--slug", "evil", "--owner", "apec-officer", "--due", "2008-09-10", "--meeting",
           "apec-smewg-28", "--serves", "apec-smewg", "--description", EVIL)  # fmt: skip
    invoke("--now", "2008-09-01T10:00:00+08:00", "edit", "evil", "--note", EVIL, "--priority", "high")
    pages = ["/desk", "/register", "/register?q=script", "/meetings/apec-smewg-28", "/meetings/apec-smewg"]
    for path in pages:
        body = client.get(path).text
        assert "<script>alert" not in body and "<img src=x" not in body, path
        assert str(escape(EVIL)) in body, path


def test_overdue_is_honest_about_2008_to_2011(loaded, make_server, desk_session, invoke, invoke_json, clock):
    server = make_server()
    invoke("add", "Due on the 30th", "--slug", "edge", "--owner", "apec-officer", "--due", "2008-09-30")
    for at in ("2008-09-30T23:59:00+08:00", "2008-10-01T00:00:00+08:00", "2009-06-01T09:00:00+08:00",
               "2011-12-31T12:00:00+08:00"):  # fmt: skip
        clock.set(at)
        client = desk_session(server, "desk-lead", "lead")  # sessions idle out: a new one at each time
        page = client.get("/register", params={"overdue": "1", "status": "all"})
        expected = [row["id"] for row in invoke_json("--now", at, "items", "--overdue", "--status", "all")]
        assert ids(page) == expected[:50], at
    clock.set("2008-09-30T23:59:00+08:00")
    assert "Due on the 30th" not in desk_session(server, "desk-lead", "lead").get("/register?overdue=1").text
    clock.set("2008-10-01T00:00:00+08:00")
    assert "Due on the 30th" in desk_session(server, "desk-lead", "lead").get("/register?overdue=1").text


def test_my_desk_lists_my_items_my_meetings_and_what_changed_since_my_last_visit(
    loaded, make_server, desk_session, invoke, invoke_json, clock, env
):
    server = make_server()
    for title, owner in (("Late already", "apec-officer"), ("Someone else's", "forum-officer")):
        invoke("--now", "2008-08-01", "add", title, "--owner", owner, "--due", "2008-08-15")
    client = desk_session(server, "apec-officer", "officer")
    page = client.get("/desk")
    now, month = clock().isoformat(), (clock() + timedelta(days=30)).isoformat()
    late = cli_ids(invoke_json, "--now", now, "--owner", "apec-officer", "--overdue")
    soon = set(cli_ids(invoke_json, "--now", now, "--owner", "apec-officer", "--due-before", month)) - set(late)
    assert late and soon
    overdue_list = page.text.split('id="overdue"', 1)[1].split("</section>", 1)[0]
    soon_list = page.text.split('id="soon"', 1)[1].split("</section>", 1)[0]
    assert [int(n) for n in re.findall(r"/items/(\d+)", overdue_list)] == late
    assert {int(n) for n in re.findall(r"/items/(\d+)", soon_list)} == soon
    attending = page.text.split('id="meetings"', 1)[1].split("</section>", 1)[0]
    assert "28th APEC SME Working Group meeting" in attending  # apec-officer attends it
    assert "Taiwan Business Alliance" not in attending  # bilateral-officer's
    assert "/meetings/apec-smewg/" in attending or "/meetings/apec-smewg-" in attending
    assert "What changed in the last 7 days" in page.text  # a first visit
    # A colleague marks one of my items done: it shows, and still shows on a reload.
    clock.set("2008-09-01T10:00:00+08:00")
    invoke("--now", "2008-09-01T10:00:00+08:00", "done", "kpi-committee-volunteer")
    for _ in range(2):
        changes = client.get("/desk").text.split('id="changes"', 1)[1].split("</section>", 1)[0]
        assert "Volunteer for the KPI drafting committees" in changes and DONE in changes
    # Back the next day in a new session: the last visit ended at 10:00 (when this session was last seen), so
    # that change is no longer new, and the heading says since when.
    clock.set("2008-09-02T09:00:00+08:00")
    again = desk_session(server, "apec-officer", "officer").get("/desk").text
    assert "What changed since my last visit (2008-09-01 10:00)" in again
    assert DONE not in again.split('id="changes"', 1)[1].split("</section>", 1)[0]
    engine = store.engine(env["TRACKER_DB"])
    with store.transaction(engine) as session:
        person = session.scalars(select(Person).where(Person.slug == "apec-officer")).one()
        assert session.get(Account, person.id).last_visit_at == datetime(2008, 9, 1, 2, 0, tzinfo=UTC)
    engine.dispose()


def test_meetings_expand_series_and_show_a_month_only_date_as_such(desk, invoke_json, clock):
    server, client = desk
    page = client.get("/meetings")
    upcoming = page.text.split('id="upcoming"', 1)[1].split("</section>", 1)[0]
    past = page.text.split('id="past"', 1)[1].split("</section>", 1)[0]
    now = clock()
    expected = invoke_json("--now", now.isoformat(), "meetings", "--from", now.isoformat(),
                           "--to", (now + timedelta(days=365)).isoformat())  # fmt: skip
    assert upcoming.count("<li>") == len(expected) and len(expected) > 2
    for row in expected:
        assert str(escape(row["title"])) in upcoming
    assert "2009-03 (day TBC)" in upcoming or "(day TBC)" in upcoming  # the series' placeholder dates
    assert "date to be confirmed" in upcoming
    assert "from the series' rule" in upcoming
    assert "15th APEC SME Ministerial Meeting" in past
    occurrence = re.search(r'href="(/meetings/apec-smewg/\d{4}-\d{2}-\d{2})"', upcoming)
    assert occurrence, "an occurrence of the series from its rule links to its own page"
    assert client.get(occurrence[1]).status_code == 200
    assert client.get("/meetings/apec-smewg/1999-01-01").status_code == 404
    assert client.get("/meetings/no-such-meeting").status_code == 404
    held = client.get("/meetings/apec-smewg-28").text
    came_from = held.split('id="came-from"', 1)[1].split("</section>", 1)[0]
    from_cli = [r for r in invoke_json("items", "--meeting", "apec-smewg-28", "--status", "all")]
    assert sorted(map(int, re.findall(r"/items/(\d+)", came_from))) == sorted(
        r["id"] for r in from_cli if r["meeting"] == "apec-smewg-28"
    )
    series = client.get("/meetings/apec-smewg").text
    serving = series.split('id="serve-series"', 1)[1].split("</section>", 1)[0]
    assert sorted(map(int, re.findall(r"/items/(\d+)", serving))) == sorted(
        r["id"]
        for r in invoke_json("items", "--meeting", "apec-smewg", "--status", "all")
        if r["serves"] == "apec-smewg"
    )


def test_the_progress_chart_is_svg_with_a_text_alternative_that_counts_right(desk, invoke, invoke_json, clock):
    server, client = desk
    invoke("--now", "2008-09-01T08:00:00+08:00", "done", "kpi-committee-volunteer")
    page = client.get("/register").text
    assert "<svg" in page and "<script" not in page and "http://" not in page.split("<svg", 1)[1]
    assert re.search(r'<svg[^>]+role="img"[^>]+aria-labelledby=', page) and "<desc" in page
    table = page.split("Progress by priority area", 1)[1].split("</table>", 1)[0]
    everything = invoke_json("--now", clock().isoformat(), "items", "--status", "all")
    for area in ("market-access", "innovation"):
        members = [r for r in everything if r["category"] == area]
        label = {"market-access": "Market access and internationalisation", "innovation": "Innovation"}[area]
        cells = re.search(rf"<th scope=\"row\">{label}</th><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>", table)
        assert cells, area
        assert int(cells[1]) == sum(r["status"] in ("open", "in_progress") for r in members)
        assert int(cells[2]) == sum(r["status"] == "done" for r in members)
        assert int(cells[3]) == sum(r["overdue"] for r in members)
    assert "Progress by owner" in page
    assert "My items by priority area" in client.get("/desk").text


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is installed by .ci/run")
def test_my_desk_and_the_register_in_headless_chromium_at_390_and_1280_px(loaded, make_server, desk_session, invoke):
    from playwright.sync_api import sync_playwright

    invoke("--now", "2008-08-01", "add", "Late already " + "x" * 80, "--owner", "apec-officer", "--due", "2008-08-15")
    server = make_server()
    token = desk_session(server, "apec-officer", "officer").cookies["tracker_session"]
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            for width in (390, 1280):
                context = browser.new_context(viewport={"width": width, "height": 900})
                context.add_cookies([{"name": "tracker_session", "value": token, "url": server.url}])
                page = context.new_page()
                for path, name in (("/desk", "desk"), ("/register?status=all&sort=priority", "register")):
                    page.goto(server.url + path)
                    assert page.locator("h1").first.inner_text() in ("My desk", "Register")
                    assert page.evaluate("document.documentElement.scrollWidth") <= width, (path, width)
                    assert page.locator("svg[role=img]").count() >= 1
                    page.screenshot(path=str(ARTIFACTS / f"desk-{name}-{width}px.png"), full_page=True)
                    page.screenshot(path=str(ARTIFACTS / f"desk-{name}-{width}px-top.png"))  # what opens first
                # The filter form works without script: choose an owner, submit, land on a bookmarkable URL.
                page.goto(server.url + "/register")
                page.select_option("#f-owner", "forum-officer")
                page.click("button[type=submit] >> text=Show")
                assert "owner=forum-officer" in page.url
                context.close()
        finally:
            browser.close()


def test_progress_counts_each_month_from_creation_deadlines_completion_and_cancelling(loaded, invoke, db_url):
    from zoneinfo import ZoneInfo

    from tracker.register.progress import progress

    invoke("--now", "2008-09-01T09:00:00+08:00", "add", "Late then done", "--slug", "late", "--owner",
           "forum-officer", "--category", "financing", "--due", "2008-09-10")  # fmt: skip
    invoke("--now", "2008-09-01T09:00:00+08:00", "add", "Dropped", "--slug", "dropped", "--owner", "forum-officer",
           "--category", "financing", "--due", "2008-12-31")  # fmt: skip
    invoke("--now", "2008-10-15T09:00:00+08:00", "done", "late")
    invoke("--now", "2008-11-20T09:00:00+08:00", "cancel", "dropped")
    engine = store.engine(db_url)
    with store.transaction(engine) as session:
        found = progress(session, datetime(2009, 1, 15, tzinfo=UTC), ZoneInfo("Asia/Taipei"))
    engine.dispose()
    financing = next(g for g in found.areas if g.key == "financing")
    counts = zip(*(financing.counts[c] for c in ("open", "done", "overdue")), strict=True)
    months = dict(zip(found.points, counts, strict=True))
    assert months["2008-08"] == (0, 0, 0)  # before either was added
    assert months["2008-09"] == (2, 0, 1)  # both open at the end of September, the first overdue since the 11th
    assert months["2008-10"] == (1, 1, 0)  # done on 15 October
    assert months["2008-11"] == (0, 1, 0)  # the other cancelled: neither open nor done
    assert months["2009-01"] == (0, 1, 0)  # the last point is now
    assert found.points[-1] == "2009-01" and found.points[0] == "2008-08"
