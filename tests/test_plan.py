from __future__ import annotations

import json

import pytest

from leptonci.core.actions import GitCommit, GitPush, PushImage, Step, WriteFile
from leptonci.core.plan import Plan
from leptonci.core.redact import register_secret


def _plan() -> Plan:
    return Plan(
        "promote digits-abc to staging",
        (
            Step(summary="train digits (cache hit)", name="train"),
            WriteFile(
                summary="pin image",
                path="environments/staging/kustomization.yaml",
                old="a: 1\nb: 2\n",
                new="a: 1\nb: 3\n",
            ),
            GitCommit(
                summary="commit",
                message="promote",
                paths=("environments/staging",),
                trailers=(("Leptonci-Release", "digits-abc"),),
            ),
            GitPush(summary="push to origin/main", remote="origin", branch="main"),
        ),
    )


def test_text_rendering_shows_numbered_actions_and_unified_diff() -> None:
    text = _plan().render_text()
    assert text.splitlines()[0] == "Plan: promote digits-abc to staging"
    assert "  2. [write-file] pin image" in text
    assert "-b: 2" in text and "+b: 3" in text
    assert "--- a/environments/staging/kustomization.yaml" in text


def test_markdown_and_json_carry_the_same_actions() -> None:
    plan = _plan()
    md = plan.render_markdown()
    assert "```diff" in md
    data = json.loads(plan.to_json())
    assert [a["kind"] for a in data["actions"]] == ["step", "write-file", "git-commit", "git-push"]
    assert data["actions"][1]["diff"].startswith("--- a/")


def test_commit_message_has_trailers_after_a_blank_line() -> None:
    commit = _plan().actions[2]
    assert isinstance(commit, GitCommit)
    assert commit.full_message() == "promote\n\nLeptonci-Release: digits-abc\n"


def test_plans_are_immutable() -> None:
    plan = _plan()
    with pytest.raises(AttributeError):
        plan.title = "x"  # type: ignore[misc]
    assert plan.then(Step(summary="verify", name="verify")).actions[-1].summary == "verify"
    assert len(plan.actions) == 4


def test_secrets_never_reach_rendered_plans() -> None:
    register_secret("registry-pass-9876")
    plan = Plan("t", (PushImage(summary="push with registry-pass-9876", repository="r"),))
    for out in (plan.render_text(), plan.render_markdown(), plan.to_json()):
        assert "registry-pass-9876" not in out
