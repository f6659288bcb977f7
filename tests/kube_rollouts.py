"""Kubernetes test rig: a helper that acts out rollouts on the emulated API server.

A pytest plugin module: fixture ``rollout`` (the actor), on the emulator that
``tests/kube_apiserver.py`` serves. The emulator runs no controllers, so
``RolloutActor`` plays the Deployment controller and kubelet through the official
client (status, ReplicaSets, Pods), and ``FakeDeploymentController`` drives it from a
thread for end-to-end tests.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from leptonci.adapters.kube_rollout import volume_images
from tests.kube_apiserver import ACTOR_HEADER, EmulatorThread

NAMESPACE = "ml-dev"
NAME = "digits-serving"
IMAGE = "registry.example/leptonci/digits"
OLD = "sha256:" + "1" * 64
NEW = "sha256:" + "2" * 64
OTHER = "sha256:" + "3" * 64


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
def rollout(kube_emulator: EmulatorThread) -> Iterator[RolloutActor]:
    from leptonci.adapters.kube_client import api_client_for_host

    api = api_client_for_host(kube_emulator.url)
    api.set_default_header(ACTOR_HEADER, "1")
    try:
        yield RolloutActor(api)
    finally:
        api.close()
