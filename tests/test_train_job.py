"""Training on a cluster, the pure parts: config, Job and Service manifests, TF_CONFIG,
progress lines, and the rules that read a Job's and its pods' status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from leptonci.adapters.kube_job_rules import JobState, assess, chief, waiting_notes
from leptonci.adapters.kubeschema import violation
from leptonci.core.config import parse_config
from leptonci.core.errors import ConfigError
from leptonci.core.train_config import KubernetesTraining, LocalTraining
from leptonci.core.train_job import (
    ENV_WORKERS,
    INDEX_LABEL,
    LABEL_JOB,
    job_manifest,
    job_name,
    owned_by_job,
    parse_progress_line,
    progress_line,
    service_manifest,
    tf_config,
    worker_addresses,
)

KEY = "sha256:" + "ab12" * 16
BASE = """project: p
registry: 127.0.0.1:5000/ml
models:
  digits:
    path: model_repo/digits
    gate: {accuracy: {min: 0.5}}
    train:
TRAIN
environments:
  - {name: dev, path: environments/dev}
"""
CLUSTER = "      on: kubernetes\n      cluster: {namespace: ml-train}\n      image: ghcr.io/a/t:1\n"


def parse_train(block: str) -> Any:
    text = BASE.replace("TRAIN\n", block)
    return (
        parse_config(text, file="leptonci.yaml", root=Path("/nonexistent")).models["digits"].train
    )


def test_training_is_local_unless_configured() -> None:
    text = BASE.replace("    train:\nTRAIN\n", "")
    config = parse_config(text, file="leptonci.yaml", root=Path("/x"))
    assert config.models["digits"].train == LocalTraining()
    assert isinstance(parse_train("      on: local\n"), LocalTraining)


def test_a_kubernetes_training_with_every_key() -> None:
    train = parse_train(
        CLUSTER + "      workers: 3\n      resources: {cpu: 500m, memory: 4Gi, nvidia.com/gpu: 1}\n"
        "      node_selector: {pool: gpu}\n"
        "      tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]\n"
        "      service_account: trainer\n      timeout: 120\n      ttl: 0\n      retries: 0\n"
        "      registry_secret: regcred\n"
    )
    assert isinstance(train, KubernetesTraining)
    assert (train.workers, train.timeout, train.ttl, train.retries) == (3, 120, 0, 0)
    assert (train.resources.cpu, train.resources.memory, train.resources.gpu) == ("500m", "4Gi", 1)


@pytest.mark.parametrize(
    ("block", "line", "message"),
    [
        ("      workers: 2\n", 8, "train.workers: only for on: kubernetes"),
        ("      on: slurm\n", 8, "train.on: 'slurm' is not one of: local, kubernetes"),
        ("      on: kubernetes\n      image: a/b:1\n", 7, "train.cluster: required key missing"),
        (CLUSTER + "      workers: 0\n", 11, "train.workers: Input should be greater than"),
        (CLUSTER + "      timeout: 0\n", 11, "train.timeout: Input should be greater than"),
        (CLUSTER + "      ttl: -1\n", 11, "train.ttl: Input should be greater than"),
        (CLUSTER + "      retries: 11\n", 11, "train.retries: Input should be less than"),
        (CLUSTER + "      resources: {cpu: 0}\n", 11, "cpu '0' must be above zero"),
        (CLUSTER + "      resources: {cpu: 2Gi}\n", 11, "cpu '2Gi': give cores"),
        (CLUSTER + "      resources: {memory: 4GB}\n", 11, "memory '4GB' is not a Kubernetes"),
        (CLUSTER + "      resources: {memory: 512m}\n", 11, "did you mean Mi?"),
        (CLUSTER + "      resources: {nvidia.com/gpu: 0}\n", 11, "greater than or equal to 1"),
        (CLUSTER + "      resources: {gpus: 1}\n", 11, "resources.gpus: unknown key"),
        (CLUSTER + "      node_selector: {'a b': x}\n", 11, "is not a Kubernetes label key"),
        (CLUSTER + "      tolerations: [{operator: Equal}]\n", 11, "operator Equal needs a key"),
        (CLUSTER + "      service_account: Trainer_1\n", 11, "is not a Kubernetes object name"),
        (CLUSTER.replace("ghcr.io/a/t:1", "scratch"), 10, "needs Python, TensorFlow"),
        (CLUSTER.replace("ml-train", "ML"), 9, "train.cluster.namespace: String should match"),
    ],
)
def test_impossible_training_settings_name_file_line_and_key(
    block: str, line: int, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_train(block)
    text = str(info.value)
    assert text.startswith(f"leptonci.yaml:{line}: models.digits."), text
    assert message in text, text


def test_where_it_trains_is_not_part_of_the_content_hash(example_repo: Path) -> None:
    from leptonci.pipeline.cache import model_content_hash
    from leptonci.runtime.context import Context

    before = model_content_hash(Context(root=example_repo), "digits")
    config = example_repo / "leptonci.yaml"
    text = config.read_text().replace(
        "    gate:\n      accuracy:", "    train:\n" + CLUSTER + "    gate:\n      accuracy:", 1
    )
    config.write_text(text)
    ctx = Context(root=example_repo)
    assert isinstance(ctx.config.model("digits").train, KubernetesTraining)
    assert model_content_hash(ctx, "digits") == before


# -- names, addresses, TF_CONFIG ------------------------------------------------------


def test_job_names_are_stable_short_dns_labels() -> None:
    assert job_name("digits", KEY) == "train-digits-ab12ab12ab"
    long = job_name("a" * 63, KEY)
    assert len(long) <= 48 and long.startswith("train-aaaa") and long.endswith("-ab12ab12ab")
    assert not job_name("ab-" + "c" * 60, KEY).startswith("train-ab--")


def test_each_worker_gets_tf_config_from_its_index() -> None:
    addresses = worker_addresses("train-d-1", 3)
    assert addresses == [f"train-d-1-{i}.train-d-1:2222" for i in range(3)]
    assert tf_config(addresses, 2) == {
        "cluster": {"worker": addresses},
        "task": {"type": "worker", "index": 2},
    }
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        tf_config(addresses, 3)


def test_progress_lines_round_trip_and_other_lines_are_ignored() -> None:
    line = progress_line(3, 12, {"loss": 0.25, "accuracy": 0.9})
    assert parse_progress_line("2026-01-01T00:00:00Z " + line) == (
        3,
        12,
        {"accuracy": 0.9, "loss": 0.25},
    )
    assert parse_progress_line("Epoch 3/12 - loss: 0.25") is None
    assert parse_progress_line("leptonci-progress {not json") is None


# -- manifests ------------------------------------------------------------------------


def kube_train(**extra: Any) -> KubernetesTraining:
    return KubernetesTraining.model_validate(
        {
            "on": "kubernetes",
            "cluster": {"namespace": "ml-train"},
            "image": "ghcr.io/a/t:1",
            **extra,
        }
    )


IMAGE = "127.0.0.1:5000/ml/leptonci-train@sha256:" + "9" * 64


def test_one_worker_is_a_plain_job_that_fails_fast_on_oom_and_bad_input() -> None:
    train = kube_train(resources={"cpu": "2", "memory": "4Gi"}, timeout=600, ttl=60, retries=2)
    job = job_manifest(
        train, name="train-digits-1", model="digits", content_hash=KEY, image=IMAGE, env={"A": "b"}
    )
    assert violation(job) is None
    spec = job["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 2)
    assert "completionMode" not in spec and "backoffLimitPerIndex" not in spec
    assert spec["activeDeadlineSeconds"] == 600 and spec["ttlSecondsAfterFinished"] == 60
    assert spec["podReplacementPolicy"] == "Failed"
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "FailJob",
        "onExitCodes": {"containerName": "worker", "operator": "In", "values": [2, 137]},
    }
    assert rules[1] == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and "subdomain" not in pod
    [container] = pod["containers"]
    assert container["image"] == IMAGE
    assert container["command"] == ["python3", "-m", "leptonci", "worker", "/leptonci/job.json"]
    assert container["env"] == [{"name": "A", "value": "b"}]
    assert container["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }
    assert job["metadata"]["annotations"] == {"leptonci.io/content-hash": KEY}
    assert spec["template"]["metadata"]["labels"][LABEL_JOB] == "train-digits-1"


def test_n_workers_are_an_indexed_job_with_a_headless_service() -> None:
    train = kube_train(
        workers=3,
        retries=1,
        resources={"nvidia.com/gpu": 1},
        node_selector={"pool": "gpu"},
        tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        service_account="trainer",
        registry_secret="regcred",
    )
    job = job_manifest(train, name="train-d-1", model="d", content_hash=KEY, image=IMAGE, env={})
    assert violation(job) is None
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert (spec["completions"], spec["parallelism"]) == (3, 3)
    assert (spec["backoffLimitPerIndex"], spec["maxFailedIndexes"]) == (1, 0)
    assert "backoffLimit" not in spec
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == "train-d-1"
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["serviceAccountName"] == "trainer"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    [container] = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env[ENV_WORKERS] == ",".join(worker_addresses("train-d-1", 3))
    assert env["DOCKER_CONFIG"] == "/leptonci/registry-auth"
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert container["ports"] == [{"name": "tf", "containerPort": 2222}]
    service = service_manifest(train, name="train-d-1", model="d")
    assert violation(service) is None
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == {LABEL_JOB: "train-d-1"}
    owned = owned_by_job(service, job="train-d-1", uid="u-1")
    assert owned["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "train-d-1", "uid": "u-1"}
    ]
    assert "ownerReferences" not in service["metadata"]  # the plan's manifest is untouched


# -- reading a Job's status -----------------------------------------------------------


def job(*conditions: tuple[str, str], indexed: bool = True) -> dict[str, Any]:
    spec: dict[str, Any] = {"completionMode": "Indexed"} if indexed else {}
    return {
        "metadata": {"name": "train-d-1", "namespace": "ml"},
        "spec": spec,
        "status": {
            "conditions": [
                {"type": kind, "status": "True", "reason": reason, "message": f"{kind}: {reason}"}
                for kind, reason in conditions
            ]
        },
    }


def pod(
    index: int,
    *,
    phase: str = "Running",
    waiting: str | None = None,
    exit_code: int | None = None,
    reason: str | None = None,
    message: str = "",
    suffix: str = "a",
    memory: str | None = None,
) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {}}
    if waiting:
        state = {"waiting": {"reason": waiting, "message": "pull access denied"}}
    if exit_code is not None:
        state = {
            "terminated": {
                "exitCode": exit_code,
                "reason": reason or ("Completed" if exit_code == 0 else "Error"),
                "message": message,
            }
        }
    container: dict[str, Any] = {"name": "worker", "image": IMAGE}
    if memory:
        container["resources"] = {"limits": {"memory": memory}}
    return {
        "metadata": {
            "name": f"train-d-1-{index}-{suffix}",
            "labels": {INDEX_LABEL: str(index), LABEL_JOB: "train-d-1"},
            "creationTimestamp": f"2026-01-01T00:00:0{'abcdef'.index(suffix)}Z",
        },
        "spec": {"containers": [container]},
        "status": {"phase": phase, "containerStatuses": [{"name": "worker", "state": state}]},
    }


def state_of(job_obj: dict[str, Any] | None, *pods: dict[str, Any]) -> JobState:
    return JobState(
        job=job_obj, seen=job_obj is not None, pods={p["metadata"]["name"]: p for p in pods}
    )


RULES = [
    ("running", state_of(job(), pod(0), pod(1)), None, None),
    ("complete", state_of(job(("Complete", "")), pod(0, exit_code=0)), "complete", "completed"),
    (
        "image pull",
        state_of(job(), pod(0, phase="Pending", waiting="ImagePullBackOff")),
        "image-pull",
        f"pod train-d-1-0-a (worker 0) cannot pull the training image {IMAGE}: "
        "ImagePullBackOff: pull access denied",
    ),
    (
        "oom",
        state_of(
            job(), pod(0), pod(1, phase="Failed", exit_code=137, reason="OOMKilled", memory="2Gi")
        ),
        "oom",
        "pod train-d-1-1-a (worker 1) was killed for running out of memory at its memory limit "
        "of 2Gi (OOMKilled, exit 137)",
    ),
    (
        "bad input",
        state_of(job(), pod(0, phase="Failed", exit_code=2, message="train.py: missing fit")),
        "bad-input",
        "pod train-d-1-0-a (worker 0) stopped: exit 2: train.py: missing fit",
    ),
    (
        "deadline",
        state_of(job(("Failed", "DeadlineExceeded")), pod(0)),
        "deadline",
        "job/train-d-1 in ml passed its deadline of 60 s (train.timeout)",
    ),
    (
        "one index failed past its retries",
        state_of(
            job(("Failed", "FailedIndexes")),
            pod(0),
            pod(1, phase="Failed", exit_code=1, message="boom", suffix="a"),
            pod(1, phase="Failed", exit_code=1, message="boom again", suffix="b"),
        ),
        "worker-failed",
        "worker 1 failed 2 times (train.retries: 1); last: pod train-d-1-1-b (worker 1) "
        "exit 1: boom again",
    ),
    (
        "failures within the retries are waited out",
        state_of(job(), pod(0), pod(1, phase="Failed", exit_code=1), pod(1, suffix="b")),
        None,
        None,
    ),
    (
        "failures past the retries end it before the Job says so",
        state_of(
            job(),
            pod(1, phase="Failed", exit_code=3, suffix="a"),
            pod(1, phase="Failed", exit_code=3, suffix="b"),
        ),
        "worker-failed",
        "worker 1 failed 2 times",
    ),
    (
        "deleted",
        JobState(job=job(), seen=True, deleted=True),
        "deleted",
        "job/train-d-1 in ml was deleted while it trained",
    ),
    (
        "failed for another reason",
        state_of(job(("Failed", "PodFailurePolicy"))),
        "failed",
        "job/train-d-1 in ml failed: PodFailurePolicy: Failed: PodFailurePolicy",
    ),
]


@pytest.mark.parametrize(("case", "state", "reason", "detail"), RULES, ids=[r[0] for r in RULES])
def test_job_rules(case: str, state: JobState, reason: str | None, detail: str | None) -> None:
    verdict = assess(state, name="train-d-1", namespace="ml", retries=1, timeout=60)
    if reason is None:
        assert verdict is None
        return
    assert verdict is not None
    assert verdict.reason == reason and verdict.ok == (reason == "complete")
    assert detail is not None and detail in verdict.detail, verdict.detail


def test_a_plain_job_names_its_pod_without_a_worker_index() -> None:
    state = state_of(
        job(("Failed", "BackoffLimitExceeded"), indexed=False),
        pod(0, phase="Failed", exit_code=1, message="x"),
    )
    verdict = assess(state, name="train-d-1", namespace="ml", retries=0, timeout=60)
    assert verdict is not None
    assert verdict.detail == (
        "the worker failed once (train.retries: 0); last: pod train-d-1-0-a exit 1: x"
    )


def test_the_chief_is_the_newest_started_pod_of_index_0() -> None:
    state = state_of(
        job(), pod(0, phase="Failed", exit_code=1), pod(0, suffix="b"), pod(1, suffix="c")
    )
    found = chief(state)
    assert found is not None and found["metadata"]["name"] == "train-d-1-0-b"
    assert chief(state_of(job(), pod(0, phase="Pending"))) is None


def test_unschedulable_pods_are_noted_not_failed() -> None:
    waiting = pod(0, phase="Pending")
    waiting["status"]["conditions"] = [
        {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        }
    ]
    state = state_of(job(), waiting)
    assert assess(state, name="train-d-1", namespace="ml", retries=0, timeout=60) is None
    assert waiting_notes(state) == [
        "pod train-d-1-0-a (worker 0) is not scheduled yet: 0/3 nodes are available: 3 "
        "Insufficient nvidia.com/gpu."
    ]


def test_manifests_render_as_a_creation_diff_in_the_plan() -> None:
    from leptonci.core.actions import CreateJob

    train = kube_train()
    manifest = job_manifest(
        train, name="train-d-1", model="d", content_hash=KEY, image=IMAGE, env={}
    )
    action = CreateJob(
        summary="create job", namespace="ml-train", name="train-d-1", manifest=manifest
    )
    diff = action.diff().splitlines()
    assert diff[:2] == ["--- /dev/null", "+++ job/train-d-1"]
    assert "+kind: Job" in diff and "+apiVersion: batch/v1" in diff
    assert json.loads(json.dumps(action.to_dict()))["manifest"]["kind"] == "Job"
    assert action.inverse().summary == "delete job/train-d-1 in ml-train and its pods"
