"""Promotion through dev -> staging -> prod on real git: auto and pull-request policies."""

from __future__ import annotations

import json
import re

import pytest

from leptonci.commands.promote import run as promote_command
from leptonci.core.errors import PromotionRefused, UsageError
from leptonci.core.ledger import ReleaseRecord, parse_ledger
from tests.fixtures.git_repo import Clone, enter_release, fake_record


def remote_ledger(clone: Clone, env: str, ref: str = "main"):  # type: ignore[no-untyped-def]
    return parse_ledger(clone.remote_file(f"environments/{env}/ledger.yaml", ref), file=env)


def test_auto_promotion_into_staging_is_one_commit_in_its_folder(
    example_clone: Clone, staging_ahead_of_prod: ReleaseRecord
) -> None:
    record = staging_ahead_of_prod
    staging = remote_ledger(example_clone, "staging").current_for("digits")
    assert staging is not None
    assert (staging.release, staging.digest, staging.from_env) == (
        record.release,
        record.digest,
        "dev",
    )
    changed = example_clone.remote_git("show", "--name-only", "--format=", "main").split()
    assert changed == [
        "environments/staging/ledger.yaml",
        "environments/staging/model.yaml",
    ]
    trailers = example_clone.remote_git("log", "-1", "--format=%(trailers:only)", "main")
    assert f"Leptonci-Release: {record.release}" in trailers
    assert "Leptonci-Action: promote" in trailers and "Leptonci-From: dev" in trailers
    pinned = example_clone.remote_file("environments/staging/model.yaml")  # the image volume
    assert f"reference: {record.image}:{record.release}@{record.digest}" in pinned
    # the local clone sits on the pushed commit, clean
    assert example_clone.git("rev-parse", "HEAD") == example_clone.remote_git("rev-parse", "main")
    assert example_clone.git("status", "--porcelain") == ""


def test_promoting_what_is_current_is_a_noop(
    example_clone: Clone, staging_ahead_of_prod: ReleaseRecord
) -> None:
    before = example_clone.remote_git("rev-parse", "main")
    ctx = example_clone.ctx()
    assert promote_command(ctx, to="staging", release=None, force=False, reason=None) == 0
    assert "nothing to do" in ctx.out.stdout.getvalue()  # type: ignore[attr-defined]
    assert example_clone.remote_git("rev-parse", "main") == before


def test_pull_request_policy_pushes_a_branch_and_leaves_main(
    example_clone: Clone, staging_ahead_of_prod: ReleaseRecord
) -> None:
    record = staging_ahead_of_prod
    main_before = example_clone.remote_git("rev-parse", "main")
    ctx = example_clone.ctx()
    assert promote_command(ctx, to="prod", release=None, force=False, reason=None) == 0
    branch = f"leptonci/promote/prod/{record.release}"
    assert example_clone.remote_git("rev-parse", "main") == main_before
    assert example_clone.remote_git("rev-parse", f"{branch}~1") == main_before
    prod = remote_ledger(example_clone, "prod", branch).current_for("digits")
    assert prod is not None and prod.release == record.release
    text = ctx.out.stdout.getvalue()  # type: ignore[attr-defined]
    assert f"pull request title: Promote {record.release} to prod" in text
    # the metrics in report.precision; the diffs are under Files changed, not repeated
    assert "| accuracy | 0.950 | - | no baseline |" in text and "```diff" not in text
    # local main was not moved onto the unmerged promotion
    assert example_clone.git("rev-parse", "HEAD") == main_before


def test_refusals(example_clone: Clone, release_in_dev: ReleaseRecord) -> None:
    with pytest.raises(PromotionRefused, match="staging has no release"):
        promote_command(example_clone.ctx(), to="prod", release=None, force=False, reason=None)
    with pytest.raises(UsageError, match="no upstream"):
        promote_command(example_clone.ctx(), to="dev", release=None, force=False, reason=None)
    with pytest.raises(UsageError, match="--reason"):
        promote_command(example_clone.ctx(), to="staging", release=None, force=True, reason=None)


def test_force_promotes_an_older_release_with_the_reason_in_the_ledger(
    example_clone: Clone,
) -> None:
    old, new = fake_record(seed="1"), fake_record(seed="2")
    enter_release(example_clone, old)
    enter_release(example_clone, new)
    with pytest.raises(PromotionRefused, match="not current in dev"):
        promote_command(
            example_clone.ctx(), to="staging", release=old.release, force=False, reason=None
        )
    ctx = example_clone.ctx()
    assert (
        promote_command(ctx, to="staging", release=old.release, force=True, reason="pin for demo")
        == 0
    )
    staging = remote_ledger(example_clone, "staging").current_for("digits")
    assert staging is not None and staging.action == "force" and staging.reason == "pin for demo"


def test_dry_run_writes_nothing_and_prints_the_plan_the_real_run_applies(
    example_clone: Clone, release_in_dev: ReleaseRecord
) -> None:
    clone = example_clone
    refs_before = clone.remote_git("for-each-ref")
    head_before = clone.git("rev-parse", "HEAD")
    files_before = {
        p: p.read_bytes() for p in clone.root.rglob("*") if ".git" not in p.parts and p.is_file()
    }

    dry = clone.ctx(dry_run=True, json=True)
    assert promote_command(dry, to="staging", release=None, force=False, reason=None) == 0
    dry_doc = json.loads(dry.out.stdout.getvalue())  # type: ignore[attr-defined]
    assert dry_doc["dry_run"] is True and dry_doc["applied"] is False
    assert clone.remote_git("for-each-ref") == refs_before
    assert clone.git("rev-parse", "HEAD") == head_before
    assert clone.git("status", "--porcelain", "--untracked-files=all") == ""
    files_after = {
        p: p.read_bytes() for p in clone.root.rglob("*") if ".git" not in p.parts and p.is_file()
    }
    assert files_after == files_before

    dry_text = clone.ctx(dry_run=True)
    assert promote_command(dry_text, to="staging", release=None, force=False, reason=None) == 0
    dry_lines = dry_text.out.stdout.getvalue().splitlines()  # type: ignore[attr-defined]

    real = clone.ctx()
    assert promote_command(real, to="staging", release=None, force=False, reason=None) == 0
    real_lines = real.out.stdout.getvalue().splitlines()  # type: ignore[attr-defined]
    # the text of the dry run is the plan the real run printed and applied, line by line;
    # only the last line differs (what was done)
    assert dry_lines[:-1] == real_lines[:-1]
    assert dry_lines[0] == f"Plan: {dry_doc['plan']['title']}"
    kinds = [a["kind"] for a in dry_doc["plan"]["actions"]]
    numbered = [line for line in dry_lines if re.match(r"  \d+\. \[", line)]
    assert [re.sub(r"  \d+\. \[([^]]+)\].*", r"\1", line) for line in numbered] == kinds
    assert "write-file" in kinds
    assert dry_lines[-1] == "dry run: nothing was written"
    assert real_lines[-1].startswith("promoted ")
    head = clone.git("rev-parse", "HEAD")
    assert real_lines[-1].endswith(f"({head[:12]})")
    for action in dry_doc["plan"]["actions"]:
        if action["kind"] == "write-file":
            assert (clone.root / action["path"]).read_text() == clone.remote_file(action["path"])
