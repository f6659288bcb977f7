"""The Kubernetes API connection: kubeconfig loading, raw JSON requests, bounded retries.

Everything here talks JSON dicts, not the client's generated models: the emulator in
tests and real API servers both answer plain JSON, and dicts keep the rollout rules in
``kube_rollout`` free of the client library. Kubeconfig credentials are registered with
``leptonci.core.redact`` as they are read, so no error text can carry them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from leptonci.adapters.deadline import guard
from leptonci.adapters.http_deadline import watch_pools
from leptonci.adapters.retrying import FailedAttempt, retry_call
from leptonci.core.backoff import Backoff
from leptonci.core.config import ClusterConfig
from leptonci.core.deadlines import Deadlines
from leptonci.core.errors import ClusterError, ConfigError
from leptonci.core.files import read_text
from leptonci.core.redact import excerpt, redact, register_credentials, register_secret
from leptonci.core.yamldoc import load_yaml

if TYPE_CHECKING:  # the client is imported where it is used, to keep `--help` light
    from kubernetes.client import ApiClient
    from urllib3 import BaseHTTPResponse

T = TypeVar("T")
Timeout = float | tuple[float, float | None]  # seconds: total, or (connect, read)
QueryValue = str | int | None  # a None value leaves the parameter out

# plain requests take (connect, read) from the client's deadlines; watches set their
# own read timeout (the stream is long-lived), but wait at most that long for headers
REQUEST_TIMEOUT = (5.0, 30.0)  # what an ApiClient built elsewhere is held to
_SECRET_KEYS = (
    "token",
    "password",
    "client-key-data",
    "access-token",
    "id-token",
    "refresh-token",
    "client-secret",
)


@dataclass(frozen=True)
class RetryPolicy(Backoff):
    """Bounded backoff for API 5xx, 429 and transport errors."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0


class ApiError(ClusterError):
    """One failed API request: an answer (status, reason, the Status message) or no
    answer at all (status 0). Retryable for 5xx, 429 and no answer; ``with_retries``
    turns it into the ClusterError callers see, which names what was being done."""

    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(redact(f"{status} {reason}: {detail}"))
        self.status = status
        self.reason = reason
        self.detail = detail
        self.retryable = status == 0 or status == 429 or status >= 500


# -- loading -------------------------------------------------------------------------


def kubeconfig_paths(
    cluster: ClusterConfig, *, env: Mapping[str, str], root: Path | None
) -> list[Path]:
    """The kubeconfig files to read: the configured one, else $KUBECONFIG, else ~/.kube/config."""
    if cluster.kubeconfig:
        path = Path(os.path.expanduser(cluster.kubeconfig))
        if not path.is_absolute() and root is not None:
            path = root / path
        return [path]
    value = env.get("KUBECONFIG", "")
    if value:
        return [Path(os.path.expanduser(p)) for p in value.split(os.pathsep) if p]
    return [Path(os.path.expanduser("~/.kube/config"))]


def register_kubeconfig_secrets(text: str, *, file: str = "kubeconfig") -> None:
    """Register every credential found in a kubeconfig document with the redactor.

    Parsed as every YAML file is: aliases bounded (the walk below follows each one), a
    file that is not YAML a ConfigError naming its line.
    """
    data = load_yaml(text, file=file, typ="safe")
    if not isinstance(data, dict):
        return
    for entry in data.get("users") or []:
        user = (entry or {}).get("user") or {}
        _register_values(user)


def _register_values(node: object) -> None:
    if isinstance(node, Mapping):
        username, password = node.get("username"), node.get("password")
        if isinstance(username, str) and isinstance(password, str):
            register_credentials(username, password)  # basic auth sends base64 of the pair
        for key, value in node.items():
            if isinstance(value, str) and str(key).lower() in _SECRET_KEYS:
                register_secret(value)
            elif str(key) == "env" and isinstance(value, list):  # exec plugin env values
                for item in value:
                    if isinstance(item, Mapping):
                        register_secret(str(item.get("value", "")))
            else:
                _register_values(value)
    elif isinstance(node, list):
        for item in node:
            _register_values(item)


def hold_to(api: ApiClient, deadlines: Deadlines) -> ApiClient:
    """Hold every request api sends to deadlines: cut when its answer overstays."""
    watch_pools(api.rest_client.pool_manager)
    api.leptonci_deadlines = deadlines  # type: ignore[attr-defined]
    return api


def deadlines_of(api: ApiClient) -> Deadlines:
    found = getattr(api, "leptonci_deadlines", None)
    if isinstance(found, Deadlines):
        return found
    return Deadlines(connect=REQUEST_TIMEOUT[0], read=REQUEST_TIMEOUT[1])


def load_api_client(
    cluster: ClusterConfig,
    *,
    env: Mapping[str, str] | None = None,
    root: Path | None = None,
    deadlines: Deadlines | None = None,
) -> ApiClient:
    """A ``kubernetes.client.ApiClient`` for the cluster's kubeconfig and context.

    Falls back to the in-cluster service account when no kubeconfig file exists and
    the process runs in a pod.
    """
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    env = os.environ if env is None else env
    paths = [p for p in kubeconfig_paths(cluster, env=env, root=root) if p.is_file()]
    if not paths:
        if env.get("KUBERNETES_SERVICE_HOST") and not cluster.kubeconfig:
            config.load_incluster_config()
            api = client.ApiClient()
            _register_client_secrets(api)
            return hold_to(api, deadlines or Deadlines())
        wanted = ", ".join(str(p) for p in kubeconfig_paths(cluster, env=env, root=root))
        raise ConfigError(
            f"no kubeconfig at {wanted}",
            hint="set environments[].cluster.kubeconfig or $KUBECONFIG (see docs/clusters.md)",
        )
    for path in paths:
        try:
            register_kubeconfig_secrets(read_text(path), file=str(path))
        except OSError:
            pass
    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=os.pathsep.join(str(p) for p in paths),
            context=cluster.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, ValueError, OSError) as exc:
        where = f"context {cluster.context!r}" if cluster.context else "the current context"
        raise ConfigError(
            f"cannot load kubeconfig {paths[0]} ({where}): {redact(str(exc).splitlines()[0])}",
            hint="check the file and the context name (kubectl config get-contexts)",
        ) from None
    api = client.ApiClient(configuration)
    _register_client_secrets(api)
    return hold_to(api, deadlines or Deadlines())


def _register_client_secrets(api: ApiClient) -> None:
    conf = api.configuration
    for value in (getattr(conf, "api_key", None) or {}).values():
        register_secret(str(value).removeprefix("Bearer ").strip())
    register_credentials(getattr(conf, "username", None), getattr(conf, "password", None))


def api_client_for_host(
    host: str, *, token: str | None = None, deadlines: Deadlines | None = None
) -> ApiClient:
    """An ApiClient for a plain URL (tests, port-forwards); the token is registered secret."""
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = host.rstrip("/")
    if token:
        register_secret(token)
        configuration.api_key = {"authorization": f"Bearer {token}"}
    api = client.ApiClient(configuration)
    return api if deadlines is None else hold_to(api, deadlines)


# -- requests ------------------------------------------------------------------------


def open_request(
    api: ApiClient,
    method: str,
    path: str,
    *,
    query: Iterable[tuple[str, QueryValue]] = (),
    body: object = None,
    content_type: str | None = None,
    timeout: Timeout | None = REQUEST_TIMEOUT,
    accept: str = "application/json",
) -> BaseHTTPResponse:
    """Send one request; return the urllib3 response unread, or raise ApiError.

    The answer's headers (and an error's body) must come within the client's deadlines
    (``connect + read``: the guard cuts a request that hangs or trickles), and a plain
    request's socket reads are held to them too. A timeout of None (or a read timeout of
    None) then waits as long as the stream lasts: for following a log, which the caller
    ends by closing the response."""
    deadlines = deadlines_of(api)
    if timeout == REQUEST_TIMEOUT:
        timeout = deadlines.small
    with guard(deadlines.connect + deadlines.read) as armed:
        try:
            return _open(api, method, path, query, body, content_type, timeout, accept)
        except ApiError as exc:
            if armed.fired and exc.status == 0:
                raise ApiError(0, "Timeout", f"no answer within {armed.seconds:g}s") from None
            raise


def _open(
    api: ApiClient,
    method: str,
    path: str,
    query: Iterable[tuple[str, QueryValue]],
    body: object,
    content_type: str | None,
    timeout: Timeout | None,
    accept: str,
) -> BaseHTTPResponse:
    from kubernetes.client.exceptions import ApiException

    headers = {"Accept": accept}
    if content_type:
        headers["Content-Type"] = content_type
    request = api.param_serialize(
        method,
        path,
        query_params=[(k, v) for k, v in query if v is not None],
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    try:
        response = api.call_api(*request, _request_timeout=timeout)
    except ApiException as exc:
        raise ApiError(int(exc.status or 0), str(exc.reason or "error"), "") from None
    except Exception as exc:  # transport: urllib3 errors, resets, timeouts
        if _is_transport_error(exc):
            raise ApiError(0, type(exc).__name__, _first_line(exc)) from None
        raise
    raw: BaseHTTPResponse = response.response  # the client's RESTResponse wraps urllib3's
    if not 200 <= raw.status <= 299:
        data = raw.data
        raise ApiError(raw.status, str(raw.reason or ""), _status_message(data))
    return raw


def request_json(
    api: ApiClient,
    method: str,
    path: str,
    *,
    query: Iterable[tuple[str, QueryValue]] = (),
    body: object = None,
    content_type: str | None = None,
) -> dict[str, Any]:
    """Send one request and return its JSON object, or raise ApiError (the whole answer
    within the client's deadlines)."""
    deadlines = deadlines_of(api)
    with guard(deadlines.connect + deadlines.read) as armed:
        raw = open_request(api, method, path, query=query, body=body, content_type=content_type)
        try:
            text = raw.data or b"{}"
        except Exception as exc:  # the body cut off or broken: no answer
            if not _is_transport_error(exc):
                raise
            detail = f"no answer within {armed.seconds:g}s" if armed.fired else _first_line(exc)
            raise ApiError(0, "Timeout" if armed.fired else type(exc).__name__, detail) from None
    try:
        data = json.loads(text)
    except ValueError:
        raise ApiError(0, "BadResponse", f"{method} {path} did not return JSON") from None
    return data if isinstance(data, dict) else {}


def with_retries(
    call: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], object] = time.sleep,
    api: ApiClient | None = None,
    before_retry: Callable[[FailedAttempt], None] | None = None,
) -> T:
    """Run call, retrying retryable API failures with backoff for at most ``deadline``
    seconds (``api``'s ``give_up``, when given); an ApiError that is not retryable, or the
    last one, becomes a ClusterError saying what was being done."""

    def gave_up(last: Exception, tries: int) -> Exception:
        return cluster_error(what, last, attempts=tries) if isinstance(last, ApiError) else last

    try:
        return retry_call(
            call,
            what=what,
            schedule=policy or RetryPolicy(),
            give_up=gave_up,
            sleep=sleep,
            deadline=None if api is None else deadlines_of(api).give_up,
            before_retry=before_retry,
        )
    except ApiError as exc:
        raise cluster_error(what, exc) from None


def cluster_error(what: str, exc: ApiError, *, attempts: int = 1) -> ClusterError:
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    detail = f"{exc.status} {exc.reason}".strip() if exc.status else exc.reason
    if exc.detail:
        detail += f": {exc.detail}"
    hint = "check the cluster's API server and retry"
    if exc.status in (401, 403):
        hint = "check the kubeconfig credentials and the RBAC Role (docs/clusters.md)"
    elif exc.status == 404:
        hint = "check the namespace and the resource kind"
    return ClusterError(redact(f"{what} failed{tries}: {detail}"), hint=hint)


def _is_transport_error(exc: Exception) -> bool:
    import urllib3

    return isinstance(exc, (urllib3.exceptions.HTTPError, OSError))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return excerpt(text[0]) if text else ""


def _status_message(data: bytes | None) -> str:
    try:
        status = json.loads(data or b"")
    except ValueError:
        return ""
    # a Kubernetes Status, or (through the service proxy) TF Serving's {"error": "..."}
    if isinstance(status, dict) and (status.get("message") or status.get("error")):
        return excerpt(str(status.get("message") or status["error"]).splitlines()[0], 300)
    return ""
