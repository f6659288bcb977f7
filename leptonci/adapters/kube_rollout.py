"""Rollout rules: is a Deployment done rolling out the release's digest, failed, or not yet?

Pure functions over the JSON dicts the API returns. ``assess`` gives a verdict or None
(keep watching); ``timed_out`` explains what was still missing when time ran out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

REVISION = "deployment.kubernetes.io/revision"
PULL_REASONS = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
CRASH_REASONS = {"CrashLoopBackOff"}
CONTAINER_REASONS = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of watching one rollout."""

    ok: bool
    reason: str  # verified | timeout | not-found | progress-deadline | crash-loop | image-pull
    #              | container-error | wrong-digest
    detail: str  # one line

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason, "detail": self.detail}


@dataclass
class RolloutState:
    """What the watches have seen so far."""

    deployment: Obj | None = None
    replicasets: dict[str, Obj] = field(default_factory=dict)
    pods: dict[str, Obj] = field(default_factory=dict)


def normalize_digest(digest: str) -> str:
    """'sha256:...' from either a bare digest or an image reference 'name@sha256:...'."""
    digest = digest.strip()
    if "@" in digest:
        digest = digest.rsplit("@", 1)[1]
    return digest


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _containers(pod_spec: Obj) -> list[Obj]:
    return list(pod_spec.get("containers") or [])


def pod_images(pod_spec: Obj) -> list[str]:
    """Every image a pod spec runs: its containers', then its image volumes' references
    (a stock server with the model image mounted as a volume carries the digest there)."""
    return [str(c.get("image", "")) for c in _containers(pod_spec)] + volume_images(pod_spec)


def volume_images(pod_spec: Obj) -> list[str]:
    """The references of a pod spec's image volumes."""
    volumes = pod_spec.get("volumes") or []
    return [
        str(v["image"]["reference"]) for v in volumes if (v.get("image") or {}).get("reference")
    ]


def template_images(deployment: Obj) -> list[str]:
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return pod_images(spec)


def carries_digest(images: list[str], digest: str) -> bool:
    return any(image.endswith("@" + digest) for image in images)


def label_selector(deployment: Obj) -> str:
    """The Deployment's spec.selector as a label-selector query string."""
    selector = (deployment.get("spec") or {}).get("selector") or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def _owned_by(obj: Obj, kind: str, name: str, uid: str | None) -> bool:
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("kind") == kind and (ref.get("uid") == uid if uid else ref.get("name") == name):
            return True
    return False


def new_replicaset(deployment: Obj, replicasets: Mapping[str, Obj]) -> Obj | None:
    """The ReplicaSet of the Deployment's current template (same revision annotation)."""
    meta = _meta(deployment)
    name, uid = str(meta.get("name", "")), meta.get("uid")
    revision = (meta.get("annotations") or {}).get(REVISION)
    owned = [rs for rs in replicasets.values() if _owned_by(rs, "Deployment", name, uid)]
    if revision is not None:
        for rs in owned:
            if (_meta(rs).get("annotations") or {}).get(REVISION) == revision:
                return rs
    images = template_images(deployment)
    for rs in owned:
        rs_spec = ((rs.get("spec") or {}).get("template") or {}).get("spec") or {}
        if pod_images(rs_spec) == images:
            return rs
    return None


def new_pods(state: RolloutState, digest: str) -> list[Obj]:
    """Pods of the new ReplicaSet (by owner or pod-template-hash), else pods running digest."""
    assert state.deployment is not None
    rs = new_replicaset(state.deployment, state.replicasets)
    if rs is not None:
        rs_meta = _meta(rs)
        template_hash = (rs_meta.get("labels") or {}).get("pod-template-hash")
        return [
            pod
            for pod in state.pods.values()
            if _owned_by(pod, "ReplicaSet", str(rs_meta.get("name", "")), rs_meta.get("uid"))
            or (
                template_hash
                and (_meta(pod).get("labels") or {}).get("pod-template-hash") == template_hash
            )
        ]
    return [
        pod
        for pod in state.pods.values()
        if carries_digest(pod_images(pod.get("spec") or {}), digest)
    ]


def _pod_failure(pod: Obj) -> tuple[str, str] | None:
    status = pod.get("status") or {}
    statuses = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    for cs in statuses:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason") or "")
        if reason in CRASH_REASONS:
            code = "crash-loop"
        elif reason in PULL_REASONS:
            code = "image-pull"
        elif reason in CONTAINER_REASONS:
            code = "container-error"
        else:
            continue
        restarts = cs.get("restartCount")
        message = str(waiting.get("message") or "").splitlines()
        detail = f"pod {_meta(pod).get('name')} container {cs.get('name')}: {reason}"
        if code == "crash-loop" and restarts:
            detail += f" ({restarts} restarts)"
        if message and message[0]:
            detail += f": {message[0][:200]}"
        return code, detail
    return None


def _condition(deployment: Obj, kind: str) -> Obj | None:
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def _counts(deployment: Obj) -> dict[str, int]:
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    replicas = spec.get("replicas")
    return {
        "desired": 1 if replicas is None else int(replicas),
        "total": int(status.get("replicas") or 0),
        "updated": int(status.get("updatedReplicas") or 0),
        "ready": int(status.get("readyReplicas") or 0),
        "available": int(status.get("availableReplicas") or 0),
        "generation": int(_meta(deployment).get("generation") or 0),
        "observed": int(status.get("observedGeneration") or 0),
    }


def workload_label(state: RolloutState, name: str) -> str:
    namespace = _meta(state.deployment or {}).get("namespace")
    return f"deployment/{name}" + (f" in {namespace}" if namespace else "")


def assess(state: RolloutState, *, name: str, digest: str) -> VerifyResult | None:
    """A verdict once the rollout of digest is complete or has failed; None while pending.

    A template without the digest is "not yet" (a GitOps controller may still sync it);
    failure signals count only once the template carries the digest, so an older
    rollout's stall is never blamed on this release.
    """
    deployment = state.deployment
    if deployment is None or not carries_digest(template_images(deployment), digest):
        return None
    c = _counts(deployment)
    if c["observed"] < c["generation"]:
        # The controller has not seen this template yet: conditions and pods may still
        # describe the previous rollout (after a rollback, the bad one's crashing pods).
        return None
    label = workload_label(state, name)
    progressing = _condition(deployment, "Progressing")
    if (
        progressing is not None
        and progressing.get("status") == "False"
        and progressing.get("reason") == "ProgressDeadlineExceeded"
    ):
        message = str(progressing.get("message") or "progress deadline exceeded").splitlines()[0]
        return VerifyResult(False, "progress-deadline", f"{label}: {message}")
    for pod in new_pods(state, digest):
        failure = _pod_failure(pod)
        if failure is not None:
            return VerifyResult(False, failure[0], f"{label}: {failure[1]}")
    want = c["desired"]
    if not (c["updated"] == c["ready"] == c["available"] == want) or c["total"] > c["updated"]:
        return None
    return VerifyResult(True, "verified", f"{label}: {want}/{want} replicas ready on {digest}")


def timed_out(state: RolloutState, *, name: str, digest: str, timeout: float) -> VerifyResult:
    """The failure to report when time ran out, naming what was still missing."""
    deployment = state.deployment
    label = workload_label(state, name)
    if deployment is None:
        return VerifyResult(False, "not-found", f"{label} not found after {timeout:g}s")
    images = template_images(deployment)
    if not carries_digest(images, digest):
        running = ", ".join(images) or "no image"
        return VerifyResult(
            False,
            "wrong-digest",
            f"{label} runs {running}, expected {digest} (waited {timeout:g}s)",
        )
    c = _counts(deployment)
    progress = (
        f"{c['updated']}/{c['desired']} updated, {c['ready']} ready, {c['available']} available"
    )
    if c["total"] > c["updated"]:
        progress += f", {c['total'] - c['updated']} old pending termination"
    if c["observed"] < c["generation"]:
        progress += f", generation {c['generation']} not yet observed"
    return VerifyResult(False, "timeout", f"{label} not ready after {timeout:g}s: {progress}")
