"""Layering: the import contracts hold, nothing imports in a cycle, every module imports
alone, and the pure packages read no clock.

The contracts themselves are in pyproject.toml ([tool.importlinter]); `make lint` runs
them too. This test keeps them in the suite that CI runs.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "leptonci"
PURE_PACKAGES = ["core", "manifests", "promotion"]
HEAVY = ("tensorflow", "docker", "kubernetes", "github3", "requests")


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] != "__main__":
            names.append(".".join(parts))
    return names


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_no_module_imports_itself_through_a_cycle() -> None:
    graph = grimp.build_graph("leptonci", cache_dir=None)
    modules = sorted(graph.modules)
    # Tarjan's strongly connected components over the module import graph
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.find_modules_directly_imported_by(node)):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in modules:
        if module not in index:
            visit(module)
    assert cycles == []


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def load(name: str) -> tuple[str, int, str]:
        result = subprocess.run(
            [sys.executable, "-c", f"import {name}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return name, result.returncode, result.stderr[-800:]

    with ThreadPoolExecutor(max_workers=4) as pool:
        failed = [r for r in pool.map(load, _modules()) if r[1] != 0]
    assert failed == []


def _pure_files() -> list[Path]:
    return [p for name in PURE_PACKAGES for p in sorted((PACKAGE / name).glob("*.py"))]


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: f"{p.parent.name}.{p.stem}")
def test_pure_module_reads_no_clock(path: Path) -> None:
    """datetime may parse times in pure code; only the runtime context reads the clock."""
    calls = [
        node.func.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("now", "utcnow", "today", "time", "monotonic")
    ]
    assert not calls, f"{path.name} reads the clock: {calls}"


def test_help_loads_no_heavy_library_and_no_command() -> None:
    code = (
        "import sys\n"
        "from leptonci.cli import build_parser\n"
        "build_parser().format_help()\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "loaded = [m for m, mod in sys.modules.items() if m.startswith('leptonci.commands.')\n"
        "          and type(mod).__name__ != '_LazyModule']\n"
        "print(' '.join(heavy + loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""
