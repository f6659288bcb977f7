"""verify_rollout against kmock's emulator, driven through the official client."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from leptonci.adapters.kube import RetryPolicy, VerifyResult, verify_rollout
from leptonci.core.config import ClusterConfig
from leptonci.core.errors import ClusterError
from tests.kube_apiserver import EmulatorThread
from tests.kube_rollouts import NAME, NAMESPACE, NEW, OLD, OTHER, RolloutActor

CLUSTER = ClusterConfig(namespace=NAMESPACE, workload=f"deployment/{NAME}")
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture()
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(1) as executor:
        yield executor


def start_verify(
    pool: ThreadPoolExecutor, api: Any, digest: str, timeout: float = 10
) -> Future[VerifyResult]:
    return pool.submit(
        verify_rollout, CLUSTER, digest=digest, timeout=timeout, api_client=api, policy=FAST
    )


@pytest.fixture()
def rolling_out(rollout: RolloutActor) -> RolloutActor:
    """OLD fully deployed, then the template switched to NEW: nothing updated yet."""
    rollout.deploy(OLD)
    rollout.start_rollout(NEW)
    return rollout


def test_already_rolled_out_is_verified(rollout: RolloutActor, kube_api: Any) -> None:
    rollout.deploy(NEW)
    result = verify_rollout(CLUSTER, digest=NEW, timeout=5, api_client=kube_api)
    assert result == VerifyResult(
        True, "verified", f"deployment/{NAME} in {NAMESPACE}: 2/2 replicas ready on {NEW}"
    )


def test_accepts_an_image_reference_as_digest(rollout: RolloutActor, kube_api: Any) -> None:
    rollout.deploy(NEW)
    result = verify_rollout(CLUSTER, digest=f"img@{NEW}", timeout=5, api_client=kube_api)
    assert result.ok


def test_rollout_completing_while_watched_is_verified(
    rolling_out: RolloutActor,
    kube_api: Any,
    kube_emulator: EmulatorThread,
    pool: ThreadPoolExecutor,
) -> None:
    future = start_verify(pool, kube_api, NEW)
    kube_emulator.wait_for_watches(3)  # deployment, replicasets, pods
    rolling_out.pod(index=0)
    rolling_out.progress(updated=1, ready=2, available=2, total=3)
    assert not future.done()
    rolling_out.pod(index=1)
    rolling_out.complete()
    assert future.result(10).reason == "verified"


def test_progress_deadline_fails(
    rolling_out: RolloutActor,
    kube_api: Any,
    kube_emulator: EmulatorThread,
    pool: ThreadPoolExecutor,
) -> None:
    future = start_verify(pool, kube_api, NEW)
    kube_emulator.wait_for_watches(3)
    rolling_out.stall()
    result = future.result(10)
    assert (result.ok, result.reason) == (False, "progress-deadline")
    assert "has timed out progressing" in result.detail


@pytest.mark.parametrize(
    ("waiting", "reason"),
    [
        ("CrashLoopBackOff", "crash-loop"),
        ("ImagePullBackOff", "image-pull"),
        ("ErrImagePull", "image-pull"),
        ("CreateContainerConfigError", "container-error"),
    ],
)
def test_failing_pod_of_new_replicaset_fails(
    rolling_out: RolloutActor,
    kube_api: Any,
    kube_emulator: EmulatorThread,
    pool: ThreadPoolExecutor,
    waiting: str,
    reason: str,
) -> None:
    future = start_verify(pool, kube_api, NEW)
    kube_emulator.wait_for_watches(3)
    rolling_out.pod(waiting=waiting, restarts=4)
    result = future.result(10)
    assert (result.ok, result.reason) == (False, reason)
    assert f"{NAME}-h2-p0" in result.detail and waiting in result.detail


def test_crash_looping_pod_of_old_replicaset_is_ignored(
    rollout: RolloutActor, kube_api: Any
) -> None:
    rollout.deploy(NEW)
    rollout.revision, rollout.image = 0, f"x@{OLD}"  # a leftover pod of an older revision
    rollout.pod(waiting="CrashLoopBackOff", index=9)
    assert verify_rollout(CLUSTER, digest=NEW, timeout=5, api_client=kube_api).ok


def test_never_ready_times_out_with_progress(rolling_out: RolloutActor, kube_api: Any) -> None:
    rolling_out.progress(updated=1, ready=2, available=2, total=3)
    result = verify_rollout(CLUSTER, digest=NEW, timeout=0.5, api_client=kube_api)
    assert (result.ok, result.reason) == (False, "timeout")
    assert result.detail == (
        f"deployment/{NAME} in {NAMESPACE} not ready after 0.5s: "
        "1/2 updated, 2 ready, 2 available, 2 old pending termination"
    )


def test_cluster_running_another_digest_fails(rollout: RolloutActor, kube_api: Any) -> None:
    rollout.deploy(OTHER)
    rollout.stall()  # an older rollout's stall is not this release's failure
    result = verify_rollout(CLUSTER, digest=NEW, timeout=0.3, api_client=kube_api)
    assert (result.ok, result.reason) == (False, "wrong-digest")
    assert OTHER in result.detail and f"expected {NEW}" in result.detail


def test_missing_deployment_is_not_found(kube_api: Any) -> None:
    result = verify_rollout(CLUSTER, digest=NEW, timeout=0.3, api_client=kube_api)
    assert (result.ok, result.reason) == (False, "not-found")


def test_api_5xx_then_recovery_still_verifies(
    rolling_out: RolloutActor, kube_api: Any, kube_emulator: EmulatorThread
) -> None:
    rolling_out.complete()
    kube_emulator.emu.fail_next = 2
    result = verify_rollout(CLUSTER, digest=NEW, timeout=10, api_client=kube_api, policy=FAST)
    assert result.reason == "verified"
    assert kube_emulator.emu.fail_next == 0


def test_api_5xx_forever_raises_cluster_error(
    rolling_out: RolloutActor, kube_api: Any, kube_emulator: EmulatorThread
) -> None:
    rolling_out.complete()
    kube_emulator.emu.fail_next = 10_000
    with pytest.raises(ClusterError, match=r"after 3 attempts: 503"):
        verify_rollout(CLUSTER, digest=NEW, timeout=10, api_client=kube_api, policy=FAST)


def test_api_failing_mid_rollout_is_an_error_not_a_verdict(
    rolling_out: RolloutActor,
    kube_api: Any,
    kube_emulator: EmulatorThread,
    pool: ThreadPoolExecutor,
) -> None:
    future = start_verify(pool, kube_api, NEW)
    kube_emulator.wait_for_watches(3)
    kube_emulator.emu.fail_next = 10_000  # every request but the actor's fails from now on
    kube_emulator.emu.drop_epoch += 1
    rolling_out.complete()  # lost with the dropped streams; reconnecting fails
    with pytest.raises(ClusterError, match="after 3 attempts"):
        future.result(10)


def test_dropped_watch_resumes_and_reaches_verdict(
    rolling_out: RolloutActor,
    kube_api: Any,
    kube_emulator: EmulatorThread,
    pool: ThreadPoolExecutor,
) -> None:
    future = start_verify(pool, kube_api, NEW)
    kube_emulator.wait_for_watches(3)
    kube_emulator.emu.drop_epoch += 1  # open streams end at their next event, losing it
    rolling_out.pod(index=0)
    rolling_out.pod(index=1)
    rolling_out.complete()
    assert future.result(10).reason == "verified"
    assert kube_emulator.watch_requests("deployments") >= 2  # it reconnected


def test_gone_watch_relists_and_reaches_verdict(
    rolling_out: RolloutActor,
    kube_api: Any,
    kube_emulator: EmulatorThread,
    pool: ThreadPoolExecutor,
) -> None:
    kube_emulator.emu.gone_next = 1  # the first watch hears 410 Gone: too old a version
    future = start_verify(pool, kube_api, NEW)
    kube_emulator.wait_for_watches(4)
    rolling_out.complete()
    assert future.result(10).reason == "verified"
    assert kube_emulator.list_requests("deployments") == 2  # listed again after the 410
