"""``image:`` fields of workloads and of KServe InferenceServices.

Workloads: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod and Argo
Rollout (containers, initContainers, ephemeralContainers). An InferenceService: its
components' containers, and the ``image`` and ``oci://`` ``storageUri`` of each model
runtime. A field matches a target by the name part of its value (tag and digest ignored).
"""

from __future__ import annotations

from collections.abc import Iterator

from leptonci.manifests.nodes import Mapping, Node, Scalar, Sequence, get, get_path, text_of

WORKLOAD_POD_SPEC: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Rollout": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
KSERVE_COMPONENTS = ("predictor", "transformer", "explainer")


def image_fields(doc: Node | None) -> Iterator[tuple[Scalar, str]]:
    """(scalar, scheme prefix) of every image reference a workload document holds."""
    kind = text_of(get(doc, "kind"))
    if kind in WORKLOAD_POD_SPEC:
        for image in _containers(get_path(doc, WORKLOAD_POD_SPEC[kind])):
            yield image, ""
    elif kind == "InferenceService":
        for name in KSERVE_COMPONENTS:
            component = get_path(doc, ("spec", name))
            for image in _containers(component):
                yield image, ""
            if not isinstance(component, Mapping):
                continue
            for _, runtime in component.pairs:  # model:, tensorflow:, sklearn:, ...
                runtime_image = get(runtime, "image")
                if isinstance(runtime_image, Scalar) and not runtime_image.empty:
                    yield runtime_image, ""
                uri = get(runtime, "storageUri")
                if isinstance(uri, Scalar) and uri.value.startswith("oci://"):
                    yield uri, "oci://"


def _containers(pod_spec: Node | None) -> Iterator[Scalar]:
    for list_key in CONTAINER_LISTS:
        containers = get(pod_spec, list_key)
        if isinstance(containers, Sequence):
            for container in containers.items:
                image = get(container, "image")
                if isinstance(image, Scalar) and not image.empty:
                    yield image
