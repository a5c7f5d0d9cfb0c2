"""Pages and reminders in the desk's languages: the zh_TW catalog covers every marked text, each page and each
reminder (with its .ics) reads in Traditional Chinese without English left over, and the language follows the
person's setting, else the browser's Accept-Language."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime

import httpx
import pytest
from icalendar import Calendar
from sqlalchemy import select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import LiveServer
from tests.test_delivery import send_due
from tracker.core import i18n, store
from tracker.core.config import load_settings
from tracker.core.models import AppPassword, Committee, Decision, Item, Meeting, MeetingSeries, Person, Subscription
from tracker.web import auth, server
from tracker.web.pages import desk_page

CHINESE = "zh-TW,zh;q=0.9"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
CJK = re.compile(r"[\u4e00-\u9fff]")
# Names that stay as they are in any language: products, file types (a load's author is "yaml"), the tool, the
# plan's acronym, formats and examples a field takes as typed, and "English" (the language picker names each
# language in itself).
NAMES = ("Apple Calendar", "Google Calendar", "Google", "Thunderbird", "Outlook", "https", "http", ".ics", "tracker",
         "APEC", "SMEWG", "data/people.yaml", "yaml", "UTC", "CSV", "IANA", "HH:MM-HH:MM", "trade-officer", "dump",
         "English", "CalDAV", "Apple", "DAVx⁵")  # fmt: skip


# --- the catalog ------------------------------------------------------------------------------------------


def _key(message) -> tuple:  # noqa: ANN001 - a babel Message
    return (message.id, message.context)


def test_every_marked_text_has_a_chinese_translation():
    """Babel's extractor runs over the sources as `python -m tracker.core.i18n update` does: a text marked since
    the last update, or left untranslated or fuzzy, is named here."""
    catalog = i18n.read_catalog("zh_TW")
    marked = [m for m in i18n.extract() if m.id]
    assert len(marked) > 100  # the extractor found the templates and the Python sources
    absent = [m.id for m in marked if m.id and catalog.get(m.id, m.context) is None]
    assert not absent, f"not in the catalog: run `python -m tracker.core.i18n update`, then translate {absent}"
    assert not i18n.missing(catalog), f"translate in {i18n.catalog_path('zh_TW')}: {i18n.missing(catalog)}"


def test_translations_keep_their_placeholders():
    catalog = i18n.read_catalog("zh_TW")
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(PLACEHOLDER.findall(ids[-1])) | set(PLACEHOLDER.findall(ids[0]))
        wrong += [(ids[0], s) for s in strings if set(PLACEHOLDER.findall(s)) != wanted]
    assert not wrong


def test_the_catalog_is_used_as_written_and_fuzzy_entries_are_not(tmp_path, monkeypatch):
    """The catalog is compiled from the .po when first used (no .mo that could be stale); a fuzzy entry, which
    `update` makes of a changed text, stays English until someone checks its translation."""
    po = i18n.catalog_path("zh_TW").read_text(encoding="utf-8")
    assert 'msgid "Mark done"\nmsgstr "標示為已完成"' in po
    fuzzy = po.replace('msgid "Mark done"\n', '#, fuzzy\nmsgid "Mark done"\n')
    (tmp_path / "zh_TW" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "zh_TW" / "LC_MESSAGES" / "messages.po").write_text(fuzzy, encoding="utf-8")
    i18n.language.cache_clear()
    try:
        with monkeypatch.context() as patched:
            patched.setattr(i18n, "LOCALE_DIR", tmp_path)
            chinese = i18n.language("zh_TW")
        assert chinese.gettext("Mark done") == "Mark done" and chinese.gettext("Remind me later") == "稍後再提醒我"
    finally:
        i18n.language.cache_clear()
    assert i18n.language("zh_TW").gettext("Mark done") == "標示為已完成"
    assert not list(i18n.LOCALE_DIR.rglob("*.mo"))


# --- choosing the language ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "locale"), [
    ("zh-TW", "zh_TW"), ("zh-Hant", "zh_TW"), ("zh-Hant-TW", "zh_TW"), ("zh;q=0.9", "zh_TW"),
    ("en-US,en;q=0.9", "en"), ("fr-FR, zh-TW;q=0.5, en;q=0.3", "zh_TW"), ("en;q=0.5, zh-tw", "zh_TW"),
    ("zh-TW;q=0, en", "en"), ("*", "en"), ("garbage", "en"), ("zh-TW;q=abc", "en"), (";;,,", "en"), ("", "en"),
    (None, "en"),
])  # fmt: skip
def test_accept_language_is_negotiated_among_our_locales(header, locale):
    assert i18n.negotiate(header) == locale


def test_a_persons_setting_wins_over_the_browser():
    assert i18n.choose("en", CHINESE).locale == "en"
    assert i18n.choose("zh_TW", "en-US").locale == "zh_TW"
    assert i18n.choose(None, CHINESE).locale == "zh_TW" and i18n.choose(None, None).locale == "en"


def test_dates_weekdays_times_and_numbers_are_formatted_for_the_locale():
    chinese, english = i18n.language("zh_TW"), i18n.language("en")
    thursday = date(2008, 8, 28)
    assert chinese.date(thursday) == "2008年8月28日 星期四" and chinese.weekday(thursday) == "星期四"
    assert english.date(thursday) == "2008-08-28" and english.weekday(thursday) == "Thursday"
    at = datetime(2008, 10, 6, 1, 30, tzinfo=UTC)
    assert chinese.datetime(at, "Asia/Taipei") == "2008年10月6日 星期一 上午9:30（台灣時間）"
    assert english.datetime(at, "Asia/Taipei") == "2008-10-06 09:30 Asia/Taipei"
    assert chinese.when("2009-03", "Asia/Taipei") == "2009年3月（日期待定）"
    assert english.when("2009-03", "Asia/Taipei") == "2009-03 (day TBC)"
    assert chinese.number(12345) == "12,345" and english.number(12345) == "12345"  # as the CLI counts
    assert chinese.ngettext("%(num)s day overdue", "%(num)s days overdue", 1200) == "已逾期 1,200 天"


# --- what a reader sees -------------------------------------------------------------------------------------


def user_texts(env: dict[str, str]) -> list[str]:
    """Everything the register itself holds that pages and messages quote (titles, names, places, themes...): not
    ours to translate. Longest first, so that a title goes before a word of it."""
    engine = store.engine(env["TRACKER_DB"])
    found: set[str] = set()
    try:
        with store.transaction(engine) as session:
            for model in (Item, Meeting, MeetingSeries, Person, Committee, Decision, Subscription, AppPassword):
                for row in session.execute(select(model.__table__)):
                    for value in row:
                        values = value if isinstance(value, list) else [value]
                        found |= {v for v in values if isinstance(v, str) and v}
    finally:
        engine.dispose()
    return sorted(found, key=len, reverse=True)


def english_left(text: str, quoted: list[str]) -> list[str]:
    """The English words of `text` (a page's or a message's visible text) that are not the register's own data,
    a link, or a name kept in every language."""
    text = re.sub(r"\S+://\S+", " ", text)
    for kept in sorted([*NAMES, *quoted], key=len, reverse=True):  # a whole title before a name in it
        text = text.replace(kept, " ")
    return re.findall(r"[A-Za-z]{2,}", text)


def visible(page: str) -> str:
    """What a browser shows of a page: no style, no tags, entities decoded."""
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def chinese_and_english(get, env: dict[str, str]) -> tuple[str, str]:
    """A page fetched by `get(headers)` for a Chinese browser and an English one: the Chinese has no English of
    ours left (and some Chinese of ours), the English has none of our Chinese."""
    zh, en = get({"accept-language": CHINESE}), get({"accept-language": "en-GB,en;q=0.8"})
    assert zh.status_code == en.status_code and '<html lang="zh-TW">' in zh.text and '<html lang="en">' in en.text
    quoted = user_texts(env)
    assert english_left(visible(zh.text), quoted) == []
    assert english_left(visible(en.text), quoted)  # the check is not blind: the English page has English
    ours = visible(en.text)
    for text in quoted:
        ours = ours.replace(text, " ")
    assert not CJK.search(ours)
    return zh.text, en.text


def test_the_pages_before_sign_in_read_in_the_browsers_language(loaded, env, make_server, subscribe):
    served = make_server()
    token, _ = subscribe("--name", "desk", "--calendar", "all")
    zh, _ = chinese_and_english(lambda h: httpx.get(f"{served.url}/", headers=h), env)
    assert "國際會議的後續待辦事項與會議行事曆。" in zh
    zh, en = chinese_and_english(lambda h: httpx.get(f"{served.url}/s/{token}/", headers=h), env)
    assert "逾期" in zh and "依優先領域" in zh and "2008年9月1日 星期一 上午9:00（台灣時間）" in zh
    assert "Overdue" in en and "as of 2008-09-01 09:00 Asia/Taipei" in en
    zh, _ = chinese_and_english(lambda h: httpx.get(f"{served.url}/done/forged", headers=h), env)
    assert "此連結無效。" in zh


def test_the_link_pages_and_the_reminders_read_in_chinese(loaded, env, invoke, smtpd, mail_config, make_server,
                                                          clock):  # fmt: skip
    """Reminders are written in the recipient's language (Person.locale); the pages their links open follow the
    browser. Every kind of reminder is sent over SMTP and read in both languages."""
    engine = store.engine(env["TRACKER_DB"])
    with store.transaction(engine, write=True) as session:
        session.execute(update(Person).where(Person.slug.in_(["bilateral-officer", "apec-officer"]))
                        .values(locale="zh_TW"))  # fmt: skip
    engine.dispose()
    served = make_server()
    config = {**mail_config, "TRACKER_BASE_URL": served.url}
    for now in ("2008-09-29T08:30+08:00", "2008-09-30T10:00+08:00", "2008-10-01T10:00+08:00"):
        send_due(invoke, now, config)
    quoted = user_texts(env)
    kinds: dict[str, set[str]] = {"zh_TW": set(), "en": set()}
    for mail in smtpd.messages:
        chinese = "bilateral-officer" in mail["To"] or "apec-officer" in mail["To"]
        text, page = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
        shown = "\n".join([mail["Subject"], text, visible(page), *ics_texts(mail)])
        if chinese:
            assert english_left(shown, quoted) == [], (english_left(shown, quoted), shown[-1500:])
            assert CJK.search(mail["Subject"]) and '<html lang="zh-TW">' in page
        else:
            assert english_left(shown, quoted)
        kinds["zh_TW" if chinese else "en"].add(kind_of(mail, text))
    assert kinds["zh_TW"] >= {"item", "meeting", "digest", "catchup"}, kinds

    clock.set("2008-09-30T11:00:00+08:00")
    kpi = next(m for m in smtpd.messages if "apec-officer" in m["To"] and "標示為已完成：" in text_of(m))
    links = dict(re.findall(r"^(標示為已完成|7 天後再提醒我|您的提醒與行事曆)：(\S+)", text_of(kpi), re.M))
    for url in links.values():
        zh, _ = chinese_and_english(lambda h, url=url: httpx.get(url, headers=h), env)
        assert CJK.search(visible(zh))
    settings = links["您的提醒與行事曆"]
    subscribed = httpx.post(settings, data={"action": "subscribe"}, headers={"accept-language": CHINESE})
    assert "您的行事曆訂閱已建立。" in subscribed.text and "下載 .ics 檔" in subscribed.text
    again = lambda h: httpx.post(settings, data={"action": "subscribe"}, headers=h)  # noqa: E731
    zh, en = chinese_and_english(again, env)
    assert "您已有從此連結建立的行事曆訂閱" in zh and "here are its links again" in en
    done = httpx.post(links["標示為已完成"], headers={"accept-language": CHINESE})
    assert "已標示為已完成。" in done.text
    zh, en = chinese_and_english(lambda h: httpx.get(links["標示為已完成"], headers=h), env)
    assert "已由 apec-officer 於 2008年9月30日 星期二 上午11:00（台灣時間） 完成。" in zh
    assert "Already done by apec-officer on 2008-09-30 11:00 Asia/Taipei." in en


def text_of(mail) -> str:  # noqa: ANN001
    return mail.get_body(("plain",)).get_content()


def kind_of(mail, text: str) -> str:  # noqa: ANN001
    """Which template a message used, read from its text's links and headings in either language."""
    if "/done/" in text:
        return "item"
    subject = mail["Subject"]
    if subject.startswith(("Weekly digest", "每週摘要")):
        return "digest"
    if subject.startswith(("Missed while", "提醒暫停期間")):
        return "catchup"
    return "meeting"


def ics_texts(mail) -> list[str]:  # noqa: ANN001
    """The words our .ics attachment adds: summaries, descriptions, categories and alarm texts."""
    found = []
    for part in mail.iter_attachments():
        if part.get_content_type() != "text/calendar":
            continue
        calendar = Calendar.from_ical(part.get_payload(decode=True))
        for component in calendar.walk():
            for name in ("SUMMARY", "DESCRIPTION"):
                if name in component:
                    found.append(str(component[name]))
            if component.name in ("VTODO", "VEVENT"):
                found += [str(c) for c in component.categories]
    return found


# --- the desk's pages follow the signed-in person -----------------------------------------------------------


@pytest.fixture
def desk_app(loaded, env, clock):
    """A page of the desk served as the desk's routes serve theirs: desk_page after web.auth's sign-in check."""

    async def page(request: Request) -> Response:
        await auth.require_viewer(request)
        return desk_page(request, "desk.html", {"here": "desk"})

    def make_app(url: str) -> Starlette:
        settings = load_settings(environ=env, overrides={"base_url": url})
        app = Starlette(routes=[Route("/desk", page)])
        app.state.ctx = server.Context(settings, store.engine(settings.db), clock)
        return app

    served = LiveServer(make_app)
    yield served
    served.stop()


def set_locale(env: dict[str, str], slug: str, locale: str | None) -> None:
    engine = store.engine(env["TRACKER_DB"])
    with store.transaction(engine, write=True) as session:
        session.execute(update(Person).where(Person.slug == slug).values(locale=locale))
    engine.dispose()


def test_a_signed_in_persons_locale_overrides_the_browser(desk_app, desk_session, env):
    client = desk_session(desk_app, "apec-officer", "officer")
    set_locale(env, "apec-officer", "zh_TW")
    page = client.get("/desk", headers={"accept-language": "en-US,en;q=0.9"})
    assert page.status_code == 200 and '<html lang="zh-TW">' in page.text
    assert "我的工作台" in page.text and "登出" in page.text and "My desk" not in page.text
    set_locale(env, "apec-officer", "en")
    page = client.get("/desk", headers={"accept-language": CHINESE})
    assert '<html lang="en">' in page.text and "My desk" in page.text and "我的工作台" not in page.text
    set_locale(env, "apec-officer", None)  # no setting of their own: the browser's
    page = client.get("/desk", headers={"accept-language": CHINESE})
    assert '<html lang="zh-TW">' in page.text and "我的工作台" in page.text


def test_concurrent_requests_each_get_their_own_language(desk_app, desk_session, env):
    """Translations are chosen per request, never installed on the shared environment: interleaved readers of
    both languages each get theirs."""
    import concurrent.futures

    chinese = desk_session(desk_app, "apec-officer", "officer")
    english = desk_session(desk_app, "forum-officer", "officer")
    set_locale(env, "apec-officer", "zh_TW")
    set_locale(env, "forum-officer", "en")

    def read(client: httpx.Client) -> str:
        return client.get("/desk").text

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(read, [chinese, english] * 20))
    assert all("我的工作台" in p and "My desk" not in p for p in pages[0::2])
    assert all("My desk" in p and "我的工作台" not in p for p in pages[1::2])


# --- every page of the desk, over HTTP, for a person who reads Chinese -----------------------------------------

KPI = 1  # kpi-committee-volunteer: owner apec-officer, due 2008-09-30
CORE_WORDS = re.compile(r'<p class="error" id="[\w-]+-error"[^>]*>.*?</p>', re.S)


def without_core_words(page: str) -> str:
    """A page without the core's validation words beside a field (InvalidInput, shared with the CLI, in English
    as README "Languages" says)."""
    return CORE_WORDS.sub(" ", page)


def reads_in_both(env: dict[str, str], slug: str, fetch, status: int = 200) -> str:  # noqa: ANN001 - a request
    """`fetch()` answered while `slug` reads Chinese, then English (Person.locale; the browser says English): the
    Chinese page has no English of ours left, the English one has (the check is not blind). The Chinese page."""
    set_locale(env, slug, "zh_TW")
    zh = fetch()
    set_locale(env, slug, "en")
    en = fetch()
    set_locale(env, slug, "zh_TW")
    assert zh.status_code == en.status_code == status, (zh.status_code, en.status_code, zh.text[-800:])
    assert '<html lang="zh-TW">' in zh.text and '<html lang="en">' in en.text
    quoted = user_texts(env)
    left = english_left(visible(without_core_words(zh.text)), quoted)
    assert left == [], (left, re.sub(r"\s+", " ", visible(zh.text))[:3000])
    assert english_left(visible(en.text), quoted)
    return zh.text


DESK_PAGES = [  # (who, path): every page a signed-in person reads, each kind of meeting page, a filtered register
    ("desk-lead", "/desk"), ("apec-officer", "/desk"),
    ("desk-lead", "/register?status=all&owner=apec-officer&sort=priority&order=asc"),
    ("desk-lead", "/register?overdue=1&category=innovation"),
    ("desk-lead", "/meetings"), ("desk-lead", "/meetings/apec-smewg-28"), ("desk-lead", "/meetings/apec-smewg"),
    ("desk-lead", f"/items/{KPI}"), ("apec-officer", f"/items/{KPI}"), ("desk-lead", f"/items/{KPI}/edit"),
    ("desk-lead", "/items/new"), ("desk-lead", "/people"), ("desk-lead", "/people/new"),
    ("desk-lead", "/people/apec-officer/edit"), ("desk-lead", "/calendars"), ("apec-officer", "/calendars"),
    ("forum-officer", "/calendars"),
]  # fmt: skip


def test_every_desk_page_reads_in_the_persons_language(loaded, env, make_server, desk_session, invoke, clock):
    server = make_server()
    clients = {"desk-lead": desk_session(server, "desk-lead", "lead"),
               "apec-officer": desk_session(server, "apec-officer", "officer"),
               "forum-officer": desk_session(server, "forum-officer", "viewer")}  # fmt: skip
    # Something in every list: a change since the last visit, a done item with its history, a subscription, app
    # passwords (one revoked).
    clock.set("2008-09-01T10:00:00+08:00")
    invoke("--now", "2008-09-01T10:00:00+08:00", "done", "kpi-join-innovation-committee")
    invoke("subscribe", "add", "--name", "phone", "--person", "apec-officer")
    for label in ("tablet", "phone"):
        invoke("user", "app-password", "forum-officer", "--label", label)
    invoke("user", "app-password", "forum-officer", "--revoke", "1")
    for slug, path in DESK_PAGES:
        page = reads_in_both(env, slug, lambda slug=slug, path=path: clients[slug].get(path))
        assert CJK.search(visible(page)), path
    desk = reads_in_both(env, "apec-officer", lambda: clients["apec-officer"].get("/desk"))
    assert "我的逾期事項" in desk and "狀態</span>: 待辦 → 已完成" in desk and "(命令列)" in desk
    item = reads_in_both(env, "apec-officer", lambda: clients["apec-officer"].get(f"/items/{KPI}"))
    assert "2008年9月30日 星期二" in item and "7 天後再提醒我" in item and "經由資料載入" in item
    register = clients["desk-lead"].get("/register?status=all").text
    assert "創新" in register and "待辦或進行中" in register  # the chart's and filter's priority areas, the statuses
    meetings = clients["desk-lead"].get("/meetings").text
    assert "年3月（日期待定）" in meetings and "(day TBC)" not in meetings


def test_the_desk_s_answers_to_a_change_read_in_the_persons_language(loaded, env, make_server, desk_session):
    """A 400 (a refused field, the form again), a 409 (a stale version, both versions shown), and a new
    subscription's secret address read in Chinese; the core's validation words stay the CLI's (English)."""
    from tests.test_web_items import edit_form, post

    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    officer = desk_session(server, "apec-officer", "officer")
    stale = edit_form(lead, KPI)
    assert post(officer, f"/items/{KPI}/done", {"version": "0", "note": ""}).status_code == 303
    conflict = reads_in_both(env, "desk-lead", lambda: post(lead, f"/items/{KPI}/edit", stale), status=409)
    assert "您開啟此待辦事項後，已有人變更" in conflict and "已完成" in conflict
    fresh = edit_form(lead, KPI)
    refused = reads_in_both(env, "desk-lead", lambda: post(lead, f"/items/{KPI}/edit", fresh | {"tz": "Mars/Base"}),
                            status=400)  # fmt: skip
    assert "未儲存任何變更：請修正下方標示的欄位。" in refused and CORE_WORDS.search(refused)
    bad_filter = reads_in_both(env, "desk-lead", lambda: lead.get("/register?sort=colour"), status=400)
    assert "--sort" not in visible(without_core_words(bad_filter))
    bad_person = reads_in_both(env, "desk-lead", lambda: post(lead, "/people/new", {"slug": "Bad Slug"}), status=400)
    assert "未儲存任何變更" in bad_person
    bad_feed = reads_in_both(env, "apec-officer", lambda: post(officer, "/calendars", {"name": ""}), status=400)
    assert "未建立任何訂閱" in bad_feed
    made = reads_in_both(env, "apec-officer", lambda: post(officer, "/calendars", {"name": "phone"}))
    assert "此網址僅在此時顯示一次。" in made
    bad_app = reads_in_both(env, "apec-officer", lambda: post(officer, "/calendars/app-passwords", {"label": " "}),
                            status=400)  # fmt: skip
    assert "未建立應用程式密碼" in bad_app and "待辦事項應用程式（CalDAV）" in bad_app

    def new_app_password() -> httpx.Response:  # its password read as English: the page less the secret itself
        answer = post(officer, "/calendars/app-passwords", {"label": "phone"})
        secret = re.search(r'id="app-password">([^<]+)<', answer.text)[1]
        return httpx.Response(answer.status_code, text=answer.text.replace(secret, ""))

    app = reads_in_both(env, "apec-officer", new_app_password)
    assert "此密碼僅在此刻顯示。" in app and "伺服器網址" in app


def test_the_register_csv_is_headed_in_the_persons_language(loaded, env, make_server, desk_session):
    """A desk files the CSV as it is: its header in the person's language; the cells keep the register's values
    (slugs, statuses, ISO dates), as `tracker items --json` gives them."""
    import csv
    import io

    server = make_server()
    lead = desk_session(server, "desk-lead", "lead")
    read = lambda: list(csv.reader(io.StringIO(lead.get("/register.csv?status=all").content.decode("utf-8-sig"))))  # noqa: E731
    set_locale(env, "desk-lead", "zh_TW")
    chinese = read()
    set_locale(env, "desk-lead", "en")
    english = read()
    assert english[0][:6] == ["id", "slug", "title", "status", "due", "overdue"]
    assert chinese[0][:6] == ["編號", "代號", "標題", "狀態", "期限", "逾期"]
    assert all(CJK.search(title) for title in chinese[0]) and chinese[1:] == english[1:]


def test_the_sign_in_pages_and_e_mail_read_in_the_browser_s_or_the_person_s_language(
    loaded, env, invoke, make_server, smtpd
):  # fmt: skip
    from tests.test_web_security import ask_for_link, browser, email_channel, link_in, received

    invoke("user", "role", "apec-officer", "officer")
    server = make_server(channels=email_channel(smtpd.port))
    zh, _ = chinese_and_english(lambda h: httpx.get(f"{server.url}/sign-in", headers=h), env)
    assert "以密碼登入" in zh and "寄送登入連結給我" in zh
    # A person without a setting gets the link in the browser's language; their setting wins over it.
    chinese = browser(server)
    chinese.headers["accept-language"] = CHINESE
    assert "登入連結已寄往" in ask_for_link(chinese, "apec-officer").text
    set_locale(env, "apec-officer", "en")
    english = ask_for_link(chinese, "apec-officer")
    assert "a sign-in link is on its way" not in english.text  # the page follows the browser, not the account
    first, second = received(smtpd, 2)
    quoted = user_texts(env)
    shown = "\n".join([first["Subject"], text_of(first), visible(first.get_body(("html",)).get_content())])
    assert english_left(shown, quoted) == [] and "您的工作台登入連結" in first["Subject"]
    assert second["Subject"] == "Your sign-in link for the desk"
    zh, _ = chinese_and_english(lambda h: httpx.get(f"{server.url}{link_in(first)}", headers=h), env)
    assert "登入工作台" in zh
