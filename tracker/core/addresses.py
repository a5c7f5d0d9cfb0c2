"""The base URL: where calendar apps, subscription pages and reminder links reach `tracker serve`, kept once.

The setting `base_url` (TOML, TRACKER_BASE_URL, or `serve --base-url`) wins. Without it, `tracker serve` records
the URL it serves under in the `meta` table, so that `subscribe add` and the links in reminders, run from any
shell, point at the port the server really listens on; before any serve, the default below (serve's defaults).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from tracker.core.config import Settings
from tracker.core.models import Meta

DEFAULT = "http://127.0.0.1:8765"  # `tracker serve` with its default host and port
RECORDED = "served_base_url"  # the meta key `tracker serve` writes
HOW_TO_SET = ('set a public https address once: base_url in the --config file, TRACKER_BASE_URL, or '
              '`tracker serve --base-url https://calendars.example.org` (README "Subscribe")')  # fmt: skip
ORIGINS = {"configured": "", "recorded": " (where `tracker serve` last listened)",
           "default": " (the default: no base URL is set and `tracker serve` has not run yet)"}  # fmt: skip


@dataclass(frozen=True)
class BaseUrl:
    url: str
    source: str  # "configured", "recorded" (by tracker serve) or "default"

    @property
    def secure(self) -> bool:
        return self.url.startswith("https://")

    @property
    def local(self) -> bool:
        """Only this computer reaches it (a loopback address or localhost)."""
        host = urlsplit(self.url).hostname or ""
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def warning(self) -> str | None:
        """What a person handing out links from this address should know, or None for a public https one."""
        where = self.url + ORIGINS[self.source]
        if self.local:
            return (f"{where} is a local address: calendar apps on other computers and phones cannot reach it. "
                    f"To share these links, {HOW_TO_SET}.")  # fmt: skip
        if not self.secure:
            return (f"{where} is plain http: Google Calendar subscribes only over https, and the feed travels "
                    f"unencrypted. For https, {HOW_TO_SET}.")  # fmt: skip
        return None


def base_url(session: Session, settings: Settings) -> BaseUrl:
    """The configured base URL, else the one `tracker serve` recorded, else the default."""
    if settings.base_url:
        return BaseUrl(settings.base_url, "configured")
    row = session.get(Meta, RECORDED)
    return BaseUrl(row.value, "recorded") if row is not None else BaseUrl(DEFAULT, "default")


def record(session: Session, url: str) -> None:
    """Remember the URL `tracker serve` serves under. Written with Core, not as an ORM change: where the server
    listens is not a change of the data (feeds do not rebuild for it)."""
    table = Meta.__table__
    if session.execute(update(table).where(table.c.key == RECORDED).values(value=url)).rowcount == 0:
        session.execute(insert(table).values(key=RECORDED, value=url))


def listening_url(host: str, port: int) -> str:
    """The URL of a server bound to `host`:`port`. Bound to every interface, the machine's name is the best
    guess at how others reach it."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
