"""The desk's security over real HTTP (uvicorn on 127.0.0.1): CSRF on every state-changing route (found in the
app's route table, so routes added later are covered without touching this file), what each role may do (a table
to extend), sign-in by password and by e-mailed link (cookies, replay, expiry, brute force, the same answer for
unknown accounts, ?next= staying on this site), sessions ending, and no secret in the logs."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import func, select
from starlette.routing import Mount, Route

from tests.conftest import dump, free_port
from tracker.calendars.subscriptions import hash_token
from tracker.core import store
from tracker.core.models import AppPassword, Item, Person, SignInFailure, SignInLink, Subscription
from tracker.register import accounts
from tracker.web import auth, signin

PASSWORD = "lanterns over the harbour"
FOREIGN = "https://evil.example"
PEOPLE = {"lead": "desk-lead", "officer": "apec-officer", "viewer": "forum-officer"}

# POST routes that take no session and need no CSRF token: the links in reminders, where the signed token in the
# path is itself the proof (and RFC 8058's one-click unsubscribe is POSTed by the mail provider, not a browser).
SIGNED_LINKS = {"/done/{token}", "/snooze/{token}", "/settings/{token}"}
# Routes anyone may open without a session (the matrix below covers every other route).
PUBLIC = SIGNED_LINKS | {"/", "/healthz", "/s", "/sign-in", "/sign-in/link/{token}"}


@pytest.fixture
def desk(loaded, invoke, make_server, env):
    """A server over the shipped data, where desk-lead (lead), apec-officer (officer) and forum-officer (viewer)
    have accounts with PASSWORD."""
    for role, slug in PEOPLE.items():
        invoke("user", "role", slug, role)
        invoke("user", "set-password", slug, "--password-stdin", input=PASSWORD + "\n")
    return make_server()


def browser(server) -> httpx.Client:
    """A browser on the server's site: it sends its Origin with every request, and keeps cookies."""
    return httpx.Client(base_url=server.url, headers={"Origin": server.url, "Accept": "text/html"})


def form_token(page: httpx.Response, action: str | None = None) -> str:
    """The CSRF token of the page's first form (posting to `action`, if given)."""
    start = page.text.index(f'action="{action}"') if action else 0
    return re.compile(r'name="csrf" value="([^"]+)"').search(page.text, start).group(1)


def sign_in(client: httpx.Client, login: str, password: str = PASSWORD, next_path: str | None = None,
            address: str | None = None) -> httpx.Response:  # fmt: skip
    """The password form, as a browser fills it in after opening the sign-in page."""
    token = form_token(client.get("/sign-in"), "/sign-in")
    data = {"csrf": token, "way": "password", "login": login, "password": password}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/sign-in", data=data)


def ask_for_link(client: httpx.Client, login: str, next_path: str | None = None) -> httpx.Response:
    token = form_token(client.get("/sign-in"), "/sign-in")
    data = {"csrf": token, "way": "email", "login": login, **({"next": next_path} if next_path else {})}
    return client.post("/sign-in", data=data)


def signed_in_as(client: httpx.Client) -> str | None:
    """Who the sign-in page says is signed in (it shows the sign-out buttons then)."""
    page = client.get("/sign-in")
    found = re.search(r"You are signed in as ([^.<]+)\.", page.text)
    return found.group(1) if found else None


def failures(db_url: str) -> int:
    engine = store.engine(db_url)
    try:
        with store.transaction(engine) as session:
            return session.scalar(select(func.count()).select_from(SignInFailure))
    finally:
        engine.dispose()


# --- CSRF: every state-changing route, from the route table ----------------------------------------------------


def post_routes(routes, prefix: str = "") -> list[str]:
    """The path template of every route that accepts POST, Mounts included."""
    found = []
    for route in routes:
        if isinstance(route, Mount):
            found += post_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route) and "POST" in (route.methods or ()):
            found.append(prefix + route.path)
    return found


def real_values(env, clock) -> dict[str, str]:
    """A real value for each path parameter a POST route may have: add one here when a route brings a new name."""
    engine = store.engine(env["TRACKER_DB"])
    try:
        with store.transaction(engine, write=True) as session:
            lead = session.scalars(select(Person).where(Person.slug == "desk-lead")).one()
            token = "a-real-sign-in-link-token-for-the-route-table-test"
            session.add(SignInLink(token_hash=hash_token(token), person_id=lead.id, created_at=clock(),
                                   expires_at=clock() + signin.LINK_LIFETIME))  # fmt: skip
    finally:
        engine.dispose()
    item = "kpi-committee-volunteer"
    return {"token": token, "ref": item, "slug": item, "item": item, "person": "apec-officer", "day": "2027-03-01"}


def test_every_state_changing_route_refuses_a_missing_token_and_a_foreign_origin(desk, desk_session, env, clock,
                                                                                db_url):  # fmt: skip
    routes = post_routes(desk.app.app.routes)
    assert {"/sign-in", "/sign-in/link/{token}", "/sign-out", "/sign-out-everywhere"} <= set(routes)
    assert SIGNED_LINKS <= set(routes)
    values = real_values(env, clock)
    checked = []
    for template in sorted(set(routes) - SIGNED_LINKS):
        names = re.findall(r"{(\w+)(?::\w+)?}", template)
        assert set(names) <= set(values), f"{template}: give real_values() a value for {names}"
        path = re.sub(r"{(\w+)(?::\w+)?}", lambda m: values[m.group(1)], template)
        client = desk_session(desk, "desk-lead", "lead")
        # The token the sign-in pages check (their cookie's) is the session's here: one token fits every route.
        client.cookies.set(auth.SIGN_IN_COOKIE, client.csrf)
        before = dump(db_url)
        missing = client.post(path, data={"note": "x"})
        foreign = client.post(path, data={"csrf": client.csrf, "note": "x"}, headers={"Origin": FOREIGN})
        del client.headers["origin"]  # a browser that names the page only in its Referer
        referer = client.post(path, data={"csrf": client.csrf}, headers={"Referer": f"{FOREIGN}/x"})
        client.headers["origin"] = desk.url
        wrong = client.post(path, data={"csrf": client.csrf[::-1]})
        assert [missing.status_code, foreign.status_code, referer.status_code, wrong.status_code] == [403] * 4, path
        assert dump(db_url) == before, f"{path}: a refused request changed the database"
        # The same request with the token and from this site is not refused: the 403s came from the checks.
        assert client.post(path, data={"csrf": client.csrf}).status_code != 403, path
        checked.append(template)
    assert "/sign-out" in checked and "/sign-in/link/{token}" in checked


# --- roles × routes ------------------------------------------------------------------------------------------


OWN_ITEM = "kpi-committee-volunteer"  # apec-officer's (the officer); forum-host-2009 is forum-officer's (the viewer)


class FormOf:
    """The fields of the form posting to `action` on `page` as the role's own browser shows them, or as the lead's
    does when the role may not open the page or is not shown that form there (the forged POST sends the lead's
    fields), with `changes` typed in."""

    def __init__(self, page: str, action: str, **changes: str) -> None:
        self.page, self.action, self.changes = page, action, changes

    def fields(self, own: httpx.Client, lead: httpx.Client, values: dict[str, str]) -> dict[str, str | list[str]]:
        parser = self._form(own, values)
        if not parser.found:
            parser = self._form(lead, values)
            assert parser.found, f"no form posting to {self.action} on {self.page}"
        return parser.fields | {k: v.format(**values) for k, v in self.changes.items()}

    def _form(self, client: httpx.Client, values: dict[str, str]) -> FormFields:
        page = client.get(self.page.format(**values))
        assert page.status_code in (200, 403), page.text
        parser = FormFields(self.action.format(**values))
        if page.status_code == 200:
            parser.feed(page.text)
        return parser


class FormFields(HTMLParser):
    """A browser's view of one form: each named field's value (checked boxes, selected options, textareas)."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action, self.found, self.inside, self.fields = action, False, False, {}
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("action") == self.action
            self.found |= self.inside
        elif not self.inside or not (name := a.get("name") or self.select):
            return
        elif tag == "input" and a.get("type") in ("checkbox", "radio"):
            if "checked" in a:
                self.fields.setdefault(name, []).append(a.get("value", "on"))
        elif tag == "input" and a.get("type") != "submit":
            self.fields[name] = a.get("value") or ""
        elif tag == "select":
            self.select = name
        elif tag == "option" and self.select and ("selected" in a or self.select not in self.fields):
            self.fields[self.select] = a.get("value", "")  # the selected option, else the first (as a browser sends)
        elif tag == "textarea":
            self.textarea = name
            self.fields[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.fields[self.textarea] += data


@dataclass(frozen=True)
class Case:
    """One request and the status each role gets. A 403 or 404 must leave the database as it was. `url` is `path`
    with real values: {item} is the role's item from `items` (each role changes its own, so one role's change does
    not decide another's status), {id} its id, {version} its version, {sub} a subscription of the role's person,
    {app} their app password ({lead_sub}, {lead_app}: the lead's)."""

    method: str
    path: str
    form: dict | FormOf | None
    lead: int
    officer: int
    viewer: int
    url: str = ""
    items: tuple[str, str, str] = ("forum-host-2009", OWN_ITEM, OWN_ITEM)  # the lead's, the officer's, the viewer's


STATUS = {"version": "{version}", "note": "matrix"}

# Every route a session matters to has a row here (test_every_desk_route_is_in_the_matrix); a role that may not do
# something gets 403, whatever the page shows it.
# fmt: off
MATRIX = [
    Case("GET", "/sign-in", None, lead=200, officer=200, viewer=200),
    Case("POST", "/sign-out", {}, lead=303, officer=303, viewer=303),
    Case("POST", "/sign-out-everywhere", {}, lead=303, officer=303, viewer=303),
    # The read side: every role reads.
    *(Case("GET", path, None, lead=200, officer=200, viewer=200, url=url) for path, url in (
        ("/desk", ""), ("/register", ""), ("/register.csv", ""), ("/meetings", ""),
        ("/meetings/{slug}", "/meetings/apec-smewg-27"), ("/meetings/{slug}/{day}", "/meetings/apec-smewg/2009-03-01"),
        ("/meetings/{slug}/brief", "/meetings/apec-smewg-28/brief"),
        ("/meetings/{slug}/{day}/brief", "/meetings/apec-smewg/2009-09-01/brief?format=md"),
    )),
    # Reports: every role downloads the register and a meeting's promises; overdue-by-owner (who is late) leads only.
    *(Case("GET", path, None, lead=200, officer=200, viewer=200, url=url) for path, url in (
        ("/register.xlsx", ""), ("/reports/promised/{slug}.csv", "/reports/promised/apec-sme-ministerial-15.csv"),
        ("/reports/promised/{slug}.xlsx", "/reports/promised/apec-smewg.xlsx"),
    )),
    *(Case("GET", f"/reports/overdue.{fmt}", None, lead=200, officer=403, viewer=403) for fmt in ("csv", "xlsx")),
    # CalDAV signs in with an app password only: a desk session never reaches it (tests/test_dav.py has the rest).
    Case("GET", "/dav", None, lead=401, officer=401, viewer=401, url="/dav/apec-officer/items/"),
    Case("GET", "/.well-known/caldav", None, lead=301, officer=301, viewer=301),
    # Items: anyone reads; officers and leads create; an officer changes only their own or their committee's.
    Case("GET", "/items/{ref}", None, lead=200, officer=200, viewer=200, url="/items/{item}"),
    Case("GET", "/items/new", None, lead=200, officer=200, viewer=403),
    Case("POST", "/items/new", FormOf("/items/new", "/items/new", title="Made by the matrix"),
         lead=303, officer=303, viewer=403),
    Case("GET", "/items/{ref}/edit", None, lead=200, officer=200, viewer=403, url="/items/{item}/edit"),
    Case("POST", "/items/{ref}/edit", FormOf("/items/{item}/edit", "/items/{id}/edit", title="Renamed"),
         lead=303, officer=303, viewer=403, url="/items/{item}/edit"),
    Case("POST", "/items/{ref}/edit", FormOf("/items/{item}/edit", "/items/{id}/edit", title="Renamed"),
         lead=303, officer=403, viewer=403, url="/items/{item}/edit", items=("forum-host-2009",) * 3),
    *(Case("POST", f"/items/{{ref}}/{action}", STATUS, lead=303, officer=303, viewer=403,
           url=f"/items/{{item}}/{action}") for action in ("done", "cancel")),
    *(Case("POST", f"/items/{{ref}}/{action}", STATUS, lead=303, officer=403, viewer=403,
           url=f"/items/{{item}}/{action}", items=("forum-host-2009",) * 3) for action in ("done", "cancel")),
    Case("POST", "/items/{ref}/reopen", STATUS, lead=303, officer=303, viewer=403, url="/items/{item}/reopen",
         items=("lima-joint-statement-done", "officer-done", "officer-done")),
    Case("POST", "/items/{ref}/snooze", {"version": "{version}"}, lead=303, officer=303, viewer=403,
         url="/items/{item}/snooze", items=("kpi-lead-management-entrepreneurship", OWN_ITEM, OWN_ITEM)),
    # Meetings: leads add, edit, announce and cancel; officers and viewers only read.
    Case("GET", "/meetings/new", None, lead=200, officer=403, viewer=403),
    Case("POST", "/meetings/new", FormOf("/meetings/new", "/meetings/new", title="Matrix meeting", start="2027-05-01"),
         lead=303, officer=403, viewer=403),
    Case("GET", "/meetings/{slug}/edit", None, lead=200, officer=403, viewer=403, url="/meetings/apec-smewg-27/edit"),
    Case("POST", "/meetings/{slug}/edit", FormOf("/meetings/apec-smewg-27/edit", "/meetings/apec-smewg-27/edit",
         place="Matrix"), lead=303, officer=403, viewer=403, url="/meetings/apec-smewg-27/edit"),
    Case("POST", "/meetings/{slug}/cancel", {}, lead=303, officer=403, viewer=403,
         url="/meetings/apec-smewg-27/cancel"),
    Case("GET", "/meetings/{slug}/{day}/announce", None, lead=200, officer=403, viewer=403,
         url="/meetings/apec-smewg/2027-03-01/announce"),
    Case("POST", "/meetings/{slug}/{day}/announce", FormOf("/meetings/apec-smewg/2027-03-01/announce",
         "/meetings/apec-smewg/2027-03-01/announce", start="2027-03-09"), lead=303, officer=403, viewer=403,
         url="/meetings/apec-smewg/2027-03-01/announce"),
    Case("POST", "/meetings/{slug}/{day}/cancel", {}, lead=303, officer=403, viewer=403,
         url="/meetings/apec-smewg/2027-09-01/cancel"),
    Case("POST", "/meetings/{slug}/restore", {}, lead=303, officer=403, viewer=403,
         url="/meetings/taipei-textile-show-2008/restore"),  # matrix_desk cancelled it
    # Came home from a meeting: whoever creates items records a meeting's follow-ups (each its own: a title a meeting
    # has already is refused as recorded twice).
    Case("GET", "/meetings/record", None, lead=200, officer=200, viewer=403),
    Case("POST", "/meetings/record", FormOf("/meetings/record", "/meetings/record", meeting="apec-smewg-27",
         f1_title="Came home with the matrix ({sub})", f1_due="2008-09-30"), lead=303, officer=303, viewer=403),
    # ... but adding the meeting (as the meeting forms) is a lead's.
    Case("POST", "/meetings/record", FormOf("/meetings/record", "/meetings/record", meeting="",
         meeting_title="Matrix meeting", meeting_start="2008-10-01", meeting_tz="UTC", f1_title="Came home too"),
         lead=303, officer=403, viewer=403),
    # People: leads only.
    Case("GET", "/people", None, lead=200, officer=403, viewer=403),
    Case("GET", "/people/new", None, lead=200, officer=403, viewer=403),
    Case("POST", "/people/new", FormOf("/people/new", "/people/new", slug="matrix-person", name="Matrix Person"),
         lead=303, officer=403, viewer=403),
    Case("GET", "/people/{slug}/edit", None, lead=200, officer=403, viewer=403, url="/people/bilateral-officer/edit"),
    Case("POST", "/people/{slug}/edit", FormOf("/people/bilateral-officer/edit", "/people/bilateral-officer/edit",
         name="Renamed Officer"), lead=303, officer=403, viewer=403, url="/people/bilateral-officer/edit"),
    *(Case("POST", f"/people/{{slug}}/{action}", {}, lead=303, officer=403, viewer=403,
           url=f"/people/bilateral-officer/{action}") for action in ("disable", "enable")),
    # My calendars: officers their own subscriptions, leads anyone's, viewers none (but the page shows everyone
    # their own app passwords: the rows below).
    Case("GET", "/calendars", None, lead=200, officer=200, viewer=200),
    Case("POST", "/calendars", FormOf("/calendars", "/calendars", name="Matrix phone"),
         lead=200, officer=200, viewer=403),
    # A rotated link is shown once, on the answer itself (200); a revoke goes back to the list (303).
    *(Case("POST", f"/calendars/{{ref}}/{action}", {}, lead=status, officer=status, viewer=403,
           url=f"/calendars/{{sub}}/{action}") for action, status in (("rotate", 200), ("revoke", 303))),
    *(Case("POST", f"/calendars/{{ref}}/{action}", {}, lead=status, officer=403, viewer=403,
           url=f"/calendars/{{lead_sub}}/{action}") for action, status in (("rotate", 200), ("revoke", 303))),
    # App passwords for task apps (CalDAV): every role makes and revokes their own (a new one is shown once, on the
    # answer: 200); nobody revokes another's, which is looked up among their own only (404).
    Case("POST", "/calendars/app-passwords", FormOf("/calendars", "/calendars/app-passwords", label="Matrix app"),
         lead=200, officer=200, viewer=200),
    Case("POST", "/calendars/app-passwords/{ref}/revoke", {}, lead=303, officer=303, viewer=303,
         url="/calendars/app-passwords/{app}/revoke"),
    Case("POST", "/calendars/app-passwords/{ref}/revoke", {}, lead=303, officer=404, viewer=404,
         url="/calendars/app-passwords/{lead_app}/revoke"),
]
# fmt: on


def route_templates(routes, prefix: str = "") -> set[str]:
    found = set()
    for route in routes:
        found.add(prefix + route.path)
        if isinstance(route, Mount) and prefix + route.path not in PUBLIC:
            found |= route_templates(route.routes, prefix + route.path)
    return found


def test_every_desk_route_is_in_the_matrix(desk):
    missing = route_templates(desk.app.app.routes) - PUBLIC - {case.path for case in MATRIX}
    assert missing == set(), "add a row to MATRIX for each route (the status each role gets)"


def matrix_values(db_url: str, slug: str, person: str) -> dict[str, str]:
    """The placeholders of a Case's url and form for one role: its item (id, version) and subscriptions."""
    engine = store.engine(db_url)
    try:
        with store.transaction(engine) as session:
            item = session.scalars(select(Item).where(Item.slug == slug)).one()
            subs = {s.person.slug: s.id for s in session.scalars(select(Subscription)) if s.person}
            apps = {a.person.slug: a.id for a in session.scalars(select(AppPassword))}
            return {
                "item": slug,
                "id": str(item.id),
                "version": str(item.sequence),
                "sub": str(subs[person]),
                "lead_sub": str(subs[PEOPLE["lead"]]),
                "app": str(apps[person]),
                "lead_app": str(apps[PEOPLE["lead"]]),
            }
    finally:
        engine.dispose()


@pytest.fixture
def matrix_desk(desk, invoke):
    """The desk with what the rows act on: a subscription and an app password per person, and an item done by each
    of two roles."""
    for slug in PEOPLE.values():
        invoke("subscribe", "add", "--name", f"{slug}'s phone", "--person", slug)
        invoke("user", "app-password", slug, "--label", f"{slug}'s task app")
    invoke("user", "role", "bilateral-officer", "officer")  # the account the People rows disable and enable
    invoke("add", "Closed by the lead", "--slug", "lima-joint-statement-done", "--owner", "forum-officer")
    invoke("add", "Closed by the officer", "--slug", "officer-done", "--owner", "apec-officer")
    invoke("done", "lima-joint-statement-done")
    invoke("done", "officer-done")
    invoke("meeting", "cancel", "taipei-textile-show-2008")  # the restore row's
    return desk


@pytest.mark.parametrize("case", MATRIX, ids=lambda c: f"{c.method} {c.url or c.path} {c.items[0]}")
def test_what_each_role_may_do(case, matrix_desk, desk_session, db_url):
    lead = desk_session(matrix_desk, PEOPLE["lead"], "lead")
    for role in ("viewer", "officer", "lead"):  # refusals first: each must find the database untouched
        client = desk_session(matrix_desk, PEOPLE[role], role)
        values = matrix_values(db_url, case.items[("lead", "officer", "viewer").index(role)], PEOPLE[role])
        form = case.form.fields(client, lead, values) if isinstance(case.form, FormOf) else case.form
        if form is not None:
            filled = {k: v.format(**values) if isinstance(v, str) else v for k, v in form.items()}
            form = {**filled, "csrf": client.csrf}
        before = dump(db_url)
        response = client.request(case.method, (case.url or case.path).format(**values), data=form)
        assert response.status_code == getattr(case, role), (role, response.text[:2000])
        if response.status_code in (403, 404):
            assert dump(db_url) == before, f"{role}: a refused {case.method} {case.path} changed the database"


def test_no_page_with_a_form_to_check_hides_its_origin(matrix_desk, desk_session, env, clock):
    """Under `no-referrer` a browser posts a form with `Origin: null`, which the CSRF check refuses: every page whose
    forms carry a session token (or the sign-in token) says at least `origin`."""
    lead = desk_session(matrix_desk, PEOPLE["lead"], "lead")
    values = matrix_values(env["TRACKER_DB"], OWN_ITEM, PEOPLE["lead"])
    token = real_values(env, clock)["token"]
    pages = [(case.url or case.path).format(**values) for case in MATRIX if case.method == "GET"]
    pages += ["/sign-in", f"/sign-in/link/{token}"]
    for path in pages:
        page = lead.get(path)
        if 'name="csrf"' in page.text:
            policy = re.search(r'<meta name="referrer" content="([^"]+)">', page.text)
            assert policy and policy[1] != "no-referrer", path


# --- sessions and their cookie ---------------------------------------------------------------------------------


def session_cookie(response: httpx.Response) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{auth.COOKIE}="))


def test_the_session_cookie_is_httponly_lax_for_the_whole_site_and_secure_over_https(desk, make_server):
    with browser(desk) as client:
        response = sign_in(client, "desk-lead")
        assert response.status_code == 303
        flags = [part.strip().lower() for part in session_cookie(response).split(";")]
        assert {"httponly", "samesite=lax", "path=/"} <= set(flags) and "secure" not in flags
    https = make_server(base_url="https://desk.example.org")
    with browser(https) as client:
        page = client.get("/sign-in")
        sign_in_cookie = next(h for h in page.headers.get_list("set-cookie") if h.startswith(auth.SIGN_IN_COOKIE))
        assert "secure" in sign_in_cookie.lower() and "samesite=strict" in sign_in_cookie.lower()
        token = form_token(page)
        client.cookies.set(auth.SIGN_IN_COOKIE, token)  # the browser would send it back over https
        response = client.post("/sign-in", data={"csrf": token, "login": "desk-lead", "password": PASSWORD})
        flags = [part.strip().lower() for part in session_cookie(response).split(";")]
        assert {"httponly", "samesite=lax", "path=/", "secure"} <= set(flags)


def test_each_sign_in_opens_a_new_session_and_ends_the_one_before(desk):
    with browser(desk) as client:
        assert sign_in(client, "forum-officer").status_code == 303
        before = client.cookies[auth.COOKIE]
        assert sign_in(client, "desk-lead").status_code == 303
        after = client.cookies[auth.COOKIE]
        assert after != before and signed_in_as(client) == "APEC SME desk lead"
    with httpx.Client(base_url=desk.url, cookies={auth.COOKIE: before}) as replay:
        assert signed_in_as(replay) is None
    # A token planted in the browser before sign-in (session fixation) is not the one it gets.
    with browser(desk) as client:
        client.cookies.set(auth.COOKIE, "planted-by-someone-else", domain="127.0.0.1")
        assert sign_in(client, "apec-officer").status_code == 303
        assert client.cookies[auth.COOKIE] != "planted-by-someone-else"


def test_sign_out_and_sign_out_everywhere(desk):
    with browser(desk) as phone, browser(desk) as laptop, browser(desk) as office:
        for client in (phone, laptop, office):
            assert sign_in(client, "apec-officer").status_code == 303
        csrf = form_token(phone.get("/sign-in"))
        out = phone.post("/sign-out", data={"csrf": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/sign-in"
        assert signed_in_as(phone) is None and signed_in_as(laptop) is not None
        csrf = form_token(laptop.get("/sign-in"))
        assert laptop.post("/sign-out-everywhere", data={"csrf": csrf}).status_code == 303
        assert signed_in_as(laptop) is None and signed_in_as(office) is None
        assert office.post("/sign-out", data={"csrf": csrf}).status_code == 401


def test_a_page_without_a_session_leads_to_the_sign_in_page_and_back(desk):
    async def probe(request):  # a desk page (the pages themselves come with their own routes)
        from starlette.responses import PlainTextResponse

        viewer = await auth.require_viewer(request)
        return PlainTextResponse(f"hello {viewer.slug}")

    desk.app.app.router.routes.append(Route("/probe-page", probe))
    with browser(desk) as client:
        page = client.get("/probe-page?view=a b&x=1")
        assert page.status_code == 303
        assert page.headers["location"] == "/sign-in?next=%2Fprobe-page%3Fview%3Da%2520b%26x%3D1"
        next_path = unquote(page.headers["location"].split("next=", 1)[1])
        assert f'value="{next_path.replace("&", "&amp;")}"' in client.get(page.headers["location"]).text
        assert sign_in(client, "apec-officer", next_path=next_path).headers["location"] == "/probe-page?view=a%20b&x=1"
        assert client.get("/probe-page").text == "hello apec-officer"
    with httpx.Client(base_url=desk.url) as program:  # not a browser asking for a page: 401
        assert program.get("/probe-page").status_code == 401


def test_a_disabled_account_is_signed_out_everywhere_and_cannot_sign_in(desk, invoke):
    with browser(desk) as client:
        assert sign_in(client, "apec-officer").status_code == 303
        assert signed_in_as(client) == "APEC SMEWG officer"
        invoke("user", "disable", "apec-officer")
        assert signed_in_as(client) is None
        refused = sign_in(client, "apec-officer")
        assert refused.status_code == 400 and "do not sign anyone in" in refused.text
        invoke("user", "enable", "apec-officer")
        assert signed_in_as(client) is None  # enabling does not bring old sessions back
        assert sign_in(client, "apec-officer").status_code == 303


# --- password brute force ----------------------------------------------------------------------------------------


def answer(response: httpx.Response, login: str) -> tuple[int, str]:
    """The response as an attacker compares them: the status and the page without the echoed login and tokens."""
    text = re.sub(r'name="csrf" value="[^"]+"', "", response.text).replace(login, "LOGIN")
    return response.status_code, text


def test_the_same_answer_whether_or_not_the_account_exists(desk, db_url):
    with browser(desk) as client:
        known = sign_in(client, "apec-officer@example.org", "not the password at all")
        unknown = sign_in(client, "nobody-here@example.org", "not the password at all")
        no_password = sign_in(client, "vice-minister-shih", "not the password at all")  # a person without account
        assert known.status_code == 400 and "do not sign anyone in" in known.text
        assert answer(known, "apec-officer@example.org") == answer(unknown, "nobody-here@example.org")
        assert answer(no_password, "vice-minister-shih") == answer(unknown, "nobody-here@example.org")
        assert signed_in_as(client) is None
    assert failures(db_url) == 6  # each counted for its account and its address


@pytest.mark.parametrize("login", ["apec-officer", "nobody-here@example.org"])
def test_password_guessing_is_locked_out_per_account(login, desk, clock):
    with browser(desk) as client:
        for n in range(accounts.LIMITS["account"]):
            assert sign_in(client, login, f"guess number {n} of many").status_code == 400
        locked = sign_in(client, login, PASSWORD)  # even the right password, while locked out
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) == 15 * 60 + 1
        assert "Too many sign-in attempts. Try again in 16 minutes." in locked.text
        assert signed_in_as(client) is None
        # Another account from the same address is not locked out by this one.
        assert sign_in(client, "desk-lead").status_code == 303
        clock.set((clock() + accounts.WINDOW + timedelta(seconds=1)).isoformat())
        after = sign_in(client, login, PASSWORD)
        assert after.status_code == (303 if login == "apec-officer" else 400)


def test_password_guessing_is_locked_out_per_address(desk, clock):
    with browser(desk) as client:
        for n in range(accounts.LIMITS["address"]):
            assert sign_in(client, f"someone-{n}@example.org", "a guess of some length").status_code == 400
        locked = sign_in(client, "desk-lead", PASSWORD)
        assert locked.status_code == 429 and "retry-after" in locked.headers
        unknown = sign_in(client, "never-seen@example.org", "a guess of some length")
        assert answer(unknown, "never-seen@example.org") == answer(locked, "desk-lead")
        clock.set((clock() + accounts.WINDOW + timedelta(seconds=1)).isoformat())
        assert sign_in(client, "desk-lead", PASSWORD).status_code == 303


# --- sign-in links -----------------------------------------------------------------------------------------------


def email_channel(port: int) -> dict:
    """The reminders' SMTP channel setting, for a server on 127.0.0.1:`port`."""
    return {"email": {"host": "127.0.0.1", "port": port, "security": "plain", "from": "Tracker <tracker@example.org>",
                      "timeout": 5}}  # fmt: skip


@pytest.fixture
def mail_desk(desk, smtpd, make_server):
    """The desk, mailing through the test's SMTP server (aiosmtpd)."""
    return make_server(channels=email_channel(smtpd.port))


def received(smtpd, count: int) -> list:
    """The messages, once `count` have arrived (the link is sent after the page has answered)."""
    deadline = time.monotonic() + 10
    while len(smtpd.messages) < count:
        assert time.monotonic() < deadline, f"expected {count} messages, got {len(smtpd.messages)}"
        time.sleep(0.02)
    return smtpd.messages


def link_in(message) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(r"http://127\.0\.0\.1:\d+(/sign-in/link/\S+)", text).group(1)


def test_an_e_mailed_link_signs_in_once_after_a_press_and_not_after_15_minutes(mail_desk, smtpd, clock, db_url):
    with browser(mail_desk) as client:
        sent = ask_for_link(client, "apec-officer", next_path="/register?owner=me")
        assert sent.status_code == 200 and "a sign-in link is on its way" in sent.text
        message = received(smtpd, 1)[0]
        assert smtpd.recipients == [["apec-officer@example.org"]]
        assert message["Subject"] == "Your sign-in link for the desk"
        link = link_in(message)
        assert link.endswith("?next=%2Fregister%3Fowner%3Dme")
        before = dump(db_url)
        page = client.get(link)  # what a mail scanner does: nothing happens
        assert (
            page.status_code == 200 and "<button" in page.text and auth.COOKIE not in page.headers.get("set-cookie", "")
        )
        assert dump(db_url) == before
        used = client.post(link, data={"csrf": form_token(page)})
        assert used.status_code == 303 and used.headers["location"] == "/register?owner=me"
        assert signed_in_as(client) == "APEC SMEWG officer"
    with browser(mail_desk) as other:
        page = other.get(link)
        replay = other.post(link, data={"csrf": form_token(page)})
        assert replay.status_code == 410 and "expired or has been used" in replay.text
        assert signed_in_as(other) is None
        ask_for_link(other, "apec-officer@example.org")
        late = link_in(received(smtpd, 2)[1])
        page = other.get(late)
        clock.set((clock() + signin.LINK_LIFETIME).isoformat())
        expired = other.post(late, data={"csrf": form_token(page)})
        assert expired.status_code == 410 and signed_in_as(other) is None


def test_asking_for_a_link_answers_the_same_for_anyone_and_is_rate_limited(mail_desk, smtpd, clock):
    with browser(mail_desk) as client:
        known = ask_for_link(client, "forum-officer")
        unknown = ask_for_link(client, "nobody-here@example.org")
        without_account = ask_for_link(client, "vice-minister-shih")
        assert answer(known, "forum-officer") == answer(unknown, "nobody-here@example.org")
        assert answer(without_account, "vice-minister-shih") == answer(unknown, "nobody-here@example.org")
        assert len(received(smtpd, 1)) == 1
        for _ in range(accounts.LIMITS["link"] - 1):
            assert ask_for_link(client, "forum-officer").status_code == 200
        refused = ask_for_link(client, "forum-officer")
        assert refused.status_code == 429 and "retry-after" in refused.headers
        for _ in range(accounts.LIMITS["link"] - 1):
            assert ask_for_link(client, "nobody-here@example.org").status_code == 200
        assert answer(ask_for_link(client, "nobody-here@example.org"), "nobody-here@example.org")[0] == 429
        assert len(received(smtpd, accounts.LIMITS["link"])) == accounts.LIMITS["link"]


def test_without_e_mail_configured_the_link_form_is_not_offered(desk):
    with browser(desk) as client:
        page = client.get("/sign-in")
        assert 'value="email"' not in page.text
        refused = ask_for_link(client, "apec-officer")
        assert refused.status_code == 400 and "not set up on this desk" in refused.text


# --- ?next= ----------------------------------------------------------------------------------------------------

OFF_SITE = ["//evil.example", "//evil.example/desk", "/\\evil.example", "/\\/evil.example", "https://evil.example",
            "javascript:alert(1)", "/%2F%2Fevil.example", "/%2fevil.example", "%2F%2Fevil.example",
            "/%5Cevil.example", "/%252F%252Fevil.example", "/\t/evil.example", "/ /evil.example", "/%09/evil.example",
            "\\\\evil.example", "http:/evil.example", "evil.example"]  # fmt: skip


def test_next_never_leads_off_the_site(desk):
    with browser(desk) as client:
        for attempt in OFF_SITE:
            response = sign_in(client, "desk-lead", next_path=attempt)
            assert response.status_code == 303
            assert response.headers["location"] == signin.HOME, attempt
            page = client.get("/sign-in", params={"next": attempt})
            assert 'name="next" value="/desk"' in page.text, attempt
        kept = sign_in(client, "desk-lead", next_path="/register?status=open&sort=due")
        assert kept.headers["location"] == "/register?status=open&sort=due"
    assert all(signin.safe_next(attempt) == signin.HOME for attempt in OFF_SITE)


# --- secrets stay out of the logs ------------------------------------------------------------------------------


def test_no_password_or_token_reaches_the_log(mail_desk, smtpd, caplog, make_server):
    caplog.set_level(logging.DEBUG)
    secrets = [PASSWORD, "a wrong password for the log"]
    with browser(mail_desk) as client:
        sign_in(client, "desk-lead", secrets[1])
        response = sign_in(client, "desk-lead")
        secrets.append(client.cookies[auth.COOKIE])
        secrets.append(client.cookies[auth.SIGN_IN_COOKIE])
        ask_for_link(client, "apec-officer")
        link = link_in(received(smtpd, 1)[0])
        secrets.append(link.split("/")[-1].split("?")[0])
        client.get(link)
        client.post(link, data={"csrf": client.cookies[auth.SIGN_IN_COOKIE]})
        secrets.append(client.cookies[auth.COOKIE])
        client.post("/sign-out", data={"csrf": "wrong"})
        assert response.status_code == 303
    # A link that cannot be sent is logged, without the link.
    broken = make_server(channels=email_channel(free_port()))
    with browser(broken) as client:
        ask_for_link(client, "forum-officer")
        deadline = time.monotonic() + 10
        while "could not be sent" not in server_log(caplog):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    lines = server_log(caplog)
    assert "POST /sign-in 303" in lines and "POST /sign-in/link/… 303" in lines  # the access log was captured
    assert [s for s in secrets if s in lines] == []
    assert not re.search(r"/sign-in/link/[A-Za-z0-9_-]{20,}", lines)


def server_log(caplog) -> str:
    """What the server and the program log (the test's own HTTP client logs its requests too)."""
    return "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records if r.name.startswith(("tracker", "uvicorn")))
