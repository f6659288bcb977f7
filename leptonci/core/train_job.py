"""Training on a cluster, the pure parts: names, the Job and Service manifests, TF_CONFIG.

One worker is a plain batch/v1 Job. N workers are an Indexed Job whose pods find each
other through a headless Service of the same name: pod I has the hostname ``JOB-I`` and
the Service as its subdomain, so it is reachable as ``JOB-I.JOB`` in the namespace, and
each pod derives ``TF_CONFIG`` from its ``JOB_COMPLETION_INDEX``. The Job runs the
training image by digest; the image holds the model folder and the job file
(``/leptonci/job.json``) that the worker entrypoint reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from leptonci.core.train_config import KubernetesTraining

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_MODEL = "leptonci.io/model"
LABEL_JOB = "leptonci.io/train-job"  # on the Job, its pods and the Service: the selector
ANNOTATION_HASH = "leptonci.io/content-hash"
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"  # set on pods by the Job controller
CONTAINER = "worker"
TF_PORT = 2222
JOB_DIR = "/leptonci"
JOB_FILE = f"{JOB_DIR}/job.json"
MODEL_DIR = "model"  # the model folder, next to job.json
REGISTRY_AUTH_DIR = f"{JOB_DIR}/registry-auth"  # DOCKER_CONFIG when registry_secret is set
JOB_SCHEMA = "leptonci-train-job-v1"  # job.json's format
WORKER_COMMAND = ("python3", "-m", "leptonci", "worker", JOB_FILE)
ENV_WORKERS = "LEPTONCI_TRAIN_WORKERS"  # comma-separated HOST:PORT of every worker, in order
ENV_INDEX = "JOB_COMPLETION_INDEX"  # set by Kubernetes in every pod of an Indexed Job
# Exit codes that end the Job at once instead of starting the worker again: the worker's
# own "bad input" (the same inputs fail the same way) and the OOM killer's SIGKILL.
EXIT_BAD_INPUT = 2
EXIT_OOM = 137
NAME_MAX = 48  # leaves room for "-INDEX" (hostnames) and the controller's pod suffix


def job_name(model: str, content_hash: str) -> str:
    """``train-MODEL-HASH10``: the same inputs give the same name, so a dry run shows it."""
    digits = content_hash.split(":", 1)[-1][:10]
    room = NAME_MAX - len("train--") - len(digits)
    return f"train-{model[:room].rstrip('-')}-{digits}"


def worker_addresses(job: str, workers: int, *, port: int = TF_PORT) -> list[str]:
    """Every worker's gRPC address, index order: ``JOB-I.JOB:PORT`` (hostname.subdomain)."""
    return [f"{job}-{i}.{job}:{port}" for i in range(workers)]


def tf_config(addresses: Sequence[str], index: int) -> dict[str, Any]:
    """The ``TF_CONFIG`` of worker ``index``; worker 0 is the chief."""
    if not 0 <= index < len(addresses):
        raise ValueError(f"worker index {index} is outside 0..{len(addresses) - 1}")
    return {
        "cluster": {"worker": list(addresses)},
        "task": {"type": "worker", "index": index},
    }


def labels(model: str, job: str) -> dict[str, str]:
    return {LABEL_MANAGED_BY: "leptonci", LABEL_MODEL: model, LABEL_JOB: job}


def _resources(train: KubernetesTraining) -> dict[str, Any]:
    amounts: dict[str, str] = {}
    if train.resources.cpu:
        amounts["cpu"] = train.resources.cpu
    if train.resources.memory:
        amounts["memory"] = train.resources.memory
    out: dict[str, Any] = {}
    if amounts:  # requests equal limits: the scheduler reserves what the worker may use
        out = {"requests": dict(amounts), "limits": dict(amounts)}
    if train.resources.gpu:
        out.setdefault("limits", {})["nvidia.com/gpu"] = train.resources.gpu
    return out


def _env(pairs: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in pairs.items()]


def job_manifest(
    train: KubernetesTraining,
    *,
    name: str,
    model: str,
    content_hash: str,
    image: str,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """The batch/v1 Job: plain for one worker, Indexed (with a Service) for several."""
    n = train.workers
    env = dict(env)
    if n > 1:
        env[ENV_WORKERS] = ",".join(worker_addresses(name, n))
    if train.registry_secret:
        env["DOCKER_CONFIG"] = REGISTRY_AUTH_DIR
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "command": list(WORKER_COMMAND),
        "env": _env(env),
        # The worker writes its one-line error there; without it, the log's last lines.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    resources = _resources(train)
    if resources:
        container["resources"] = resources
    if n > 1:
        container["ports"] = [{"name": "tf", "containerPort": TF_PORT}]
    pod: dict[str, Any] = {
        "restartPolicy": "Never",  # a failed worker is a new pod: podFailurePolicy needs it
        "enableServiceLinks": False,
        "containers": [container],
    }
    if n > 1:
        pod["subdomain"] = name  # hostname JOB-I + subdomain JOB: the DNS name TF_CONFIG uses
    if train.service_account:
        pod["serviceAccountName"] = train.service_account
    if train.node_selector:
        pod["nodeSelector"] = dict(sorted(train.node_selector.items()))
    if train.tolerations:
        pod["tolerations"] = [
            t.model_dump(by_alias=True, exclude_none=True) for t in train.tolerations
        ]
    if train.registry_secret:
        pod["imagePullSecrets"] = [{"name": train.registry_secret}]
        container["volumeMounts"] = [
            {"name": "registry-auth", "mountPath": REGISTRY_AUTH_DIR, "readOnly": True}
        ]
        pod["volumes"] = [
            {
                "name": "registry-auth",
                "secret": {
                    "secretName": train.registry_secret,
                    "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
                },
            }
        ]
    spec: dict[str, Any] = {"completions": n, "parallelism": n}
    if n > 1:
        # Each index retried on its own; the first index past its retries fails the Job.
        spec.update(
            {
                "completionMode": "Indexed",
                "backoffLimitPerIndex": train.retries,
                "maxFailedIndexes": 0,
            }
        )
    else:
        spec["backoffLimit"] = train.retries
    spec.update(
        {
            # A replacement pod starts only once the failed one is gone: TensorFlow refuses
            # a second task with the same index ("Duplicate task registration").
            "podReplacementPolicy": "Failed",
            "activeDeadlineSeconds": train.timeout,
            "ttlSecondsAfterFinished": train.ttl,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": CONTAINER,
                            "operator": "In",
                            "values": [EXIT_BAD_INPUT, EXIT_OOM],
                        },
                    },
                    # Preemption, eviction and node drains do not count as a worker failure.
                    {
                        "action": "Ignore",
                        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                    },
                ]
            },
            "template": {"metadata": {"labels": labels(model, name)}, "spec": pod},
        }
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": train.cluster.namespace,
            "labels": labels(model, name),
            "annotations": {ANNOTATION_HASH: content_hash},
        },
        "spec": spec,
    }


def service_manifest(train: KubernetesTraining, *, name: str, model: str) -> dict[str, Any]:
    """The headless Service that gives each worker of an Indexed Job its DNS name."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": train.cluster.namespace,
            "labels": labels(model, name),
        },
        "spec": {
            "clusterIP": "None",
            # Workers dial each other while starting, before any of them is "ready".
            "publishNotReadyAddresses": True,
            "selector": {LABEL_JOB: name},
            "ports": [{"name": "tf", "port": TF_PORT, "targetPort": TF_PORT}],
        },
    }


def owned_by_job(manifest: Mapping[str, Any], *, job: str, uid: str) -> dict[str, Any]:
    """manifest with an owner reference to the Job: deleted with it (TTL or cleanup)."""
    meta = dict(manifest.get("metadata") or {})
    meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": uid}]
    return {**manifest, "metadata": meta}


# -- progress lines: the chief prints them, the runner follows the chief's log ------------
PROGRESS_PREFIX = "leptonci-progress "


def progress_line(epoch: int, epochs: int | None, logs: Mapping[str, float]) -> str:
    """One finished epoch, as the chief prints it (progress only; never the metrics)."""
    data = {"epoch": epoch, "epochs": epochs, "logs": {k: round(v, 6) for k, v in logs.items()}}
    return PROGRESS_PREFIX + json.dumps(data, sort_keys=True)


def parse_progress_line(line: str) -> tuple[int, int | None, dict[str, float]] | None:
    """(epoch, epochs, logs) from a progress line; None for any other line."""
    start = line.find(PROGRESS_PREFIX)
    if start < 0:
        return None
    try:
        data = json.loads(line[start + len(PROGRESS_PREFIX) :])
        epoch = int(data["epoch"])
        epochs = int(data["epochs"]) if data.get("epochs") is not None else None
        logs = {str(k): float(v) for k, v in (data.get("logs") or {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return epoch, epochs, logs
