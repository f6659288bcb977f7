"""Reading and writing ledgers in the working tree (the adapters of the pure ledger)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from leptonci.config import EnvironmentConfig
from leptonci.ledger import LEDGER_FILE, Ledger, empty_ledger, parse_ledger, render_ledger


def ledger_path(root: Path, env: EnvironmentConfig) -> Path:
    return root / env.path / LEDGER_FILE


def read_ledger(root: Path, env: EnvironmentConfig) -> Ledger:
    """The environment's ledger; an environment without a ledger file has an empty one."""
    path = ledger_path(root, env)
    if not path.is_file():
        return empty_ledger(env.name, history_limit=env.history_limit)
    rel = os.path.relpath(path, root)
    return parse_ledger(path.read_text(), file=rel, history_limit=env.history_limit)


def write_ledger(root: Path, env: EnvironmentConfig, ledger: Ledger) -> None:
    """Write atomically: a temp file in the same folder, then rename."""
    path = ledger_path(root, env)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ledger.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(render_ledger(ledger))
    os.replace(tmp, path)
