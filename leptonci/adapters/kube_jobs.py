"""Running a training Job: create it and its Service, watch it and its pods, clean up.

Raw JSON requests through ``kube_client`` (the client's generated models stay out).
``watch_job`` lists and then watches the Job and its pods with ``kube_watch``'s
resuming watchers and folds the events into ``kube_job_rules.JobState``; it blocks on
the event queue, never sleeps in a loop. The chief's log is followed only for the
per-epoch progress lines it prints: a candidate's metrics come from the registry.
"""

from __future__ import annotations

import functools
import queue
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leptonci.adapters.kube_client import (
    ApiError,
    RetryPolicy,
    open_request,
    request_json,
    with_retries,
)
from leptonci.adapters.kube_job_rules import (
    JobState,
    JobVerdict,
    assess,
    chief,
    pod_name,
    waiting_notes,
)
from leptonci.adapters.kube_watch import ResourceWatcher, WatchMessage
from leptonci.core.errors import ClusterError
from leptonci.core.train_job import (
    ANNOTATION_HASH,
    CONTAINER,
    LABEL_JOB,
    LABEL_MANAGED_BY,
    parse_progress_line,
)

if TYPE_CHECKING:
    from kubernetes.client import ApiClient
    from urllib3 import BaseHTTPResponse

# Seconds past the Job's own deadline before leptonci stops waiting for the API to say so.
DEADLINE_GRACE = 60.0
ProgressCallback = Callable[[int, int | None, Mapping[str, float], str], None]
_PATHS = {
    "Job": "/apis/batch/v1/namespaces/{ns}/jobs",
    "Service": "/api/v1/namespaces/{ns}/services",
    "Pod": "/api/v1/namespaces/{ns}/pods",
}


def collection(kind: str, namespace: str) -> str:
    return _PATHS[kind].format(ns=namespace)


@dataclass(frozen=True)
class CreatedJob:
    uid: str
    adopted: bool = False  # another run's Job for the same candidate: watched, not owned


def _finished(job: Mapping[str, Any]) -> bool:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return True
    return False


def _post(api: ApiClient, path: str, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """POST manifest; None when an object of that name exists (409 AlreadyExists)."""
    try:
        return request_json(api, "POST", path, body=dict(manifest))
    except ApiError as exc:
        if exc.status == 409:
            return None
        raise


def create_job(
    api: ApiClient, manifest: Mapping[str, Any], *, policy: RetryPolicy | None = None
) -> CreatedJob:
    """Create the Job. One of the same name (the same candidate) that is still running is
    adopted and watched; a finished one (an earlier run's, kept for its TTL) is replaced."""
    meta = manifest["metadata"]
    name, ns = str(meta["name"]), str(meta["namespace"])
    path = collection("Job", ns)
    what = f"creating job/{name} in {ns}"
    created = with_retries(lambda: _post(api, path, manifest), what=what, policy=policy, api=api)
    if created is None:
        existing = with_retries(
            lambda: request_json(api, "GET", f"{path}/{name}"),
            what=f"reading job/{name} in {ns}",
            policy=policy,
            api=api,
        )
        ex_meta = existing.get("metadata") or {}
        if (ex_meta.get("labels") or {}).get(LABEL_MANAGED_BY) != "leptonci":
            raise ClusterError(
                f"job/{name} in {ns} exists and was not made by leptonci",
                hint="rename or delete it, or train in another namespace",
            )
        same = (ex_meta.get("annotations") or {}).get(ANNOTATION_HASH) == (
            meta.get("annotations") or {}
        ).get(ANNOTATION_HASH)
        if same and not _finished(existing):
            return CreatedJob(str(ex_meta.get("uid") or ""), adopted=True)
        delete_object(api, kind="Job", namespace=ns, name=name, policy=policy)
        created = with_retries(
            lambda: _post(api, path, manifest), what=what, policy=policy, api=api
        )
        if created is None:
            raise ClusterError(
                f"job/{name} in {ns} still exists after deleting it",
                hint="wait until it is gone (kubectl get job), then run again",
            )
    return CreatedJob(str((created.get("metadata") or {}).get("uid") or ""))


def create_service(
    api: ApiClient, manifest: Mapping[str, Any], *, policy: RetryPolicy | None = None
) -> None:
    """Create the Service; one of the same name made for this Job already is fine."""
    meta = manifest["metadata"]
    name, ns = str(meta["name"]), str(meta["namespace"])
    created = with_retries(
        lambda: _post(api, collection("Service", ns), manifest),
        what=f"creating service/{name} in {ns}",
        policy=policy,
        api=api,
    )
    if created is None:
        existing = with_retries(
            lambda: request_json(api, "GET", f"{collection('Service', ns)}/{name}"),
            what=f"reading service/{name} in {ns}",
            policy=policy,
            api=api,
        )
        labels = (existing.get("metadata") or {}).get("labels") or {}
        if labels.get(LABEL_JOB) != name:
            raise ClusterError(
                f"service/{name} in {ns} exists and is not this training Job's",
                hint="delete it or train in another namespace",
            )


def delete_object(
    api: ApiClient, *, kind: str, namespace: str, name: str, policy: RetryPolicy | None = None
) -> bool:
    """Delete an object, its dependents in the background (a Job's pods); False if absent."""

    def delete() -> bool:
        try:
            request_json(
                api,
                "DELETE",
                f"{collection(kind, namespace)}/{name}",
                query=[("propagationPolicy", "Background")],
            )
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    return with_retries(
        delete,
        what=f"deleting {kind.lower()}/{name} in {namespace}",
        policy=policy,
        api=api,
    )


def pod_log_tail(api: ApiClient, namespace: str, pod: str, *, lines: int = 20) -> str:
    """The last lines of a pod's worker log ("" when the API cannot give them)."""
    try:
        response = open_request(
            api,
            "GET",
            f"{collection('Pod', namespace)}/{pod}/log",
            query=[("container", CONTAINER), ("tailLines", lines)],
            accept="*/*",
        )
    except ClusterError:
        return ""
    try:
        return bytes(response.data or b"").decode("utf-8", errors="replace")
    finally:
        response.release_conn()


class LogFollower(threading.Thread):
    """Follows one pod's log (``follow=true``) and hands each line to on_line."""

    def __init__(
        self,
        api: ApiClient,
        *,
        namespace: str,
        pod: str,
        on_line: Callable[[str], None],
        policy: RetryPolicy,
    ) -> None:
        super().__init__(name=f"leptonci-log-{pod}", daemon=True)
        self.api, self.namespace, self.pod, self.on_line = api, namespace, pod, on_line
        self.policy = policy
        self._stopped = threading.Event()
        self._response: BaseHTTPResponse | None = None

    def stop(self) -> None:
        self._stopped.set()
        sock = getattr(getattr(self._response, "connection", None), "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def run(self) -> None:
        import urllib3
        from kubernetes.watch.watch import iter_resp_lines

        path = f"{collection('Pod', self.namespace)}/{self.pod}/log"
        query = [("container", CONTAINER), ("follow", "true")]
        for attempt in range(1, self.policy.attempts + 1):
            if self._stopped.is_set():
                return
            try:
                response = open_request(
                    self.api, "GET", path, query=query, timeout=(5.0, None), accept="*/*"
                )
            except ApiError:  # 400 while the container starts; retried, bounded
                self._stopped.wait(self.policy.delay(attempt))
                continue
            self._response = response
            try:
                for line in iter_resp_lines(response):
                    if self._stopped.is_set():
                        return
                    self.on_line(line)
                return  # the stream ends when the container does
            except (urllib3.exceptions.HTTPError, OSError):
                self._stopped.wait(self.policy.delay(attempt))
            finally:
                self._response = None
                response.close()
                response.release_conn()


def _fold(state: JobState, message: WatchMessage, *, name: str) -> None:
    if message.error is not None:
        raise message.error
    if message.kind == "jobs":
        mine = [o for o in message.objects if (o.get("metadata") or {}).get("name") == name]
        if message.type == "SYNC":
            if mine:
                state.job, state.seen = mine[0], True
            elif state.seen:
                state.deleted = True
        elif mine and message.type == "DELETED":
            state.deleted = True
        elif mine:
            state.job, state.seen = mine[0], True
        return
    if message.type == "SYNC":
        state.pods.clear()
    for obj in message.objects:
        if ((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_JOB) != name:
            continue  # a selector the server ignored
        key = pod_name(obj)
        if message.type == "DELETED":
            state.pods.pop(key, None)
        else:
            state.pods[key] = obj


def watch_job(
    api: ApiClient,
    *,
    namespace: str,
    name: str,
    retries: int,
    timeout: int,
    on_progress: ProgressCallback | None = None,
    on_note: Callable[[str], None] | None = None,
    policy: RetryPolicy | None = None,
    grace: float = DEADLINE_GRACE,
    clock: Callable[[], float] = time.monotonic,
) -> JobVerdict:
    """Watch job/name and its pods until a verdict; raises ClusterError when the API
    keeps failing past the retry bound."""
    policy = policy or RetryPolicy()
    events: queue.Queue[WatchMessage] = queue.Queue()
    label = f"job/{name} in {namespace}"
    watchers = [
        ResourceWatcher(
            api,
            kind="jobs",
            path=collection("Job", namespace),
            out=events,
            field_selector=f"metadata.name={name}",
            policy=policy,
            what=label,
        ),
        ResourceWatcher(
            api,
            kind="pods",
            path=collection("Pod", namespace),
            out=events,
            label_selector=f"{LABEL_JOB}={name}",
            policy=policy,
            what=f"pods of {label}",
        ),
    ]
    state = JobState()
    deadline = clock() + timeout + grace
    follower: LogFollower | None = None
    noted: set[str] = set()
    last_epoch = [0]

    def on_line(line: str, pod: str) -> None:
        progress = parse_progress_line(line)
        if progress is None or on_progress is None or progress[0] <= last_epoch[0]:
            return
        last_epoch[0] = progress[0]
        on_progress(progress[0], progress[1], progress[2], pod)

    for watcher in watchers:
        watcher.start()
    try:
        while True:
            remaining = deadline - clock()
            try:
                message = events.get(timeout=remaining) if remaining > 0 else None
            except queue.Empty:
                message = None
            if message is None:
                return JobVerdict(
                    False,
                    "timeout",
                    f"{label}: no verdict {timeout + grace:g} s after it started "
                    "(train.timeout plus a grace period)",
                )
            batch = [message]
            while not events.empty():
                batch.append(events.get_nowait())
            for item in batch:
                _fold(state, item, name=name)
            verdict = assess(
                state, name=name, namespace=namespace, retries=retries, timeout=timeout
            )
            if verdict is not None:
                return verdict
            for note in waiting_notes(state):
                if note not in noted and on_note is not None:
                    noted.add(note)
                    on_note(note)
            lead = chief(state)
            if lead is not None and (follower is None or follower.pod != pod_name(lead)):
                if follower is not None:
                    follower.stop()
                    last_epoch[0] = 0  # a new chief pod trains from its first epoch again
                pod = pod_name(lead)
                follower = LogFollower(
                    api,
                    namespace=namespace,
                    pod=pod,
                    on_line=functools.partial(on_line, pod=pod),
                    policy=policy,
                )
                follower.start()
    finally:
        for watcher in watchers:
            watcher.stop()
        if follower is not None:
            follower.stop()
