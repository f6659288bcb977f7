"""Training Job rules: has a Job completed, failed, or not yet? Which pod is to blame?

Pure functions over the JSON dicts the API returns, like ``kube_rollout`` for
Deployments. ``assess`` gives a verdict or None (keep watching). Pod signals come
first, because they are faster than the Job's own conditions and name the pod: a pod
that cannot pull its image waits forever, so that is a failure at once; an OOM kill or a
worker's "bad input" exit ends the Job through its pod failure policy anyway. Then the
Job's conditions: Complete, or Failed with the controller's reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leptonci.adapters.kube_rollout import CONTAINER_REASONS, PULL_REASONS
from leptonci.core.train_job import CONTAINER, EXIT_BAD_INPUT, EXIT_OOM, INDEX_LABEL

Obj = Mapping[str, Any]
_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


@dataclass(frozen=True)
class JobVerdict:
    """How a training Job ended."""

    ok: bool
    reason: str  # complete | image-pull | container-error | oom | bad-input | deadline
    #              | worker-failed | deleted | failed | timeout
    detail: str  # one line, naming the pod where one is to blame
    pod: str | None = None


@dataclass
class JobState:
    """What the watches have seen of one Job and its pods."""

    job: Obj | None = None
    seen: bool = False  # the Job was there once: its absence now means it was deleted
    deleted: bool = False
    pods: dict[str, Obj] = field(default_factory=dict)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def pod_name(pod: Obj) -> str:
    return str(_meta(pod).get("name", "?"))


def pod_index(pod: Obj) -> int:
    """The worker index of a pod (0 for the one pod of a plain Job)."""
    meta = _meta(pod)
    value = (meta.get("labels") or {}).get(INDEX_LABEL) or (meta.get("annotations") or {}).get(
        _INDEX_ANNOTATION
    )
    try:
        return int(value) if value is not None else 0
    except ValueError:
        return 0


def _indexed(state: JobState) -> bool:
    spec = (state.job or {}).get("spec") or {}
    return spec.get("completionMode") == "Indexed"


def who(state: JobState, pod: Obj) -> str:
    """ "pod NAME (worker I)", or "pod NAME" for the one pod of a plain Job."""
    if _indexed(state):
        return f"pod {pod_name(pod)} (worker {pod_index(pod)})"
    return f"pod {pod_name(pod)}"


def _statuses(pod: Obj) -> list[Obj]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _worker_status(pod: Obj) -> Obj:
    for cs in _statuses(pod):
        if cs.get("name") == CONTAINER:
            return cs
    statuses = _statuses(pod)
    return statuses[0] if statuses else {}


def terminated(pod: Obj) -> Obj | None:
    state = _worker_status(pod).get("state") or {}
    return state.get("terminated") or None


def _last_line(text: object, limit: int = 300) -> str:
    lines = [line.strip() for line in str(text or "").strip().splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def _memory_limit(pod: Obj) -> str:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == CONTAINER:
            limits = (container.get("resources") or {}).get("limits") or {}
            return str(limits.get("memory") or "")
    return ""


def _image(pod: Obj) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    return str(containers[0].get("image", "")) if containers else ""


def exit_text(pod: Obj) -> str:
    """ "exit 1: <the worker's last line>" of a terminated pod."""
    done = terminated(pod) or {}
    text = f"exit {done.get('exitCode')}"
    if done.get("reason") and done.get("reason") not in ("Error", "Completed"):
        text += f" ({done['reason']})"
    message = _last_line(done.get("message"))
    return f"{text}: {message}" if message else text


def pod_failure(state: JobState, pod: Obj) -> JobVerdict | None:
    """A failure this one pod shows that ends the training now."""
    cs = _worker_status(pod)
    waiting = (cs.get("state") or {}).get("waiting") or {}
    reason = str(waiting.get("reason") or "")
    message = _last_line(waiting.get("message"))
    name = pod_name(pod)
    if reason in PULL_REASONS:
        detail = f"{who(state, pod)} cannot pull the training image {_image(pod)}: {reason}"
        return JobVerdict(False, "image-pull", detail + (f": {message}" if message else ""), name)
    if reason in CONTAINER_REASONS:
        detail = f"{who(state, pod)} cannot start its container: {reason}"
        return JobVerdict(
            False, "container-error", detail + (f": {message}" if message else ""), name
        )
    done = terminated(pod)
    if done is None:
        return None
    code = done.get("exitCode")
    if done.get("reason") == "OOMKilled" or code == EXIT_OOM:
        limit = _memory_limit(pod)
        at = f" at its memory limit of {limit}" if limit else ""
        return JobVerdict(
            False,
            "oom",
            f"{who(state, pod)} was killed for running out of memory{at} (OOMKilled, exit 137)",
            name,
        )
    if code == EXIT_BAD_INPUT:
        return JobVerdict(False, "bad-input", f"{who(state, pod)} stopped: {exit_text(pod)}", name)
    return None


def _condition(job: Obj, kind: str) -> Obj | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def _failed_pods(state: JobState) -> dict[int, list[Obj]]:
    out: dict[int, list[Obj]] = {}
    for pod in state.pods.values():
        if (pod.get("status") or {}).get("phase") == "Failed" or (
            terminated(pod) and (terminated(pod) or {}).get("exitCode") not in (0, None)
        ):
            out.setdefault(pod_index(pod), []).append(pod)
    for pods in out.values():
        pods.sort(key=lambda p: str(_meta(p).get("creationTimestamp") or "") + pod_name(p))
    return out


def _worker_failed(
    state: JobState, index: int, pods: list[Obj], retries: int, *, exhausted: bool = False
) -> JobVerdict:
    last = pods[-1]
    # The controller gives an index up only after retries + 1 failures, whatever this
    # watch has seen of them yet.
    count = max(len(pods), retries + 1) if exhausted else len(pods)
    times = "once" if count == 1 else f"{count} times"
    subject = f"worker {index}" if _indexed(state) else "the worker"
    return JobVerdict(
        False,
        "worker-failed",
        f"{subject} failed {times} (train.retries: {retries}); last: {who(state, last)} "
        f"{exit_text(last)}",
        pod_name(last),
    )


def assess(
    state: JobState, *, name: str, namespace: str, retries: int, timeout: int
) -> JobVerdict | None:
    """The Job's verdict once it has completed or failed; None while it runs."""
    label = f"job/{name} in {namespace}"
    if state.deleted:
        return JobVerdict(False, "deleted", f"{label} was deleted while it trained")
    job = state.job
    if job is None:
        return None
    for pod_key in sorted(state.pods):
        verdict = pod_failure(state, state.pods[pod_key])
        if verdict is not None:
            return verdict
    if _condition(job, "Complete") is not None:
        return JobVerdict(True, "complete", f"{label} completed")
    failed = _condition(job, "Failed") or _condition(job, "FailureTarget")
    failed_pods = _failed_pods(state)
    if failed is not None:
        reason = str(failed.get("reason") or "")
        if reason == "DeadlineExceeded":
            return JobVerdict(
                False, "deadline", f"{label} passed its deadline of {timeout} s (train.timeout)"
            )
        given_up = reason in ("FailedIndexes", "BackoffLimitExceeded")
        failed_indexes = _indexes((job.get("status") or {}).get("failedIndexes"))
        for index, pods in sorted(
            failed_pods.items(), key=lambda item: (item[0] not in failed_indexes, item[0])
        ):
            return _worker_failed(state, index, pods, retries, exhausted=given_up)
        message = _last_line(failed.get("message")) or "no message"
        return JobVerdict(False, "failed", f"{label} failed: {reason or 'Failed'}: {message}")
    for index, pods in sorted(failed_pods.items()):
        if len(pods) > retries:
            return _worker_failed(state, index, pods, retries)
    return None


def _indexes(text: object) -> set[int]:
    """The indexes in a Job's ``status.failedIndexes`` ("1,3-5")."""
    out: set[int] = set()
    for part in str(text or "").split(","):
        first, _, last = part.strip().partition("-")
        if first.isdigit():
            out.update(range(int(first), int(last if last.isdigit() else first) + 1))
    return out


def chief(state: JobState) -> Obj | None:
    """The newest pod of worker 0 that has started (its log shows the progress)."""
    pods = [
        p
        for p in state.pods.values()
        if pod_index(p) == 0 and (p.get("status") or {}).get("phase") in ("Running", "Succeeded")
    ]
    pods.sort(key=lambda p: str(_meta(p).get("creationTimestamp") or "") + pod_name(p))
    return pods[-1] if pods else None


def waiting_notes(state: JobState) -> list[str]:
    """Why pods have not started yet, where the API says (unschedulable): for people."""
    notes = []
    for pod in sorted(state.pods.values(), key=pod_name):
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                message = _last_line(cond.get("message")) or cond.get("reason") or "pending"
                notes.append(f"{who(state, pod)} is not scheduled yet: {message}")
    return notes
