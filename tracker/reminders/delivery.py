"""Sending what is due, exactly once as far as a database can make it so.

`send_due(engine, now, …)` is the one code path of `remind send-due`, the `remind run` scheduler and the tests:
1. re-plan (planning.sync_plan);
2. summarise reminders older than the grace window into one catch-up message per person;
3. queue a delivery row per reminder x recipient x channel (unique: the ledger);
4. claim a batch of rows (status pending → sending, claimed_by = this worker) so a second sender can never
   take the same row, then send each and mark it sent in its own transaction.

Several workers, on several hosts, share the work. On PostgreSQL a claim locks only the rows it takes (SELECT …
FOR UPDATE SKIP LOCKED, without the global write lock), so workers claim side by side; steps 1–3 take the global
lock only when something is to be planned or queued, and a worker finding another re-planning goes on sending.
SQLite has one writer at a time: there, claims and records queue for its write lock, briefly.

Crash semantics: a worker that dies leaves its claimed rows "sending". They are taken over once the worker
is known dead: on its host by its pid, on any host by its worker lease (tracker.core.workers: `worker_lease`
seconds, renewed by a heartbeat while it lives); a row's own 10-minute lease frees rows a live worker lost
(a sweep that failed half-way). The row being sent at the moment of the crash may already have reached the
recipient: it is sent again, with the same Message-ID and idempotency key. So delivery is at-least-once, with
at most one duplicate per crashed worker per sending connection (one unless [channels.email] connections > 1).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Update, and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, selectinload

from tracker.core import clock, rules, store, workers
from tracker.core.config import Settings
from tracker.core.models import OPEN_STATUSES, Delivery, Item, ItemOwner, Meta, Person, Reminder
from tracker.core.workers import worker_id
from tracker.reminders import invitations, messages, planning
from tracker.reminders.channels import Channel, ChannelError

BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
           timedelta(hours=3), timedelta(hours=12))  # fmt: skip
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=10)  # of a claimed row, whatever its worker's lease says
ERROR_CHARS = 2000  # of an error kept in the ledger
log = logging.getLogger("tracker.reminders.delivery")


@dataclass(frozen=True)
class Failure:
    """Why a delivery did not go out; `error` is what the ledger records."""

    error: str


def failure(e: BaseException, delivery_id: int, stage: str) -> Failure:
    """A ChannelError says what happened in its own words; anything else is a bug or bad data somewhere, so it
    is logged with its traceback and recorded with its type."""
    if isinstance(e, ChannelError):
        return Failure(rules.one_line(str(e))[:ERROR_CHARS])
    log.error("delivery %d: %s failed", delivery_id, stage, exc_info=e)
    return Failure(rules.one_line(f"{type(e).__name__}: {e}")[:ERROR_CHARS])


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    summarised: int = 0
    planned: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, outcome: str) -> None:
        """One more delivery `outcome` (sent, failed, skipped, cancelled); sending threads share the result."""
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "skipped": self.skipped, "cancelled": self.cancelled,
                "summarised": self.summarised, "planned": self.planned}  # fmt: skip


def _insert_ignore(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(Delivery).values(rows).on_conflict_do_nothing())


def _catch_up(session: Session, now: datetime, grace: timedelta) -> int:
    """Reminders that fell due long ago and were never sent become one catch-up message per person. Not
    invitations: one is due for as long as its meeting is ahead (the plan drops it after that)."""
    stale = list(session.scalars(
        select(Reminder).where(Reminder.state == "planned", Reminder.fire_at < now - grace,
                               Reminder.kind.not_in(("catchup", *invitations.KINDS)))
        .options(selectinload(Reminder.item), selectinload(Reminder.person))
        .order_by(Reminder.fire_at)))  # fmt: skip
    by_person: dict[int, list[Reminder]] = defaultdict(list)
    for reminder in stale:
        reminder.state = "summarised"
        if reminder.kind != "digest":  # an old digest has nothing left to say
            by_person[reminder.person_id].append(reminder)
    for person_id, missed in by_person.items():
        summary = [_summary(r) for r in missed]
        # Each missed reminder is summarised once, so its id makes the key unique even when two sweeps share `now`.
        session.add(Reminder(key=f"catchup:{person_id}:{now.isoformat()}:{missed[0].id}", kind="catchup", fire_at=now,
                             person_id=person_id, payload={"missed": summary}))  # fmt: skip
    session.flush()
    return len(stale)


def _summary(reminder: Reminder) -> dict[str, str]:
    title = reminder.item.title if reminder.item else reminder.payload.get("title", "meeting")
    what = planning.what(reminder.kind, reminder.payload, planning.DUE_THAT_DAY)
    day = reminder.fire_at.astimezone(ZoneInfo(reminder.person.tz)).date()  # the day it fell due for them
    # kind and payload let the message say `what` again in its recipient's language
    return {"when": day.isoformat(), "what": f"{title} ({what})", "title": title, "kind": reminder.kind,
            "payload": reminder.payload}  # fmt: skip


def _queue(session: Session, now: datetime, channels: Sequence[Channel]) -> None:
    due = list(session.scalars(select(Reminder).where(Reminder.state == "planned", Reminder.fire_at <= now)
                               .options(selectinload(Reminder.person))))  # fmt: skip
    rows = []
    for reminder in due:
        person: Person = reminder.person
        for channel in channels:
            if reminder.kind in invitations.KINDS and channel.name != "email":
                continue  # an invitation is for the recipient's calendar program: e-mail only
            if channel.reaches(person):
                recipient = person.email if channel.name == "email" else person.slug
                rows.append({"reminder_id": reminder.id, "recipient": recipient, "channel": channel.name,
                             "status": "pending", "attempts": 0})  # fmt: skip
        reminder.state = "queued"
    _insert_ignore(session, rows)


def _claim(engine: Engine, worker: str, now: datetime, batch: int) -> list[int]:
    """Take up to `batch` deliveries that are pending, due for a retry, or orphaned by a dead worker. The rows
    are locked as they are read (PostgreSQL: FOR UPDATE SKIP LOCKED, so a row another worker is claiming is
    passed over, not waited for; SQLite: the write lock), so no two workers take the same row."""
    claim = {"status": "sending", "claimed_by": worker, "claimed_at": now, "lease_until": clock.wall() + LEASE}
    with store.transaction(engine, write=True, lock=False) as session:
        ready = or_(Delivery.status == "pending", and_(Delivery.status == "failed", Delivery.next_attempt_at <= now))
        ids = list(session.scalars(select(Delivery.id).where(ready).order_by(Delivery.id).limit(batch)
                                   .with_for_update(skip_locked=True)))  # fmt: skip
        if len(ids) < batch:
            ids += _orphans(session, batch - len(ids))
        if ids:
            session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(**claim))
        return sorted(ids)


def _orphans(session: Session, limit: int) -> list[int]:
    """Up to `limit` rows left "sending" by a dead worker (its lease ran out, or its pid is gone on this host) or
    whose own lease ran out (this worker's own included: `remind run` keeps one worker id, and a sweep that died
    mid-batch leaves rows that only that lease can free). Locked, and re-checked, as they are taken."""
    wall = clock.wall()
    rows = session.execute(select(Delivery.id, Delivery.claimed_by, Delivery.lease_until)
                           .where(Delivery.status == "sending").order_by(Delivery.id)).all()  # fmt: skip
    owners = {owner for _, owner, _ in rows}
    dead = workers.expired(session, owners) | {owner for owner in owners if workers.pid_gone(owner)}
    found = {i: owner for i, owner, lease in rows if lease < wall or owner in dead}
    if not found:
        return []
    locked = session.execute(select(Delivery.id, Delivery.claimed_by)
                             .where(Delivery.id.in_(list(found)[:limit]), Delivery.status == "sending")
                             .with_for_update(skip_locked=True))  # fmt: skip
    return [i for i, owner in locked if found[i] == owner]  # not claimed anew since it was seen


def _record(engine: Engine, delivery_id: int, worker: str, **values: Any) -> None:
    with store.transaction(engine, write=True, lock=False) as session:  # only its own row
        session.execute(_mark(delivery_id, worker, values))


def _mark(delivery_id: int, worker: str, values: dict[str, Any]) -> Update:
    table = Delivery.__table__  # Core: the ORM's bulk-update machinery costs more than the statement itself
    return update(table).where(table.c.id == delivery_id, table.c.claimed_by == worker).values(**values)


class _Ledger:
    """Records a batch's outcomes, each in its own committed statement as soon as it is known (the crash
    semantics above rest on that). On PostgreSQL on connections held for the batch, one per sending thread, in
    autocommit: one round trip a record instead of four (pool ping, BEGIN, UPDATE, COMMIT). A record that fails
    there is made again through store.transaction on a fresh connection, whose errors are the usual ones (Busy,
    Unavailable); the statement sets the same values twice at worst. SQLite has no round trips to save."""

    def __init__(self, engine: Engine, worker: str) -> None:
        self.engine, self.worker = engine, worker
        self.held = engine.dialect.name == "postgresql"
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._lock = threading.Lock()

    def record(self, delivery_id: int, **values: Any) -> None:
        if self.held:
            try:
                self._connection().execute(_mark(delivery_id, self.worker, values))
                return
            except DBAPIError:
                log.warning("delivery %d: recording on the batch's connection failed; again on a new one", delivery_id)
                self._local.conn = None
        _record(self.engine, delivery_id, self.worker, **values)

    def _connection(self) -> Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            with self._lock:
                self._opened.append(conn)
        return conn

    def close(self) -> None:
        for conn in self._opened:
            conn.close()


Composed = tuple[int, str, Any, int]  # delivery id, channel, message (or outcome, or Failure), attempt number


def _compose_batch(engine: Engine, ids: list[int], now: datetime, settings: Settings) -> list[Composed]:
    """What to send for a claimed batch, read in one transaction: the rows with what their messages show, and
    the secret and status marks the links are signed with, in a few queries for the whole batch. A message
    that cannot be composed is that delivery's Failure; the others go on."""
    item = selectinload(Delivery.reminder).selectinload(Reminder.item)
    with store.transaction(engine) as session:
        batch = list(session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id).options(
            selectinload(Delivery.reminder).selectinload(Reminder.person),
            item.selectinload(Item.owner_links).selectinload(ItemOwner.person), item.selectinload(Item.meeting),
            item.selectinload(Item.serves_meeting), item.selectinload(Item.serves_series),
            item.selectinload(Item.committee))))  # fmt: skip
        sign = messages.Signing.read(session, settings, {d.reminder.item_id for d in batch} - {None})
        return [(d.id, d.channel, _compose_one(session, d, now, settings, sign), d.attempts + 1) for d in batch]


def _compose_one(session: Session, d: Delivery, now: datetime, settings: Settings, sign: messages.Signing) -> Any:
    reminder = d.reminder
    if reminder.item is not None and reminder.item.status not in OPEN_STATUSES:
        return "cancelled"  # done or cancelled since it was queued: stop at once
    # A composer that reads the database does so in a savepoint: whatever it did is undone with it, and a failed
    # statement does not end the batch's transaction. The others only use what the batch loaded.
    querying = reminder.kind in messages.QUERYING_KINDS
    try:
        with session.begin_nested() if querying else nullcontext():
            message = messages.compose(session, reminder, reminder.person, d.recipient, now, settings, sign)
    except Exception as e:
        return failure(e, d.id, "composing")
    return message or "skipped"


def _deliver(ledger: _Ledger, now: datetime, channels: dict[str, Channel], result: SendResult, row: Composed) -> None:
    delivery_id, channel_name, message, attempts = row
    channel = channels.get(channel_name)
    if channel is None and not isinstance(message, Failure):
        message = "skipped"  # the channel is no longer configured
    if isinstance(message, str):
        ledger.record(delivery_id, status=message, attempts=attempts)
        result.count(message)
        return
    if not isinstance(message, Failure):
        try:
            channel.send(message)
        except Exception as e:  # whatever went wrong with one delivery is that delivery's alone
            message = failure(e, delivery_id, f"sending by {channel_name}")
    if isinstance(message, Failure):
        dead = attempts >= MAX_ATTEMPTS
        retry = now + BACKOFF[min(attempts, len(BACKOFF)) - 1]
        ledger.record(delivery_id, status="dead" if dead else "failed", attempts=attempts,
                      error=message.error, next_attempt_at=None if dead else retry)  # fmt: skip
        result.count("failed")
        return
    ledger.record(delivery_id, status="sent", attempts=attempts, sent_at=now, error=None)
    result.count("sent")


def _settle(engine: Engine) -> None:
    """Reminders whose deliveries are all finished are done. Left to a later sweep while another worker holds
    the write lock: nothing waits on it."""
    unfinished = exists().where(Delivery.reminder_id == Reminder.id,
                                Delivery.status.in_(("pending", "sending", "failed")))  # fmt: skip
    with store.transaction(engine, write=True, lock=False) as session:
        if store.write_lock(session, wait=False):
            session.execute(update(Reminder).where(Reminder.state == "queued", ~unfinished).values(state="done"))


PLAN_STATE = "plan_state"
REPLAN_EVERY = timedelta(hours=1)  # repeating reminders (overdue, digests) roll forward; LOOKAHEAD covers the gap


def _plan_is_current(session: Session, now: datetime) -> bool:
    row = session.get(Meta, PLAN_STATE, populate_existing=True)  # read again once the lock is held
    if row is None:
        return False
    state = json.loads(row.value)
    synced = datetime.fromisoformat(state["at"])
    return state["version"] == store.data_version(session) and synced <= now < synced + REPLAN_EVERY


def _mark_plan_current(session: Session, now: datetime) -> None:
    """Written with Core, not as an ORM change, so that it does not itself raise the data version."""
    value = json.dumps({"version": store.data_version(session), "at": now.isoformat()})
    table = Meta.__table__
    if session.execute(update(table).where(table.c.key == PLAN_STATE).values(value=value)).rowcount == 0:
        session.execute(table.insert().values(key=PLAN_STATE, value=value))


def _anything_due(session: Session, now: datetime) -> bool:
    return session.scalar(select(Reminder.id).where(Reminder.state == "planned", Reminder.fire_at <= now)
                          .limit(1)) is not None  # fmt: skip


def prepare(engine: Engine, now: datetime, settings: Settings, channels: Sequence[Channel]) -> SendResult:
    """Steps 1–3: re-plan (when the data changed or an hour passed), catch up, queue. Safe in several processes.

    Takes the global write lock only when there is something to do: a current plan with nothing due needs no
    lock, and a re-plan that another worker is doing (it holds the lock) is left to it while nothing is due.
    When reminders are due, the lock is waited for: the worker holding it is most likely queuing them."""
    result = SendResult()
    with store.transaction(engine, write=True, lock=False) as session:
        due = _anything_due(session, now)
        if not due and _plan_is_current(session, now):
            return result
        if not store.write_lock(session, wait=due):
            return result
        if not _plan_is_current(session, now):
            invite = invitations.organizer(settings) is not None and any(c.name == "email" for c in channels)
            result.planned = planning.sync_plan(session, now, invite)
            _mark_plan_current(session, now)
        result.summarised = _catch_up(session, now, timedelta(hours=settings.catchup_grace_hours))
        _queue(session, now, channels)
    return result


def sweep(engine: Engine, now: datetime, settings: Settings, channels: Sequence[Channel], worker: str,
          batch: int = 50) -> SendResult:  # fmt: skip
    """Send everything due at `now` as `worker`, leaving the channels open (a long-running worker keeps its SMTP
    connections from one sweep to the next). Channels with several connections send on as many threads."""
    result = prepare(engine, now, settings, channels)
    by_name = {c.name: c for c in channels}
    threads = max((getattr(c, "connections", 1) for c in channels), default=1)
    with ThreadPoolExecutor(threads) if threads > 1 else nullcontext() as pool:
        while ids := _claim(engine, worker, now, batch):
            rows = _compose_batch(engine, ids, now, settings)
            ledger = _Ledger(engine, worker)
            try:
                deliver = functools.partial(_deliver, ledger, now, by_name, result)
                for _ in pool.map(deliver, rows) if pool is not None else map(deliver, rows):
                    pass  # each delivery records its own outcome; this only re-raises a bug in the sender itself
            finally:
                ledger.close()
    _settle(engine)
    return result


def send_due(engine: Engine, now: datetime, settings: Settings, channels: Sequence[Channel],
             worker: str | None = None, batch: int = 50) -> SendResult:  # fmt: skip
    """Send everything due at `now`; returns the counts. Failures are recorded and retried later. Without a
    `worker` (one whose liveness its caller keeps), registers one for the call; closes the channels."""
    try:
        with _registered(engine, worker, settings) as me:
            return sweep(engine, now, settings, channels, me, batch)
    finally:
        for channel in channels:
            channel.close()


@contextmanager
def _registered(engine: Engine, worker: str | None, settings: Settings) -> Iterator[str]:
    if worker is not None:
        yield worker
        return
    me = worker_id()
    with workers.Heartbeat(engine, me, timedelta(seconds=settings.worker_lease)):
        yield me


def next_due(engine: Engine) -> datetime | None:
    """When the next planned reminder fires (for the scheduler's next wake-up)."""
    with store.transaction(engine) as session:
        return session.scalar(select(Reminder.fire_at).where(Reminder.state == "planned")
                              .order_by(Reminder.fire_at).limit(1))  # fmt: skip


def history(session: Session, limit: int = 200) -> list[dict[str, Any]]:
    """The ledger, newest first: when, to whom, which channel, status, error."""
    rows = session.execute(
        select(Delivery, Reminder, Person, Item.title).join(Reminder, Delivery.reminder_id == Reminder.id)
        .join(Person, Reminder.person_id == Person.id).outerjoin(Item, Reminder.item_id == Item.id)
        .order_by(Delivery.id.desc()).limit(limit)
    )  # fmt: skip
    return [
        {
            "id": d.id,
            "when": (d.sent_at or d.claimed_at).isoformat() if (d.sent_at or d.claimed_at) else None,
            "fire_at": r.fire_at.astimezone(ZoneInfo(p.tz)).isoformat(),
            "tz": p.tz,
            "to": p.slug,
            "recipient": d.recipient,
            "channel": d.channel,
            "status": d.status,
            "attempts": d.attempts,
            "error": d.error,
            "kind": r.kind,
            "about": title or r.payload.get("title") or "",
            "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
        }
        for d, r, p, title in rows
    ]
