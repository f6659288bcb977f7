"""The Kubernetes adapter: verify rollouts, apply overlays directly, read the live image.

The only module family (``kube*.py``) that imports the ``kubernetes`` client, and only
inside functions. ``verify_rollout`` watches (``kube_watch``), the rules live in
``kube_rollout``, connection and retries in ``kube_client``.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leptonci.adapters import kustomize
from leptonci.adapters.kube_client import (
    ApiError,
    RetryPolicy,
    api_client_for_host,
    load_api_client,
    request_json,
    with_retries,
)
from leptonci.adapters.kube_rollout import VerifyResult, normalize_digest, volume_images
from leptonci.adapters.kube_watch import parse_workload, verify_rollout
from leptonci.core.config import ClusterConfig
from leptonci.core.errors import ConfigError
from leptonci.core.kustomization import KUSTOMIZATION_FILES
from leptonci.core.redact import redact

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = [
    "FIELD_MANAGER",
    "RetryPolicy",
    "VerifyResult",
    "api_client_for_host",
    "apply_overlay",
    "live_image",
    "load_api_client",
    "normalize_digest",
    "render_overlay",
    "server_version",
    "verify_rollout",
]

FIELD_MANAGER = "leptonci"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"

# kind -> (plural, namespaced) for what overlays usually hold; others use discovery.
_KINDS: dict[str, tuple[str, bool]] = {
    "ConfigMap": ("configmaps", True),
    "CronJob": ("cronjobs", True),
    "DaemonSet": ("daemonsets", True),
    "Deployment": ("deployments", True),
    "HorizontalPodAutoscaler": ("horizontalpodautoscalers", True),
    "Ingress": ("ingresses", True),
    "Job": ("jobs", True),
    "Namespace": ("namespaces", False),
    "NetworkPolicy": ("networkpolicies", True),
    "PersistentVolumeClaim": ("persistentvolumeclaims", True),
    "PodDisruptionBudget": ("poddisruptionbudgets", True),
    "Role": ("roles", True),
    "RoleBinding": ("rolebindings", True),
    "Secret": ("secrets", True),
    "Service": ("services", True),
    "ServiceAccount": ("serviceaccounts", True),
    "StatefulSet": ("statefulsets", True),
}


def render_overlay(root: Path, env_path: str) -> str:
    """The environment's manifests as kustomize renders them (``kubectl kustomize DIR``)."""
    if kustomize.kustomization_file(root / env_path, label=env_path) is None:
        raise ConfigError(
            f"no kustomization in {env_path} (looked for {', '.join(KUSTOMIZATION_FILES)})",
            hint="check environments[].path",
        )
    return kustomize.render(root, env_path)


def _api_base(api_version: str) -> str:
    return "/api/v1" if api_version == "v1" else f"/apis/{api_version}"


def _resource_for(
    api: ApiClient, api_version: str, kind: str, policy: RetryPolicy
) -> tuple[str, bool]:
    if kind in _KINDS:
        return _KINDS[kind]
    listing = with_retries(
        lambda: request_json(api, "GET", _api_base(api_version)),
        what=f"discovering {api_version}",
        policy=policy,
        api=api,
    )
    for resource in listing.get("resources") or []:
        if resource.get("kind") == kind and "/" not in str(resource.get("name", "")):
            return str(resource["name"]), bool(resource.get("namespaced", True))
    raise ConfigError(
        f"the cluster does not serve {kind} in {api_version}", hint="is its CRD installed?"
    )


def parse_manifests(rendered_yaml: str) -> list[dict[str, Any]]:
    import yaml

    try:
        docs = [d for d in yaml.safe_load_all(rendered_yaml) if d]
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"rendered manifests are not valid YAML: {str(exc).splitlines()[0]}"
        ) from None
    objects: list[dict[str, Any]] = []
    for doc in docs:
        items = doc.get("items") if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
        for obj in items or []:
            if not isinstance(obj, dict) or not obj.get("kind") or not obj.get("apiVersion"):
                raise ConfigError("a rendered manifest lacks apiVersion or kind")
            if not (obj.get("metadata") or {}).get("name"):
                raise ConfigError(f"a rendered {obj['kind']} has no metadata.name")
            objects.append(obj)
    return objects


def apply_overlay(
    cluster: ClusterConfig,
    *,
    rendered_yaml: str,
    api_client: ApiClient | None = None,
    policy: RetryPolicy | None = None,
) -> list[str]:
    """Server-side apply every object (field manager "leptonci", conflicts forced).

    Returns "Kind/namespace/name" (or "Kind/name" when cluster-scoped) for each object,
    in the rendered order. Objects without a namespace go to the cluster's namespace.
    """
    api = api_client if api_client is not None else load_api_client(cluster)
    policy = policy or RetryPolicy()
    applied: list[str] = []
    for obj in parse_manifests(rendered_yaml):
        kind, api_version = str(obj["kind"]), str(obj["apiVersion"])
        meta = dict(obj.get("metadata") or {})
        plural, namespaced = _resource_for(api, api_version, kind, policy)
        name = str(meta["name"])
        if namespaced:
            ns = str(meta.get("namespace") or cluster.namespace)
            meta["namespace"] = ns
            path = f"{_api_base(api_version)}/namespaces/{ns}/{plural}/{name}"
            label = f"{kind}/{ns}/{name}"
        else:
            path = f"{_api_base(api_version)}/{plural}/{name}"
            label = f"{kind}/{name}"
        body = {**obj, "metadata": meta}
        with_retries(
            partial(
                request_json,
                api,
                "PATCH",
                path,
                query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
                body=body,  # JSON is YAML: sent as application/apply-patch+yaml
                content_type=APPLY_CONTENT_TYPE,
            ),
            what=f"server-side apply of {label}",
            policy=policy,
            api=api,
        )
        applied.append(label)
    return applied


def live_image(
    cluster: ClusterConfig,
    api_client: ApiClient | None = None,
    *,
    policy: RetryPolicy | None = None,
) -> str | None:
    """The image the workload's pod template runs, or None if absent: the first image
    volume's reference where there is one (the model mounted into a stock server), else
    the first container's."""
    api = api_client if api_client is not None else load_api_client(cluster)
    _, name = parse_workload(cluster.workload)
    path = f"/apis/apps/v1/namespaces/{cluster.namespace}/deployments/{name}"

    def fetch() -> dict[str, Any] | None:
        try:
            return request_json(api, "GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    deployment = with_retries(
        fetch,
        what=f"reading deployment/{name} in {cluster.namespace}",
        policy=policy,
        api=api,
    )
    if deployment is None:
        return None
    spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = spec.get("containers") or []
    images = volume_images(spec) or [str(c.get("image")) for c in containers]
    return redact(images[0]) if images else None


def server_version(
    cluster: ClusterConfig,
    api_client: ApiClient | None = None,
    *,
    policy: RetryPolicy | None = None,
) -> tuple[str, str]:
    """The API server's (major, minor) as /version reports them (minor may end in "+")."""
    api = api_client if api_client is not None else load_api_client(cluster)
    data = with_retries(
        lambda: request_json(api, "GET", "/version"),
        what="reading the cluster's version",
        policy=policy,
    )
    return str(data.get("major", "")), str(data.get("minor", ""))
