"""Promotion into an environment with a cluster, end to end: real git, kmock's emulator.

The cluster is kmock's emulator; ``FakeDeploymentController`` plays the Deployment
controller from a thread (rolling out, or crash-looping, whatever image the template
gets). With ``apply: direct`` leptonci's own server-side apply changes the Deployment;
with ``gitops`` the test's ``GitOpsSync`` plays Argo CD: it applies the overlay of
whatever commit lands on the remote's main. No training: releases are fake records
landed through the real planner, except in the ``run push`` test, which seeds the
training cache so the real train -> gate -> build -> promote path runs without TF.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leptonci import cli
from leptonci.adapters.kube import apply_overlay, live_image, render_overlay
from leptonci.core.config import ClusterConfig
from leptonci.core.ledger import Ledger, ReleaseRecord, parse_ledger
from tests.fixtures.candidates import seed_candidate
from tests.fixtures.git_repo import REPO, Clone, enter_release, fake_record, make_clone, promote
from tests.fixtures.git_repo import seed_remote as seed_example_remote
from tests.kube_apiserver import ACTOR_HEADER, EmulatorThread
from tests.kube_rollouts import FakeDeploymentController, RolloutActor

NAME = "digits-serving"
STAGING_BLOCK = (
    "  - name: staging\n    path: environments/staging\n    upstream: dev\n"
    "    policy: manual\n    rollback: auto\n"
)
DEV_BLOCK = "  - name: dev\n    path: environments/dev\n    policy: auto\n    rollback: auto\n"


def cluster_lines(namespace: str, apply: str, timeout: float = 20) -> str:
    return (
        "    cluster:\n"
        "      kubeconfig: kubeconfig\n"
        f"      namespace: {namespace}\n"
        f"      workload: deployment/{NAME}\n"
        f"      apply: {apply}\n"
        f"      timeout: {timeout}\n"
    )


def config_with_cluster(env: str, apply: str) -> str:
    """The example config with a cluster (kmock) for env: staging or dev."""
    text = (REPO / "leptonci.yaml").read_text()
    block = STAGING_BLOCK if env == "staging" else DEV_BLOCK
    assert block in text, "the example config changed shape"
    return text.replace(block, block + cluster_lines(f"ml-{env}", apply))


def write_kubeconfig(root: Path, server: str) -> None:
    (root / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: emu, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: ci, user: {token: e2e-kube-token-0123456789}}]\n"
        "contexts: [{name: emu, context: {cluster: emu, user: ci}}]\n"
        "current-context: emu\n"
    )


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


class GitOpsSync:
    """The test's GitOps controller: applies env's overlay of each new commit on main."""

    def __init__(self, remote: Path, checkout: Path, *, env: str, api: Any) -> None:
        self.remote, self.checkout, self.env, self.api = remote, checkout, env, api
        git(remote.parent, "clone", "--quiet", str(remote), str(checkout))
        self.synced = ""
        self.cluster = ClusterConfig(namespace=f"ml-{env}", workload=f"deployment/{NAME}")

    def __call__(self) -> None:
        tip = git(self.remote, "rev-parse", "main")
        if tip == self.synced:
            return
        git(self.checkout, "fetch", "--quiet", "origin", "main")
        git(self.checkout, "checkout", "--quiet", "--detach", tip)
        rendered = render_overlay(self.checkout, f"environments/{self.env}")
        apply_overlay(self.cluster, rendered_yaml=rendered, api_client=self.api)
        self.synced = tip


@dataclass
class ClusterRig:
    clone: Clone
    env: str
    apply: str
    emulator: EmulatorThread
    actor: RolloutActor
    controller: FakeDeploymentController
    sync: GitOpsSync

    def ledger(self, env: str | None = None) -> Ledger:
        env = env or self.env
        return parse_ledger(self.clone.remote_file(f"environments/{env}/ledger.yaml"), file=env)

    def live(self) -> str | None:
        return live_image(self.sync.cluster, self.actor.apps.api_client)

    def applies(self) -> list[Any]:
        """Server-side applies leptonci itself made (not the test's GitOps controller)."""
        return [
            r
            for r in self.emulator.emu
            if r.method == "PATCH"
            and r.params.get("fieldManager") == "leptonci"
            and r.headers.get(ACTOR_HEADER) != "1"
        ]


def make_rig(
    tmp_path: Path,
    emulator: EmulatorThread,
    *,
    env: str,
    apply: str,
    crash: tuple[str, ...],
    config_text: str | None = None,
) -> ClusterRig:
    from leptonci.adapters.kube_client import api_client_for_host

    text = config_text if config_text is not None else config_with_cluster(env, apply)
    remote = seed_example_remote(tmp_path, config_text=text)
    clone = make_clone(remote, tmp_path / "clone")
    write_kubeconfig(clone.root, emulator.url)
    api = api_client_for_host(emulator.url)
    api.set_default_header(ACTOR_HEADER, "1")  # the test's actors never get injected failures
    actor = RolloutActor(api, namespace=f"ml-{env}", name=NAME)
    sync = GitOpsSync(remote, tmp_path / "argo", env=env, api=api)
    controller = FakeDeploymentController(
        actor,
        outcomes={digest: "crash-loop" for digest in crash},
        sync=sync if apply == "gitops" else None,
    )
    controller.start()
    return ClusterRig(clone, env, apply, emulator, actor, controller, sync)


@contextmanager
def running_rig(tmp_path: Path, emulator: EmulatorThread, **kwargs: Any) -> Iterator[ClusterRig]:
    """make_rig, then stop its controller thread and check it saw no error of its own."""
    rig = make_rig(tmp_path, emulator, **kwargs)
    try:
        yield rig
    finally:
        rig.controller.stop()
        rig.actor.apps.api_client.close()
    assert not rig.controller.errors, rig.controller.errors


GOOD = fake_record(seed="good", eval_fingerprint="sha256:" + "e" * 64)
BAD = fake_record(seed="bad", eval_fingerprint="sha256:" + "e" * 64)


@pytest.fixture(params=["direct", "gitops"])
def staging_rig(
    request: pytest.FixtureRequest, tmp_path: Path, pinned_git: None, kube_emulator: EmulatorThread
) -> Iterator[ClusterRig]:
    """The example with a kmock cluster for staging; BAD's pods crash-loop there."""
    with running_rig(
        tmp_path, kube_emulator, env="staging", apply=request.param, crash=(BAD.digest,)
    ) as rig:
        yield rig


def image_of(record: ReleaseRecord) -> str:
    return f"{record.image}:{record.release}@{record.digest}"


def test_a_passing_rollout_is_recorded_verified(staging_rig: ClusterRig) -> None:
    rig = staging_rig
    enter_release(rig.clone, GOOD)
    assert promote(rig.clone, "staging") == 0
    current = rig.ledger().current_for("digits")
    assert current is not None and current.release == GOOD.release
    assert current.verification.result == "verified"
    assert current.verification.detail == (
        f"deployment/{NAME} in ml-staging: 2/2 replicas ready on {GOOD.digest}; "
        "prediction parity not checked (the release has no sample)"
    )
    assert rig.live() == image_of(GOOD)
    trailers = rig.clone.remote_git("log", "-1", "--format=%(trailers:only)", "main")
    assert "Leptonci-Action: verify" in trailers and "Leptonci-Verification: verified" in trailers
    # direct: leptonci applied both objects itself; gitops: only the controller did
    applied = {r.resource.plural for r in rig.applies() if r.resource is not None}
    assert applied == ({"deployments", "services"} if rig.apply == "direct" else set())


def test_verify_command_records_the_result_in_git(staging_rig: ClusterRig) -> None:
    rig = staging_rig
    enter_release(rig.clone, GOOD)
    assert promote(rig.clone, "staging") == 0
    tip = rig.clone.remote_git("rev-parse", "main")
    assert cli.main(["-C", str(rig.clone.root), "verify", "staging", "--dry-run"]) == 0
    assert rig.clone.remote_git("rev-parse", "main") == tip  # dry run: nothing recorded
    assert cli.main(["-C", str(rig.clone.root), "verify", "staging"]) == 0
    trailers = rig.clone.remote_git("log", "-1", "--format=%(trailers:only)", "main")
    assert "Leptonci-Action: verify" in trailers and "Leptonci-Verification: verified" in trailers
    current = rig.ledger().current_for("digits")
    assert current is not None and current.verification.result == "verified"


def test_a_crash_looping_rollout_is_rolled_back(
    staging_rig: ClusterRig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = staging_rig
    enter_release(rig.clone, GOOD)
    assert promote(rig.clone, "staging") == 0
    enter_release(rig.clone, BAD)
    before = rig.clone.remote_git("rev-parse", "main")
    capsys.readouterr()
    monkeypatch.setenv("LEPTONCI_ACTOR", "tester")
    code = cli.main(["-C", str(rig.clone.root), "promote", "--to", "staging"])
    err = capsys.readouterr().err
    assert code == 1
    # both what failed and what was restored, in one line
    [line] = [x for x in err.splitlines() if "crash-loop" in x]
    assert "verification of digits in staging failed: crash-loop" in line
    assert "CrashLoopBackOff" in line and f"restored {GOOD.release}" in line
    assert "leptonci resume staging" in line

    ledger = rig.ledger()
    current = ledger.current_for("digits")
    assert current is not None and current.release == GOOD.release
    assert current.action == "rollback" and current.verification.result == "verified"
    assert ledger.is_quarantined(BAD.digest) and ledger.held
    pinned = rig.clone.remote_file("environments/staging/model.yaml")  # the image volume
    assert f"@{GOOD.digest}" in pinned and BAD.digest not in pinned
    # new commits on top of the earlier tip (never a force-push), the rollback among them
    assert git(rig.clone.remote, "merge-base", "--is-ancestor", before, "main") == ""
    subjects = rig.clone.remote_git("log", "--format=%s", f"{before}..main").splitlines()
    assert subjects == [
        f"verify {GOOD.release} in staging: {current.verification.result}",
        f"roll back staging from {BAD.release} to {GOOD.release}",
        f"verify {BAD.release} in staging: failed",
        f"promote {BAD.release} into staging from dev",
    ]
    assert rig.live() == image_of(GOOD)
    assert rig.controller.rolled[-2:] == [image_of(BAD), image_of(GOOD)]


def test_a_restore_is_not_blamed_for_the_bad_rollouts_pods(
    kube_api: Any, rollout: RolloutActor
) -> None:
    """Back to GOOD's template: until the controller observes it, the crash is BAD's."""
    import threading

    from leptonci.adapters.kube import verify_rollout
    from tests.kube_rollouts import IMAGE, NAMESPACE, NEW, OLD

    cluster = ClusterConfig(namespace=NAMESPACE, workload=f"deployment/{rollout.name}")
    rollout.deploy(OLD)
    rollout.start_rollout(NEW)
    rollout.crash_loop()
    # the restore lands: template back on OLD, generation bumped, revision still NEW's
    overlay = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": rollout.name, "namespace": NAMESPACE},
        "spec": {
            "template": {"spec": {"containers": [{"name": "serving", "image": f"{IMAGE}@{OLD}"}]}}
        },
    }
    import json

    apply_overlay(cluster, rendered_yaml=json.dumps(overlay), api_client=rollout.apps.api_client)

    def play_controller() -> None:
        rollout.adopt(rollout.read() or {})
        rollout.complete()

    controller = threading.Timer(0.5, play_controller)
    controller.start()
    try:
        result = verify_rollout(cluster, digest=OLD, timeout=10, api_client=kube_api)
    finally:
        controller.join()
    assert result.ok, result.detail


def test_dry_run_plans_the_apply_and_applies_nothing(
    tmp_path: Path, pinned_git: None, kube_emulator: EmulatorThread
) -> None:
    rig = make_rig(tmp_path, kube_emulator, env="staging", apply="direct", crash=())
    try:
        enter_release(rig.clone, GOOD)
        head = rig.clone.remote_git("rev-parse", "main")
        ctx = rig.clone.ctx(dry_run=True)
        assert promote_dry(ctx) == 0
        text = ctx.out.stdout.getvalue()  # type: ignore[union-attr]
        assert (
            "[server-side-apply] server-side apply 2 objects of environments/staging "
            "to current-context/ml-staging" in text
        )
        assert "dry run: nothing was written" in text
        assert rig.applies() == [] and rig.live() is None
        assert rig.clone.remote_git("rev-parse", "main") == head
    finally:
        rig.controller.stop()


def promote_dry(ctx: Any) -> int:
    from leptonci.commands.promote import run as promote_command

    return promote_command(ctx, to="staging", release=None, force=False, reason=None)


# -- run push: a fresh build crash-loops in dev and dev is restored -------------------


def test_run_push_rolls_back_a_crash_looping_build(
    tmp_path: Path, pinned_git: None, kube_emulator: EmulatorThread
) -> None:
    from leptonci.commands.run_push import run as run_push

    rig = make_rig(tmp_path, kube_emulator, env="dev", apply="direct", crash=())
    rig.controller.default = "crash-loop"  # every new build crash-loops ...
    rig.controller.outcomes[GOOD.digest] = "complete"  # ... the seeded release runs fine
    try:
        enter_release(rig.clone, GOOD)
        rig.sync()  # an earlier run applied GOOD
        ctx = rig.clone.ctx()
        seed_candidate(ctx, {"accuracy": 0.96, "loss": 0.1})
        assert run_push(ctx) == 1
        err = ctx.out.stderr.getvalue()  # type: ignore[union-attr]
        assert "verification of digits in dev failed: crash-loop" in err
        assert f"restored {GOOD.release}" in err
        ledger = rig.ledger("dev")
        current = ledger.current_for("digits")
        assert current is not None and current.release == GOOD.release
        assert current.verification.result == "verified"
        [quarantined] = ledger.quarantine
        assert quarantined.digest != GOOD.digest and ledger.held
        assert rig.live() == image_of(GOOD)
        assert len(rig.controller.rolled) == 3 and rig.controller.rolled[1].endswith(
            quarantined.digest
        )
        # the chain stopped at dev: nothing went on to staging
        assert rig.ledger("staging").current == {}
        # GOOD landed unverified, so the run settles it first (apply + verify), then the
        # built release, then the restore: Service + Deployment each
        assert len(rig.applies()) == 6
    finally:
        rig.controller.stop()
        rig.actor.apps.api_client.close()
    assert not rig.controller.errors, rig.controller.errors
