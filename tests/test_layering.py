"""Layering: pure modules import no adapter and nothing that touches the outside world."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "leptonci"
PURE_PACKAGES = ["core", "manifests", "promotion"]
FORBIDDEN = {
    "subprocess",
    "socket",
    "requests",
    "urllib.request",
    "http.client",
    "docker",
    "kubernetes",
    "github3",
    "tensorflow",
    "keras",
    "oras",
    "leptonci.adapters",
    "leptonci.engine",
    "leptonci.pipeline",
    "leptonci.commands",
    "leptonci.runtime",
    "leptonci.cli",
    "time",
}
HEAVY = ("tensorflow", "docker", "kubernetes", "github3", "oras")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _pure_files() -> list[Path]:
    return [p for name in PURE_PACKAGES for p in sorted((PACKAGE / name).glob("*.py"))]


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: p.stem)
def test_pure_module_imports_nothing_outside(path: Path) -> None:
    bad = sorted(
        name
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    )
    assert not bad, f"{path.name} is pure but imports {bad}"


def test_only_adapters_import_outside_libraries() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "adapters" in path.parts:
            continue
        for name in _imports(path):
            root = name.split(".")[0]
            if root in ("subprocess", *HEAVY):
                offenders.append(f"{path.relative_to(PACKAGE)}: {name}")
    assert not offenders, offenders


def test_help_loads_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from leptonci.cli import build_parser\n"
        "build_parser().format_help()\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("path", _pure_files(), ids=lambda p: p.stem)
def test_pure_module_reads_no_clock(path: Path) -> None:
    """datetime may parse times in pure code; only the context reads the clock."""
    calls = [
        node.func.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("now", "utcnow", "today", "time", "monotonic")
    ]
    assert not calls, f"{path.name} reads the clock: {calls}"
