"""Before a meeting: `tracker brief`, the brief of one meeting occurrence as Markdown, JSON or PDF."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tracker.cli.base import AppContext, cli, complete, json_option, pass_app
from tracker.cli.output import message, render_json
from tracker.core.errors import InvalidInput
from tracker.core.vocab import LOCALES


@cli.command("brief")
@click.argument("meeting", shell_complete=complete("meeting-or-series"))
@click.option("--occurrence", help="For a series: the day (or month) the occurrence was first scheduled "
              "[default: its next one].")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["md", "json", "pdf"]), default="md", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file [default: stdout].")
@click.option("--locale", type=click.Choice(LOCALES), default="en", show_default=True, help="Language of md and pdf.")
@json_option
@pass_app
def brief_command(app: AppContext, meeting: str, occurrence: str | None, fmt: str, output: Path | None, locale: str,
                  as_json: bool) -> None:  # fmt: skip
    """The brief of a meeting occurrence as of --now: what was promised for it and where that stands.

    Items carried over from earlier meetings (days open, meetings carried), items also open for it, done and new
    since the previous occurrence, that occurrence's decisions, progress per priority area, our role and theme.

    \b
    Example:
        tracker --now 2009-02-15 brief apec-smewg-28
        tracker --now 2026-11-24 brief apec-smewg --occurrence 2027-03 --format pdf --output brief.pdf
    """
    from tracker.calendars import briefs
    from tracker.core import files, i18n, store

    fmt = "json" if as_json else fmt
    if fmt == "pdf" and output is None:
        raise InvalidInput("--output: a PDF goes to a file (--output brief.pdf)")
    with store.transaction(app.engine) as session:
        result = briefs.brief(session, meeting, occurrence, app.now)
    if fmt == "json" and output is None:
        render_json("brief", app.now, result)
        return
    if fmt == "json":
        import json

        data = json.dumps(result, sort_keys=True, ensure_ascii=False, indent=2).encode()
    else:
        from tracker.web import brief_pages

        data = brief_pages.document(result, i18n.language(locale), fmt, app.settings.tz)
    if output is None:
        sys.stdout.write(data.decode())
        return
    files.write_if_changed(output, data, "brief")
    message(f"wrote {output}")
