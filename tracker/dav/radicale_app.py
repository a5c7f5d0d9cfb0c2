"""Radicale's WSGI application, configured for tracker: its storage on the database (tracker.dav.storage), its
rights from the roles (tracker.dav.places), and the user its caller has already signed in.

Radicale reads nothing from files or the environment here: the configuration is built in code, with the plugins
passed as callables (Radicale's `load_plugin` accepts them). Signing in is the web server's (tracker.web.dav_mount:
app passwords, rate limits); it puts the person's slug in the ASGI scope, which a2wsgi hands on as
`environ["asgi.scope"]`, and Radicale's external-login hook reads it there, so no request header can claim a user.

A refusal of the register's (a TrackerError raised inside Radicale's PUT) becomes its status and one line, and
the methods that would delete, move, make or rename collections are refused outright."""

from __future__ import annotations

import functools
import io
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from http import client
from typing import Any

from defusedxml import DefusedXmlException
from radicale import Application, config, httputils, xmlutils
from radicale.auth import none as no_auth
from radicale.rights import BaseRights
from sqlalchemy import Engine

from tracker.core import store
from tracker.core.errors import Forbidden, InvalidInput, TrackerError
from tracker.dav import places, writes
from tracker.dav.storage import Memo, Storage

SCOPE_USER = "tracker.dav_user"  # the ASGI scope key of the signed-in person's slug
MAX_XML_DEPTH = 32  # a CalDAV query nests a few levels (filter, comp-filter, prop-filter, text-match)
MAX_RESOURCE = 256 * 1024  # one task is a few kB; Radicale refuses a bigger resource with 412, a bigger body with 413

REFUSED = {
    "DELETE": "Tasks are not deleted from a task app: mark it done, or cancel it on the desk, so that its history "
              "stays.",
    "MOVE": "Tasks cannot be moved between lists here: change the item's owners on the desk.",
    "MKCOL": "The register's collections are fixed: a calendar cannot be made here.",
    "MKCALENDAR": "The register's collections are fixed: a calendar cannot be made here.",
    "POST": "Not here.",
}  # fmt: skip


class ScopeAuth(no_auth.Auth):
    """The person the web server signed in, from the ASGI scope; "" (anonymous, refused by the rights) without."""

    def get_external_login(self, environ: dict) -> tuple[str, str]:
        return environ.get("asgi.scope", {}).get(SCOPE_USER, ""), ""


class Rights(BaseRights):
    """Radicale's rights letters from tracker's roles (places.permissions)."""

    def __init__(self, configuration: Any, engine: Engine, memo: Memo) -> None:
        super().__init__(configuration)
        self.engine, self.memo = engine, memo

    def authorization(self, user: str, user_groups: set, path: str) -> str:
        """Asked for every resource of a listing: answered once per collection and request."""
        collection = "/".join(path.strip("/").split("/")[:2])
        return self.memo.get(("rights", user, collection), lambda: self._permissions(user, collection))

    def _permissions(self, user: str, path: str) -> str:
        with store.transaction(self.engine) as session:
            return places.permissions(session, user, path)


def _own_namespaces() -> None:
    """Radicale writes DAV: as the default namespace, registered with ElementTree once, when it is imported. Another
    library registering "" later (WeasyPrint does, for a brief's PDF metadata) takes that away, and every answer
    would then say "ns0:": valid XML, but not what every app parses. So it is registered again for each request."""
    for short, url in xmlutils.NAMESPACES.items():
        ET.register_namespace("" if short == "D" else short, url)


def _depth(element: Any) -> int:
    deepest, level = 0, [(element, 1)]
    while level:
        node, depth = level.pop()
        deepest = max(deepest, depth)
        level.extend((child, depth + 1) for child in node)
    return deepest


def _answer(status: int, text: str) -> tuple:
    return status, (("Content-Type", "text/plain"),), text + "\n", None  # Radicale adds its charset


class TrackerDav(Application):
    """Radicale's application, with the register's refusals answered as such."""

    def _handle_request(self, environ: dict) -> Any:
        _own_namespaces()
        memo = self._storage.memo
        memo.clear()
        try:
            return super()._handle_request(environ)
        finally:
            memo.clear()

    def do_PUT(self, environ: dict, base_prefix: str, path: str, user: str, *args: Any, **kwargs: Any) -> tuple:
        """Radicale's PUT, on a body that must be UTF-8 (Radicale would read other bytes as Latin-1). Never with an
        ETag: what is stored is the register's item, not the app's bytes, so the app must fetch it again (RFC 4791
        §5.3.4)."""
        try:
            body = httputils.read_raw_request_body(self.configuration, environ)
            writes.read_todo(body.decode("utf-8"))  # what does not parse is said here, with its reason
        except (RuntimeError, UnicodeDecodeError):
            return _answer(client.BAD_REQUEST, "A task is sent as UTF-8 iCalendar text.")
        except InvalidInput as exc:
            return _answer(client.BAD_REQUEST, str(exc))
        except Forbidden:
            pass  # a task list's own rule: Radicale's rights decide first, then the storage refuses it
        environ["wsgi.input"] = io.BytesIO(body)
        self._storage.expect(environ.get("HTTP_IF_MATCH"))
        try:
            status, headers, answer, xml = super().do_PUT(environ, base_prefix, path, user, *args, **kwargs)
        except TrackerError as exc:
            return _answer(exc.http_status, str(exc))
        finally:
            self._storage.expect(None)
        return status, {k: v for k, v in dict(headers).items() if k.lower() != "etag"}, answer, xml

    def _read_xml_request_body(self, *args: Any, **kwargs: Any) -> Any:
        """Radicale's, with what defusedxml refuses (entities) as a bad request, and a body nested deeper than
        CalDAV's (Radicale walks it recursively)."""
        try:
            found = super()._read_xml_request_body(*args, **kwargs)
        except (DefusedXmlException, ValueError) as e:
            raise RuntimeError(f"refused XML: {type(e).__name__}") from None
        if found is not None and _depth(found) > MAX_XML_DEPTH:
            raise RuntimeError("refused XML: nested too deep")
        return found

    def _refuse(self, environ: dict, *args: Any, **kwargs: Any) -> tuple:
        return _answer(client.FORBIDDEN, REFUSED[environ["REQUEST_METHOD"].upper()])

    do_DELETE = do_MOVE = do_MKCOL = do_MKCALENDAR = do_POST = _refuse

    def do_PROPPATCH(self, *args: Any, **kwargs: Any) -> tuple:
        """Radicale's: what an app may set is kept as the person's view (tracker.dav.views), the rest refused."""
        try:
            return super().do_PROPPATCH(*args, **kwargs)
        except TrackerError as exc:
            return _answer(exc.http_status, str(exc))


def application(engine: Engine, now: Callable[[], datetime], default_tz: str) -> TrackerDav:
    """The WSGI app serving CalDAV from the database `engine`; `now` is the clock writes are stamped with."""
    configuration, memo = config.load([]), Memo()
    configuration.update({
        "auth": {"type": ScopeAuth, "delay": "0", "cache_logins": "False"},
        "rights": {"type": functools.partial(Rights, engine=engine, memo=memo)},
        "storage": {"type": functools.partial(Storage, engine=engine, now=now, default_tz=default_tz, memo=memo)},
        "web": {"type": "none"},
        "server": {"max_content_length": str(2 * MAX_RESOURCE), "max_resource_size": str(MAX_RESOURCE)},
        "logging": {"bad_put_request_content": "False", "request_header_on_debug": "False",
                    "request_content_on_debug": "False", "response_content_on_debug": "False"},
    }, "tracker", privileged=True)  # fmt: skip
    # Tracker's access log names each request (never a client's path); Radicale's warnings would quote them.
    logging.getLogger("radicale").setLevel(logging.ERROR)
    return TrackerDav(configuration)
