"""The README as a new user follows it: its commands, run in a copy of the checkout with an empty HOME, change
no tracked file; the first command ends with a short summary of the reminders, not a wall of them; and its
field lists name every field the YAML accepts."""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from tracker.cli.main import cli
from tracker.register.dataset import MODELS

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block(heading: str) -> str:
    """The first ```sh block after `heading`."""
    return README.split(heading, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]


def first_command() -> list[list[str]]:
    """The tracker commands of the README's command 1 (after the venv and pip steps)."""
    line = next(line for line in _block("## Two commands on a fresh machine").splitlines() if "tracker load" in line)
    steps = [shlex.split(step) for step in line.split("&&")]
    return [step[1:] for step in steps if step[0] == ".venv/bin/tracker"]


def tour() -> list[list[str]]:
    steps = [shlex.split(line, comments=True) for line in _block("## A short tour").splitlines()]
    assert all(step[0] == "tracker" for step in steps if step)
    return [step[1:] for step in steps if step]


def _tracked(checkout: Path) -> dict[str, str]:
    return {str(p.relative_to(checkout)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in checkout.rglob("*") if p.is_file()}  # fmt: skip


@pytest.fixture
def newcomer(tmp_path, monkeypatch):
    """A copy of the checkout's tracked files as the working directory, an empty HOME (so the default database
    is a new one in it), no TRACKER_* settings; runs a command and returns its output."""
    try:
        files = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    checkout = tmp_path / "checkout"
    for name in files.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "TRACKER_DB", "TRACKER_CONFIG", "TRACKER_NOW", "TRACKER_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def run(args: list[str]):
        result = runner.invoke(cli, [str(Path(a).expanduser()) if a.startswith("~") else a for a in args])
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    run.checkout = checkout
    run.home = tmp_path / "home"
    return run


def test_following_the_readme_changes_no_tracked_file(newcomer):
    before = _tracked(newcomer.checkout)
    for args in [*first_command(), *tour(), *first_command()]:  # and command 1 again, a day later
        newcomer(args)
    assert (newcomer.home / ".local/share/tracker/tracker.db").exists()  # the default database, in the new HOME
    after = _tracked(newcomer.checkout)
    changed = sorted(name for name in before if after.get(name) != before[name])
    assert changed == [], f"following the README changed tracked files: {changed[:5]}"
    assert (newcomer.checkout / "build/calendars/all.ics").exists()


def test_command_1_ends_with_a_short_summary_of_the_reminders(newcomer):
    *setup, send_due = first_command()
    assert send_due == ["remind", "send-due"]
    for args in setup:
        newcomer(args)
    shown = newcomer(["--now", "2026-01-01", *send_due]).output.splitlines()
    assert len(shown) <= 15, "\n".join(shown)
    text = "\n".join(shown)
    assert re.search(r"^\d+ reminders for \d+ people sent to the console", text, re.M)
    assert re.search(r"^\d+ catch-ups: .* the oldest on 2008-", text, re.M)
    assert "--verbose" in text and "[channels.email]" in text and 'README "Reminders"' in text
    assert "Mark done:" not in text  # no message bodies
    sent = int(re.search(r"sent (\d+), failed 0", text)[1])
    history = newcomer(["remind", "history", "--json"]).output
    assert history.count('"channel": "console"') == sent  # what the summary stands for is in the ledger


def test_send_due_verbose_prints_every_message_in_full(newcomer):
    newcomer(["load", "data/"])
    shown = newcomer(["--now", "2026-01-01", "remind", "send-due", "--verbose"]).output
    sent = int(re.search(r"sent (\d+), failed 0", shown)[1])
    assert sent > 5 and shown.count("\n--- reminder for ") + shown.startswith("--- reminder for ") == sent
    assert shown.count("Your reminders and calendar: http") == sent
    assert "Missed while reminders were off" in shown and "in short here" not in shown


def test_the_field_lists_name_every_field_the_yaml_takes():
    section = README.split("## The data format", 1)[1].split("\n## ", 1)[0]
    common = ("slug", "recorded", "loaded_from")  # every record's, told before the lists
    assert all(f"`{f}`" in section.split("\n- **people**", 1)[0] for f in common)
    for name, model in MODELS.items():
        bullet = re.search(rf"^- \*\*{name}\*\*:(.*?)(?=^- |^\n|\Z)", section, re.M | re.S)
        assert bullet, name
        missing = [f for f in model.model_fields if f not in common and f"`{f}`" not in bullet[1]]
        assert missing == [], f"README's {name} list lacks {missing}"
