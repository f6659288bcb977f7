"""Reading an environment folder (manifests + ledger) from the working tree or a commit.

The planner works on ``EnvState`` values; this module produces them. Manifests are the
folder's YAML files except the ledger; paths are repository-relative with "/".
"""

from __future__ import annotations

from pathlib import Path

from leptonci.adapters.git import Git
from leptonci.core.config import Config, EnvironmentConfig
from leptonci.core.ledger import LEDGER_FILE, Ledger, empty_ledger, parse_ledger
from leptonci.promotion.plans import EnvState

MANIFEST_SUFFIXES = (".yaml", ".yml")


def _is_manifest(rel: str, env: EnvironmentConfig) -> bool:
    return rel.endswith(MANIFEST_SUFFIXES) and rel != f"{env.path}/{LEDGER_FILE}"


def state_from_files(env: EnvironmentConfig, files: dict[str, str]) -> EnvState:
    ledger_rel = f"{env.path}/{LEDGER_FILE}"
    ledger_text = files.get(ledger_rel)
    if ledger_text is None:
        ledger = empty_ledger(env.name, history_limit=env.history_limit)
    else:
        ledger = parse_ledger(ledger_text, file=ledger_rel, history_limit=env.history_limit)
    manifests = {k: v for k, v in sorted(files.items()) if _is_manifest(k, env)}
    return EnvState(env=env, files=manifests, ledger=ledger, ledger_text=ledger_text)


def read_worktree(root: Path, env: EnvironmentConfig) -> EnvState:
    """The environment as the working tree has it (hidden temp files are skipped)."""
    folder = root / env.path
    files: dict[str, str] = {}
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                files[path.relative_to(root).as_posix()] = path.read_text()
    return state_from_files(env, files)


def read_tree(git: Git, rev: str, env: EnvironmentConfig) -> EnvState:
    """The environment as commit rev has it."""
    return state_from_files(env, git.tree_files(rev, env.path))


def read_all_worktree(root: Path, config: Config) -> dict[str, EnvState]:
    return {env.name: read_worktree(root, env) for env in config.ordered_envs()}


def read_ledger(root: Path, env: EnvironmentConfig) -> Ledger:
    """The environment's ledger in the working tree; no ledger file means an empty one."""
    path = root / env.path / LEDGER_FILE
    if not path.is_file():
        return empty_ledger(env.name, history_limit=env.history_limit)
    rel = f"{env.path}/{LEDGER_FILE}"
    return parse_ledger(path.read_text(), file=rel, history_limit=env.history_limit)
