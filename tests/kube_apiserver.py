"""Kubernetes test rig: kmock's emulator on loopback, standing in for the API server.

A pytest plugin module: fixtures ``kube_emulator`` (the running server) and ``kube_api``
(an official ``kubernetes.client.ApiClient`` pointed at it). What plays the controllers
and the kubelet against it is elsewhere: ``tests/kube_rollouts.py`` (Deployments) and
``tests/kube_jobs.py`` (Jobs).

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
        return self._requests(kmock.action.WATCH, plural)

    def list_requests(self, plural: str) -> int:
        return self._requests(kmock.action.LIST, plural)

    def _requests(self, action: kmock.action, plural: str | None) -> int:
        """How many requests of action the emulator has answered, for plural if given."""
        return sum(
            1
            for r in list(self.emu)
            if r.action == action
            and (plural is None or (r.resource is not None and r.resource.plural == plural))
        )

    def wait_for_watches(self, count: int, plural: str | None = None, timeout: float = 10) -> None:
        """Block the test until the code under test has opened count watch streams."""
        end = time.monotonic() + timeout
        while self.watch_requests(plural) < count:
            if time.monotonic() > end:
                raise AssertionError(f"only {self.watch_requests(plural)} watches opened")
            time.sleep(0.01)


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
