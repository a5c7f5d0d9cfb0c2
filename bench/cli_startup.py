"""Command-line start-up benchmark, all in one run: each command as a whole process, interleaved per repeat,
beside the floors `python -c "import click"` and `python -c "import sqlalchemy.orm"`:

- `tracker --help` and one completion Tab (`tracker show kpi<Tab>`), against 2x `import click`;
- `tracker items`, `agenda` and `show` on a temporary SQLite database loaded with data/, against
  1.5x `import sqlalchemy.orm` (the floor of any command that touches the database).

    .venv/bin/python bench/cli_startup.py [--repeats 15]

Prints medians and ratios; the machine is noisy, so trust the ratios of one run more than absolute times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv/bin"
NOW = "2009-01-15"
COMPLETE = {"_TRACKER_COMPLETE": "bash_complete", "COMP_WORDS": "tracker show kpi", "COMP_CWORD": "2"}

# label: (command, extra environment, floor it is compared with, target ratio)
CASES: dict[str, tuple[list[str], dict[str, str], str | None, float | None]] = {
    "import click": ([str(BIN / "python"), "-c", "import click"], {}, None, None),
    "import sqlalchemy.orm": ([str(BIN / "python"), "-c", "import sqlalchemy.orm"], {}, None, None),
    "tracker --help": ([str(BIN / "tracker"), "--help"], {}, "import click", 2.0),
    "completion Tab": ([str(BIN / "tracker")], COMPLETE, "import click", 2.0),
    "tracker items": ([str(BIN / "tracker"), "items"], {}, "import sqlalchemy.orm", 1.5),
    "tracker agenda": ([str(BIN / "tracker"), "agenda", "--days", "60"], {}, "import sqlalchemy.orm", 1.5),
    "tracker show": ([str(BIN / "tracker"), "show", "kpi-committee-volunteer"], {}, "import sqlalchemy.orm", 1.5),
}


def run_once(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=60)
    return time.perf_counter() - started


def measure(env: dict[str, str], repeats: int) -> dict[str, float]:
    """Median seconds per case; the cases take turns within each repeat, so drifts in load hit them alike.
    A first, untimed round writes the bytecode caches, as a user's first run does."""
    times: dict[str, list[float]] = {label: [] for label in CASES}
    for command, extra, _floor, _target in CASES.values():
        run_once(command, env | extra)
    for _ in range(repeats):
        for label, (command, extra, _floor, _target) in CASES.items():
            times[label].append(run_once(command, env | extra))
    return {label: statistics.median(values) for label, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15, choices=range(3, 101), metavar="3..100")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "TRACKER_DB": f"sqlite:///{Path(folder) / 'bench.db'}", "TRACKER_NOW": NOW}
        for name in ("TRACKER_CONFIG", "PYTHONDONTWRITEBYTECODE"):  # without .pyc files every run compiles
            env.pop(name, None)
        subprocess.run([str(BIN / "tracker"), "load", str(ROOT / "data")], env=env, check=True, timeout=120,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        medians = measure(env, args.repeats)
    print(f"{args.repeats} runs each, interleaved; medians (python {sys.version.split()[0]})")
    print(f"{'command':<24}{'median':>10}{'ratio':>10}  floor                  target")
    for label, (_command, _extra, floor, target) in CASES.items():
        line = f"{label:<24}{medians[label] * 1000:>8.0f}ms"
        if floor is not None:
            ratio = medians[label] / medians[floor]
            verdict = "ok" if ratio <= target else "MISSED"
            line += f"{ratio:>9.2f}x  {floor:<22} <= {target}x {verdict}"
        print(line)


if __name__ == "__main__":
    main()
