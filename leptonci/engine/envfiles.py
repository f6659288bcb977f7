"""Reading an environment folder (manifests + ledger) from the working tree or a commit.

The planner works on ``EnvState`` values; this module produces them. Manifests are the
folder's YAML files (``*.yaml``, ``*.yml`` and a ``Kustomization``) except the ledger;
paths are repository-relative with "/". For an environment that promotes by pull
request, the remote's promotion branches into it are read too (from the remote-tracking
refs the landing fetched), so that the pure planner can tell a branch that already
carries a release from one it must (re)write.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from leptonci.adapters.git import Git
from leptonci.core.config import EnvironmentConfig
from leptonci.core.files import read_text
from leptonci.core.kustomization import is_manifest_file
from leptonci.core.ledger import LEDGER_FILE, Ledger, empty_ledger, parse_ledger
from leptonci.promotion.delivery import promote_branch
from leptonci.promotion.state import EnvState, PromotionBranch


def _is_manifest(rel: str, env: EnvironmentConfig) -> bool:
    return is_manifest_file(rel) and rel != f"{env.path}/{LEDGER_FILE}"


def _ledger(env: EnvironmentConfig, text: str | None) -> Ledger:
    if text is None:
        return empty_ledger(env.name, history_limit=env.history_limit)
    rel = f"{env.path}/{LEDGER_FILE}"
    return parse_ledger(text, file=rel, history_limit=env.history_limit)


def parse_env_ledger(env: EnvironmentConfig, text: str | None) -> Ledger:
    """env's ledger from its text (None: no ledger file, an empty ledger)."""
    return _ledger(env, text)


def state_from_files(
    env: EnvironmentConfig,
    files: Mapping[str, str],
    *,
    branches: Mapping[str, PromotionBranch] | None = None,
) -> EnvState:
    ledger_text = files.get(f"{env.path}/{LEDGER_FILE}")
    manifests = {k: v for k, v in sorted(files.items()) if _is_manifest(k, env)}
    return EnvState(
        env=env,
        files=manifests,
        ledger=_ledger(env, ledger_text),
        ledger_text=ledger_text,
        branches=dict(branches or {}),
    )


def worktree_files(root: Path, env: EnvironmentConfig) -> dict[str, str]:
    """The environment folder's files as the working tree has them (hidden ones skipped)."""
    folder = root / env.path
    files: dict[str, str] = {}
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                files[path.relative_to(root).as_posix()] = read_text(path, root=root)
    return files


def read_worktree(root: Path, env: EnvironmentConfig) -> EnvState:
    """The environment as the working tree has it (no promotion branches)."""
    return state_from_files(env, worktree_files(root, env))


def read_ledger(root: Path, env: EnvironmentConfig) -> Ledger:
    """The environment's ledger in the working tree; no ledger file means an empty one."""
    path = root / env.path / LEDGER_FILE
    return _ledger(env, read_text(path, root=root) if path.is_file() else None)


def promotion_branches(
    git: Git, env: EnvironmentConfig, *, remote: str, main_tip: str
) -> dict[str, PromotionBranch]:
    """The remote-tracking promotion branches into env, by release (as last fetched)."""
    prefix = f"refs/remotes/{remote}/{promote_branch(env.name, '')}"
    found: dict[str, PromotionBranch] = {}
    for ref, tip in git.refs_under(prefix):
        release = ref[len(prefix) :]
        if not release or "/" in release:
            continue
        ledger_text = git.file_at(tip, f"{env.path}/{LEDGER_FILE}")
        found[release] = PromotionBranch(
            tip=tip,
            on_current=git.same_content(f"{tip}^", main_tip, env.path),
            ledger=_ledger(env, ledger_text),
        )
    return found
