"""The command line: a thin click layer. Each command parses, calls one core function of the same name
inside one transaction (write=True when it writes: the write lock up front), then renders a table or --json.
TrackerError becomes one `Error: …` line here, once."""

from __future__ import annotations

import gc
import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

import click

from tracker import __version__
from tracker.cli.output import message, render_json, render_record, render_table
from tracker.core import clock
from tracker.core.errors import InvalidInput, TrackerError
from tracker.core.rules import one_line, plural
from tracker.core.vocab import CATEGORIES, PRIORITIES

if TYPE_CHECKING:  # this module is imported for every command, --help and each Tab: each command imports its own
    from click.shell_completion import CompletionItem
    from sqlalchemy import Engine

    from tracker.core.addresses import BaseUrl
    from tracker.core.config import Settings

# The settings every command takes before or after its name, with their help.
GLOBAL_OPTIONS = {
    "db": "SQLAlchemy database URL [env TRACKER_DB; default: a SQLite file].",
    "now": "Pretend it is this ISO-8601 instant [env TRACKER_NOW].",
    "tz": "Time zone for dates you type and show [env TRACKER_TZ].",
    "config": "TOML settings file [env TRACKER_CONFIG].",
}
_GIVEN = "tracker.options"  # ctx.meta key (shared by the nested contexts): the global options given so far
_JSON = "tracker.json"  # ctx.meta key: --json was given before a command's name


def _global_options(envvar: bool, json: bool) -> list[click.Option]:
    """The global options, with --json or not. With `envvar` (tracker's own copies), --config reads
    TRACKER_CONFIG; load_settings reads TRACKER_DB, TRACKER_NOW and TRACKER_TZ itself, below what was typed, so
    that its errors name the variable. A copy after a command's name that read the environment would replace
    what was typed before the name."""
    path = click.Path(dir_okay=False)
    options = [
        click.Option([f"--{name}"], help=text, envvar="TRACKER_CONFIG" if envvar and name == "config" else None,
                     type=path if name == "config" else None)
        for name, text in GLOBAL_OPTIONS.items()
    ]  # fmt: skip
    if json:
        options.append(click.Option(["--json", "global_json"], is_flag=True, help="Print JSON (commands with --json)."))
    return options


class GlobalOptions(click.Command):
    """A command or group that also takes the global options after its name (`tracker items --now 2026-01-01`),
    listed in its help under their own heading. Each level's values go into ctx.meta as it is parsed, so a value
    given later (after the name) wins; that also happens while a Tab is completed, which runs no callbacks."""

    shared: list[click.Option]  # the global options it takes (the same objects for every command: made once)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        own = {decl for param in self.params for decl in param.opts} | {param.name for param in self.params}
        self.global_params = [o for o in self.shared if not own & {*o.opts, o.name}]  # add's --tz is the item's
        self.params = [*self.global_params, *self.params]

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        given = ctx.meta.setdefault(_GIVEN, {})
        for param in self.global_params:
            value = ctx.params.pop(param.name)
            if param.name == "global_json":
                ctx.meta[_JSON] = ctx.meta.get(_JSON, False) or value
            elif value is not None:
                given[param.name] = value
        if ctx.meta.get(_JSON) and not isinstance(self, click.Group) and not ctx.resilient_parsing:
            if "as_json" not in ctx.params:
                raise click.UsageError(f"--json: `{ctx.command_path}` has no JSON output", ctx)
            ctx.params["as_json"] = True
        return rest

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if ctx.parent is None:  # the group's own help: they are its options
            return super().format_options(ctx, formatter)
        own, shared = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                (shared if param in self.global_params else own).append(record)
        for heading, records in (("Options", own), ("Global options (also before the command)", shared)):
            if records:
                with formatter.section(heading):
                    formatter.write_dl(records)
        if isinstance(self, click.Group):
            self.format_commands(ctx, formatter)


class TrackerCommand(GlobalOptions):
    """Every tracker command: the global options after its name, --json first for those that have it."""

    shared = _global_options(envvar=False, json=False)


class TrackerGroup(GlobalOptions, click.Group):
    """Turns the project's errors, and click's own usage errors, into one `Error: …` line and its exit code,
    for every command."""

    shared = _global_options(envvar=False, json=True)
    command_class = TrackerCommand
    group_class = type  # subgroups are of the same class

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as e:
            raise _one_line(e.format_message(), e.exit_code, e.ctx) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as e:
            raise _one_line(str(e), e.exit_code) from None
        except click.UsageError as e:  # a bad option of a subcommand: click would print its usage too
            raise _one_line(e.format_message(), e.exit_code, e.ctx) from None


class RootGroup(TrackerGroup):
    """`tracker` itself: its global options read the environment too."""

    shared = _global_options(envvar=True, json=True)
    group_class = TrackerGroup


def _one_line(text: str, exit_code: int, ctx: click.Context | None = None) -> click.ClickException:
    """An error click prints as one `Error: …` line (a message quoting the user's input may hold breaks)."""
    hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
    error = click.ClickException(one_line(text) + hint)
    error.exit_code = exit_code
    return error


# The commands that may make the database file; any command may make the default one (a fresh HOME's first
# command). Elsewhere a missing file is a mistyped --db, and an error.
CREATING_COMMANDS = ("init", "load", "import")


@dataclass
class AppContext:
    given: dict[str, str]  # the global options given, before or after the command's name
    may_create: bool = False
    actor: str = field(default_factory=lambda: os.environ.get("TRACKER_USER") or getpass.getuser())

    @cached_property
    def settings(self) -> Settings:
        from tracker.core.config import load_settings

        overrides = {name: self.given.get(name) for name in ("db", "now", "tz")}
        return load_settings(path=self.given.get("config"), overrides=overrides)

    @cached_property
    def now(self) -> datetime:
        return clock.now(self.settings.zone, self.settings.now)

    def clock(self) -> datetime:
        """The clock for long-running commands: the override if given, else the real time at each call."""
        return clock.now(self.settings.zone, self.settings.now)

    @cached_property
    def engine(self) -> Engine:
        from tracker.core import store
        from tracker.core.config import default_db_url

        eng = store.engine(self.settings.db, create=self.may_create or self.settings.db == default_db_url())
        try:
            store.init(eng)
        except BaseException:
            eng.dispose()
            raise
        _end_of_start_up()
        return eng

    def close(self) -> None:
        """Close the database connections, if the command opened any. Closing SQLite's last connection
        checkpoints the WAL into the database file and removes it, so tracker.db alone holds every commit."""
        if "engine" in self.__dict__:
            self.engine.dispose()

    def parse_time(self, text: str | None, option: str) -> datetime | None:
        try:
            return clock.parse_instant(text, self.settings.zone) if text else None
        except InvalidInput as e:
            raise InvalidInput(f"{option}: {e}") from None


pass_app = click.make_pass_decorator(AppContext)


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for programs instead of a table.")(f)


def _complete(kind: str, statuses: tuple[str, ...] | None = None) -> Callable:
    """A shell_complete function: the database's `kind` ("item", or a kind of tracker.cli.completion.slugs; items
    of `statuses` only, if given), with each one's title as help where the shell shows it."""

    def complete(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        from tracker.cli import completion

        db, config = (ctx.meta.get(_GIVEN, {}).get(name) for name in ("db", "config"))
        if kind == "item":
            found = completion.items(incomplete, db, config, statuses)
        else:
            found = completion.slugs(kind, incomplete, db, config)
        return [CompletionItem(value, help=title) for value, title in found]

    return complete


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tracker")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Follow-up action items and meeting calendars from international meetings.

    Global options (--db, --now, --tz, --config, --json) may also follow the command's name.

    \b
    Example:
        tracker load data/
        tracker --now 2008-09-01 agenda --days 60
    """
    ctx.obj = AppContext(ctx.meta.setdefault(_GIVEN, {}), may_create=ctx.invoked_subcommand in CREATING_COMMANDS)
    ctx.call_on_close(ctx.obj.close)


def _complete_category(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Priority areas for shell completion; the core checks the value (and suggests the closest when wrong)."""
    return [c for c in CATEGORIES if c.startswith(incomplete)]


def _items_table(title: str, rows: list[dict[str, Any]], empty: str = "nothing") -> None:
    from tracker.register import items

    rows = [items.readable(row) for row in rows]
    for row in rows:
        row["_style"] = "red" if row["overdue"] else ("dim" if row["status"] in ("done", "cancelled") else None)
        row["owner"] = row["owners"]
        late = f" ({plural(row['days_overdue'], 'day')} overdue)" if row["overdue"] else ""
        row["when"] = row["due"] + late
    render_table(title, ["id", "title", "when", "status", "owner", "priority"], rows, empty)


@cli.command()
@pass_app
def init(app: AppContext) -> None:
    """Create the database, or bring an older one's schema up to date (every command also does this first).

    \b
    Example:
        tracker --db sqlite:///tracker.db init
    """
    from tracker.core import migrations, store

    message(f"database ready: {store.shown_url(app.engine)} (schema revision {migrations.head()})")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--move", is_flag=True, help="Let records move here from the files they were loaded from before.")
@json_option
@pass_app
def load(app: AppContext, paths: tuple[str, ...], move: bool, as_json: bool) -> None:
    """Load YAML files or folders (default: data/) — an idempotent upsert by slug.

    A slug already loaded from another file is refused, unless --move.

    \b
    Example:
        tracker load data/
    """
    from tracker.core import store
    from tracker.register import dataset

    records = dataset.read(paths or ("data",))  # parsed and validated before the write lock is taken
    with store.transaction(app.engine, write=True) as session:
        result = dataset.load(session, records, now=app.now, move=move)
    for warning in result.warnings:
        message(f"Warning: {warning}")
    if as_json:
        render_json("load", app.now, result.rows())
    else:
        render_table("loaded", ["kind", "created", "updated", "unchanged"], result.rows())


@cli.command("items")
@click.option("--status", help="Comma-separated statuses, or all [default: open,in_progress].")
@click.option("--owner", help="Person slug.", shell_complete=_complete("person"))
@click.option("--category", help=f"Priority area: {', '.join(CATEGORIES)}.", shell_complete=_complete_category)
@click.option(
    "--meeting",
    help="Meeting or series slug the item came from or serves.",
    shell_complete=_complete("meeting-or-series"),
)
@click.option("--committee", help="Committee slug.", shell_complete=_complete("committee"))
@click.option("--due-before", help="Due before this date/time.")
@click.option("--due-after", help="Due on or after this date/time.")
@click.option("--overdue", is_flag=True, help="Only open items past their due date.")
@click.option("--q", help="Words in the title, description or source quote (any case).")
@click.option("--sort", help="due, priority or updated [default: due].")
@click.option("--order", help="asc or desc [default: soonest due, high priority, latest update first].")
@json_option
@pass_app
def items_command(app: AppContext, as_json: bool, **options: Any) -> None:
    """List action items (open ones unless --status says otherwise), filtered and sorted as the register page.

    \b
    Example:
        tracker items --overdue
        tracker items --status all --owner apec-officer --json
        tracker items --q KPI --committee smewg --sort priority
    """
    from tracker.core import store
    from tracker.register import items, listing

    view = listing.view(options, app.settings.zone)
    with store.transaction(app.engine) as session:
        rows = [items.as_dict(i, app.now) for i in listing.every(session, app.now, view)]
    if as_json:
        render_json("items", app.now, rows)
    else:
        _items_table("items", rows)


@cli.command()
@click.argument("ref", shell_complete=_complete("item"))
@json_option
@pass_app
def show(app: AppContext, ref: str, as_json: bool) -> None:
    """Show one item, with its source quote and history. REF is the numeric id or the slug.

    \b
    Example:
        tracker show kpi-committee-volunteer
    """
    from tracker.core import store
    from tracker.register import history, items

    with store.transaction(app.engine) as session:
        item = items.get(session, ref)
        record = items.as_dict(item, app.now)
        changes = history.entries(item, app.settings.zone, for_people=not as_json)
    if as_json:
        render_json("show", app.now, record | {"history": changes})
        return
    render_record(f"#{record['id']} {record['title']}", items.readable(record, app.settings.zone))
    render_table(f"history (times in {app.settings.tz})", ["at", "by", "how", "field", "old", "new", "note"], changes)


def _item_options(f: Callable) -> Callable:
    options = [
        click.option(
            "--owner",
            "owners",
            multiple=True,
            help="Owner person slug (repeat for several).",
            shell_complete=_complete("person"),
        ),
        click.option("--due", help="Due date (2009-03-01) or date-time (2009-03-01T17:00)."),
        click.option("--tz", "item_tz", help="IANA zone of the due date [default: first owner's, else --tz]."),
        click.option("--priority", type=click.Choice(PRIORITIES)),
        click.option("--category", help=f"Priority area: {', '.join(CATEGORIES)}.", shell_complete=_complete_category),
        click.option("--meeting", help="Slug of the meeting the item came from.", shell_complete=_complete("meeting")),
        click.option(
            "--serves",
            help="Slug of the meeting or series the item serves.",
            shell_complete=_complete("meeting-or-series"),
        ),
        click.option("--committee", help="Committee slug.", shell_complete=_complete("committee")),
        click.option("--description"),
        click.option("--source", "source_quote", help="The source quote."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@cli.command()
@click.argument("title")
@click.option("--slug", help="Stable id [default: from the title].")
@_item_options
@json_option
@pass_app
def add(app: AppContext, title: str, slug: str | None, owners: tuple[str, ...], due: str | None,
        item_tz: str | None, as_json: bool, **fields: Any) -> None:  # fmt: skip
    """Add an action item.

    \b
    Example:
        tracker add "Send KPI draft to the lead economy" --owner apec-officer --due 2009-02-15
    """
    from tracker.core import store
    from tracker.register import items

    fields = {k: v for k, v in fields.items() if v is not None}
    with store.transaction(app.engine, write=True) as session:
        item = items.add(
            session, app.now, title, by=app.actor, default_tz=app.settings.tz, tz=item_tz, slug=slug,
            owners=list(owners), due=due, **fields,
        )  # fmt: skip
        record = items.as_dict(item, app.now)
    _show_changed("add", app, None, record, as_json)


def _show_changed(command: str, app: AppContext, before: dict[str, Any] | None, record: dict[str, Any],
                  as_json: bool) -> None:  # fmt: skip
    if as_json:
        render_json(command, app.now, record)
        return
    from tracker.register import history

    message(history.sentence(command, before, record))
    _items_table(command, [record])


@cli.command()
@click.argument("ref", shell_complete=_complete("item"))
@click.option("--title")
@click.option("--status", type=click.Choice(["open", "in_progress", "done", "cancelled"]))
@click.option("--note", help="Why; kept in the history.")
@_item_options
@json_option
@pass_app
def edit(app: AppContext, ref: str, owners: tuple[str, ...], item_tz: str | None, note: str | None,
         as_json: bool, **fields: Any) -> None:  # fmt: skip
    """Change fields of an item; each change is kept in its history and raises its calendar SEQUENCE.

    \b
    Example:
        tracker edit 3 --due 2009-03-15 --note "moved by the lead economy"
    """
    from tracker.core import store
    from tracker.register import items

    with store.transaction(app.engine, write=True) as session:
        before = items.as_dict(items.get(session, ref), app.now)
        item = items.edit(
            session,
            ref,
            app.now,
            by=app.actor,
            owners=list(owners) or None,
            tz=item_tz,
            note=note or "",
            **fields,
        )
        record = items.as_dict(item, app.now)
    _show_changed("edit", app, before, record, as_json)


def _status_command(name: str, summary: str, candidates: tuple[str, ...]) -> None:
    """The command `name`, which calls items.<name>; Tab offers the items of `candidates` statuses."""

    @cli.command(name, help=f'{summary}\n\n\b\nExample:\n    tracker {name} 3 --note "..."')
    @click.argument("ref", shell_complete=_complete("item", candidates))
    @click.option("--note", default="", help="Why; kept in the history.")
    @json_option
    @pass_app
    def command(app: AppContext, ref: str, note: str, as_json: bool) -> None:
        from tracker.core import store
        from tracker.register import items

        with store.transaction(app.engine, write=True) as session:
            before = items.as_dict(items.get(session, ref), app.now)
            item = getattr(items, name)(session, ref, app.now, by=app.actor, note=note)
            record = items.as_dict(item, app.now)
        _show_changed(name, app, before, record, as_json)


_status_command("done", "Mark an item done (again: no change). REF is the id or slug.", ("open", "in_progress"))
_status_command("reopen", "Reopen a done or cancelled item.", ("done", "cancelled"))
_status_command("cancel", "Cancel an item: it stays in the record, and reminders stop.", ("open", "in_progress"))


@cli.command("people")
@json_option
@pass_app
def people_command(app: AppContext, as_json: bool) -> None:
    """List the people items and reminders go to: name, role, e-mail, zone, escalation contact, open items.

    \b
    Example:
        tracker people --json
    """
    from tracker.core import store
    from tracker.register import people

    with store.transaction(app.engine) as session:
        rows = people.people(session)
    if as_json:
        render_json("people", app.now, rows)
        return
    for row in rows:  # the role beside the name: at 80 columns every slug still fits on its line
        row["name"] += f" ({row['role']})" if row["role"] else ""
        row["open"] = row["open_items"]
    render_table("people", ["slug", "name", "email", "tz", "escalation", "open"], rows)


@cli.command("meetings")
@click.option("--from", "start", help="Window start [default: now].")
@click.option("--to", "end", help="Window end [default: a year after --from].")
@json_option
@pass_app
def meetings_command(app: AppContext, start: str | None, end: str | None, as_json: bool) -> None:
    """List meeting occurrences in a window, recurring series expanded.

    \b
    Example:
        tracker meetings --from 2008-01-01 --to 2012-12-31
    """
    from tracker.calendars import meetings
    from tracker.core import store

    begin = app.parse_time(start, "--from") or app.now
    until = app.parse_time(end, "--to") or begin + timedelta(days=365)
    with store.transaction(app.engine) as session:
        rows = meetings.meetings(session, begin, until, app.now)
    if as_json:
        render_json("meetings", app.now, rows)
        return
    rows = [meetings.readable(row) for row in rows]
    for row in rows:
        row["_style"] = "dim" if row["past"] else None
        row["when"] = row["date"] if row["end_date"] == row["date"] else f"{row['date']} – {row['end_date']}"
        row["note"] = ", ".join(n for n in ("past" * row["past"], "tentative" * row["tentative"]) if n)
    render_table("meetings", ["when", "title", "place", "series", "note"], rows, "none in this window")


@cli.command("agenda")
@click.option("--days", default=14, show_default=True, help="How far ahead to look.")
@json_option
@pass_app
def agenda_command(app: AppContext, days: int, as_json: bool) -> None:
    """What is overdue, what is due, and which meetings happen in the next days.

    \b
    Example:
        tracker --now 2008-09-01 agenda --days 60
    """
    from tracker.calendars import agenda, meetings
    from tracker.core import store

    with store.transaction(app.engine) as session:
        result = agenda.agenda(session, app.now, days)
    if as_json:
        render_json("agenda", app.now, result)
        return
    message(f"now: {app.now.astimezone(app.settings.zone):%Y-%m-%d %H:%M} {app.settings.tz}")
    _items_table("overdue", result["overdue"])
    _items_table(f"due in the next {plural(days, 'day')}", result["due"])
    ahead = [meetings.readable(row) for row in result["meetings"]]
    for row in ahead:
        row["when"] = row["date"] if row["end_date"] == row["date"] else f"{row['date']} – {row['end_date']}"
    render_table(f"meetings in the next {plural(days, 'day')}", ["when", "title", "place"], ahead)


@cli.command()
@click.option("--out", default="calendars", show_default=True, type=click.Path(file_okay=False))
@json_option
@pass_app
def export(app: AppContext, out: str, as_json: bool) -> None:
    """Write the ICS calendars (all, meetings, action items, deadlines, per owner, per committee).

    \b
    Example:
        tracker export --out calendars/
    """
    from tracker.calendars import ics
    from tracker.core import store
    from tracker.core.config import refresh_interval

    with store.transaction(app.engine) as session:
        written = ics.export(session, out, refresh_interval(app.settings))
    if as_json:
        render_json("export", app.now, written)
    else:
        render_table("calendars", ["path", "bytes", "changed"], written)


@cli.command()
@click.argument("directory", type=click.Path())
@json_option
@pass_app
def dump(app: AppContext, directory: str, as_json: bool) -> None:
    """Write the database back as data/-style YAML that `tracker load` reads: people.yaml, committees.yaml,
    meetings.yaml, items.yaml (items with their current status), in the order they were created: the same
    database gives the same bytes.

    DIRECTORY is created if missing; those four files in it are replaced (each atomically), anything else is
    left alone, but any other *.yaml/*.yml file there is refused (load would read it beside the dump). Not
    written: history, subscriptions, reminders and deliveries, comments.

    \b
    Example:
        tracker dump data/ && git -C data diff
    """
    from tracker.core import store
    from tracker.register import dumping

    with store.transaction(app.engine) as session:
        written = dumping.dump(session, directory)
    if as_json:
        render_json("dump", app.now, written)
        return
    for row in written:
        row["records"] = ", ".join(f"{n} {kind}" for kind, n in row["records"].items())
    render_table(f"dumped into {directory}", ["path", "records", "bytes", "changed"], written)


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@json_option
@pass_app
def backup(app: AppContext, path: str, force: bool, as_json: bool) -> None:
    """Copy the database to a file, safely while other tracker processes run.

    Only committed changes are copied: SQLite into one self-contained SQLite file, PostgreSQL with pg_dump's
    custom format (restore with pg_restore; README "Backups").

    \b
    Example:
        tracker backup ~/backups/tracker-2008-09-01.db
    """
    from tracker.core import store

    result = store.backup(app.engine, path, force=force)
    if as_json:
        render_json("backup", app.now, result)
    else:
        message(f"backed up {plural(result['rows'], 'row')} in {plural(result['tables'], 'table')} to "
                f"{result['path']} ({plural(result['bytes'], 'byte')})")  # fmt: skip


@cli.command("copy-to")
@click.argument("url")
@json_option
@pass_app
def copy_to(app: AppContext, url: str, as_json: bool) -> None:
    """Copy the whole database (history, subscriptions, reminders and links included) into an empty one.

    For moving a desk from SQLite to PostgreSQL, or back. Stop `serve` and `remind run` first: what they write
    after the copy has begun stays behind. Then point TRACKER_DB at URL.

    \b
    Example:
        tracker copy-to 'postgresql+psycopg://tracker@db.example.org/tracker'
    """
    from tracker.core import store, transfer

    target = store.engine(url, option="copy-to URL")
    try:
        result = transfer.copy_to(app.engine, target)
    finally:
        target.dispose()
    if as_json:
        render_json("copy-to", app.now, result)
    else:
        copied = plural(sum(result["rows"].values()), "row")
        message(f"copied {copied} in {plural(result['tables'], 'table')} to {result['target']}")


@cli.command("import")
@click.argument("path", type=click.Path())
@json_option
@pass_app
def import_command(app: AppContext, path: str, as_json: bool) -> None:
    """Import meetings (VEVENT) and action items (VTODO) from an .ics file, upserting by UID.

    Re-importing tracker's own export brings back only the items' completion status.

    \b
    Example:
        tracker import official-schedule.ics
    """
    from tracker.calendars import ics_import
    from tracker.core import store

    with store.transaction(app.engine, write=True) as session:
        result = ics_import.import_ics(session, path, now=app.now, tz=app.settings.tz)
    row = {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}
    if as_json:
        render_json("import", app.now, row)
    else:
        render_table(f"imported {path}", ["created", "updated", "unchanged"], [row])


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
    shell_complete=_complete("person"),
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
@click.argument("slug", shell_complete=_complete("person"))
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
@click.argument("slug", shell_complete=_complete("person"))
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
    @click.argument("slug", shell_complete=_complete("person"))
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


def main() -> None:
    # Start-up creates a few hundred thousand objects that live as long as the process (modules, SQLAlchemy's
    # tables and mappers), and each full pass of the cycle collector on the way walks all of them again: about a
    # tenth of a short command's time. So it is paused until the command has opened its database.
    gc.disable()
    cli(prog_name="tracker")


def _end_of_start_up() -> None:
    """Resume the collector main() paused, first moving every object made so far out of its sight (gc.freeze):
    they will not become garbage, and long-running commands (serve, remind run) collect as usual from here."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
