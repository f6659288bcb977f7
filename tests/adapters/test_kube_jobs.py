"""The Job adapter against kmock: create (adopt, replace), delete, follow a log, watch.

No controller here: the tests write the Job's and pods' status themselves, through the
official client, as the controller would.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from leptonci.adapters.kube_client import RetryPolicy
from leptonci.adapters.kube_jobs import (
    LogFollower,
    create_job,
    create_service,
    delete_object,
    pod_log_tail,
    watch_job,
)
from leptonci.core.errors import ClusterError
from leptonci.core.train_config import KubernetesTraining
from leptonci.core.train_job import LABEL_JOB, job_manifest, progress_line, service_manifest
from tests.kube_apiserver import EmulatorThread

NS = "ml-train"
KEY = "sha256:" + "5" * 64
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
TRAIN = KubernetesTraining.model_validate(
    {"on": "kubernetes", "cluster": {"namespace": NS}, "image": "r.example/t:1", "workers": 2}
)


def manifest(key: str = KEY) -> dict[str, Any]:
    return job_manifest(
        TRAIN,
        name="train-d-1",
        model="d",
        content_hash=key,
        image="r.example/t@sha256:" + "9" * 64,
        env={},
    )


def status(rollout_api: Any, name: str, body: dict[str, Any]) -> None:
    from kubernetes import client

    client.BatchV1Api(rollout_api).patch_namespaced_job_status(
        name, NS, {"status": body}, _preload_content=False
    )


@pytest.fixture
def actor_api(kube_emulator: EmulatorThread) -> Any:
    from leptonci.adapters.kube_client import api_client_for_host
    from tests.kube_apiserver import ACTOR_HEADER

    api = api_client_for_host(kube_emulator.url)
    api.set_default_header(ACTOR_HEADER, "1")
    yield api
    api.close()


def test_a_job_is_created_then_adopted_while_it_runs_and_replaced_once_finished(
    kube_api: Any, actor_api: Any
) -> None:
    first = create_job(kube_api, manifest(), policy=FAST)
    assert first.uid and not first.adopted
    again = create_job(kube_api, manifest(), policy=FAST)  # another run of the same inputs
    assert again.adopted and again.uid == first.uid
    status(actor_api, "train-d-1", {"conditions": [{"type": "Complete", "status": "True"}]})
    replaced = create_job(kube_api, manifest(), policy=FAST)  # e.g. --no-cache after a success
    assert not replaced.adopted and replaced.uid != first.uid


def test_a_job_of_that_name_not_made_by_leptonci_is_left_alone(kube_api: Any) -> None:
    foreign = manifest()
    foreign["metadata"]["labels"] = {"team": "other"}
    create_job(kube_api, foreign, policy=FAST)
    with pytest.raises(ClusterError, match="exists and was not made by leptonci"):
        create_job(kube_api, manifest(), policy=FAST)


def test_services_and_deletes(kube_api: Any) -> None:
    service = service_manifest(TRAIN, name="train-d-1", model="d")
    create_service(kube_api, service, policy=FAST)
    create_service(kube_api, service, policy=FAST)  # already there, this Job's: fine
    assert delete_object(kube_api, kind="Service", namespace=NS, name="train-d-1", policy=FAST)
    assert not delete_object(kube_api, kind="Service", namespace=NS, name="train-d-1", policy=FAST)


def pod(name: str, index: int, phase: str, **state: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {
                LABEL_JOB: "train-d-1",
                "batch.kubernetes.io/job-completion-index": str(index),
            },
        },
        "spec": {"containers": [{"name": "worker", "image": "r.example/t@sha256:" + "9" * 64}]},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "worker",
                    "image": "r.example/t@sha256:" + "9" * 64,
                    "imageID": "",
                    "ready": True,
                    "restartCount": 0,
                    "state": state or {"running": {}},
                }
            ],
        },
    }


def test_watching_follows_the_chiefs_progress_and_ends_on_complete(
    kube_api: Any, actor_api: Any, kube_emulator: EmulatorThread, tmp_path: Path
) -> None:
    from kubernetes import client

    core = client.CoreV1Api(actor_api)
    create_job(kube_api, manifest(), policy=FAST)
    log = tmp_path / "chief.log"
    log.write_text("starting\n")
    ended = threading.Event()
    kube_emulator.emu.pod_logs[(NS, "train-d-1-0-a")] = (log, ended)
    seen: list[tuple[int, int | None, str]] = []

    def controller() -> None:
        core.create_namespaced_pod(NS, pod("train-d-1-0-a", 0, "Running"), _preload_content=False)
        core.create_namespaced_pod(NS, pod("train-d-1-1-a", 1, "Running"), _preload_content=False)
        for epoch in (1, 2):
            time.sleep(0.2)
            with log.open("a") as fh:
                fh.write(progress_line(epoch, 2, {"loss": 1.0 / epoch}) + "\n")
        deadline = time.monotonic() + 10
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        ended.set()
        status(actor_api, "train-d-1", {"conditions": [{"type": "Complete", "status": "True"}]})

    thread = threading.Thread(target=controller, daemon=True)
    thread.start()
    verdict = watch_job(
        kube_api,
        namespace=NS,
        name="train-d-1",
        retries=1,
        timeout=60,
        on_progress=lambda epoch, of, logs, pod: seen.append((epoch, of, pod)),
        policy=FAST,
    )
    thread.join(10)
    assert verdict.ok and verdict.detail == f"job/train-d-1 in {NS} completed"
    assert seen == [(1, 2, "train-d-1-0-a"), (2, 2, "train-d-1-0-a")]
    assert pod_log_tail(kube_api, NS, "train-d-1-0-a", lines=1).startswith("leptonci-progress ")


def test_a_watch_that_hears_nothing_ends_at_the_deadline_plus_grace(kube_api: Any) -> None:
    create_job(kube_api, manifest(), policy=FAST)
    started = time.monotonic()
    verdict = watch_job(
        kube_api, namespace=NS, name="train-d-1", retries=0, timeout=1, grace=0.5, policy=FAST
    )
    assert not verdict.ok and verdict.reason == "timeout"
    assert "no verdict 1.5 s after it started" in verdict.detail
    assert time.monotonic() - started < 10


def test_a_log_follower_retries_until_the_container_starts(
    kube_api: Any, kube_emulator: EmulatorThread, tmp_path: Path
) -> None:
    lines: list[str] = []
    follower = LogFollower(
        kube_api,
        namespace=NS,
        pod="p-0",
        on_line=lines.append,
        policy=RetryPolicy(attempts=20, base_delay=0.05, max_delay=0.1),
    )
    follower.start()
    time.sleep(0.2)  # 400: the container is waiting to start
    log = tmp_path / "p.log"
    log.write_text("one\ntwo\n")
    ended = threading.Event()
    ended.set()
    kube_emulator.emu.pod_logs[(NS, "p-0")] = (log, ended)
    follower.join(10)
    assert lines == ["one", "two"]
    assert json.dumps(lines)
