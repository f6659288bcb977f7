"""verify_release / verify_command: ledger in a repository, cluster in kmock's emulator."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from leptonci.commands.verify import run as verify_command
from leptonci.core.errors import ClusterError, UsageError
from leptonci.core.ledger import ReleaseRecord, Verification, empty_ledger, render_ledger
from leptonci.core.parity import Sample
from leptonci.engine.settling import verify_release
from leptonci.runtime.context import Context
from leptonci.runtime.output import Output
from tests.fixtures.training import train_variant
from tests.kube_apiserver import EmulatorThread
from tests.kube_rollouts import IMAGE, NAME, NAMESPACE, NEW, OLD, RolloutActor
from tests.tf_serving import ServingStandIn

NOW = "2026-01-02T03:04:05Z"


def write_repo(
    root: Path,
    *,
    server: str | None,
    models: tuple[str, ...] = ("digits",),
    sample: Sample | None = None,
    parity: str = "",
) -> Path:
    """A repository whose dev ledger has each model current (with sample, if given);
    parity is extra lines for dev's cluster block."""
    cluster = ""
    if server is not None:
        (root / "kubeconfig").write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: emu, cluster: {{server: '{server}'}}}}]\n"
            "users: [{name: ci, user: {token: verify-token-0123456789}}]\n"
            "contexts: [{name: emu, context: {cluster: emu, user: ci}}]\n"
            "current-context: emu\n"
        )
        cluster = (
            "    cluster:\n"
            "      kubeconfig: kubeconfig\n"
            f"      namespace: {NAMESPACE}\n"
            f"      workload: deployment/{NAME}\n"
            "      timeout: 0.5\n" + parity
        )
    gates = "".join(
        f"  {m}:\n    path: model_repo/{m}\n    gate:\n      accuracy: {{min: 0.9}}\n"
        for m in models
    )
    (root / "leptonci.yaml").write_text(
        f"project: demo\nmodels:\n{gates}environments:\n  - name: dev\n    path: environments/dev\n"
        + cluster
    )
    (root / "environments" / "dev").mkdir(parents=True)
    ledger = empty_ledger("dev")
    for model in models:
        ledger = ledger.with_release(
            ReleaseRecord(
                release=f"{model}-r1",
                model=model,
                model_hash="h",
                image=IMAGE,
                digest=NEW,
                sample=sample,
            )
        )
    (root / "environments" / "dev" / "ledger.yaml").write_text(render_ledger(ledger))
    return root


def make_ctx(root: Path, *, json_mode: bool = False, dry_run: bool = False) -> Context:
    """A context on a plain folder: verify_command needs dry_run there (it records in git
    otherwise; tests/flows/test_e2e_cluster.py covers recording)."""
    out = Output(json_mode=json_mode, env={}, stdout=io.StringIO(), stderr=io.StringIO())
    return Context(
        root=root, out=out, json=json_mode, env={}, clock=lambda: _fixed(), dry_run=dry_run
    )


def _fixed():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def stdout(ctx: Context) -> str:
    stream = ctx.out.stdout
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def test_verified_release(
    tmp_path: Path, kube_emulator: EmulatorThread, rollout: RolloutActor
) -> None:
    rollout.deploy(NEW)
    ctx = make_ctx(write_repo(tmp_path, server=kube_emulator.url))
    verification = verify_release(ctx, env="dev")
    assert verification == Verification(
        "verified",
        NOW,
        f"deployment/{NAME} in {NAMESPACE}: 2/2 replicas ready on {NEW}; "
        "prediction parity not checked (the release has no sample)",
    )


def test_failed_release_prints_reason_and_returns_1(
    tmp_path: Path, kube_emulator: EmulatorThread, rollout: RolloutActor
) -> None:
    rollout.deploy(OLD)
    ctx = make_ctx(write_repo(tmp_path, server=kube_emulator.url), json_mode=True, dry_run=True)
    assert verify_command(ctx, env="dev", model="digits", timeout=None) == 1
    data = json.loads(stdout(ctx))
    assert data["result"] == "failed"
    assert data["detail"].startswith("wrong-digest: deployment/digits-serving in ml-dev runs ")
    assert data["release"] == "digits-r1" and data["image"] == f"{IMAGE}@{NEW}"


def test_verify_command_text(
    tmp_path: Path, kube_emulator: EmulatorThread, rollout: RolloutActor
) -> None:
    rollout.deploy(NEW)
    ctx = make_ctx(write_repo(tmp_path, server=kube_emulator.url), dry_run=True)
    assert verify_command(ctx, env="dev") == 0
    assert stdout(ctx).splitlines()[-1].startswith("dev: digits digits-r1 verified: deployment/")


def test_no_cluster_is_skipped(tmp_path: Path) -> None:
    ctx = make_ctx(write_repo(tmp_path, server=None))
    assert verify_release(ctx, env="dev") == Verification("skipped", NOW, "no cluster configured")
    assert verify_command(ctx, env="dev") == 0


def test_cluster_api_down_raises(tmp_path: Path, kube_emulator: EmulatorThread) -> None:
    kube_emulator.emu.fail_next = 10_000
    ctx = make_ctx(write_repo(tmp_path, server=kube_emulator.url))
    with pytest.raises(ClusterError, match="attempts"):
        verify_release(ctx, env="dev", timeout=30)


def test_several_models_need_a_model_name(tmp_path: Path) -> None:
    ctx = make_ctx(write_repo(tmp_path, server=None, models=("digits", "iris")))
    with pytest.raises(UsageError, match="several current models"):
        verify_release(ctx, env="dev")
    assert verify_release(ctx, env="dev", model="iris").result == "skipped"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return train_variant(tmp_path_factory.mktemp("trained"), samples=8)


def test_parity_through_a_configured_url(
    tmp_path: Path, kube_emulator: EmulatorThread, rollout: RolloutActor, trained: Any
) -> None:
    """cluster.parity.url: straight to TF Serving, not through the service proxy; a
    password in the URL is never shown."""
    rollout.deploy(NEW)
    with ServingStandIn(lambda: Path(trained.export_dir)) as serving:
        host = serving.url.removeprefix("http://")
        shown = f"http://bob:***@{host}"
        root = write_repo(
            tmp_path,
            server=kube_emulator.url,
            sample=trained.sample,
            parity=f"      parity: {{url: 'http://bob:url-pw-0123456789@{host}/'}}\n",
        )
        verification = verify_release(make_ctx(root), env="dev")
        assert verification.result == "verified", verification.detail
        assert verification.parity["count"] == verification.parity["within"] == 8
        assert verification.parity["endpoint"] == shown
        assert verification.detail.endswith(f"argmax 8/8 agree from {shown}")
        assert serving.paths == ["/v1/models/digits:predict"]

        ctx = make_ctx(root, json_mode=True, dry_run=True)
        assert verify_command(ctx, env="dev") == 0
        assert len(serving.paths) == 1  # a dry run sends nothing
        data = json.loads(stdout(ctx))
        assert data["parity"] is None
        assert (
            f"prediction parity not checked (dry run: POST {shown}/v1/models/digits:predict "
            "with 8 instances of input 'image'" in data["detail"]
        )
        assert "url-pw-0123456789" not in stdout(ctx) + ctx.out.stderr.getvalue()  # type: ignore[attr-defined]


def test_a_forbidden_predict_request_is_exit_3_at_once_not_a_failed_release(
    tmp_path: Path, kube_emulator: EmulatorThread, rollout: RolloutActor, trained: Any
) -> None:
    rollout.deploy(NEW)
    with ServingStandIn(lambda: Path(trained.export_dir)) as serving:
        serving.fail_always, serving.fail_status = True, 403
        root = write_repo(
            tmp_path,
            server=kube_emulator.url,
            sample=trained.sample,
            parity=f"      parity: {{url: '{serving.url}'}}\n",
        )
        with pytest.raises(ClusterError) as info:
            verify_release(make_ctx(root), env="dev")
        assert info.value.exit_code == 3 and "403" in info.value.message
        assert "services/proxy" in (info.value.hint or "")
        assert len(serving.paths) == 1  # not retried
