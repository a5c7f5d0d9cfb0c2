"""A reminder as an e-mail: the message, and its bytes as they go over SMTP.

`build` makes it with the standard library's e-mail package (policy SMTP). `render` writes the same bytes
directly: the e-mail package spends ~1.5 ms of CPU per reminder parsing and re-folding headers it was just
given, which capped the sender well below the SMTP server's speed. Each header is still folded by the e-mail
package (cached: most repeat from one message to the next), and whatever `render` does not write itself —
a body line over 998 bytes, an attachment name that needs quoting, an invitation — goes through `build`, so the
two never differ but in their random MIME boundaries (tests/test_mail.py compares them).
"""

from __future__ import annotations

import binascii
import email.generator
import email.policy
import functools
import io
import random
import re
import sys
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses
from typing import Any

# Lines up to RFC 5322's 998: the stdlib's folding at 78 breaks a header right after its colon when only the
# name pushes it over, which receivers then read with a leading space.
POLICY = email.policy.SMTP.clone(max_line_length=998)
_SIMPLE_NAME = re.compile(r"[A-Za-z0-9._-]+\Z")  # an attachment name written as is, in quotes
_BASE64_LINE = POLICY.max_line_length // 4 * 3  # bytes per base64 line, as the e-mail package cuts them


@dataclass
class Message:
    """One reminder for one person, in every form the channels need."""

    subject: str
    text: str
    html: str
    message_id: str
    date: Any
    data: dict[str, Any]
    ics: bytes | None = None
    ics_name: str = "reminder.ics"
    unsubscribe: str | None = None
    to_name: str = ""
    to_email: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    invitation: bytes | None = None  # an iTIP message (RFC 6047): the calendar alternative and invite.ics
    method: str = "REQUEST"  # its METHOD


def _headers(message: Message, sender: str) -> list[tuple[str, str]]:
    """The top-level headers, in order, before the MIME ones."""
    to = formataddr((message.to_name, message.to_email or ""))
    out = [("Subject", message.subject), ("From", sender), ("To", to), ("Date", format_datetime(message.date)),
           ("Message-ID", message.message_id), ("Auto-Submitted", "auto-generated")]  # fmt: skip
    if message.unsubscribe:
        unsubscribe = f"<{message.unsubscribe}>"
        out += [("List-Unsubscribe", unsubscribe), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    return out + list(message.headers.items())


def build(message: Message, sender: str) -> EmailMessage:
    """The message as the e-mail package makes it."""
    mail = EmailMessage(policy=POLICY)
    for name, value in _headers(message, sender):
        mail[name] = value
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    if message.ics:
        mail.add_attachment(message.ics, maintype="text", subtype="calendar", filename=message.ics_name,
                            params={"method": "PUBLISH"})  # fmt: skip
    if message.invitation:
        # As Outlook and Gmail send one: the iTIP body as the last alternative (what calendar programs act on)
        # and the same bytes as an invite.ics attachment of a type they do not act on twice.
        mail.add_alternative(message.invitation.decode(), subtype="calendar", params={"method": message.method})
        mail.add_attachment(message.invitation, maintype="application", subtype="ics", filename="invite.ics")
    return mail


def flatten(mail: EmailMessage) -> bytes:
    """The bytes smtplib's send_message sends for `mail` (no Bcc is ever set)."""
    out = io.BytesIO()
    email.generator.BytesGenerator(out).flatten(mail, linesep="\r\n")
    return out.getvalue()


@functools.lru_cache(maxsize=4096)
def _header(name: str, value: str) -> bytes:
    """One header line as the e-mail package stores and folds it (it refuses a value with a line break)."""
    return POLICY.fold_binary(*POLICY.header_store_parse(name, value))


@functools.lru_cache(maxsize=256)
def addresses(header: str) -> list[str]:
    """The addresses in a From or To header, as smtplib's send_message takes them for the envelope."""
    return [a for _, a in getaddresses([POLICY.header_store_parse("To", header)[1]])]


def _text(subtype: str, text: str) -> bytes | None:
    """A text part as set_content writes it, or None when it needs quoted-printable or base64 (a line over 998
    bytes), which is left to the e-mail package."""
    lines = text.encode().splitlines()
    if max(map(len, lines), default=0) > POLICY.max_line_length:
        return None
    body = b"\r\n".join(lines) + b"\r\n"
    cte = b"7bit" if body.isascii() else b"8bit"
    # add_alternative gives the second part a MIME-Version of its own; so does add_attachment below.
    version = b"MIME-Version: 1.0\r\n" if subtype == "html" else b""
    return (b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: %s\r\n%s\r\n%s'
            % (subtype.encode(), cte, version, body))  # fmt: skip


def _attachment(data: bytes, name: str) -> bytes:
    lines = [binascii.b2a_base64(data[i : i + _BASE64_LINE]) for i in range(0, len(data), _BASE64_LINE)]
    body = b"".join(lines).replace(b"\n", b"\r\n")
    return (b'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="%s"\r\n'
            b'Content-Type: text/calendar; method="PUBLISH"\r\nMIME-Version: 1.0\r\n\r\n%s'
            % (name.encode(), body))  # fmt: skip


def _boundary(parts: list[bytes]) -> bytes:
    """A boundary in the e-mail package's form, drawn again in the unlikely case that a part contains it."""
    while True:
        boundary = b"=" * 15 + b"%019d" % random.randrange(sys.maxsize) + b"=="
        if not any(b"--" + boundary in part for part in parts):
            return boundary


def _multipart(subtype: str, parts: list[bytes], version: bytes = b"") -> bytes:
    """Headers (a MIME-Version first at the top) and body of a multipart, as the generator writes them."""
    boundary = _boundary(parts)
    body = b"\r\n--" + boundary + b"\r\n"
    return (b'%sContent-Type: multipart/%s; boundary="%s"\r\n\r\n--%s\r\n%s\r\n--%s--\r\n'
            % (version, subtype.encode(), boundary, boundary, body.join(parts), boundary))  # fmt: skip


def render(message: Message, sender: str) -> bytes:
    """The bytes `flatten(build(message, sender))` gives, but for the MIME boundaries, in a tenth of the time.
    :raises ValueError: a header value with a line break (as the e-mail package does)."""
    head = b"".join(_header(name, value) for name, value in _headers(message, sender))
    text, html = _text("plain", message.text), _text("html", message.html)
    if text is None or html is None or message.invitation or (message.ics and not _SIMPLE_NAME.match(message.ics_name)):
        return flatten(build(message, sender))
    version = b"MIME-Version: 1.0\r\n"
    if not message.ics:
        return head + _multipart("alternative", [text, html], version)
    alternative = _multipart("alternative", [text, html])
    return head + _multipart("mixed", [alternative, _attachment(message.ics, message.ics_name)], version)
