"""The package's modules import one way: no circle, so any module can be imported on its own."""

import ast
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "tracker"


def _imports(path: Path) -> set[str]:
    """Every tracker module that `path` imports, at any depth of the file (function-level imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tracker"):
            if node.module == "tracker":
                found |= {alias.name for alias in node.names if (PACKAGE / f"{alias.name}.py").exists()}
            else:
                found.add(node.module.removeprefix("tracker."))
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("tracker.") for a in node.names if a.name.startswith("tracker.")}
    return found - {"__init__"}


def _graph() -> dict[str, set[str]]:
    return {p.stem: _imports(p) for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}


def test_no_import_circle():
    try:
        order = list(TopologicalSorter(_graph()).static_order())
    except CycleError as e:
        raise AssertionError(f"import circle: {' -> '.join(e.args[1])}") from None
    assert "cli" in order


def test_every_module_imports_alone():
    for module in sorted(_graph()):
        result = subprocess.run([sys.executable, "-c", f"import tracker.{module}"], capture_output=True, text=True)
        assert result.returncode == 0, f"import tracker.{module}: {result.stderr.strip().splitlines()[-1]}"
