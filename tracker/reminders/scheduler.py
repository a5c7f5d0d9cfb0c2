"""`tracker remind run`: APScheduler 3.11 wiring only.

One job sweeps the reminders table (delivery.send_due) and then moves its own next run to when the next
reminder fires (at most `interval` away). The reminders and deliveries tables are the truth, so APScheduler
keeps its single job in memory: nothing is pickled, nothing to lose at a restart, and start-up does not
depend on how many reminders are planned. Misfires never drop work: a late sweep simply sends more.

The worker registers itself and renews its lease from a heartbeat thread for as long as the scheduler runs
(tracker.core.workers), and keeps its channels, so SMTP connections carry over from one sweep to the next.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Engine

from tracker.core import clock, workers
from tracker.core.config import Settings
from tracker.core.errors import Busy
from tracker.reminders import channels, delivery

log = logging.getLogger("tracker.reminders.scheduler")


def _sweep(engine: Engine, settings: Settings, now: Callable[[], datetime], scheduler: BaseScheduler,
           interval: timedelta, worker: str, open_channels: list[channels.Channel],
           started: list[float]) -> None:  # fmt: skip
    try:
        result = delivery.sweep(engine, now(), settings, open_channels, worker)
        if started:  # the first sweep after start-up: say how long getting going took
            log.info("first sweep done %.0f ms after start: %s", (time.perf_counter() - started.pop()) * 1000,
                     result.as_dict())  # fmt: skip
        elif result.sent or result.failed or result.summarised:
            log.info("sweep: %s", result.as_dict())
    except Busy as e:  # another process holds the write lock: the next sweep sends what this one could not
        log.warning("sweep postponed: %s", e)
    except Exception:  # a bad sweep is logged and retried at the next one; it never stops the scheduler
        log.exception("sweep failed")
    wake = clock.wall() + interval
    try:
        upcoming = delivery.next_due(engine)
        if upcoming is not None:
            wake = min(wake, clock.wall() + max(upcoming - now(), timedelta(0)))
    except Busy as e:
        log.warning("next due reminder not read: %s", e)
    except Exception:
        log.exception("could not read the next due reminder")
    try:
        scheduler.modify_job("sweep", next_run_time=wake)
    except JobLookupError:  # the scheduler was shut down (Ctrl-C, SIGTERM) while this sweep ran: nothing to move
        log.info("sweep finished after shutdown")


def build(engine: Engine, settings: Settings, now: Callable[[], datetime], background: bool = False,
          interval: timedelta = timedelta(seconds=60)) -> BaseScheduler:  # fmt: skip
    """A scheduler whose one job sweeps at once, then whenever a reminder falls due. Its worker is registered
    (and its lease renewed) from now until the scheduler shuts down."""
    kind = BackgroundScheduler if background else BlockingScheduler
    scheduler = kind(timezone=UTC, job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1})
    worker = workers.worker_id()
    open_channels = channels.load(settings.channels, os.environ)
    heartbeat = workers.Heartbeat(engine, worker, timedelta(seconds=settings.worker_lease))
    heartbeat.start()

    def stopped(_event: object) -> None:
        heartbeat.stop()
        for channel in open_channels:
            channel.close()

    scheduler.add_listener(stopped, EVENT_SCHEDULER_SHUTDOWN)
    scheduler.add_job(_sweep, "interval", seconds=interval.total_seconds(), id="sweep", next_run_time=clock.wall(),
                      args=(engine, settings, now, scheduler, interval, worker, open_channels,
                            [time.perf_counter()]))  # fmt: skip
    return scheduler


def run(engine: Engine, settings: Settings, now: Callable[[], datetime], interval: timedelta) -> None:
    """Run until interrupted (Ctrl-C, SIGTERM)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    scheduler = build(engine, settings, now, interval=interval)
    # systemd and docker stop with SIGTERM: end as Ctrl-C does (the lease retired, connections closed), not killed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
