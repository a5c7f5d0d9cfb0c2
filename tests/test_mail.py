"""mail.render writes the bytes the e-mail package writes (mail.build, then smtplib's generator), but for the
random MIME boundaries, for whatever reminders hold; and the receiving side reads them alike."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tracker.reminders import mail
from tracker.reminders.mail import Message, build

BOUNDARY = re.compile(rb"===============\d{19}==(\.\d+)?")
SENDER = "APEC SME desk <tracker@example.org>"
ICS = b"BEGIN:VCALENDAR\r\nSUMMARY:Zo\xc3\xab\r\n" + b"X-LONG:" + b"y" * 3000 + b"\r\nEND:VCALENDAR\r\n"


def same_but_boundaries(rendered: bytes, built: bytes) -> bool:
    names = {}  # each boundary in order of appearance stands for the same one in the other

    def norm(data: bytes) -> bytes:
        names.clear()
        return BOUNDARY.sub(lambda m: b"B%d" % names.setdefault(m[0], len(names)), data)

    return norm(rendered) == norm(built)


def message(**changes) -> Message:
    fields = {"subject": "Due in 7 days: Volunteer for the KPI drafting committees", "text": "Hello,\n\nMark done: x\n",
              "html": "<p>Hello</p>\n", "message_id": "<0123456789abcdef0123456789abcdef@tracker>",
              "date": datetime(2008, 9, 23, 1, tzinfo=UTC), "data": {}, "ics": ICS,
              "unsubscribe": "https://calendars.example.org/settings/" + "a" * 150, "to_name": "APEC SMEWG officer",
              "to_email": "apec-officer@example.org"}  # fmt: skip
    return Message(**{**fields, **changes})


CASES = {
    "plain": {},
    "no attachment": {"ics": None},
    "no unsubscribe link": {"unsubscribe": None},
    "non-ASCII name and subject": {"to_name": "Zoë Ng, Jr.", "subject": "Fällig in 7 Tagen: Übersicht — 北京"},
    "non-ASCII bodies": {"text": "Grüße\r\nline\rline\n\u2028x\n", "html": "<p>Grüße</p>"},
    "empty bodies": {"text": "", "html": ""},
    "a long subject": {"subject": "word " * 300},
    "a long unbroken subject": {"subject": "x" * 1200},
    "encoded-word look-alike": {"subject": "=?utf-8?q?Zo=C3=AB?= and  two  spaces "},
    "a quoted name": {"to_name": 'Ng, "Zoë" <z>'},
    "a body line over 998 bytes": {"text": "y" * 1200 + "\n"},
    "a long non-ASCII html line": {"html": "ë" * 600},
    "a name needing quotes": {"ics_name": "item 1; x.ics"},
    "extra headers": {"headers": {"X-Tracker-Kind": "item-before", "Precedence": "bulk"}},
    "another zone": {"date": datetime(2008, 9, 23, 9, tzinfo=timezone(timedelta(hours=8)))},
    "a boundary-like body": {"text": "--===============0000000000000000000==\n"},
}


LEFT_TO_THE_PACKAGE = {"a body line over 998 bytes", "a long non-ASCII html line", "a name needing quotes"}


@pytest.mark.parametrize("case", CASES)
def test_render_writes_what_the_email_package_writes(case, monkeypatch):
    m = message(**CASES[case])
    built = mail.flatten(mail.build(m, SENDER))
    calls = []
    monkeypatch.setattr(mail, "build", lambda *args: calls.append(args) or build(*args))
    rendered = mail.render(m, SENDER)
    assert bool(calls) == (case in LEFT_TO_THE_PACKAGE)  # the rest is written directly
    assert same_but_boundaries(rendered, built), (rendered.decode(errors="replace"), built.decode(errors="replace"))
    assert read(rendered) == read(built)
    assert read(rendered)[2] == m.ics


def read(data: bytes) -> tuple:
    """What a receiver reads: headers, text, HTML, attachment."""
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    attachment = next((p.get_payload(decode=True) for p in parsed.iter_attachments()), None)
    headers = [(k, str(v)) for k, v in parsed.items() if k != "Content-Type"]
    return headers, [parsed.get_body((kind,)).get_content() for kind in ("plain", "html")], attachment


def test_a_line_break_in_a_header_is_refused_as_before():
    with pytest.raises(ValueError):
        mail.render(message(subject="a\r\nBcc: x@example.org"), SENDER)
    with pytest.raises(ValueError):
        mail.build(message(subject="a\r\nBcc: x@example.org"), SENDER)
