"""TensorFlow Serving's REST predict API, through the Kubernetes service proxy or a URL.

``send_predict`` posts one predict request and returns the decoded JSON answer. A 5xx,
a 429 or no answer is retried with backoff (``kube_client.with_retries``) and then
becomes a ``ClusterError`` (exit 3). A 400 is the model refusing the request (an input
its signature does not have): a ``PredictRefused`` at once, carrying the server's own
error text, which fails verification. Any other 4xx (401/403: RBAC; 404: no such
Service or model name) is a ``ClusterError`` at once: a setup problem, not the
release's fault, so it never rolls a release back, and never passes either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from leptonci.adapters.kube_client import (
    ApiError,
    RetryPolicy,
    cluster_error,
    open_request,
    with_retries,
)
from leptonci.core.errors import ClusterError
from leptonci.core.redact import excerpt, redact

if TYPE_CHECKING:
    from kubernetes.client import ApiClient


class PredictRefused(ClusterError):
    """The model's server answered the predict request with a 400: not worth retrying."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(redact(f"{status}: {detail}" if detail else str(status)))
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Endpoint:
    """Where the predict request goes: a service proxy path on the API server, or a URL."""

    label: str  # for messages: service/NAME:PORT in NS, or the URL
    proxy_path: str = ""  # /api/v1/namespaces/NS/services/NAME:PORT/proxy/v1/models/M:predict
    url: str = ""  # https://host/v1/models/M:predict

    def target(self, api: ApiClient | None) -> str:
        """The full URL, for --dry-run and messages."""
        if self.url:
            return self.url
        host = str(api.configuration.host).rstrip("/") if api is not None else ""
        return host + self.proxy_path


def send_predict(
    endpoint: Endpoint,
    body: dict[str, Any],
    *,
    api: ApiClient | None,
    policy: RetryPolicy,
    timeout: float,
) -> Any:
    """POST body to the endpoint; the decoded JSON answer (retried, then ClusterError)."""

    def once() -> Any:
        try:
            data = _post(endpoint, body, api=api, timeout=timeout)
        except ApiError as exc:
            if exc.status == 400:
                raise PredictRefused(exc.status, exc.detail or exc.reason) from None
            if exc.retryable:
                raise
            raise _setup_error(endpoint, exc) from None
        try:
            return json.loads(data or b"null")
        except ValueError:
            raise ApiError(0, "BadResponse", "the predict answer is not JSON") from None

    return with_retries(once, what=f"the predict request to {endpoint.label}", policy=policy)


def _setup_error(endpoint: Endpoint, exc: ApiError) -> ClusterError:
    what = f"the predict request to {endpoint.label}"
    if exc.status in (401, 403):
        hint = (
            "allow create on services/proxy in the namespace (docs/clusters.md, RBAC), "
            "or set cluster.parity.url"
        )
    else:
        hint = "check cluster.parity.service (NAME:PORT) and models.MODEL.parity.serving_name"
    return ClusterError(cluster_error(what, exc).message, hint=hint)


def _post(
    endpoint: Endpoint, body: dict[str, Any], *, api: ApiClient | None, timeout: float
) -> bytes:
    if not endpoint.url:
        assert api is not None, "a service proxy request needs the cluster's API client"
        raw = open_request(
            api,
            "POST",
            endpoint.proxy_path,
            body=body,
            content_type="application/json",
            timeout=(5.0, timeout),
        )
        return bytes(raw.data or b"")
    try:
        response = requests.post(endpoint.url, json=body, timeout=(5.0, timeout))
    except requests.RequestException as exc:
        raise ApiError(0, type(exc).__name__, excerpt(str(exc))) from None
    if not 200 <= response.status_code <= 299:
        raise ApiError(response.status_code, response.reason or "", _error_text(response.content))
    return response.content


def _error_text(data: bytes) -> str:
    """TF Serving's ``{"error": "..."}`` (or a Kubernetes Status message), one short line."""
    try:
        value = json.loads(data or b"")
    except ValueError:
        return excerpt(data, 300)
    if isinstance(value, dict):
        return excerpt(str(value.get("error") or value.get("message") or ""), 300)
    return ""
