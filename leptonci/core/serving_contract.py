"""The serving contract: do an environment's rendered manifests serve the model as its
``serving:`` shape says? Pure: rendered objects in, findings out.

- ``volume``: a workload has an image volume (``serving.volume``) whose reference is the
  model image, and its server container (``serving.container``) mounts it at
  ``model_base_path/MODEL``, where TF Serving looks; the server is not the model image.
- ``bake``: the server container runs the model image (baked onto the serving base).
- ``kserve``: an InferenceService's ``storageUri`` is ``oci://`` the model image.

Every place checked is one the manifest editor pins (``leptonci/manifests/workloads.py``).
The cluster's side (are image volumes there at all?) is ``image_volume_problem``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from leptonci.core.imageref import split_ref
from leptonci.core.serving_config import (
    IMAGE_VOLUMES_SINCE,
    BakeServing,
    KServeServing,
    VolumeServing,
)

Obj = Mapping[str, Any]
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Rollout": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}


@dataclass(frozen=True)
class Served:
    """Where the contract holds: the object and the field that carries the model image."""

    where: str  # "Deployment/digits-serving"
    field: str  # "volume model at /models/digits"


@dataclass(frozen=True)
class Problem:
    """One way the rendered manifests break the contract: on an object, at a field path
    in it (so the caller can point at the source line), or on none (nothing matched)."""

    text: str
    obj: str | None = None  # "Deployment/digits-serving"
    path: tuple[str | int, ...] = ()  # ("spec", "template", "spec", "containers", 0)

    def __str__(self) -> str:
        return self.text


def check_serving(
    shape: VolumeServing | BakeServing | KServeServing,
    objects: Iterable[Obj],
    *,
    model: str,
    names: Iterable[str],
    model_base_path: str = "/models",
) -> tuple[Served | None, list[Problem]]:
    """(where the model is served, or None; the problems found)."""
    names = frozenset(names)
    objects = list(objects)
    image = " or ".join(sorted(names))
    if isinstance(shape, KServeServing):
        for kind_name, uri in _storage_uris(objects, shape.inference_service):
            if _repository(uri.removeprefix("oci://")) in names:
                return Served(kind_name, f"storageUri {uri}"), []
        which = (
            f"InferenceService/{shape.inference_service}"
            if shape.inference_service
            else ("no InferenceService")
        )
        return None, [Problem(f"shape kserve: {which} has storageUri oci://{image}")]
    mount_path = f"{model_base_path.rstrip('/')}/{model}"
    problems: list[Problem] = []
    for kind_name, pod_path, pod_spec in _pod_specs(objects):
        index, container = _container(pod_spec, shape.container)
        if isinstance(shape, BakeServing):
            if container is not None and _repository(str(container.get("image", ""))) in names:
                return Served(kind_name, f"container {shape.container}"), []
            continue
        volume = _image_volume(pod_spec, shape.volume)
        if volume is None or _repository(volume) not in names:
            continue
        if container is None:
            problems.append(
                Problem(
                    f"{kind_name}: no container {shape.container!r} mounts the model",
                    kind_name,
                    (*pod_path, "containers"),
                )
            )
            continue
        at: tuple[str | int, ...] = (*pod_path, "containers", index)
        if _repository(str(container.get("image", ""))) in names:
            problems.append(
                Problem(
                    f"{kind_name}: container {shape.container!r} runs the model-only image "
                    "itself (it has no server): run a serving image and mount the model",
                    kind_name,
                    (*at, "image"),
                )
            )
        mounts = [
            m for m in _mappings(container.get("volumeMounts")) if m.get("name") == shape.volume
        ]
        paths = [str(m.get("mountPath", "")).rstrip("/") for m in mounts]
        if mount_path not in paths:
            found = ", ".join(paths) if paths else "nowhere"
            problems.append(
                Problem(
                    f"{kind_name}: container {shape.container!r} mounts volume {shape.volume!r} "
                    f"at {found}; TF Serving reads {mount_path} (model_base_path/MODEL)",
                    kind_name,
                    (*at, "volumeMounts"),
                )
            )
        if problems:
            return None, problems
        return Served(kind_name, f"image volume {shape.volume} at {mount_path}"), []
    if problems:  # a workload mounts the model volume, but not into the server container
        return None, problems
    if isinstance(shape, BakeServing):
        return None, [Problem(f"shape bake: no container {shape.container!r} runs {image}")]
    return None, [Problem(f"shape volume: no image volume {shape.volume!r} has reference {image}")]


def image_volume_problem(
    shape: VolumeServing | BakeServing | KServeServing, version: tuple[int, int]
) -> str | None:
    """Why a cluster at Kubernetes ``version`` cannot run ``shape``, or None."""
    if not isinstance(shape, VolumeServing) or version >= IMAGE_VOLUMES_SINCE:
        return None
    since = ".".join(map(str, IMAGE_VOLUMES_SINCE))
    return (
        f"the cluster runs Kubernetes {version[0]}.{version[1]}: image volumes are on by "
        f"default from {since}; use serving shape bake (docs/serving.md)"
    )


def parse_version(major: str, minor: str) -> tuple[int, int] | None:
    """(1, 35) from the API server's /version major and minor ("1", "35+"), or None."""
    digits = "".join(ch for ch in minor if ch.isdigit())
    if not major.isdigit() or not digits:
        return None
    return int(major), int(digits)


def _repository(ref: str) -> str:
    return split_ref(ref)[0]


def _pod_specs(objects: Iterable[Obj]) -> Iterator[tuple[str, tuple[str, ...], Obj]]:
    for obj in objects:
        kind = str(obj.get("kind", ""))
        if kind not in POD_SPEC_PATHS:
            continue
        node: Any = obj
        for key in POD_SPEC_PATHS[kind]:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping):
            yield f"{kind}/{_name(obj)}", POD_SPEC_PATHS[kind], node


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def _mappings(items: Any) -> list[Obj]:
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def _container(pod_spec: Obj, name: str) -> tuple[int, Obj | None]:
    containers = pod_spec.get("containers")
    for index, container in enumerate(containers if isinstance(containers, list) else []):
        if isinstance(container, Mapping) and container.get("name") == name:
            return index, container
    return 0, None


def _image_volume(pod_spec: Obj, name: str) -> str | None:
    for volume in pod_spec.get("volumes") or []:
        if isinstance(volume, Mapping) and volume.get("name") == name:
            reference = (volume.get("image") or {}).get("reference")
            return str(reference) if reference else None
    return None


def _storage_uris(objects: Iterable[Obj], wanted: str | None) -> Iterator[tuple[str, str]]:
    for obj in objects:
        if obj.get("kind") != "InferenceService" or (wanted and _name(obj) != wanted):
            continue
        predictor = (obj.get("spec") or {}).get("predictor") or {}
        for runtime in predictor.values():
            uri = runtime.get("storageUri") if isinstance(runtime, Mapping) else None
            if isinstance(uri, str) and uri.startswith("oci://"):
                yield f"InferenceService/{_name(obj)}", uri
