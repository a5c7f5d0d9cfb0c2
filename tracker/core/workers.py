"""Senders and their leases: each sender registers in the `workers` table and renews a short lease while it
lives, from a heartbeat thread, so that a sender that died on any host is known dead within one lease and the
deliveries it had claimed are taken over (tracker.reminders.delivery). On its own host a dead sender is known at once,
by its pid.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta
from types import TracebackType

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from tracker.core import clock, store
from tracker.core.errors import Busy
from tracker.core.models import Worker

HOST = socket.gethostname()
FORGET_AFTER = timedelta(days=1)  # a registration expired this long ago is deleted (its rows were long taken over)
log = logging.getLogger("tracker.core.workers")


def worker_id() -> str:
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def pid_gone(worker: str | None) -> bool:
    """Whether `worker` ran on this host and its process no longer exists (another host's pid means nothing)."""
    host, _, rest = (worker or "").partition(":")
    if host != HOST:
        return False
    try:
        os.kill(int(rest.split(":")[0]), 0)
    except (ValueError, ProcessLookupError):
        return True
    except PermissionError:
        return False
    return False


def renew(engine: Engine, worker: str, lease: timedelta) -> None:
    """Register `worker`, or extend its lease to `lease` from now. Only the worker's own row is locked."""
    wall = clock.wall()
    with store.transaction(engine, write=True, lock=False) as session:
        found = session.execute(update(Worker).where(Worker.id == worker).values(lease_until=wall + lease))
        if found.rowcount == 0:
            pid = int(worker.split(":")[1]) if worker.count(":") >= 2 else os.getpid()
            session.add(Worker(id=worker, host=worker.partition(":")[0], pid=pid, started_at=wall,
                               lease_until=wall + lease))  # fmt: skip
            session.execute(delete(Worker).where(Worker.lease_until < wall - FORGET_AFTER))


def retire(engine: Engine, worker: str) -> None:
    """A clean exit: the lease ends now, so rows the worker left claimed are taken over at once."""
    with store.transaction(engine, write=True, lock=False) as session:
        session.execute(update(Worker).where(Worker.id == worker).values(lease_until=clock.wall()))


def expired(session: Session, workers: set[str]) -> set[str]:
    """Those of `workers` whose registered lease has run out. An unregistered one is not among them: only its
    rows' own lease (or its pid) can tell."""
    if not workers:
        return set()
    return set(session.scalars(select(Worker.id).where(Worker.id.in_(workers), Worker.lease_until < clock.wall())))


class Heartbeat:
    """Registers a worker on entry, renews its lease every third of it from a daemon thread, retires it on exit.

    A renewal that fails (database busy or away) is logged and retried at the next beat; the lease is three
    beats long, so one lost beat does not make a live worker look dead."""

    def __init__(self, engine: Engine, worker: str, lease: timedelta) -> None:
        self.engine, self.worker, self.lease = engine, worker, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {worker}", daemon=True)

    def start(self) -> None:
        renew(self.engine, self.worker, self.lease)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.lease.total_seconds())
        try:
            retire(self.engine, self.worker)
        except Exception:  # the lease runs out by itself
            log.exception("could not retire %s", self.worker)

    def __enter__(self) -> Heartbeat:
        self.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.lease.total_seconds() / 3):  # a timer, not a clock reading
            try:
                renew(self.engine, self.worker, self.lease)
            except Busy as e:
                log.warning("lease of %s not renewed: %s", self.worker, e)
            except Exception:
                log.exception("lease of %s not renewed", self.worker)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.stop()
