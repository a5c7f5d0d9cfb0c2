"""Delivery channels: console (the default), desktop, e-mail over SMTP, webhook.

Each channel is configured in the TOML file under [channels.<name>]; secrets (SMTP password, webhook URL)
come only from environment variables named there. A channel raises ChannelError for anything that did not
deliver; the sender records it (and any other exception, with its type) and retries later — a failing
delivery never stops the others.
"""

from __future__ import annotations

import html
import shutil
import smtplib
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any, Protocol, TextIO

import httpx

from tracker.core.errors import ConfigError
from tracker.core.models import Person
from tracker.core.rules import plural
from tracker.reminders import mail
from tracker.reminders.mail import Message


class ChannelError(Exception):
    """A delivery that did not happen; str() is recorded in the ledger."""


class Channel(Protocol):
    name: str

    def reaches(self, person: Person) -> bool: ...

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...


class ConsoleChannel:
    """Prints reminders; what the README's first command shows when nothing else is configured. Not `verbose`
    (`remind send-due` without --verbose), it keeps them and prints a short summary when closed: the first run
    on old data would print a wall of catch-ups. Either way they count as delivered (README "Reminders").
    `others`: the names of the other channels sending with it."""

    name = "console"

    def __init__(self, stream: TextIO | None = None, verbose: bool = True, others: Sequence[str] = ()) -> None:
        self.stream = stream
        self.verbose = verbose
        self.others = tuple(others)
        self.held: list[Message] = []
        self._lock = threading.Lock()  # channels with several connections send on threads

    def reaches(self, person: Person) -> bool:
        return True

    def send(self, message: Message) -> None:
        if not self.verbose:
            with self._lock:
                self.held.append(message)
            return
        out = self.stream or sys.stdout
        print(f"--- reminder for {message.to_name} <{message.to_email or 'no e-mail'}>: {message.subject}", file=out)
        print(message.text.rstrip() + "\n", file=out)

    def close(self) -> None:
        if self.held:
            print("\n".join(summary(self.held, self.others)), file=self.stream or sys.stdout)
            self.held = []


KIND_NAMES = {"item-before": "due soon", "item-due": "due today", "item-overdue": "overdue",
              "meeting-before": "meeting", "digest": "digest", "catchup": "catch-up"}  # fmt: skip
SUMMARY_PEOPLE = 8  # people listed one per line; the rest are counted


def summary(held: Sequence[Message], others: Sequence[str]) -> list[str]:
    """A few lines about the reminders the console kept: how many, for whom, of which kinds, how many are
    catch-ups for reminders missed long ago, and where to read them in full or have them mailed."""
    by_person: dict[str, list[Message]] = {}
    for message in held:
        by_person.setdefault(message.data["to"], []).append(message)
    people = plural(len(by_person), "person", "people")
    lines = [f"{plural(len(held), 'reminder')} for {people} sent to the console, in short here "
             "(`tracker remind send-due --verbose` prints them in full):"]  # fmt: skip
    for person, messages in sorted(by_person.items())[:SUMMARY_PEOPLE]:
        kinds = Counter(KIND_NAMES.get(m.data["kind"], m.data["kind"]) for m in messages)
        lines.append(f"  {person}: " + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())))
    if len(by_person) > SUMMARY_PEOPLE:
        lines.append(f"  … and {plural(len(by_person) - SUMMARY_PEOPLE, 'more person', 'more people')}")
    catchups = [m for m in held if m.data["kind"] == "catchup"]
    missed = [entry["when"] for m in catchups for entry in m.data.get("missed", [])]
    if catchups:
        lines.append(f"{plural(len(catchups), 'catch-up')}: one message per person for what fell due while "
                     f"reminders were not running, the oldest on {min(missed, default='an unknown day')}.")  # fmt: skip
    lines.append("They count as delivered: `tracker remind history` lists them, and a channel configured later does "
                 "not send them again.")  # fmt: skip
    if others:
        lines.append(f"Also sent by: {', '.join(others)}.")
    else:
        lines.append('Nothing else is configured: for e-mail, add [channels.email] to a --config file (README '
                     '"Reminders").')  # fmt: skip
    return lines


class DesktopChannel:
    """notify-send, where present."""

    name = "desktop"

    def __init__(self, command: str = "notify-send") -> None:
        self.command = shutil.which(command)

    def reaches(self, person: Person) -> bool:
        return self.command is not None

    def send(self, message: Message) -> None:
        try:
            subprocess.run([self.command, "--app-name=tracker", message.subject, message.text[:500]], check=True,
                           timeout=10, capture_output=True)  # fmt: skip
        except (OSError, subprocess.SubprocessError) as e:
            raise ChannelError(f"notify-send: {e}") from e

    def close(self) -> None:
        pass


class EmailChannel:
    """SMTP (plain, STARTTLS or SSL; login when configured) over a pool of up to `connections` connections,
    kept open across deliveries and, in `remind run`, across sweeps. A connection idle for IDLE_CHECK seconds
    is checked with NOOP before it carries a message, and replaced when the server has dropped it. `send` is
    safe from as many threads as there are connections."""

    name = "email"
    IDLE_CHECK = 5.0  # seconds; well under the idle timeouts of SMTP servers (Postfix: 300 s)

    def __init__(self, host: str, port: int, sender: str, security: str = "starttls", username: str | None = None,
                 password: str | None = None, timeout: float = 30, connections: int = 1) -> None:  # fmt: skip
        if security not in ("plain", "starttls", "ssl"):
            raise ConfigError(f"[channels.email] security: plain, starttls or ssl, not {security!r}")
        if not 1 <= connections <= MAX_CONNECTIONS:
            raise ConfigError(f"[channels.email] connections: from 1 to {MAX_CONNECTIONS}, not {connections!r}")
        self.host, self.port, self.sender, self.security = host, port, sender, security
        self.username, self.password, self.timeout = username, password, timeout
        self.connections = connections
        self._idle: list[tuple[smtplib.SMTP, float]] = []  # (connection, when it was last used), newest last
        self._lock = threading.Lock()

    def reaches(self, person: Person) -> bool:
        return bool(person.email) and not person.email_muted

    def _open(self) -> smtplib.SMTP:
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        if self.username:
            smtp.login(self.username, self.password or "")
        return smtp

    def _take(self) -> smtplib.SMTP:
        """An idle connection that still answers, or a new one."""
        while True:
            with self._lock:
                if not self._idle:
                    break
                smtp, used = self._idle.pop()
            if time.monotonic() - used < self.IDLE_CHECK or _answers(smtp):
                return smtp
            _drop(smtp)
        return self._open()

    def _give_back(self, smtp: smtplib.SMTP) -> None:
        with self._lock:
            self._idle.append((smtp, time.monotonic()))

    def build(self, message: Message) -> EmailMessage:
        return mail.build(message, self.sender)

    def _envelope(self, message: Message) -> list[str] | None:
        """The recipients smtplib's send_message would take from the To header; None where it should take them
        itself: an address needing SMTPUTF8 (which it asks for), or extra headers naming other addresses."""
        to = mail.addresses(formataddr((message.to_name, message.to_email or "")))
        if not (mail.addresses(self.sender)[0] + "".join(to)).isascii() or ENVELOPE_HEADERS & {
                h.lower() for h in message.headers}:  # fmt: skip
            return None
        return to

    def send(self, message: Message) -> None:
        # Made before the connection is touched, so that a message the e-mail package refuses fails alone.
        to = self._envelope(message)
        payload = self.build(message) if to is None else mail.render(message, self.sender)
        smtp = None
        try:
            smtp = self._take()
            if to is None:
                smtp.send_message(payload)
            else:
                smtp.sendmail(mail.addresses(self.sender)[0], to, payload)
        except (smtplib.SMTPException, OSError) as e:
            if smtp is not None:
                _quit(smtp)
            raise ChannelError(f"smtp {self.host}:{self.port}: {e}") from e
        except Exception:
            # Possibly half-way through a transaction: drop the connection without a QUIT (which the server
            # could read as message text); the next send connects anew.
            if smtp is not None:
                _drop(smtp)
            raise
        self._give_back(smtp)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for smtp, _ in idle:
            _quit(smtp)


MAX_CONNECTIONS = 8
ENVELOPE_HEADERS = {"sender", "cc", "bcc", "resent-date", "resent-from", "resent-sender", "resent-to", "resent-cc",
                    "resent-bcc"}  # fmt: skip


def _answers(smtp: smtplib.SMTP) -> bool:
    try:
        return smtp.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _drop(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass


class WebhookChannel:
    """A JSON POST that Slack, Mattermost and Teams incoming webhooks display (the `text` field), with the
    structured reminder beside it and an idempotency key that stays the same when a delivery is retried."""

    name = "webhook"

    def __init__(self, url: str, timeout: float = 10) -> None:
        self.url = url
        self.client = httpx.Client(timeout=timeout)

    def reaches(self, person: Person) -> bool:
        return True

    def send(self, message: Message) -> None:
        # Slack/Mattermost markup wants `&`, `<`, `>` as entities (and only those), so that a title such as
        # "R&D <!channel>" shows as typed instead of pinging a channel or breaking a link.
        text = f"*{html.escape(message.subject, quote=False)}*\n{html.escape(message.text, quote=False)}"
        body = {"text": text, "reminder": message.data, "idempotency_key": message.message_id}
        try:
            response = self.client.post(self.url, json=body, headers={"Idempotency-Key": message.message_id})
        except httpx.HTTPError as e:
            raise ChannelError(f"webhook: {type(e).__name__}: {e}") from e
        if response.status_code >= 300:
            raise ChannelError(f"webhook: HTTP {response.status_code}")

    def close(self) -> None:
        self.client.close()


def _secret(conf: Mapping[str, Any], key: str, environ: Mapping[str, str], table: str) -> str | None:
    name = conf.get(f"{key}_env")
    if name is None:
        return None
    if name not in environ:
        raise ConfigError(f"[channels.{table}] {key}_env: the environment variable {name} is not set")
    return environ[name]


def load(channels: Mapping[str, Mapping[str, Any]], environ: Mapping[str, str]) -> list[Channel]:
    """The configured channels (console alone when none is); a bad table is a ConfigError, never a fallback."""
    known = {"console", "desktop", "email", "webhook"}
    unknown = sorted(set(channels) - known)
    if unknown:
        raise ConfigError(f"[channels.{unknown[0]}]: unknown channel (use {', '.join(sorted(known))})")
    out: list[Channel] = []
    for name, conf in channels.items():
        if not conf.get("enabled", True):
            continue
        try:
            out.append(_build(name, conf, environ))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"[channels.{name}]: missing or bad setting {e}") from None
    return out or [ConsoleChannel()]


def _build(name: str, conf: Mapping[str, Any], environ: Mapping[str, str]) -> Channel:
    if name == "console":
        return ConsoleChannel()
    if name == "desktop":
        return DesktopChannel()
    if name == "webhook":
        url = _secret(conf, "url", environ, name)
        if not url:
            raise ConfigError("[channels.webhook] url_env: name the environment variable holding the URL")
        return WebhookChannel(url, float(conf.get("timeout", 10)))
    return EmailChannel(
        host=conf["host"], port=int(conf.get("port", 587)), sender=conf["from"],
        security=conf.get("security", "starttls"), username=conf.get("username"),
        password=_secret(conf, "password", environ, name), timeout=float(conf.get("timeout", 30)),
        connections=int(conf.get("connections", 1)),
    )  # fmt: skip
