"""The fixed vocabularies every layer speaks: priority areas, priorities, and the stored policy's key.
It imports nothing from tracker, so any module can use it without an import circle."""

from __future__ import annotations

CATEGORIES = {
    "business-environment": "Business environment",
    "market-access": "Market access and internationalisation",
    "management-entrepreneurship": "Building management capability and promoting entrepreneurship",
    "innovation": "Innovation",
    "financing": "Financing",
    "sustainable-practices": "Raising awareness of sustainable business practices",
}
PRIORITIES = ("high", "medium", "low")
POLICY_KEY = "reminder_policy"  # meta row holding the YAML's reminder_policy
# The languages of pages and reminders (gettext catalogs in tracker/web/locale): the desk's Traditional Chinese and
# English. The first is the fallback when neither a person's setting nor the browser names one of them.
LOCALES = ("en", "zh_TW")
ACCESS_ROLES = ("lead", "officer", "viewer")  # models.AccessRole, for validation messages
