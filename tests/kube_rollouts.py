"""Kubernetes test rig: kmock's emulator on loopback, and a helper that acts out rollouts.

A pytest plugin module: fixtures ``kube_emulator`` (the running server), ``kube_api``
(an official ``kubernetes.client.ApiClient`` pointed at it) and ``rollout`` (the actor).

kmock's ``KubernetesEmulator`` stores objects and streams watch events, but it is not
a controller and lacks a few API server behaviours, so ``RolloutEmulator`` adds, in
the test rig only:
- a uid for every object created without one, as an API server gives it;
- server-side apply creating a missing object (kmock only patches existing ones), and
  bumping ``metadata.generation`` when an apply changes the spec, as an API server does;
- injected failures: N requests answered 503, watch streams dropped, 410 Gone in-stream;
- a server version a test can set (``server_version``, for the image volume check);
- pod logs (``pods/NAME/log``, with ``follow`` and ``tailLines``) served from the files a
  test actor registers in ``pod_logs`` (``tests/kube_jobs.py`` runs pods as processes);
- the service proxy (``services/NAME:PORT/proxy/PATH``) forwarding to the loopback URL a
  test registers in ``service_proxies`` (``tests/tf_serving.py`` stands in for TF
  Serving), with the API server's 503 when no backend is registered.
The emulator is async (aiohttp); it runs on its own event loop in a thread so that the
synchronous official client can talk to it like to a real API server.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import attrs
import kmock
import pytest
from kmock import KubernetesEmulator, KubernetesError

from leptonci.adapters.kube_rollout import volume_images

NAMESPACE = "ml-dev"
NAME = "digits-serving"
IMAGE = "registry.example/leptonci/digits"
OLD = "sha256:" + "1" * 64
NEW = "sha256:" + "2" * 64
OTHER = "sha256:" + "3" * 64
ACTOR_HEADER = "X-Rollout-Actor"  # the actor's requests never get injected failures
SERVED = (
    "apps/v1/deployments",
    "apps/v1/replicasets",
    "v1/pods",
    "v1/services",
    "v1/configmaps",
    "batch/v1/jobs",
)


@attrs.define(kw_only=True)
class RolloutEmulator(KubernetesEmulator):
    """The kmock emulator plus apply-creates and injectable API failures."""

    fail_next: int = 0  # answer this many K8s requests with fail_status
    fail_status: int = 503
    gone_next: int = 0  # this many resumed watches of gone_plural get an in-stream 410 Gone
    gone_plural: str = "deployments"
    drop_epoch: int = 0  # bump to end every open watch stream at its next event
    # (namespace, pod) -> (its container's log file, set once the container has ended)
    pod_logs: dict[tuple[str, str], tuple[Path, threading.Event]] = attrs.field(factory=dict)
    # what /version reports (kmock's own answer is a fixed 1.26)
    server_version: tuple[str, str] = ("1", "35")
    # (namespace, "NAME:PORT") -> the loopback base URL the service proxy forwards to
    service_proxies: dict[tuple[str, str], str] = attrs.field(factory=dict)

    async def _serve_server_version(self, request: kmock.Request) -> Any:
        major, minor = self.server_version
        return {"major": major, "minor": minor, "gitVersion": f"v{major}.{minor.rstrip('+')}.0"}

    async def _handle(self, request: kmock.Request) -> Any:
        from_actor = request.headers.get(ACTOR_HEADER) == "1"
        if request.resource is not None and self.fail_next > 0 and not from_actor:
            self.fail_next -= 1
            raise KubernetesError(
                status=self.fail_status, reason="ServiceUnavailable", message="injected failure"
            )
        if (
            request.resource is not None
            and request.resource.plural == "pods"
            and request.subresource == "log"
        ):
            return await self._serve_log(request)
        if (
            request.resource is not None
            and request.resource.plural == "services"
            and (request.subresource or "").split("/", 1)[0] == "proxy"
        ):
            return await self._proxy(request)
        if (
            request.method == "POST"
            and request.resource is not None
            and isinstance(request.data, dict)
        ):
            meta = request.data.setdefault("metadata", {})
            meta.setdefault("uid", str(uuid.uuid4()))
        if (
            request.method == "PATCH"
            and "apply-patch" in request.headers.get("Content-Type", "")
            and request.resource is not None
            and request.name is not None
            and isinstance(request.data, dict)
        ):
            key = (request.resource, request.namespace, request.name)
            async with self._lock:
                exists = key in self._objects and not self._objects[key].deleted
                _count_generation(request.data, self._objects[key].raw if exists else None)
                if not exists:
                    if key in self._objects:
                        self._objects[key].create(request.data)
                    else:
                        self._objects[key] = request.data
                    raw = self._objects[key].raw
                    await self._buses[request.resource].put({"type": "ADDED", "object": raw})
                    created = True
                else:
                    created = False
            if created:
                import aiohttp.web

                return aiohttp.web.json_response(raw, status=201)
        return await super()._handle(request)

    async def _proxy(self, request: kmock.Request) -> Any:
        """The API server's service proxy: the request goes on to the Service's backend."""
        import aiohttp
        import aiohttp.web

        base = self.service_proxies.get((str(request.namespace), str(request.name)))
        if base is None:
            raise KubernetesError(
                status=503,
                reason="ServiceUnavailable",
                message=f'no endpoints available for service "{request.name}"',
            )
        rest = (request.subresource or "").split("/", 1)[1:]
        raw = await request._raw_request.read()
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                f"{base}/{rest[0] if rest else ''}",
                data=raw,
                headers={"Content-Type": request.headers.get("Content-Type", "")},
            ) as answer,
        ):
            body = await answer.read()
            return aiohttp.web.Response(
                status=answer.status, body=body, content_type="application/json"
            )

    async def _serve_log(self, request: kmock.Request) -> Any:
        """A pod's log as the API server gives it: all, the last N lines, or followed."""
        import aiohttp.web

        found = self.pod_logs.get((str(request.namespace), str(request.name)))
        if found is None:
            raise KubernetesError(
                status=400,
                reason="BadRequest",
                message=f'container "worker" in pod "{request.name}" is waiting to start',
            )
        path, ended = found
        if request.params.get("follow") != "true":
            lines = path.read_bytes().splitlines(keepends=True)
            tail = request.params.get("tailLines")
            return aiohttp.web.Response(
                body=b"".join(lines[-int(tail) :] if tail else lines), content_type="text/plain"
            )
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request._raw_request)
        offset = 0
        try:
            while True:
                done = ended.is_set()  # read after checking: nothing written later is lost
                data = path.read_bytes()[offset:]
                if data:
                    await response.write(data)
                    offset += len(data)
                elif done:
                    break
                else:
                    await asyncio.sleep(0.05)
            await response.write_eof()
        except ConnectionError:
            pass  # the client stopped following
        return response

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        plural = request.resource.plural if request.resource is not None else None
        if (
            self.gone_next > 0
            and request.params.get("resourceVersion")
            and plural == self.gone_plural
        ):
            self.gone_next -= 1
            yield b""
            yield {
                "type": "ERROR",
                "object": {
                    "kind": "Status",
                    "code": 410,
                    "reason": "Expired",
                    "message": "too old resource version",
                },
            }
            return
        epoch = self.drop_epoch
        async for item in super()._serve_watch(request):
            if self.drop_epoch != epoch:
                return  # the stream drops; this event is lost to the client
            yield item


def _merged(base: Any, patch: Any) -> Any:
    """A JSON merge patch applied to a copy of base (dicts merge, None deletes)."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merged(out.get(key), value)
    return out


def _count_generation(applied: dict[str, Any], existing: dict[str, Any] | None) -> None:
    """Set the generation an API server would give: 1 on create, +1 on a spec change."""
    meta = applied.setdefault("metadata", {})
    if existing is None:
        meta.setdefault("generation", 1)
        return
    old = existing.get("spec")
    if "spec" in applied and _merged(old, applied["spec"]) != old:
        meta["generation"] = int((existing.get("metadata") or {}).get("generation") or 0) + 1


class EmulatorThread:
    """The emulator served on 127.0.0.1 from its own event loop in a daemon thread."""

    def __init__(self) -> None:
        self.emulator: RolloutEmulator | None = None
        self.url = ""
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="kmock", daemon=True)

    def start(self) -> EmulatorThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("kmock emulator did not start")
        return self

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with RolloutEmulator() as emulator, kmock.Server(emulator) as server:
            for resource in SERVED:  # listing a kind with no objects yet must not 404
                emulator.resources[resource] = kmock.ResourceInfo()
            self.emulator = emulator
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def emu(self) -> RolloutEmulator:
        assert self.emulator is not None
        return self.emulator

    def watch_requests(self, plural: str | None = None) -> int:
        return sum(
            1
            for r in list(self.emu)
            if r.action == kmock.action.WATCH
            and (plural is None or (r.resource is not None and r.resource.plural == plural))
        )

    def list_requests(self, plural: str) -> int:
        return sum(
            1
            for r in list(self.emu)
            if r.action == kmock.action.LIST
            and r.resource is not None
            and r.resource.plural == plural
        )

    def wait_for_watches(self, count: int, plural: str | None = None, timeout: float = 10) -> None:
        """Block the test until the code under test has opened count watch streams."""
        end = time.monotonic() + timeout
        while self.watch_requests(plural) < count:
            if time.monotonic() > end:
                raise AssertionError(f"only {self.watch_requests(plural)} watches opened")
            time.sleep(0.01)


class RolloutActor:
    """Plays the Deployment controller and kubelet: writes the objects a rollout shows.

    Goes through the official client, so every change is an API call the emulator
    turns into watch events.
    """

    def __init__(self, api_client: Any, *, namespace: str = NAMESPACE, name: str = NAME) -> None:
        from kubernetes import client

        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.namespace, self.name = namespace, name
        self.generation = 0
        self.revision = 0
        self.replicas = 2
        self.image = ""

    # -- objects -------------------------------------------------------------------
    def _template(self, image: str, template_hash: str | None = None) -> dict[str, Any]:
        labels = {"app": self.name}
        if template_hash:
            labels["pod-template-hash"] = template_hash
        return {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "serving", "image": image}]},
        }

    def _hash(self) -> str:
        return f"h{self.revision}"

    def deploy(self, digest: str, *, replicas: int = 2) -> None:
        """A Deployment fully rolled out on digest (revision 1)."""
        self.replicas = replicas
        self.generation = 1
        self.revision = 1
        self.image = f"{IMAGE}@{digest}"
        body: Any = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": f"uid-{self.name}",
                "generation": 1,
                "annotations": {"deployment.kubernetes.io/revision": "1"},
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": self.name}},
                "template": self._template(self.image),
            },
            "status": self._status(updated=replicas, ready=replicas, available=replicas),
        }
        self.apps.create_namespaced_deployment(self.namespace, body, _preload_content=False)
        self._replicaset()

    def _status(
        self,
        *,
        updated: int,
        ready: int,
        available: int,
        total: int | None = None,
        progressing: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        cond = progressing or {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable",
        }
        return {
            "observedGeneration": self.generation,
            "replicas": updated if total is None else total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "conditions": [{"type": "Available", "status": "True"}, cond],
        }

    def _replicaset(self) -> None:
        name = f"{self.name}-{self._hash()}"
        body: Any = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "uid": f"uid-{name}",
                "labels": {"app": self.name, "pod-template-hash": self._hash()},
                "annotations": {"deployment.kubernetes.io/revision": str(self.revision)},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": self.name,
                        "uid": f"uid-{self.name}",
                    }
                ],
            },
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": {"app": self.name, "pod-template-hash": self._hash()}},
                "template": self._template(self.image, self._hash()),
            },
        }
        self.apps.create_namespaced_replica_set(self.namespace, body, _preload_content=False)

    def start_rollout(self, digest: str) -> None:
        """The template changes to digest: new generation, revision and ReplicaSet."""
        self.generation += 1
        self.revision += 1
        self.image = f"{IMAGE}@{digest}"
        patch = {
            "metadata": {
                "generation": self.generation,
                "annotations": {"deployment.kubernetes.io/revision": str(self.revision)},
            },
            "spec": {"template": self._template(self.image)},
        }
        self.apps.patch_namespaced_deployment(
            self.name, self.namespace, patch, _preload_content=False
        )
        self._replicaset()
        self.progress(updated=0, ready=self.replicas, available=self.replicas, total=self.replicas)

    def progress(
        self,
        *,
        updated: int,
        ready: int,
        available: int,
        total: int | None = None,
        progressing: dict[str, Any] | None = None,
    ) -> None:
        status = self._status(
            updated=updated, ready=ready, available=available, total=total, progressing=progressing
        )
        self.apps.patch_namespaced_deployment_status(
            self.name, self.namespace, {"status": status}, _preload_content=False
        )

    def complete(self) -> None:
        n = self.replicas
        self.progress(updated=n, ready=n, available=n, total=n)

    def stall(self) -> None:
        """The controller gives up: Progressing=False, ProgressDeadlineExceeded."""
        n = self.replicas
        self.progress(
            updated=1,
            ready=n - 1,
            available=n - 1,
            total=n + 1,
            progressing={
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{self.name}-{self._hash()}" has timed out progressing.',
            },
        )

    def pod(self, *, waiting: str | None = None, restarts: int = 0, index: int = 0) -> None:
        """A pod of the newest ReplicaSet; waiting names a container waiting reason."""
        rs = f"{self.name}-{self._hash()}"
        name = f"{rs}-p{index}"
        state: dict[str, Any] = (
            {"running": {}}
            if waiting is None
            else {"waiting": {"reason": waiting, "message": f"back-off restarting ({waiting})"}}
        )
        body: Any = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {"app": self.name, "pod-template-hash": self._hash()},
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": f"uid-{rs}"}
                ],
            },
            "spec": copy.deepcopy(self._template(self.image)["spec"]),
            "status": {
                "phase": "Running" if waiting is None else "Pending",
                "containerStatuses": [
                    {
                        "name": "serving",
                        "ready": waiting is None,
                        "restartCount": restarts,
                        "image": self.image,
                        "imageID": "",
                        "state": state,
                    }
                ],
            },
        }
        self.core.create_namespaced_pod(self.namespace, body, _preload_content=False)

    # -- reacting to someone else's change (an apply, a GitOps sync) -----------------
    def read(self) -> dict[str, Any] | None:
        """The Deployment as the API has it, or None when absent."""
        import json

        from kubernetes.client.exceptions import ApiException

        try:
            response = self.apps.read_namespaced_deployment(
                self.name, self.namespace, _preload_content=False
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(json.loads(response.data))  # type: ignore[attr-defined]

    def adopt(self, deployment: dict[str, Any]) -> None:
        """The template changed under the controller: a new revision and ReplicaSet for it.

        The generation is the API server's (the emulator bumps it on a spec change).
        """
        meta, spec = deployment.get("metadata") or {}, deployment.get("spec") or {}
        images = model_images((spec.get("template") or {}).get("spec") or {})
        self.image = images[0] if images else ""
        self.replicas = int(spec.get("replicas") or 1)
        self.generation = int(meta.get("generation") or 1)
        self.revision += 1
        patch = {
            "metadata": {
                "uid": meta.get("uid") or f"uid-{self.name}",
                "annotations": {"deployment.kubernetes.io/revision": str(self.revision)},
            }
        }
        self.apps.patch_namespaced_deployment(
            self.name, self.namespace, patch, _preload_content=False
        )
        self._replicaset()
        self.progress(updated=0, ready=0, available=0, total=0)

    def crash_loop(self) -> None:
        """The new pods start and crash: one updated replica, a pod in CrashLoopBackOff."""
        self.progress(updated=1, ready=0, available=0, total=1)
        self.pod(waiting="CrashLoopBackOff", restarts=3)


def model_images(pod_spec: dict[str, Any]) -> list[str]:
    """The images that carry the release: the image volumes' (a stock server mounting the
    model image), else the containers'."""
    containers = [str(c.get("image", "")) for c in pod_spec.get("containers") or []]
    return volume_images(pod_spec) or containers


class FakeDeploymentController(threading.Thread):
    """Plays the Deployment controller for end-to-end tests, from a thread.

    Whenever the Deployment's pod template runs another image than the one it last rolled
    out (an apply, a GitOps sync), it acts the rollout out: new revision and ReplicaSet,
    then complete, or crash-loop when ``outcomes`` says so for that digest ("complete"
    unless listed; ``default`` changes that). ``sync``, when given, runs first on each
    turn: the test's GitOps controller bringing the cluster to what git says. Errors end
    the thread and are kept in ``errors`` for the test to assert empty.
    """

    def __init__(
        self,
        actor: RolloutActor,
        *,
        outcomes: dict[str, str] | None = None,
        default: str = "complete",
        sync: Any = None,
        interval: float = 0.02,
    ) -> None:
        super().__init__(name="fake-deployment-controller", daemon=True)
        self.actor, self.outcomes, self.default = actor, dict(outcomes or {}), default
        self.sync, self.interval = sync, interval
        self.rolled: list[str] = []  # images rolled out, in order
        self.errors: list[BaseException] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                if self.sync is not None:
                    self.sync()
                self.turn()
                self._stop_event.wait(self.interval)
        except BaseException as exc:  # reported to the test through self.errors
            self.errors.append(exc)

    def turn(self) -> None:
        deployment = self.actor.read()
        if deployment is None:
            return
        images = model_images(deployment["spec"]["template"]["spec"])
        if not images or images[0] == (self.rolled[-1] if self.rolled else None):
            return
        self.actor.adopt(deployment)
        self.rolled.append(images[0])
        digest = images[0].rsplit("@", 1)[-1]
        if self.outcomes.get(digest, self.default) == "crash-loop":
            self.actor.crash_loop()
        else:
            self.actor.complete()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(10)


@pytest.fixture()
def kube_emulator() -> Iterator[EmulatorThread]:
    server = EmulatorThread().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def kube_api(kube_emulator: EmulatorThread) -> Iterator[Any]:
    from leptonci.adapters.kube_client import api_client_for_host

    api = api_client_for_host(kube_emulator.url)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture()
def rollout(kube_emulator: EmulatorThread) -> Iterator[RolloutActor]:
    from leptonci.adapters.kube_client import api_client_for_host

    api = api_client_for_host(kube_emulator.url)
    api.set_default_header(ACTOR_HEADER, "1")
    try:
        yield RolloutActor(api)
    finally:
        api.close()
