"""The long-running side: serve, and the `remind` group (plan, send-due, run, history)."""

from __future__ import annotations

import os
from datetime import timedelta

import click

from tracker.cli.base import AppContext, cli, json_option, pass_app
from tracker.cli.output import message, render_json, render_table
from tracker.core import clock
from tracker.core.errors import InvalidInput


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--base-url",
    help="Public URL of this server, as subscribers reach it [env TRACKER_BASE_URL; "
    "default: the URL it listens on]; recorded for `subscribe add` and reminders.",
)
@click.option("--with-reminders", is_flag=True, help="Also run the reminder scheduler in this process.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), envvar="TRACKER_WORKERS",
              help="Worker processes sharing the socket [env TRACKER_WORKERS].")  # fmt: skip
@pass_app
def serve(app: AppContext, host: str, port: int, base_url: str | None, with_reminders: bool, workers: int) -> None:
    """Serve the calendar feeds, the subscription pages, the mark-done links and /healthz (uvicorn).

    \b
    Example:
        tracker serve --port 8765 --base-url https://calendars.example.org --with-reminders --workers 2
    """
    from tracker.core.config import with_options
    from tracker.reminders import channels, scheduler
    from tracker.web import server

    settings = with_options(app.settings, base_url=base_url)
    channels.load(settings.channels, os.environ)  # a bad channel table fails now, not at the first sweep
    background = scheduler.build(app.engine, settings, app.clock, background=True) if with_reminders else None
    try:  # reminders start once the base URL their links use is recorded
        server.serve(settings, app.engine, clock.clock(settings.zone, settings.now), host, port, workers,
                     ready=background.start if background is not None else None)  # fmt: skip
    finally:
        if background is not None and background.running:
            background.shutdown(wait=False)


@cli.group()
def remind() -> None:
    """Reminders: the plan, sending what is due, the scheduler, the delivery history.

    \b
    Example:
        tracker --now 2008-09-01 remind plan --days 60
    """


@remind.command("plan")
@click.option("--days", default=30, show_default=True, help="How far ahead to look.")
@click.option("--lead-days", help="Override the items' lead times, e.g. 14,3,1.")
@click.option("--due-at", help="Override the hour of item reminders, e.g. 10:00.")
@json_option
@pass_app
def remind_plan(app: AppContext, days: int, lead_days: str | None, due_at: str | None, as_json: bool) -> None:
    """List the reminders that will be sent: when, to whom, about what, by which channels.

    \b
    Example:
        tracker --now 2008-09-01 remind plan --days 60 --lead-days 14,3
    """
    from tracker.core import store
    from tracker.reminders import channels, planning

    overrides = {"item_before_days": _int_list(lead_days, "--lead-days"), "due_day_at": due_at}
    names = [c.name for c in channels.load(app.settings.channels, os.environ)]
    with store.transaction(app.engine) as session:
        grace = timedelta(hours=app.settings.catchup_grace_hours)
        rows = planning.plan_rows(session, app.now, days, overrides, names, grace)
    if as_json:
        render_json("remind plan", app.now, rows)
        return
    for row in rows:
        about = row["item"] or row["meeting"]
        row["about"] = f"{about} ({row['what']})" if about else row["what"]
        row["_style"] = "yellow" if row["late"] else None
        row["at"] = "now" if row["late"] else _minute(row["send_at"])
        row["will"] += f" (fell due {_minute(row['when'])})" if row["late"] else ""
    title = f"reminder plan, by {', '.join(names)} (times in each recipient's zone)"
    render_table(title, ["at", "to", "about", "will"], rows, "nothing planned")


def _minute(text: str) -> str:
    """A local ISO-8601 time as a table shows it: 2008-09-23 09:00."""
    return text[:16].replace("T", " ")


def _int_list(text: str | None, option: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput(f"{option}: whole numbers separated by commas, e.g. 30,7,1") from None


@remind.command("send-due")
@click.option("--verbose", "-v", is_flag=True, help="Print each reminder the console sends in full, not a summary.")
@json_option
@pass_app
def remind_send_due(app: AppContext, verbose: bool, as_json: bool) -> None:
    """Send every reminder due now, then exit (for cron or a systemd timer). The console (the channel when
    nothing else is configured) prints a short summary of what it sent; --verbose prints every message.

    \b
    Example:
        tracker remind send-due --verbose
    """
    import sys

    from tracker.reminders import channels, delivery

    configured = channels.load(app.settings.channels, os.environ)
    others = [c.name for c in configured if c.name != "console"]
    stream = sys.stderr if as_json else None  # keep stdout for the JSON document
    configured = [channels.ConsoleChannel(stream, verbose, others) if c.name == "console" else c for c in configured]
    result = delivery.send_due(app.engine, app.now, app.settings, configured)
    if as_json:
        render_json("remind send-due", app.now, result.as_dict())
    else:
        message(f"sent {result.sent}, failed {result.failed}, skipped {result.skipped}, "
                f"cancelled {result.cancelled}, summarised into catch-up {result.summarised}")  # fmt: skip


@remind.command("run")
@click.option(
    "--interval",
    default=60,
    show_default=True,
    type=click.IntRange(1, 3600),
    help="Longest sleep between sweeps, in seconds.",
)
@pass_app
def remind_run(app: AppContext, interval: int) -> None:
    """Run the reminder scheduler until stopped (under systemd or in a terminal).

    \b
    Example:
        tracker remind run
    """
    from tracker.reminders import channels, scheduler

    channels.load(app.settings.channels, os.environ)
    scheduler.run(app.engine, app.settings, app.clock, timedelta(seconds=interval))


@remind.command("history")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 100_000))
@json_option
@pass_app
def remind_history(app: AppContext, limit: int, as_json: bool) -> None:
    """The delivery ledger, newest first: when, to whom, channel, status, error.

    \b
    Example:
        tracker remind history --json
    """
    from tracker.core import store
    from tracker.reminders import delivery

    with store.transaction(app.engine) as session:
        rows = delivery.history(session, limit)
    if as_json:
        render_json("remind history", app.now, rows)
    else:
        for row in rows:
            row["_style"] = "red" if row["status"] in ("failed", "dead") else None
            row["about"] = f"{row['about']} ({row['kind']})" if row["about"] else row["kind"]
        render_table("deliveries", ["when", "to", "channel", "status", "about", "error"], rows, "none yet")
