"""``image:`` fields of workloads and of KServe InferenceServices, and image volumes.

Workloads: Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod and Argo
Rollout (containers, initContainers, ephemeralContainers, and the ``image.reference`` of
image volumes). An InferenceService: its components' containers, and the ``image`` and
``oci://`` ``storageUri`` of each model runtime. A field matches a target by the name
part of its value (tag and digest ignored).

Kustomize's ``images:`` transformer rewrites container images only: it leaves image
volume references and storage URIs alone (checked with kustomize 5.5), so those are
"direct" fields the editor writes itself, in whichever file of the overlay holds them
(a strategic-merge patch, usually).
"""

from __future__ import annotations

from collections.abc import Iterator

from leptonci.core.serving_contract import POD_SPEC_PATHS
from leptonci.manifests.nodes import Mapping, Node, Scalar, Sequence, get, get_path, text_of

WORKLOAD_POD_SPEC = POD_SPEC_PATHS  # kinds with a pod template, and where it is
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
KSERVE_COMPONENTS = ("predictor", "transformer", "explainer")


def image_fields(doc: Node | None) -> Iterator[tuple[Scalar, str]]:
    """(scalar, scheme prefix) of every image reference a workload document holds."""
    for scalar, prefix, _ in located_fields(doc):
        yield scalar, prefix


def located_fields(doc: Node | None) -> Iterator[tuple[Scalar, str, bool]]:
    """(scalar, scheme prefix, whether kustomize's images: reaches it) of each reference."""
    kind = text_of(get(doc, "kind"))
    if kind in WORKLOAD_POD_SPEC:
        pod_spec = get_path(doc, WORKLOAD_POD_SPEC[kind])
        for image in _containers(pod_spec):
            yield image, "", True
        for reference in image_volumes(pod_spec):
            yield reference, "", False
    elif kind == "InferenceService":
        for name in KSERVE_COMPONENTS:
            component = get_path(doc, ("spec", name))
            for image in _containers(component):
                yield image, "", True
            if not isinstance(component, Mapping):
                continue
            for _, runtime in component.pairs:  # model:, tensorflow:, sklearn:, ...
                runtime_image = get(runtime, "image")
                if isinstance(runtime_image, Scalar) and not runtime_image.empty:
                    yield runtime_image, "", True
                uri = get(runtime, "storageUri")
                if isinstance(uri, Scalar) and uri.value.startswith("oci://"):
                    yield uri, "oci://", False


def _containers(pod_spec: Node | None) -> Iterator[Scalar]:
    for list_key in CONTAINER_LISTS:
        containers = get(pod_spec, list_key)
        if isinstance(containers, Sequence):
            for container in containers.items:
                image = get(container, "image")
                if isinstance(image, Scalar) and not image.empty:
                    yield image


def image_volumes(pod_spec: Node | None) -> Iterator[Scalar]:
    """The ``image.reference`` of each image volume of a pod spec."""
    volumes = get(pod_spec, "volumes")
    if isinstance(volumes, Sequence):
        for volume in volumes.items:
            reference = get_path(volume, ("image", "reference"))
            if isinstance(reference, Scalar) and not reference.empty:
                yield reference
