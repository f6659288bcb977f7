"""Watch a rollout to its verdict: list, then watch from the listed resourceVersion.

One thread per resource (the Deployment, its ReplicaSets, its Pods) lists and then
watches, feeding one queue; the caller's thread folds the events into a
``RolloutState`` and asks ``kube_rollout.assess`` after each batch. No sleep loops:
the caller blocks on the queue until an event or the deadline. A dropped stream resumes
from the last resourceVersion; 410 Gone re-lists. Retryable failures back off, bounded;
past the bound the watcher reports an error and the verdict is a ClusterError, never
"verified". A request that hangs is cut by the client's deadlines and retried; when
the verify timeout comes while the API is failing, the outcome is that ClusterError
(exit 3), not a timed-out rollout.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leptonci.adapters.kube_client import (
    ApiError,
    RetryPolicy,
    cluster_error,
    deadlines_of,
    open_request,
    request_json,
    with_retries,
)
from leptonci.adapters.kube_rollout import (
    RolloutState,
    VerifyResult,
    assess,
    label_selector,
    normalize_digest,
    timed_out,
)
from leptonci.adapters.retrying import FailedAttempt
from leptonci.core.config import ClusterConfig
from leptonci.core.errors import ClusterError, ConfigError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient
    from urllib3 import BaseHTTPResponse

WATCH_SECONDS = 240  # server-side watch timeout; the stream then resumes from its version


@dataclass(frozen=True)
class WatchMessage:
    """What a ResourceWatcher puts on its queue: a listing, an event, or its error."""

    kind: str  # the watcher's kind: deployments, replicasets, pods, jobs
    type: str  # SYNC | ADDED | MODIFIED | DELETED | ERROR
    objects: tuple[dict[str, Any], ...] = ()
    error: ClusterError | None = None


class ResourceWatcher(threading.Thread):
    """List then watch one collection, resuming after drops, putting messages on a queue."""

    def __init__(
        self,
        api: ApiClient,
        *,
        kind: str,
        path: str,
        out: queue.Queue[WatchMessage],
        field_selector: str | None = None,
        label_selector: str | None = None,
        policy: RetryPolicy,
        what: str,
    ) -> None:
        super().__init__(name=f"leptonci-watch-{kind}", daemon=True)
        self.api, self.kind, self.path, self.out = api, kind, path, out
        self.selectors = [("fieldSelector", field_selector), ("labelSelector", label_selector)]
        self.policy, self.what = policy, what
        self._stopped = threading.Event()
        self._response: BaseHTTPResponse | None = None
        self.version: str | None = None
        self.connects = 0  # how many watch streams were opened (tests read it)
        self.failing: ClusterError | None = None  # the API's last failure, until it answers

    def stop(self) -> None:
        self._stopped.set()
        response = self._response
        sock = getattr(getattr(response, "connection", None), "sock", None)
        if sock is not None:
            try:  # wake the blocked read at once; closing alone may not
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def run(self) -> None:
        try:
            self._run()
        except ClusterError as exc:
            if not self._stopped.is_set():
                self.out.put(WatchMessage(self.kind, "ERROR", error=exc))

    def _run(self) -> None:
        quiet = 0  # streams in a row that ended with nothing in them
        while not self._stopped.is_set():
            # Failing to (re)connect is retried, bounded; the wait ends early on stop().
            got_events = with_retries(
                self._stream,
                what=f"watching {self.what}",
                policy=self.policy,
                sleep=self._stopped.wait,
                api=self.api,
                before_retry=self._failed,
            )
            if got_events:
                quiet = 0
            elif not self._stopped.is_set():
                # A stream that ends at once with nothing in it: back off, don't spin.
                quiet = min(quiet + 1, self.policy.attempts)
                self._stopped.wait(self.policy.delay(quiet))

    def _failed(self, attempt: FailedAttempt) -> None:
        if isinstance(attempt.error, ApiError):
            self.failing = cluster_error(attempt.what, attempt.error)

    def _stream(self) -> bool:
        """List if needed, then read one watch stream; True if it carried any event."""
        if self._stopped.is_set():
            return False
        if self.version is None:
            self._relist()
        try:
            return self._watch_once()
        except ApiError as exc:
            if self._stopped.is_set():
                return False
            if exc.status == 410:  # our resourceVersion is too old: start over
                self.version = None
                return True
            raise

    def _relist(self) -> None:
        data = with_retries(
            lambda: request_json(self.api, "GET", self.path, query=self.selectors),
            what=f"listing {self.what}",
            policy=self.policy,
            before_retry=self._failed,
            api=self.api,
        )
        self.failing = None
        self.version = str((data.get("metadata") or {}).get("resourceVersion") or "") or None
        items = tuple(item for item in data.get("items") or [] if isinstance(item, dict))
        self.out.put(WatchMessage(self.kind, "SYNC", items))

    def _watch_once(self) -> bool:
        """Read one watch stream to its end; True if it carried any event."""
        from kubernetes.watch.watch import iter_resp_lines

        query = [
            *self.selectors,
            ("watch", "true"),
            ("resourceVersion", self.version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", WATCH_SECONDS),
        ]
        # the headers come within the deadlines (a hung request is cut and retried);
        # then the stream may stay quiet up to the server-side timeout
        connect = deadlines_of(self.api).connect
        response = open_request(
            self.api, "GET", self.path, query=query, timeout=(connect, WATCH_SECONDS + 30.0)
        )
        self.failing = None
        self._response = response
        self.connects += 1
        got = False
        try:
            for line in iter_resp_lines(response):
                if self._stopped.is_set():
                    break
                got = self._handle_line(line) or got
        except Exception as exc:  # a dropped stream: resume from self.version
            import urllib3

            if not isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
                raise
        finally:
            self._response = None
            response.close()  # never reuse a half-read stream's connection
            response.release_conn()
        return got

    def _handle_line(self, line: str) -> bool:
        if not line.strip():
            return False
        try:
            event = json.loads(line)
        except ValueError:
            return False
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code = int(obj.get("code") or 0)
            raise ApiError(
                code, str(obj.get("reason") or "watch error"), str(obj.get("message") or "")
            )
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self.version = str(version)
        if kind == "BOOKMARK":
            return True
        self.out.put(WatchMessage(self.kind, str(kind), (obj,)))
        return True


def parse_workload(workload: str) -> tuple[str, str]:
    kind, _, name = workload.partition("/")
    if kind.lower() not in ("deployment", "deployments", "deploy") or not name:
        raise ConfigError(
            f"workload {workload!r} is not supported for verification",
            hint="use 'deployment/NAME' in environments[].cluster.workload",
        )
    return "deployment", name


def verify_rollout(
    cluster: ClusterConfig,
    *,
    digest: str,
    timeout: float,
    api_client: ApiClient | None = None,
    policy: RetryPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> VerifyResult:
    """Watch the cluster's Deployment until it runs digest everywhere, fails, or times out.

    Raises ClusterError when the API keeps failing past the retry bound.
    """
    if api_client is None:
        from leptonci.adapters.kube_client import load_api_client

        api_client = load_api_client(cluster)
    _, name = parse_workload(cluster.workload)
    digest = normalize_digest(digest)
    policy = policy or RetryPolicy()
    ns = cluster.namespace
    events: queue.Queue[WatchMessage] = queue.Queue()
    state = RolloutState()
    deadline = clock() + timeout
    watchers = [
        ResourceWatcher(
            api_client,
            kind="deployments",
            path=f"/apis/apps/v1/namespaces/{ns}/deployments",
            out=events,
            field_selector=f"metadata.name={name}",
            policy=policy,
            what=f"deployment/{name} in {ns}",
        )
    ]
    watchers[0].start()
    try:
        while True:
            message = _next(events, deadline - clock())
            if message is None:
                failing = next((w.failing for w in watchers if w.failing is not None), None)
                if failing is not None:  # the API itself is not answering: not a verdict
                    raise failing
                return timed_out(state, name=name, digest=digest, timeout=timeout)
            batch = [message]
            while not events.empty():
                batch.append(events.get_nowait())
            for item in batch:
                _fold(state, item, name=name)
            verdict = assess(state, name=name, digest=digest)
            if verdict is not None:
                return verdict
            if len(watchers) == 1 and state.deployment is not None:
                watchers += _child_watchers(api_client, state, ns, events, policy, name)
    finally:
        for watcher in watchers:
            watcher.stop()


def _next(events: queue.Queue[WatchMessage], remaining: float) -> WatchMessage | None:
    if remaining <= 0:
        return None
    try:
        return events.get(timeout=remaining)
    except queue.Empty:
        return None


def _fold(state: RolloutState, message: WatchMessage, *, name: str) -> None:
    if message.error is not None:
        raise message.error
    if message.kind == "deployments":
        mine = [o for o in message.objects if (o.get("metadata") or {}).get("name") == name]
        if message.type == "SYNC":
            state.deployment = mine[0] if mine else None
        elif mine:
            state.deployment = None if message.type == "DELETED" else mine[0]
        return
    store = state.replicasets if message.kind == "replicasets" else state.pods
    if message.type == "SYNC":
        store.clear()
    for obj in message.objects:
        key = str((obj.get("metadata") or {}).get("name", ""))
        if message.type == "DELETED":
            store.pop(key, None)
        else:
            store[key] = obj


def _child_watchers(
    api: ApiClient,
    state: RolloutState,
    ns: str,
    events: queue.Queue[WatchMessage],
    policy: RetryPolicy,
    name: str,
) -> list[ResourceWatcher]:
    assert state.deployment is not None
    selector = label_selector(state.deployment) or None
    children = [
        ResourceWatcher(
            api,
            kind="replicasets",
            path=f"/apis/apps/v1/namespaces/{ns}/replicasets",
            out=events,
            label_selector=selector,
            policy=policy,
            what=f"replicasets of deployment/{name} in {ns}",
        ),
        ResourceWatcher(
            api,
            kind="pods",
            path=f"/api/v1/namespaces/{ns}/pods",
            out=events,
            label_selector=selector,
            policy=policy,
            what=f"pods of deployment/{name} in {ns}",
        ),
    ]
    for watcher in children:
        watcher.start()
    return children
