"""Layering: pure modules import no adapter and nothing that touches the outside world."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "leptonci"
PURE = [
    "backoff",
    "candidate",
    "config",
    "errors",
    "gate",
    "ledger",
    "manifests",
    "plan",
    "promotion",
    "redact",
    "release",
    "report",
    "tables",
    "trailers",
]
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
    "leptonci.flows",
    "leptonci.context",
    "leptonci.cli",
    "time",
    "datetime",
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
    files = []
    for name in PURE:
        for path in sorted(PACKAGE.glob(f"{name}*.py")):
            files.append(path)
    return files


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
