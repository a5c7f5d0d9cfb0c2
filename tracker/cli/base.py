"""The command line's base: the root group `cli` and its global options (before or after a command's name), the
AppContext every command gets, errors as one line, the shell-completion hooks and the items table.

The command line is a thin click layer. Each command parses, calls one core function of the same name inside one
transaction (write=True when it writes: the write lock up front), then renders a table or --json. TrackerError
becomes one `Error: …` line here, once. The commands live in the *_commands modules, which register themselves on
`cli`; tracker.cli.main imports them all."""

from __future__ import annotations

import gc
import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

import click

from tracker import __version__
from tracker.cli.output import render_table
from tracker.core import clock
from tracker.core.errors import InvalidInput, TrackerError
from tracker.core.rules import one_line, plural
from tracker.core.vocab import CATEGORIES

if TYPE_CHECKING:  # this module is imported for every command, --help and each Tab: each command imports its own
    from click.shell_completion import CompletionItem
    from sqlalchemy import Engine

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


def complete(kind: str, statuses: tuple[str, ...] | None = None) -> Callable:
    """A shell_complete function: the database's `kind` ("item", or a kind of tracker.cli.completion.slugs; items
    of `statuses` only, if given), with each one's title as help where the shell shows it."""

    def candidates(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        from tracker.cli import completion

        db, config = (ctx.meta.get(_GIVEN, {}).get(name) for name in ("db", "config"))
        if kind == "item":
            found = completion.items(incomplete, db, config, statuses)
        else:
            found = completion.slugs(kind, incomplete, db, config)
        return [CompletionItem(value, help=title) for value, title in found]

    return candidates


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


def complete_category(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Priority areas for shell completion; the core checks the value (and suggests the closest when wrong)."""
    return [c for c in CATEGORIES if c.startswith(incomplete)]


def register_filters(*without: str) -> Callable[[Callable], Callable]:
    """The register's filter, sort and order options (register.listing.view reads them), except those named in
    `without`: `tracker items` and the reports take the same."""
    options = {
        "status": click.option("--status", help="Comma-separated statuses, or all [default: open,in_progress]."),
        "owner": click.option("--owner", help="Person slug.", shell_complete=complete("person")),
        "category": click.option("--category", help=f"Priority area: {', '.join(CATEGORIES)}.",
                                 shell_complete=complete_category),
        "meeting": click.option("--meeting", help="Meeting or series slug the item came from or serves.",
                                shell_complete=complete("meeting-or-series")),
        "committee": click.option("--committee", help="Committee slug.", shell_complete=complete("committee")),
        "due_before": click.option("--due-before", help="Due before this date/time."),
        "due_after": click.option("--due-after", help="Due on or after this date/time."),
        "overdue": click.option("--overdue", is_flag=True, help="Only open items past their due date."),
        "q": click.option("--q", help="Words in the title, description or source quote (any case)."),
        "sort": click.option("--sort", help="due, priority or updated [default: due]."),
        "order": click.option("--order",
                              help="asc or desc [default: soonest due, high priority, latest update first]."),
    }  # fmt: skip

    def decorate(f: Callable) -> Callable:
        for name, option in reversed(options.items()):
            if name not in without:
                f = option(f)
        return f

    return decorate


def items_table(title: str, rows: list[dict[str, Any]], empty: str = "nothing") -> None:
    from tracker.register import items

    rows = [items.readable(row) for row in rows]
    for row in rows:
        row["_style"] = "red" if row["overdue"] else ("dim" if row["status"] in ("done", "cancelled") else None)
        row["owner"] = row["owners"]
        late = f" ({plural(row['days_overdue'], 'day')} overdue)" if row["overdue"] else ""
        row["when"] = row["due"] + late
    render_table(title, ["id", "title", "when", "status", "owner", "priority"], rows, empty)


def _end_of_start_up() -> None:
    """Resume the collector main() (tracker.cli.main) paused, first moving every object made so far out of its
    sight (gc.freeze): they will not become garbage, and long-running commands (serve, remind run) collect as
    usual from here."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
