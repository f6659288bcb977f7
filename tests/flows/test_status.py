"""`leptonci status --live`: the ledger beside what the cluster runs; drift is flagged."""

from __future__ import annotations

import json
from pathlib import Path

from leptonci.commands.status import run as status_command
from leptonci.engine.status import collect_status
from tests.flows.test_verify import make_ctx, stdout, write_repo
from tests.kube_apiserver import EmulatorThread
from tests.kube_rollouts import NEW, OLD, RolloutActor


def test_live_status_matches_the_ledger(
    tmp_path: Path, kube_emulator: EmulatorThread, rollout: RolloutActor
) -> None:
    rollout.deploy(NEW)
    ctx = make_ctx(write_repo(tmp_path, server=kube_emulator.url))
    [row] = collect_status(ctx, live=True)
    assert row.live is not None and row.live.endswith(f"@{NEW}")
    assert not row.drift
    assert status_command(ctx, live=True) == 0
    assert "ok sha256:222222222222" in stdout(ctx)


def test_live_status_flags_drift(
    tmp_path: Path, kube_emulator: EmulatorThread, rollout: RolloutActor
) -> None:
    rollout.deploy(OLD)  # the cluster runs another digest than the ledger's
    ctx = make_ctx(write_repo(tmp_path, server=kube_emulator.url), json_mode=True)
    assert status_command(ctx, live=True) == 0
    [env] = json.loads(stdout(ctx))["environments"]
    assert env["drift"] is True
    assert env["live"].endswith(f"@{OLD}") and env["digest"] == NEW


def test_live_status_reports_an_unreachable_cluster_per_row(tmp_path: Path) -> None:
    ctx = make_ctx(write_repo(tmp_path, server="http://127.0.0.1:9"))
    ctx.env = {"LEPTONCI_KUBE_RETRIES": "0"}
    [row] = collect_status(ctx, live=True)
    assert row.live_error
    assert "verify-token" not in row.live_error


def test_live_status_says_no_cluster_for_an_environment_without_one(tmp_path: Path) -> None:
    ctx = make_ctx(write_repo(tmp_path, server=None))
    assert status_command(ctx, live=True) == 0
    [line] = [row for row in stdout(ctx).splitlines() if row.startswith("dev")]
    assert line.rstrip().endswith("no cluster") and "ok -" not in line
    (tmp_path / "json").mkdir()
    ctx = make_ctx(write_repo(tmp_path / "json", server=None), json_mode=True)
    assert status_command(ctx, live=True) == 0
    [env] = json.loads(stdout(ctx))["environments"]
    assert env["cluster"] is False and "drift" not in env
