"""The package's modules import one way: no circle, and each subpackage only from the floors below it, so any module
can be imported on its own."""

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "tracker"

# Each floor may import the floors after it in this list, never one before it (README "Development").
FLOORS = ["cli", "web", "dav", "reminders", "calendars", "register", "core"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "versions" not in p.parts}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every tracker module that `path` imports, at any depth of the file (function-level imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tracker"):
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known
            found |= submodules or {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("tracker.")}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {name: _imports(path, set(modules)) - {name} for name, path in modules.items()}
    # A package's __init__ is imported with any of its modules; it imports nothing here, so it is no edge.
    return {name: {d for d in deps if d != "tracker"} for name, deps in graph.items()}


def _floor(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in FLOORS else None


def test_no_import_circle():
    try:
        order = list(TopologicalSorter(_graph()).static_order())
    except CycleError as e:
        raise AssertionError(f"import circle: {' -> '.join(e.args[1])}") from None
    assert "tracker.cli.main" in order


def test_each_floor_imports_only_the_floors_below_it():
    upward = [
        f"{module} imports {dep}"
        for module, deps in _graph().items()
        for dep in deps
        if _floor(module) and _floor(dep) and FLOORS.index(_floor(dep)) < FLOORS.index(_floor(module))
    ]
    assert upward == []


def test_every_module_is_on_a_floor():
    assert [m for m in _modules() if m not in ("tracker", "tracker.__main__") and not _floor(m)] == []


def test_every_module_imports_alone():
    for module in sorted(_graph()):
        if module.endswith(("__main__", "migrations.env")):  # run by python -m and by Alembic, not imported
            continue
        result = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
        assert result.returncode == 0, f"import {module}: {result.stderr.strip().splitlines()[-1]}"
