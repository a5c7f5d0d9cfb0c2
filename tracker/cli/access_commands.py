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
        sub, already = subscriptions.revoke(session, ref, app.now)
        record = subscriptions.as_dict(sub) | {"already_revoked": already}
        said = _revoked(app, f"subscription {sub.id} ({sub.name})", already, sub.revoked_at)
    if as_json:
        render_json("subscribe revoke", app.now, record)
    else:
        message(said)


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
    """Accounts of the web desk: passwords, roles (lead, officer, viewer), disabling; app passwords for task apps.

    \b
    Example:
        tracker user role desk-lead lead
        tracker user set-password desk-lead
        tracker user app-password desk-lead --label "Thunderbird"
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


_switch_command("disable", "Stop a person signing in to the desk, sign them out of every browser now, and revoke "
                           "their app passwords.",
                lambda r: f"disabled {r['slug']} ({plural(r['sessions_ended'], 'session')} ended, "
                          f"{plural(r['app_passwords_revoked'], 'app password')} revoked)")  # fmt: skip
_switch_command("enable", "Let a disabled person sign in to the desk again (their old sessions stay ended).",
                lambda r: f"enabled {r['slug']} (role {r['role']})")  # fmt: skip


def _local(app: AppContext, at: datetime | None) -> str:
    """A stored instant as the tables show it: in the configured zone, to the minute; blank for none."""
    return f"{at.astimezone(app.settings.zone):%Y-%m-%d %H:%M}" if at else ""


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
    for row in rows:
        row["_style"] = "dim" if row["disabled_at"] else None
        row["password"] = "set" if row["password"] else "none"
        row["disabled"], row["last_visit"] = _local(app, row["disabled_at"]), _local(app, row["last_visit_at"])
    render_table("accounts", ["slug", "name", "role", "password", "disabled", "last_visit"], rows, "none yet")


@user.command("app-password")
@click.argument("slug", shell_complete=complete("person"))
@click.option("--label", help='Make a new app password for the app named so (e.g. "Thunderbird").')
@click.option("--list", "listing", is_flag=True, help="List the person's app passwords (never the passwords).")
@click.option("--revoke", type=int, metavar="N", help="Revoke app password N: its app can no longer sign in.")
@json_option
@pass_app
def user_app_password(app: AppContext, slug: str, label: str | None, listing: bool, revoke: int | None,
                      as_json: bool) -> None:  # fmt: skip
    """Make, list or revoke the app passwords a person's task and calendar apps sign in with over CalDAV (never
    their desk password). A new one is printed once, with the server URL to type in beside it.

    \b
    Example:
        tracker user app-password apec-officer --label "Thunderbird"
        tracker user app-password apec-officer --list
        tracker user app-password apec-officer --revoke 3
    """
    chosen = [flag for flag, given in (("--label", label is not None), ("--list", listing),
                                       ("--revoke", revoke is not None)) if given]  # fmt: skip
    if len(chosen) != 1:
        raise InvalidInput(f"app-password: give one of --label, --list or --revoke (not {' and '.join(chosen)})"
                           if chosen else "app-password: give --label to make one, --list or --revoke N")  # fmt: skip
    if label is not None:
        _make_app_password(app, slug, label, as_json)
    elif listing:
        _list_app_passwords(app, slug, as_json)
    else:
        _revoke_app_password(app, slug, revoke, as_json)


def _make_app_password(app: AppContext, slug: str, label: str, as_json: bool) -> None:
    from tracker.core import addresses, store
    from tracker.register import app_passwords

    with store.transaction(app.engine, write=True) as session:
        record, password = app_passwords.create(session, slug, label, app.now)
        base = addresses.base_url(session, app.settings)
    server = app_passwords.dav_url(base.url)
    if as_json:
        render_json("user app-password", app.now, record | {"password": password, "server": server, "user": slug})
        return
    render_record(f"app password {record['id']}: {record['label']}", {"password": password, "user": slug,
                                                                      "server": server})  # fmt: skip
    message(f"Type the password into {record['label']} with the user name {slug} (or {slug}'s e-mail address) and "
            f"the server URL {server}. It is shown only now; `tracker user app-password {slug} --revoke "
            f"{record['id']}` stops it.")  # fmt: skip
    note = _dav_warning(base)
    if note:
        message(f"Note: {note}")


def _dav_warning(base: BaseUrl) -> str | None:
    """What the person setting up an app should know about the server URL, or None for a public https one."""
    from tracker.core.addresses import HOW_TO_SET

    if base.local:
        return (f"{base.url} is a local address: apps on other computers and phones cannot reach it. To use them, "
                f"{HOW_TO_SET}.")  # fmt: skip
    if not base.secure:
        return (f"{base.url} is plain http: the app would send its password unencrypted, and most task apps refuse "
                f"to. For https, {HOW_TO_SET}.")  # fmt: skip
    return None


def _list_app_passwords(app: AppContext, slug: str, as_json: bool) -> None:
    from tracker.core import store
    from tracker.register import app_passwords

    with store.transaction(app.engine) as session:
        rows = app_passwords.app_passwords(session, slug)
    if as_json:
        render_json("user app-password", app.now, rows)
        return
    for row in rows:
        row["_style"] = "dim" if row["revoked_at"] else None
        for at in ("created_at", "last_used_at", "revoked_at"):
            row[at] = _local(app, row[at])
    render_table(f"app passwords of {slug}", ["id", "label", "status", "created_at", "last_used_at", "revoked_at"],
                 rows, "none yet")  # fmt: skip


def _revoke_app_password(app: AppContext, slug: str, ref: int, as_json: bool) -> None:
    from tracker.core import store
    from tracker.register import app_passwords

    with store.transaction(app.engine, write=True) as session:
        record = app_passwords.revoke(session, slug, ref, app.now)
    what = f"app password {record['id']} ({record['label']}) of {slug}"
    said = _revoked(app, what, record["already_revoked"], record["revoked_at"])
    _account_changed(app, "user app-password", record, as_json, said)


def _revoked(app: AppContext, what: str, already: bool, at: datetime) -> str:
    """What revoking `what` did: revoked it now, or nothing (it was revoked at `at`, which it keeps)."""
    return f"{what} was already revoked at {_local(app, at)}: nothing changed" if already else f"revoked {what}"
