"""The applier: typed actions dispatched by type, results flowing from one to the next."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from leptonci.core.actions import (
    Action,
    GitCommit,
    GitPush,
    SetCommitStatus,
    Step,
    WriteFile,
)
from leptonci.core.plan import Plan
from leptonci.engine.applier import Applier
from leptonci.runtime.context import Context
from leptonci.runtime.output import Output
from tests.fixtures.git_repo import Clone
from tests.github_fake import FakeGitHub


@dataclass(frozen=True, kw_only=True)
class Unknown(Action):
    kind: ClassVar[str] = "unknown"


def test_a_plan_runs_in_order_and_each_result_feeds_the_next(example_clone: Clone) -> None:
    ctx = example_clone.ctx()
    path = "environments/dev/notes.yaml"
    plan = Plan(
        "write, commit, push",
        (
            Step(summary="a step of the command's own", name="note"),
            WriteFile(summary="write notes", path=path, old=None, new="a: 1\n"),
            GitCommit(summary="commit", message="notes", paths=("environments/dev",)),
            GitPush(summary="push", remote="origin", branch="main"),
        ),
    )
    done = Applier(ctx).apply(plan)
    assert done.commit == example_clone.git("rev-parse", "HEAD")
    assert done.landed and done.pushed == ("main",)
    assert example_clone.remote_file(path) == "a: 1\n"


def test_a_type_without_a_handler_fails_before_anything_runs(example_clone: Clone) -> None:
    ctx = example_clone.ctx()
    path = example_clone.root / "environments/dev/notes.yaml"
    plan = Plan(
        "p",
        (
            WriteFile(summary="w", path="environments/dev/notes.yaml", old=None, new="x\n"),
            Unknown(summary="?"),
        ),
    )
    with pytest.raises(TypeError, match="no handler for Unknown"):
        Applier(ctx).apply(plan)
    assert not path.exists()  # nothing ran


def test_github_actions_dispatch_to_the_adapter(
    example_repo: Path, github_fake: FakeGitHub
) -> None:
    env = github_fake.env()
    ctx = Context(root=example_repo, out=Output(env=env, stdout=io.StringIO()), env=env)
    status = SetCommitStatus(
        summary="status",
        repository=env["GITHUB_REPOSITORY"],
        sha="e" * 40,
        state="success",
        context="c",
        description="d",
    )
    Applier(ctx).apply(Plan("p", (status,)))
    assert github_fake.statuses["e" * 40][0]["state"] == "success"
