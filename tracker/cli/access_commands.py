"""Who reaches the desk's data: the `subscribe` group (calendar feeds) and the `user` group (desk accounts)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from tracker.cli.base import AppContext, cli, complete, json_option, pass_app
from tracker.cli.output import message, render_json, render_record, render_table
from tracker.core.errors import InvalidInput
from tracker.core.rules import plural

if TYPE_CHECKING:
    from tracker.core.addresses import BaseUrl


@cli.group()
def subscribe() -> None:
    """Calendar subscriptions: secret feed URLs for Google, Outlook, Apple Calendar, Thunderbird, khal.

    \b
    Example:
        tracker subscribe add --name "Officer's phone" --person apec-officer
    """


def _print_links(sub: dict[str, Any], token: str, base: BaseUrl, app: AppContext, as_json: bool,
                 command: str) -> None:  # fmt: skip
    from tracker.calendars import subscriptions

    links = subscriptions.links(base.url, token)
    if as_json:  # the keys programs already read, whatever the scheme
        render_json(command, app.now, sub | {"https": links.https, "webcal": links.webcal, "google": links.google,
                                             "page": links.page})  # fmt: skip
    else:
        title = f"subscription {sub['id']}: {sub['name']} ({sub['calendar']})"
        render_record(title, sub | links.labelled(), links=True)
        message("The link is shown only now; `tracker subscribe rotate` makes a new one.")
    note = base.warning()
    if note:
        message(f"Note: {note}")


@subscribe.command("add")
@click.option("--name", required=True, help="Who or what subscribes (shown in the list).")
@click.option(
    "--person",
    help="A person's own feed: their items and the meetings those serve.",
    shell_complete=complete("person"),
)
@click.option("--calendar", help="all, meetings, action-items, deadlines, people/<slug> or committees/<slug>.")
@click.option("--alarms/--no-alarms", default=None, help="Include VALARMs [default: only in a person's feed].")
@json_option
@pass_app
def subscribe_add(app: AppContext, name: str, person: str | None, calendar: str | None, alarms: bool | None,
                  as_json: bool) -> None:  # fmt: skip
    """Create a subscription and print its https:// and webcal:// URLs.

    They start with the base URL: the setting base_url, else where `tracker serve` last listened.

    \b
    Example:
        tracker subscribe add --name "Desk wall screen" --calendar meetings
    """
    from tracker.calendars import subscriptions
    from tracker.core import addresses, store

    with store.transaction(app.engine, write=True) as session:
        sub, token = subscriptions.add(session, app.now, name, person=person, calendar=calendar, alarms=alarms)
        record = subscriptions.as_dict(sub)
        base = addresses.base_url(session, app.settings)
    _print_links(record, token, base, app, as_json, "subscribe add")


@subscribe.command("list")
@json_option
@pass_app
def subscribe_list(app: AppContext, as_json: bool) -> None:
    """List subscriptions (their secret links cannot be shown again).

    \b
    Example:
        tracker subscribe list
    """
    from tracker.calendars import subscriptions
    from tracker.core import store

    with store.transaction(app.engine) as session:
        rows = [subscriptions.as_dict(s) for s in subscriptions.subscriptions(session)]
    if as_json:
        render_json("subscribe list", app.now, rows)
    else:
        render_table("subscriptions", ["id", "name", "calendar", "alarms", "status", "created_at"], rows)


@subscribe.command("revoke")
@click.argument("ref")
@json_option
@pass_app
def subscribe_revoke(app: AppContext, ref: str, as_json: bool) -> None:
    """Revoke a subscription (id or name): its URL answers 404 from now on.

    \b
    Example:
        tracker subscribe revoke 3
    """
    from tracker.calendars import subscriptions
    from tracker.core import store

    with store.transaction(app.engine, write=True) as session:
        record = subscriptions.as_dict(subscriptions.revoke(session, ref, app.now))
    if as_json:
        render_json("subscribe revoke", app.now, record)
    else:
        message(f"revoked subscription {record['id']} ({record['name']})")


@subscribe.command("rotate")
@click.argument("ref")
@json_option
@pass_app
def subscribe_rotate(app: AppContext, ref: str, as_json: bool) -> None:
    """Give a subscription a new secret URL; the old one stops working at once.

    \b
    Example:
        tracker subscribe rotate 3
    """
    from tracker.calendars import subscriptions
    from tracker.core import addresses, store

    with store.transaction(app.engine, write=True) as session:
        sub, token = subscriptions.rotate(session, ref, app.now)
        record = subscriptions.as_dict(sub)
        base = addresses.base_url(session, app.settings)
    _print_links(record, token, base, app, as_json, "subscribe rotate")


@cli.group()
def user() -> None:
    """Accounts of the web desk: passwords, roles (lead, officer, viewer), disabling.

    \b
    Example:
        tracker user role desk-lead lead
        tracker user set-password desk-lead
    """


def _read_password(from_stdin: bool) -> str:
    """The new password: the first line of standard input, or typed twice at a hidden prompt."""
    if not from_stdin:
        return click.prompt("New password", hide_input=True, confirmation_prompt="Repeat it", err=True)
    import sys

    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise InvalidInput("--password-stdin: standard input holds no password")
    return line


def _account_changed(app: AppContext, command: str, record: dict[str, Any], as_json: bool, said: str) -> None:
    if as_json:
        render_json(command, app.now, record)
    else:
        message(said)


@user.command("set-password")
@click.argument("slug", shell_complete=complete("person"))
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input's first line (scripts).")
@json_option
@pass_app
def user_set_password(app: AppContext, slug: str, password_stdin: bool, as_json: bool) -> None:
    """Set a person's password for signing in to the desk (an account with the viewer role is made if they have
    none: see `tracker user role`).

    \b
    Example:
        tracker user set-password desk-lead
        printf '%s\\n' "$PASSWORD" | tracker user set-password desk-lead --password-stdin
    """
    from tracker.core import store
    from tracker.register import accounts

    password = _read_password(password_stdin)
    with store.transaction(app.engine, write=True) as session:
        record = accounts.set_password(session, slug, password, app.now)
    _account_changed(app, "user set-password", record, as_json,
                     f"password set for {record['slug']} (role {record['role']})")  # fmt: skip


@user.command("role")
@click.argument("slug", shell_complete=complete("person"))
@click.argument("role", type=click.Choice(["lead", "officer", "viewer"]))
@json_option
@pass_app
def user_role(app: AppContext, slug: str, role: str, as_json: bool) -> None:
    """Give a person a role on the desk: lead (everything), officer (their items and their committees'), viewer
    (reads only). Makes their account if they have none.

    \b
    Example:
        tracker user role apec-officer officer
    """
    from tracker.core import store
    from tracker.register import accounts

    with store.transaction(app.engine, write=True) as session:
        record = accounts.set_role(session, slug, role, app.now)
    _account_changed(app, "user role", record, as_json, f"{record['slug']} is now {record['role']}")


def _switch_command(name: str, summary: str, said: Callable[[dict[str, Any]], str]) -> None:
    """`tracker user <name> SLUG`, which calls accounts.<name> and says `said(record)`."""

    @user.command(name, help=f"{summary}\n\n\b\nExample:\n    tracker user {name} forum-officer")
    @click.argument("slug", shell_complete=complete("person"))
    @json_option
    @pass_app
    def command(app: AppContext, slug: str, as_json: bool) -> None:
        from tracker.core import store
        from tracker.register import accounts

        with store.transaction(app.engine, write=True) as session:
            record = getattr(accounts, name)(session, slug, app.now)
        _account_changed(app, f"user {name}", record, as_json, said(record))


_switch_command("disable", "Stop a person signing in to the desk, and sign them out of every browser now.",
                lambda r: f"disabled {r['slug']} ({plural(r['sessions_ended'], 'session')} ended)")  # fmt: skip
_switch_command("enable", "Let a disabled person sign in to the desk again (their old sessions stay ended).",
                lambda r: f"enabled {r['slug']} (role {r['role']})")  # fmt: skip


@user.command("list")
@json_option
@pass_app
def user_list(app: AppContext, as_json: bool) -> None:
    """List the desk's accounts: role, whether a password is set, disabled, last visit.

    \b
    Example:
        tracker user list --json
    """
    from tracker.core import store
    from tracker.register import accounts

    with store.transaction(app.engine) as session:
        rows = accounts.list_accounts(session)
    if as_json:
        render_json("user list", app.now, rows)
        return

    def local(at: datetime | None) -> str:
        return f"{at.astimezone(app.settings.zone):%Y-%m-%d %H:%M}" if at else ""

    for row in rows:
        row["_style"] = "dim" if row["disabled_at"] else None
        row["password"] = "set" if row["password"] else "none"
        row["disabled"], row["last_visit"] = local(row["disabled_at"]), local(row["last_visit_at"])
    render_table("accounts", ["slug", "name", "role", "password", "disabled", "last_visit"], rows, "none yet")
