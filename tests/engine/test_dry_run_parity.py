"""A dry run prints exactly the actions a real run then applies, line by line.

Each writing command runs with --dry-run and then for real on the same state (same
clone, same clock). The dry run's plan is compared with the actions the engine's
applier reported as applied (``applied_actions``; for `run push`, the run's ``plan``,
which a real run fills with what it did), as data and as the printed lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leptonci.commands import promote, resume, rollback, run_push, unblock
from leptonci.core.actions import Action
from leptonci.core.ledger import ReleaseRecord
from leptonci.runtime.context import Context
from tests.fixtures.git_repo import Clone, make_clone, seed_remote
from tests.flows.test_run_push import quick_config


def _doc(ctx: Context) -> dict[str, Any]:
    return json.loads(ctx.out.stdout.getvalue())  # type: ignore[attr-defined]


def _lines(actions: list[dict[str, Any]]) -> list[str]:
    out = []
    for i, action in enumerate(actions, 1):
        out.append(f"{i}. [{action['kind']}] {action['summary']}")
        out.extend(str(action.get("diff", "")).splitlines())
    return out


def _files(clone: Clone) -> dict[Path, bytes]:
    return {
        p: p.read_bytes() for p in clone.root.rglob("*") if ".git" not in p.parts and p.is_file()
    }


def dry_then_real(
    clone: Clone, command: Callable[..., int], *, applied_key: str = "applied_actions", **kw: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    refs, head, files = (
        clone.remote_git("for-each-ref"),
        clone.git("rev-parse", "HEAD"),
        _files(clone),
    )
    dry = clone.ctx(dry_run=True, json=True)
    assert command(dry, **kw) == 0
    assert clone.remote_git("for-each-ref") == refs
    assert clone.git("rev-parse", "HEAD") == head
    assert _files(clone) == files
    real = clone.ctx(json=True)
    assert command(real, **kw) == 0
    planned = _doc(dry)["plan"]["actions"]
    done = _doc(real)[applied_key]
    done = done["actions"] if isinstance(done, dict) else done
    assert planned, "the dry run planned nothing: the comparison would prove nothing"
    return planned, done


def assert_same(planned: list[dict[str, Any]], done: list[dict[str, Any]]) -> None:
    assert _lines(planned) == _lines(done)
    assert planned == done


def test_promote_directly(example_clone: Clone, release_in_dev: ReleaseRecord) -> None:
    planned, done = dry_then_real(
        example_clone, promote.run, to="staging", release=None, force=False, reason=None
    )
    assert [a["kind"] for a in planned] == ["write-file", "write-file", "git-commit", "git-push"]
    assert_same(planned, done)


def test_promote_by_pull_request(
    example_clone: Clone, staging_ahead_of_prod: ReleaseRecord
) -> None:
    planned, done = dry_then_real(
        example_clone, promote.run, to="prod", release=None, force=False, reason=None
    )
    assert [a["kind"] for a in planned][-2:] == ["git-push", "open-pull-request"]
    assert_same(planned, done)


def test_rollback_unblock_and_resume(
    example_clone: Clone, two_releases_in_dev: tuple[ReleaseRecord, ReleaseRecord]
) -> None:
    _, bad = two_releases_in_dev
    assert_same(*dry_then_real(example_clone, rollback.run, env="dev", release=None, reason="bad"))
    assert_same(*dry_then_real(example_clone, unblock.run, env="dev", target=bad.release))
    assert_same(*dry_then_real(example_clone, resume.run, env="dev"))


@pytest.mark.slow
def test_run_push(tmp_path: Path, pinned_git: None) -> None:
    from leptonci.pipeline.train import train_model

    clone = make_clone(seed_remote(tmp_path, config_text=quick_config()), tmp_path / "clone")
    train_model(clone.ctx(), model="digits")  # both runs use the cached candidate
    planned, done = dry_then_real(clone, run_push.run, applied_key="plan")
    kinds = [a["kind"] for a in planned]
    assert "push-image" in kinds and kinds.count("git-commit") == 3
    assert_same(planned, done)


def test_actions_render_the_same_as_the_plan_prints_them() -> None:
    """_lines above is the plan's own numbering; keep them one format."""
    from leptonci.core.actions import Step
    from leptonci.core.plan import Plan, render_action_lines

    actions: tuple[Action, ...] = (Step(summary="train", name="train"),)
    assert [line.strip() for line in render_action_lines(actions)] == _lines(
        Plan("t", actions).to_dict()["actions"]  # type: ignore[arg-type]
    )
