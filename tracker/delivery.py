"""Sending what is due, exactly once as far as a database can make it so.

`send_due(engine, now, …)` is the one code path of `remind send-due`, the `remind run` scheduler and the tests:
1. re-plan (reminders.sync_plan);
2. summarise reminders older than the grace window into one catch-up message per person;
3. queue a delivery row per reminder x recipient x channel (unique: the ledger);
4. claim a batch of rows in one write transaction (status pending → sending, claimed_by = this worker),
   so a second sender can never take the same row, then send each and mark it sent in its own transaction.

Crash semantics: a worker that dies leaves its claimed rows "sending". They are taken over once the worker
is known dead (same host, its pid gone) or its lease expired (10 minutes, any host). The row being sent at the
moment of the crash may already have reached the recipient: it is sent again, with the same Message-ID and
idempotency key. So delivery is at-least-once, with at most one duplicate per crashed worker per channel.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from tracker import clock, messages, reminders, rules, store
from tracker.channels import Channel, ChannelError
from tracker.config import Settings
from tracker.models import OPEN_STATUSES, Delivery, Item, ItemOwner, Meta, Person, Reminder
from tracker.timing import describe

BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
           timedelta(hours=3), timedelta(hours=12))  # fmt: skip
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=10)
HOST = socket.gethostname()
ERROR_CHARS = 2000  # of an error kept in the ledger
log = logging.getLogger("tracker.delivery")


def worker_id() -> str:
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


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

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "skipped": self.skipped, "cancelled": self.cancelled,
                "summarised": self.summarised, "planned": self.planned}  # fmt: skip


def _insert_ignore(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(Delivery).values(rows).on_conflict_do_nothing())


def _catch_up(session: Session, now: datetime, grace: timedelta) -> int:
    """Reminders that fell due long ago and were never sent become one catch-up message per person."""
    stale = list(session.scalars(
        select(Reminder).where(Reminder.state == "planned", Reminder.fire_at < now - grace,
                               Reminder.kind != "catchup").options(selectinload(Reminder.item))
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
    days = reminder.payload.get("days") or reminder.payload.get("days_overdue")
    what = {"item-before": f"due in {days} days", "item-due": "due that day", "item-overdue": f"{days} days overdue",
            "meeting-before": f"{days} days before"}.get(reminder.kind, "reminder")  # fmt: skip
    return {"when": reminder.fire_at.date().isoformat(), "what": f"{title} ({what})", "title": title}


def _queue(session: Session, now: datetime, channels: Sequence[Channel]) -> None:
    due = list(session.scalars(select(Reminder).where(Reminder.state == "planned", Reminder.fire_at <= now)
                               .options(selectinload(Reminder.person))))  # fmt: skip
    rows = []
    for reminder in due:
        person: Person = reminder.person
        for channel in channels:
            if channel.reaches(person):
                recipient = person.email if channel.name == "email" else person.slug
                rows.append({"reminder_id": reminder.id, "recipient": recipient, "channel": channel.name,
                             "status": "pending", "attempts": 0})  # fmt: skip
        reminder.state = "queued"
    _insert_ignore(session, rows)


def _alive(worker: str | None) -> bool:
    host, _, rest = (worker or "").partition(":")
    if host != HOST:
        return True  # another host: only its lease can tell
    try:
        os.kill(int(rest.split(":")[0]), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _claim(engine: Engine, worker: str, now: datetime, batch: int) -> list[int]:
    """Take up to `batch` deliveries that are pending, due for a retry, or orphaned by a dead worker. Each
    UPDATE re-checks the state it saw, so a row another sender took in between is left to it."""
    wall = clock.wall()
    claim = {"status": "sending", "claimed_by": worker, "claimed_at": now, "lease_until": wall + LEASE}
    with store.transaction(engine, write=True) as session:
        ready = or_(Delivery.status == "pending", and_(Delivery.status == "failed", Delivery.next_attempt_at <= now))
        ids = list(session.scalars(select(Delivery.id).where(ready).order_by(Delivery.id).limit(batch)))
        if ids:
            session.execute(update(Delivery).where(Delivery.id.in_(ids), ready).values(**claim))
        if len(ids) < batch:
            # This worker's own rows are among them: `remind run` keeps one worker id, and a sweep that died
            # mid-batch leaves rows that only the lease can free.
            orphans = session.execute(select(Delivery.id, Delivery.claimed_by, Delivery.lease_until)
                                      .where(Delivery.status == "sending"))  # fmt: skip
            for delivery_id, owner, lease in orphans:
                if len(ids) < batch and (lease < wall or not _alive(owner)):
                    session.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "sending",
                                                           Delivery.claimed_by == owner).values(**claim))  # fmt: skip
                    ids.append(delivery_id)
        if not ids:
            return []
        return list(
            session.scalars(
                select(Delivery.id)
                .where(Delivery.id.in_(ids), Delivery.claimed_by == worker, Delivery.status == "sending")
                .order_by(Delivery.id)
            )
        )


def _record(engine: Engine, delivery_id: int, worker: str, **values: Any) -> None:
    with store.transaction(engine, write=True) as session:
        session.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.claimed_by == worker)
                        .values(**values))  # fmt: skip


Composed = tuple[int, str, Any, int]  # delivery id, channel, message (or outcome, or Failure), attempt number


def _compose_batch(engine: Engine, ids: list[int], now: datetime, settings: Settings) -> list[Composed]:
    """What to send for a claimed batch, read in one transaction. A message that cannot be composed is that
    delivery's Failure; the others go on."""
    out = []
    with store.transaction(engine) as session:
        batch = session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id).options(
            selectinload(Delivery.reminder).selectinload(Reminder.person),
            selectinload(Delivery.reminder).selectinload(Reminder.item).selectinload(Item.owner_links)
            .selectinload(ItemOwner.person)))  # fmt: skip
        for d in batch:
            out.append((d.id, d.channel, _compose_one(session, d, now, settings), d.attempts + 1))
    return out


def _compose_one(session: Session, d: Delivery, now: datetime, settings: Settings) -> Any:
    reminder = d.reminder
    if reminder.item is not None and reminder.item.status not in OPEN_STATUSES:
        return "cancelled"  # done or cancelled since it was queued: stop at once
    try:
        with session.begin_nested():  # whatever the composer did is undone with it
            message = messages.compose(session, reminder, reminder.person, d.recipient, now, settings)
    except Exception as e:
        return failure(e, d.id, "composing")
    return message or "skipped"


def _deliver(engine: Engine, worker: str, now: datetime, channels: dict[str, Channel], result: SendResult,
             delivery_id: int, channel_name: str, message: Any, attempts: int) -> None:  # fmt: skip
    channel = channels.get(channel_name)
    if channel is None and not isinstance(message, Failure):
        message = "skipped"  # the channel is no longer configured
    if isinstance(message, str):
        _record(engine, delivery_id, worker, status=message, attempts=attempts)
        setattr(result, message, getattr(result, message) + 1)
        return
    if not isinstance(message, Failure):
        try:
            channel.send(message)
        except Exception as e:  # whatever went wrong with one delivery is that delivery's alone
            message = failure(e, delivery_id, f"sending by {channel_name}")
    if isinstance(message, Failure):
        dead = attempts >= MAX_ATTEMPTS
        retry = now + BACKOFF[min(attempts, len(BACKOFF)) - 1]
        _record(engine, delivery_id, worker, status="dead" if dead else "failed", attempts=attempts,
                error=message.error, next_attempt_at=None if dead else retry)  # fmt: skip
        result.failed += 1
        return
    _record(engine, delivery_id, worker, status="sent", attempts=attempts, sent_at=now, error=None)
    result.sent += 1


def _settle(engine: Engine) -> None:
    """Reminders whose deliveries are all finished are done."""
    unfinished = exists().where(Delivery.reminder_id == Reminder.id,
                                Delivery.status.in_(("pending", "sending", "failed")))  # fmt: skip
    with store.transaction(engine, write=True) as session:
        session.execute(update(Reminder).where(Reminder.state == "queued", ~unfinished).values(state="done"))


PLAN_STATE = "plan_state"
REPLAN_EVERY = timedelta(hours=1)  # repeating reminders (overdue, digests) roll forward; LOOKAHEAD covers the gap


def _plan_is_current(session: Session, now: datetime) -> bool:
    row = session.get(Meta, PLAN_STATE)
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


def prepare(engine: Engine, now: datetime, settings: Settings, channels: Sequence[Channel]) -> SendResult:
    """Steps 1–3: re-plan (when the data changed or an hour passed), catch up, queue. Safe in several processes."""
    result = SendResult()
    with store.transaction(engine, write=True) as session:
        if not _plan_is_current(session, now):
            result.planned = reminders.sync_plan(session, now)
            _mark_plan_current(session, now)
        result.summarised = _catch_up(session, now, timedelta(hours=settings.catchup_grace_hours))
        _queue(session, now, channels)
    return result


def send_due(engine: Engine, now: datetime, settings: Settings, channels: Sequence[Channel],
             worker: str | None = None, batch: int = 50) -> SendResult:  # fmt: skip
    """Send everything due at `now`; returns the counts. Failures are recorded and retried later."""
    worker = worker or worker_id()
    result = prepare(engine, now, settings, channels)
    by_name = {c.name: c for c in channels}
    try:
        while ids := _claim(engine, worker, now, batch):
            for row in _compose_batch(engine, ids, now, settings):
                _deliver(engine, worker, now, by_name, result, *row)
    finally:
        for channel in channels:
            channel.close()
    _settle(engine)
    return result


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
            "fire_at": describe(r.fire_at, False, p.tz),
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
