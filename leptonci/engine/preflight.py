"""The quick refusals of a release run, made before anything is trained or pushed.

A release records ``source_commit``: the commit its inputs (the model folders,
``leptonci.yaml``, the environment folders) come from. Training on uncommitted or
untracked changes would record a commit that says otherwise, so such changes stop the
run (exit 2) before it trains; so do commits of the user's own not on the remote tip.
The first environment's hold and a quarantined release id are per model (``refusal``):
they stop that model before its training, as they would stop its entry after it.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from leptonci.adapters.git import Git
from leptonci.core.config import CONFIG_FILE
from leptonci.core.errors import UsageError
from leptonci.core.ledger import Ledger
from leptonci.core.training_contract import skip_path
from leptonci.engine.clone import exclusive, interrupted, recover
from leptonci.engine.landing import check_clean
from leptonci.runtime.context import Context


def check_release_inputs(ctx: Context) -> None:
    """Refuse (UsageError, exit 2) inputs of a release that differ from their commit,
    and HEAD commits of the user's own that are not on the remote's branch."""
    git = Git(ctx.root)
    if not git.is_repo():
        return
    config = ctx.config
    models = {m.path for m in config.models.values()}
    envs = [e.path for e in config.ordered_envs()]
    if not ctx.dry_run:
        with exclusive(git):
            recover(git)  # what a killed run left in the folders is not the user's change
    elif interrupted(git):
        envs = []  # the real run undoes those first; the landing's plan says so
    inputs = [*sorted(models), CONFIG_FILE, *envs]
    dirty = [p for p in git.dirty_paths(inputs) if not _skipped(p, models)]
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" (and {len(dirty) - 5} more)" if len(dirty) > 5 else "")
        raise UsageError(
            f"uncommitted changes in inputs of a release: {shown}; a release records the "
            "commit its inputs come from, and these differ from it",
            hint="commit (and push) them, or stash them, then run again",
        )
    remote, branch = config.git.remote, config.git.branch
    tip = git.branch_tip(remote, branch, fetch=not ctx.dry_run or ctx.fetch)
    if tip is not None:
        check_clean(git, tip, inputs, remote=remote, branch=branch)


def refusal(ledger: Ledger, env: str, *, release: str) -> str | None:
    """Why ``release`` cannot enter ``env`` automatically whatever its digest, or None."""
    if ledger.held:
        return (
            f"{env} is on hold ({ledger.holds[-1].reason}); nothing trained or pushed for "
            f"{release} (lift it with `leptonci resume {env}`)"
        )
    for q in ledger.quarantine:
        if q.release == release:
            return (
                f"{release} is quarantined in {env} ({q.digest}); nothing trained or pushed "
                f"(lift it with `leptonci unblock {env} {q.digest}`)"
            )
    return None


def _skipped(path: str, models: set[str]) -> bool:
    """Files the model hash leaves out (caches, bytecode) are not inputs."""
    for folder in models:
        if path.startswith(folder.rstrip("/") + "/"):
            return skip_path(PurePosixPath(path[len(folder.rstrip("/")) + 1 :]).parts)
    return False
