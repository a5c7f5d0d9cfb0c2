"""How `tracker serve` runs uvicorn: deadlines for slow clients, a cap on open connections, open-file headroom.

uvicorn itself never times out a client that has not finished sending its request headers or its body, so a few
thousand half-sent requests hold as many file descriptors until the process cannot accept /healthz. The HTTP
protocol here is uvicorn's httptools protocol with three deadlines and a connection cap added:

- header_timeout: from the connection's opening (or the first byte of a later request) to the end of the
  request's headers; then the connection is closed. Trickling bytes does not extend it.
- body_timeout: from the end of the headers to the end of the body; then 408 (if no response has started) and
  the connection is closed, and an app waiting for the body sees the client gone.
- keepalive_timeout: an idle connection between requests is closed (uvicorn's own timer).
- send_timeout: a response the client does not read (the transport's buffer stays above its high-water mark,
  so uvicorn pauses writing) for that long is dropped and the connection aborted; the app sees the client gone.
- max_connections: when a new connection would exceed it, the connection that has waited longest for its
  client (idle, its request not yet complete, or its response not being read) is closed to make room; if every
  connection is being served, the new one is closed. The cap is also kept below the process's open-file limit.

A send to a client that has gone (the transport closed or closing before the response is complete) raises
ClientGone, an OSError as ASGI 2.4 asks, instead of uvloop's RuntimeError or uvicorn silently dropping it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import OrderedDict
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tracker.core.config import Settings
from tracker.core.errors import ConfigError

log = logging.getLogger("tracker.web.server")

RESERVED_FILES = 128  # descriptors kept for the database (3 per SQLite connection in WAL mode), logs, the listener
_TIMEOUT_BODY = b"The request body did not arrive in time.\n"
REQUEST_TIMEOUT = b"".join([
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n",
    b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_TIMEOUT_BODY), _TIMEOUT_BODY])  # fmt: skip


@dataclass(frozen=True)
class Limits:
    """Deadlines (seconds) and the connection cap: the settings of the same names (their defaults are these)."""

    header_timeout: float = Settings.header_timeout
    body_timeout: float = Settings.body_timeout
    keepalive_timeout: float = Settings.keepalive_timeout
    max_connections: int = Settings.max_connections
    send_timeout: float = Settings.send_timeout

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:  # noqa: ANN401 - tracker.core.config.Settings
        """The settings of these names (tracker.core.config declares each, with its range)."""
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


class ClientGone(ConnectionResetError):
    """Raised by send() when the client went away (or was cut off) before its response was complete."""


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE (often 1,024; each connection holds a descriptor) to its hard
    limit; return the soft limit now in force."""
    try:
        import resource
    except ImportError:  # not a POSIX system: nothing to raise
        return 1 << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as e:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, e)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def fit(limits: Limits, open_files: int) -> Limits:
    """`limits` with max_connections kept below what `open_files` descriptors allow."""
    room = max(open_files - RESERVED_FILES, 16)
    if limits.max_connections > room:
        log.warning("max_connections %d lowered to %d by the open-file limit %d", limits.max_connections, room,
                    open_files)  # fmt: skip
        return replace(limits, max_connections=room)
    return limits


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines and a connection cap (see the module doc)."""

    limits: ClassVar[Limits] = Limits()
    # Per server (protocol() makes a class each): connections waiting for their client, longest-waiting first,
    # and connections closed here that the loop has not yet reported lost.
    waiting: ClassVar[OrderedDict[GuardedProtocol, None]] = OrderedDict()
    closing: ClassVar[set[GuardedProtocol]] = set()

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - uvicorn's signature
        super().__init__(*args, **kwargs)
        self.access_log = False  # uvicorn's access line holds the path, tokens and all; tracker.web.server logs instead
        # Loop times by which the headers, then the body, must be in; None when not awaited. One timer checks
        # them and re-arms itself only while one is set, so a busy keep-alive connection costs no timer per request.
        self.headers_due: float | None = None
        self.body_due: float | None = None
        self.write_due: float | None = None  # while the transport has paused writing: when to give up
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.waiting[self] = None
        self._expect_headers()
        if len(self.connections) - len(self.closing) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.waiting.pop(self, None)
        self.closing.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # Bytes that start no request (blank lines between requests) stopped uvicorn's keep-alive timer.
        if self.headers_due is None and (self.cycle is None or self.cycle.response_complete):
            self._expect_headers()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.headers_due is None:  # a new request; the first one's deadline runs from the connection's opening
            self._expect_headers()

    def on_headers_complete(self) -> None:
        if self.write_due is None:  # now the app has it: not to be closed to make room (unless stuck writing)
            self.waiting.pop(self, None)
        self.headers_due = None
        self.body_due = self.loop.time() + self.limits.body_timeout
        self._arm(self.limits.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.body_due = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.pipeline and not self.transport.is_closing():
            self.waiting[self] = None  # idle, at the end of the queue

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.write_due is None:
            self.write_due = self.loop.time() + self.limits.send_timeout
            self._arm(self.limits.send_timeout)
            self.waiting[self] = None  # waiting for its client to read

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.write_due is not None:
            self.write_due = None
            idle = self.headers_due is not None or (
                (self.cycle is None or self.cycle.response_complete) and not self.pipeline
            )
            if not idle and not self.transport.is_closing():
                self.waiting.pop(self, None)

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:  # noqa: ANN401 - uvicorn's cycle and app
        super()._start_asgi_task(cycle, self._guarded(cycle, app))

    def _guarded(self, cycle: Any, app: Any) -> Any:  # noqa: ANN401 - uvicorn's cycle, an ASGI app
        """`app` with a send() that raises ClientGone rather than write to a transport that is closed."""
        transport, flow = self.transport, self.flow

        async def guarded(scope: Any, receive: Any, send: Any) -> None:  # noqa: ANN401 - ASGI
            async def checked(message: Any) -> None:  # noqa: ANN401 - ASGI
                if flow.write_paused and not cycle.disconnected:
                    await flow.drain()
                if (cycle.disconnected or transport.is_closing()) and not cycle.response_complete:
                    cycle.disconnected = True
                    raise ClientGone("the client went away before the response was complete")
                await send(message)

            await app(scope, receive, checked)

        return guarded

    def _expect_headers(self) -> None:
        self.headers_due = self.loop.time() + self.limits.header_timeout
        self._arm(self.limits.header_timeout)

    def _arm(self, seconds: float) -> None:
        """Make sure the timer fires within `seconds` (it usually already does: no new timer)."""
        if self.timer is not None and self.timer.when() > self.loop.time() + seconds:
            self.timer.cancel()
            self.timer = None
        if self.timer is None:
            self.timer = self.loop.call_later(seconds, self._check)

    def _check(self) -> None:
        self.timer = None
        now = self.loop.time()
        if self.headers_due is not None and now >= self.headers_due:
            self._close()
        elif self.body_due is not None and now >= self.body_due:
            self._body_timed_out()
        elif self.write_due is not None and now >= self.write_due:
            self._abort()
        else:
            due = [d for d in (self.headers_due, self.body_due, self.write_due) if d is not None]
            if due:
                self._arm(min(due) - now)

    def _body_timed_out(self) -> None:
        cycle = self.cycle
        if cycle is not None:
            if not cycle.response_started and not self.transport.is_closing():
                self.transport.write(REQUEST_TIMEOUT)
            cycle.disconnected = True  # the app's receive() now says http.disconnect; its send() raises ClientGone
            cycle.message_event.set()
        self._close()

    def _close(self) -> None:
        """Close the connection; at once if its client is not reading (close() would wait to send the rest)."""
        if self.write_due is not None:
            self._abort()
        else:
            self.transport.close()

    def _abort(self) -> None:
        """Close at once, dropping what the client has not read (close() would wait for it to be read)."""
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.abort()

    def _make_room(self) -> None:
        victim = next((c for c in self.waiting if c is not self and not c.transport.is_closing()), self)
        self.waiting.pop(victim, None)
        self.closing.add(victim)
        victim._close()


def protocol(limits: Limits) -> type[GuardedProtocol]:
    """The protocol class for uvicorn.Config(http=...), bound to `limits`."""
    return type(
        "TrackerHttpProtocol", (GuardedProtocol,), {"limits": limits, "waiting": OrderedDict(), "closing": set()}
    )


class ProtocolFactory:
    """uvicorn's `http` option: connections of protocol(limits), the class made once per process. Unlike that
    class it pickles, so a config holding it reaches worker processes."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._class: type[GuardedProtocol] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"limits": self.limits, "_class": None}

    def __call__(self, *args: Any, **kwargs: Any) -> GuardedProtocol:  # noqa: ANN401 - uvicorn's signature
        if self._class is None:
            self._class = protocol(self.limits)
        return self._class(*args, **kwargs)


def config(app: Any, limits: Limits, **options: Any) -> uvicorn.Config:  # noqa: ANN401 - any ASGI app
    """uvicorn's Config for tracker: the guarded protocol, no uvicorn access log (it would print tokens), no
    Server header, no WebSocket upgrades. `options` go to uvicorn.Config (host, port, log_level, workers,
    factory, date_header, ...). It pickles when `app` does (an app factory), as worker processes need."""
    return uvicorn.Config(
        app,
        http=ProtocolFactory(limits),  # type: ignore[arg-type] - a callable making protocols is what uvicorn calls
        ws="none",
        timeout_keep_alive=limits.keepalive_timeout,  # type: ignore[arg-type] - a float works (loop.call_later)
        access_log=False,
        server_header=False,
        **options,
    )


def listen(bound: uvicorn.Config) -> socket.socket:
    """A socket listening on `bound`'s host and port, made as uvicorn's Config.bind_socket makes it (IPv6 for an
    address with a colon, SO_REUSEADDR, inheritable by worker processes), except that where uvicorn logs the
    failure and exits with its own code, this raises the project's error.
    :raises ConfigError: the address is in use, the host unknown or not this machine's."""
    address = f"[{bound.host}]:{bound.port}" if ":" in bound.host else f"{bound.host}:{bound.port}"
    sock = socket.socket(socket.AF_INET6 if ":" in bound.host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bound.host, bound.port))
        sock.listen(bound.backlog)  # from now on clients queue, never refused, while the app starts
    except OSError as e:
        sock.close()
        reason = e.strerror or str(e)
        raise ConfigError(f"cannot listen on {address}: {reason[:1].lower()}{reason[1:]}") from None
    sock.set_inheritable(True)
    actual = f"[{bound.host}]" if ":" in bound.host else bound.host
    log.info("running on http://%s:%d (Press CTRL+C to quit)", actual, sock.getsockname()[1])
    return sock
