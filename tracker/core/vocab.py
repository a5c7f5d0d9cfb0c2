"""The fixed vocabularies every layer speaks: priority areas, priorities, and the stored policy's key.
It imports nothing from tracker, so any module can use it without an import circle."""

from __future__ import annotations


def N_(message: str) -> str:
    """Marks a fixed word or sentence for the gettext catalogs (Babel extracts calls of N_) without translating it
    here: tracker.core.i18n translates it where a page or a message shows it, in the reader's language."""
    return message


CATEGORIES = {
    "business-environment": N_("Business environment"),
    "market-access": N_("Market access and internationalisation"),
    "management-entrepreneurship": N_("Building management capability and promoting entrepreneurship"),
    "innovation": N_("Innovation"),
    "financing": N_("Financing"),
    "sustainable-practices": N_("Raising awareness of sustainable business practices"),
}
PRIORITIES = ("high", "medium", "low")
POLICY_KEY = "reminder_policy"  # meta row holding the YAML's reminder_policy
# The languages of pages and reminders (gettext catalogs in tracker/core/locale): the desk's Traditional Chinese and
# English. The first is the fallback when neither a person's setting nor the browser names one of them.
LOCALES = ("en", "zh_TW")
ACCESS_ROLES = ("lead", "officer", "viewer")  # models.AccessRole, for validation messages
