"""The desk's languages: English and Traditional Chinese (vocab.LOCALES) for every page and reminder.

Texts are marked in the sources (`_()`, `{% trans %}` in templates; `language.gettext()`, `N_()` in Python) and
translated through gettext catalogs beside this module (locale/<locale>/LC_MESSAGES/messages.po). A catalog is
compiled in memory from its .po the first time it is used, so no compiled .mo can fall behind its .po; fuzzy
entries are left out until someone checks them. Dates, weekdays and numbers are formatted by Babel for the reader.

A Language is chosen per request or per message and passed along, never installed on a shared environment.
`python -m tracker.core.i18n update` extracts the marked texts and merges them into the catalogs (README
"Development").
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time, get_timezone_location
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

from tracker.core.vocab import CATEGORIES, LOCALES, N_

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
SOURCE_LOCALE = "en"  # the language the sources are written in: it needs no catalog
ROOT = Path(__file__).parents[2]  # the checkout, where babel.cfg says which files hold marked texts
MAPPING = ROOT / "babel.cfg"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")

STATUSES = {"open": N_("open"), "in_progress": N_("in progress"), "done": N_("done"), "cancelled": N_("cancelled")}
PRIORITIES = {"high": N_("high"), "medium": N_("medium"), "low": N_("low")}


@dataclass(frozen=True)
class Style:
    """How a locale writes dates and times: Babel formats (a CLDR style name or a pattern) and zone names."""

    babel: str  # the Babel locale that formats
    date: str  # format_date's format
    month: str  # format_date's pattern for dates known only to the month
    time: str  # format_time's format
    number: str | None  # format_decimal's pattern; None: the locale's own
    zone_names: bool  # the zone's localised name ("台灣時間"); else its IANA name, as the register prints it


# English keeps the ISO dates and plain counts the register, the CLI and the feeds print (2008-09-30 09:00
# Asia/Taipei, 6250 days), so an officer reads one date the same everywhere; Chinese reads them the way a
# Taiwanese desk writes them (2008年9月30日 星期二 上午9:00, 6,250).
STYLES = {
    "en": Style("en_GB", "yyyy-MM-dd", "yyyy-MM", "HH:mm", "0", zone_names=False),
    "zh_TW": Style("zh_Hant_TW", "full", "y年M月", "short", None, zone_names=True),
}


class Language:
    """One locale's translations and formats, for one request's page or one recipient's message."""

    def __init__(self, locale: str, translations: NullTranslations) -> None:
        self.locale = locale
        self.tag = locale.replace("_", "-")  # the BCP 47 tag of <html lang> ("zh-TW")
        self.translations = translations
        self.style = STYLES[locale]
        self.babel = Locale.parse(self.style.babel)  # parsed once: Babel would parse the name at every date

    def gettext(self, message: str, **variables: Any) -> str:
        """`message` in this language, its %(name)s placeholders filled from `variables`."""
        text = self.translations.gettext(message)
        return text % variables if variables else text

    def ngettext(self, singular: str, plural: str, n: int, **variables: Any) -> str:
        """The form for `n` (placeholder %(num)s) in this language."""
        return self.translations.ngettext(singular, plural, n) % {"num": self.number(n), **variables}

    def pgettext(self, context: str, message: str) -> str:
        """`message` in this language, told apart from the same English word in another `context`."""
        return self.translations.pgettext(context, message)

    def status(self, value: str) -> str:
        """An item's status as a word ("in progress", "進行中"); a value that is no status (an old history entry)
        as it is."""
        return self.gettext(STATUSES[value]) if value in STATUSES else value

    def priority(self, value: str) -> str:
        """An item's priority as a word; anything else as it is."""
        return self.gettext(PRIORITIES[value]) if value in PRIORITIES else value

    def category(self, slug: str) -> str:
        """A priority area's name; a slug that names none as it is."""
        return self.gettext(CATEGORIES[slug]) if slug in CATEGORIES else slug

    def number(self, value: float) -> str:
        return format_decimal(value, self.style.number, locale=self.babel)

    def date(self, day: date) -> str:
        return format_date(day, self.style.date, locale=self.babel)

    def weekday(self, day: date) -> str:
        return format_date(day, "EEEE", locale=self.babel)

    def datetime(self, at: datetime, tz: str) -> str:
        """An instant as read in zone `tz`: its date, time to the minute, and the zone."""
        zone = ZoneInfo(tz)
        local = at.astimezone(zone)
        name = get_timezone_location(zone, locale=self.babel) if self.style.zone_names else tz
        return self.gettext("%(date)s %(time)s %(zone)s", date=self.date(local.date()),
                            time=format_time(local, self.style.time, locale=self.babel), zone=name)  # fmt: skip

    def when(self, value: str | None, tz: str, inline: bool = False) -> str:
        """What timing.iso gives (a month "2009-03", a date, or an ISO date-time) as this language writes it;
        `inline`: a month without parentheses ("2009-03, day TBC"), for text that is itself in parentheses."""
        if not value:
            return ""
        month = _MONTH.match(value)
        if month:
            shown = format_date(date(int(month[1]), int(month[2]), 1), self.style.month, locale=self.babel)
            if inline:
                return self.gettext("%(month)s, day TBC", month=shown)
            return self.gettext("%(month)s (day TBC)", month=shown)
        if len(value) == len("2008-09-30"):
            return self.date(date.fromisoformat(value))
        return self.datetime(datetime.fromisoformat(value), tz)

    def template_context(self) -> dict[str, Any]:
        """What a template rendered in this language needs: `_`, gettext and ngettext (newstyle, as Jinja's i18n
        extension calls them), `lang` for <html lang>, and `language` for its formats."""
        from jinja2.ext import _make_new_gettext, _make_new_ngettext  # as install_gettext_callables(newstyle=True)

        gettext, ngettext = _make_new_gettext(self.translations.gettext), _make_new_ngettext(self.translations.ngettext)
        return {"_": gettext, "gettext": gettext, "ngettext": ngettext, "lang": self.tag, "language": self}


def catalog_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(locale: str) -> Catalog:
    from babel.messages.pofile import read_po

    with catalog_path(locale).open("rb") as po:
        return read_po(po, locale=locale, domain=DOMAIN)


@cache
def language(locale: str | None) -> Language:
    """The Language of `locale` (one of vocab.LOCALES; anything else is English), its catalog compiled once."""
    locale = locale if locale in LOCALES else SOURCE_LOCALE
    if locale == SOURCE_LOCALE:
        return Language(locale, NullTranslations())
    from babel.messages.mofile import write_mo  # only where a catalog is compiled, not for English or the CLI

    compiled = BytesIO()
    write_mo(compiled, read_catalog(locale))  # fuzzy entries are left out: shown in English until checked
    compiled.seek(0)
    return Language(locale, Translations(compiled, domain=DOMAIN))


ENGLISH = language(SOURCE_LOCALE)  # the CLI's, and the default of functions that also speak to people


def preferred(accept_language: str | None) -> list[str]:
    """The language tags of an Accept-Language header, most wanted first (q=0 and malformed entries dropped)."""
    weighted = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = params.strip().removeprefix("q=") if params.strip().startswith("q=") else "1"
        try:
            weight = float(quality)
        except ValueError:
            continue
        if tag and weight > 0:
            weighted.append((-weight, position, tag.strip()))
    return [tag for _, _, tag in sorted(weighted)]


@lru_cache(maxsize=256)  # a browser sends the same header with every request; Babel's parsing takes a millisecond
def negotiate(accept_language: str | None) -> str:
    """The locale of vocab.LOCALES a browser asks for: the first tag Babel reads whose language we have (zh-TW,
    zh-Hant, zh all read the desk's Traditional Chinese); English when none is."""
    ours = {Locale.parse(locale).language: locale for locale in LOCALES}
    for tag in preferred(accept_language):
        try:
            wanted = Locale.parse(tag, sep="-")
        except (ValueError, TypeError, UnknownLocaleError):
            continue  # "*", made-up or malformed tags
        if wanted.language in ours:
            return ours[wanted.language]
    return SOURCE_LOCALE


def choose(person_locale: str | None, accept_language: str | None) -> Language:
    """A signed-in person's own setting first; else what the browser asks for; else English."""
    return language(person_locale if person_locale in LOCALES else negotiate(accept_language))


def extract() -> Catalog:
    """Every text marked in the sources that babel.cfg names, as a template catalog."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with MAPPING.open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    template = Catalog(domain=DOMAIN, project="tracker")
    for filename, lineno, message, comments, context in extract_from_dir(ROOT, method_map, options_map):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def missing(catalog: Catalog) -> list[str]:
    """The msgids of `catalog` without a usable translation (none, empty, or fuzzy)."""
    return [m.id if isinstance(m.id, str) else m.id[0] for m in catalog
            if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else (m.string,)))]  # fmt: skip


def update() -> dict[str, list[str]]:
    """Merges what the sources mark now into each catalog (new texts untranslated, changed ones fuzzy, removed
    ones obsolete) and says, per locale, which texts still need a translation."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    template = extract()
    todo = {}
    for locale in LOCALES:
        if locale == SOURCE_LOCALE:
            continue
        path = catalog_path(locale)
        catalog = read_catalog(locale) if path.exists() else Catalog(locale=locale, domain=DOMAIN, project="tracker")
        created = catalog.creation_date
        catalog.update(template)
        catalog.creation_date = created  # update() stamps the extraction's time: an unchanged catalog stays unchanged
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as po:
            write_po(po, catalog, width=116, include_lineno=False, omit_header=False, ignore_obsolete=True)
        todo[locale] = missing(catalog)
    return todo


def main(argv: list[str]) -> int:
    if argv != ["update"]:
        print("usage: python -m tracker.core.i18n update", file=sys.stderr)
        return 2
    for locale, texts in update().items():
        print(f"{catalog_path(locale).relative_to(ROOT)}: {len(texts)} to translate")
        for text in texts:
            print(f"  {text!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
