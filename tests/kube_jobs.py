"""A Job controller, kubelet and garbage collector for kmock: pods as local processes.

kmock's emulator stores Jobs but runs no controller, so ``JobActor`` plays them from a
thread, through the official client (every change is an API call the emulator turns into
watch events; the actor's requests never get injected failures):
- the Job controller: one pod per index of an Indexed Job (or one pod), labelled and
  owned as the real controller does it; a replacement for a failed pod while its index
  has retries left (podReplacementPolicy Failed: the old pod has ended by then); the
  Job's conditions: Complete, or Failed with the controller's reason (PodFailurePolicy
  for the exit codes its FailJob rule lists, FailedIndexes, BackoffLimitExceeded,
  DeadlineExceeded); failing a Job terminates and deletes its running pods;
- the kubelet: pulls the pod's image by digest from the real registry (refusing a tag),
  checks every digest, unpacks its top layer (leptonci's: job.json and the model folder)
  as the container's /leptonci, and runs the container's command as a local process,
  whose output is the pod's log and whose exit code and termination message file become
  the pod's status; cluster DNS is played by giving each worker address a loopback port;
- the garbage collector: a deleted Job's processes are killed, its pods and the Services
  it owns deleted.
``Scenario`` injects failures: an image that cannot be pulled, an OOM kill, another
command for some index and attempt.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import string
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from leptonci.core.train_job import ENV_INDEX, ENV_WORKERS, INDEX_LABEL, JOB_DIR
from tests.fixtures.registry import free_port
from tests.fixtures.training import worker_env
from tests.kube_apiserver import RolloutEmulator

INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
ACCEPT = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Scenario:
    """Failures the actor plays; by default every pod pulls and runs its real command."""

    pull_error: bool = False
    oom: set[int] = field(default_factory=set)  # indexes the OOM killer ends at once
    command: Callable[[int, int], list[str] | None] | None = None  # (index, attempt) -> argv


@contextmanager
def gone_is_fine() -> Iterator[None]:
    """An object deleted between the actor's read and its write: not an error."""
    from kubernetes.client.exceptions import ApiException

    try:
        yield
    except ApiException as exc:
        if exc.status != 404:
            raise


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def suffix() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=5))


def pull_top_layer(image: str, dest: Path) -> None:
    """The image's last layer unpacked into dest, every digest checked (by digest only)."""
    name, at, digest = image.partition("@")
    assert at, f"the Job runs {image}, not an image pinned by digest"
    host, _, repo = name.partition("/")
    manifest = requests.get(
        f"http://{host}/v2/{repo}/manifests/{digest}", headers={"Accept": ACCEPT}, timeout=30
    )
    manifest.raise_for_status()
    assert "sha256:" + hashlib.sha256(manifest.content).hexdigest() == digest
    layer = manifest.json()["layers"][-1]
    blob = requests.get(f"http://{host}/v2/{repo}/blobs/{layer['digest']}", timeout=60)
    blob.raise_for_status()
    assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == layer["digest"]
    with tarfile.open(fileobj=io.BytesIO(blob.content)) as tar:
        tar.extractall(dest, filter="data")


class PodRun:
    """One pod: its API object and, once its image is pulled, its process."""

    def __init__(self, job: JobRun, index: int, attempt: int) -> None:
        self.job, self.index, self.attempt = job, index, attempt
        base = f"{job.name}-{index}" if job.indexed else job.name
        self.name = f"{base}-{suffix()}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = job.actor.work / f"{self.name}.log"
        self.message_file = job.actor.work / f"{self.name}.termination"
        self.ended = threading.Event()
        self.exit_code: int | None = None
        self.killed_for_oom = False
        self._create()

    @property
    def actor(self) -> JobActor:
        return self.job.actor

    def _create(self) -> None:
        template = self.job.manifest["spec"]["template"]
        labels = dict(template["metadata"].get("labels") or {})
        labels.update({"batch.kubernetes.io/job-name": self.job.name, "job-name": self.job.name})
        meta: dict[str, Any] = {
            "name": self.name,
            "namespace": self.actor.namespace,
            "labels": labels,
            "creationTimestamp": now(),
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": self.job.name,
                    "uid": self.job.uid,
                    "controller": True,
                }
            ],
        }
        spec = json.loads(json.dumps(template["spec"]))
        if self.job.indexed:
            labels[INDEX_LABEL] = str(self.index)
            meta["annotations"] = {INDEX_ANNOTATION: str(self.index)}
            spec["hostname"] = f"{self.job.name}-{self.index}"
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
        body["status"] = {"phase": "Pending"}
        self.actor.core.create_namespaced_pod(self.actor.namespace, body, _preload_content=False)

    def _status(self, status: dict[str, Any]) -> None:
        with gone_is_fine():  # deleted meanwhile (the Job went): a kubelet shrugs too
            self.actor.core.patch_namespaced_pod_status(
                self.name, self.actor.namespace, {"status": status}, _preload_content=False
            )

    def _container_status(self, state: dict[str, Any], *, ready: bool = False) -> dict[str, Any]:
        image = self.job.manifest["spec"]["template"]["spec"]["containers"][0]["image"]
        return {"name": "worker", "image": image, "ready": ready, "restartCount": 0, "state": state}

    def start(self) -> None:
        container = self.job.manifest["spec"]["template"]["spec"]["containers"][0]
        if self.actor.scenario.pull_error:
            for reason in ("ErrImagePull", "ImagePullBackOff"):
                waiting = {
                    "reason": reason,
                    "message": f'pull access denied for "{container["image"]}"',
                }
                self._status(
                    {
                        "phase": "Pending",
                        "containerStatuses": [self._container_status({"waiting": waiting})],
                    }
                )
            return
        root = self.job.image_root(container["image"])
        argv = self._argv(container["command"], root)
        env = {e["name"]: e["value"] for e in container.get("env") or []}
        if ENV_WORKERS in env:  # cluster DNS: JOB-I.JOB:PORT resolves to this worker's port
            env[ENV_WORKERS] = ",".join(
                f"127.0.0.1:{self.job.ports[i]}" for i in range(len(env[ENV_WORKERS].split(",")))
            )
        if self.job.indexed:
            env[ENV_INDEX] = str(self.index)
        env.update(
            {
                "HOSTNAME": self.name,
                "LEPTONCI_TERMINATION_LOG": str(self.message_file),
                "LEPTONCI_REGISTRY_RETRIES": "2",
            }
        )
        self.actor.emulator.pod_logs[(self.actor.namespace, self.name)] = (self.log, self.ended)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, cwd=root, env=worker_env(env), stdout=out, stderr=subprocess.STDOUT
            )
        self.actor.commands.append((self.name, argv))
        if self.index in self.actor.scenario.oom:
            self.process.kill()  # the container went over its memory limit at once
            self.killed_for_oom = True
        self._status(
            {
                "phase": "Running",
                "startTime": now(),
                "containerStatuses": [
                    self._container_status({"running": {"startedAt": now()}}, ready=True)
                ],
            }
        )

    def _argv(self, command: list[str], root: Path) -> list[str]:
        override = self.actor.scenario.command
        chosen = override(self.index, self.attempt) if override else None
        argv = list(chosen or command)
        if argv[0] in ("python3", "python"):
            argv[0] = sys.executable
        return [str(root) + a if a.startswith(JOB_DIR + "/") else a for a in argv]

    def poll(self) -> int | None:
        """The exit code once the process has ended (and the pod's status says so)."""
        if self.process is None or self.exit_code is not None:
            return self.exit_code
        code = self.process.poll()
        if code is None:
            return None
        self.exit_code = 128 - code if code < 0 else code  # a signal N exits 128+N
        self.ended.set()
        message = self.message_file.read_text() if self.message_file.is_file() else ""
        if not message and self.exit_code:  # FallbackToLogsOnError
            message = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        reason = "Completed" if self.exit_code == 0 else "Error"
        if self.killed_for_oom:
            reason = "OOMKilled"
        terminated = {
            "exitCode": self.exit_code,
            "reason": reason,
            "message": message,
            "finishedAt": now(),
        }
        self._status(
            {
                "phase": "Succeeded" if self.exit_code == 0 else "Failed",
                "containerStatuses": [self._container_status({"terminated": terminated})],
            }
        )
        return self.exit_code

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.ended.set()


class JobRun:
    """One Job as its controller sees it."""

    def __init__(self, actor: JobActor, manifest: dict[str, Any]) -> None:
        self.actor, self.manifest = actor, manifest
        meta, spec = manifest["metadata"], manifest["spec"]
        self.name, self.uid = meta["name"], meta.get("uid") or f"uid-{meta['name']}"
        self.indexed = spec.get("completionMode") == "Indexed"
        self.n = int(spec.get("completions") or 1)
        self.retries = int(
            spec.get("backoffLimitPerIndex" if self.indexed else "backoffLimit") or 0
        )
        self.fail_codes = {
            code
            for rule in (spec.get("podFailurePolicy") or {}).get("rules") or []
            if rule.get("action") == "FailJob"
            for code in (rule.get("onExitCodes") or {}).get("values") or []
        }
        self.deadline = spec.get("activeDeadlineSeconds")
        self.started = time.monotonic()
        self.ports = {i: free_port() for i in range(self.n)}
        self.pods: list[PodRun] = []
        self.failures = {i: 0 for i in range(self.n)}
        self.succeeded: set[int] = set()
        self.finished = False
        self._roots: dict[str, Path] = {}
        self._job_status({"startTime": now(), "active": self.n})
        for index in range(self.n):
            self._new_pod(index, 0)

    def _job_status(self, status: dict[str, Any]) -> None:
        with gone_is_fine():  # deleted meanwhile: the garbage collector takes it from here
            self.actor.batch.patch_namespaced_job_status(
                self.name, self.actor.namespace, {"status": status}, _preload_content=False
            )

    def image_root(self, image: str) -> Path:
        if image not in self._roots:
            root = self.actor.work / f"{self.name}-root"
            pull_top_layer(image, root)
            self.actor.pulled.append(image)
            self._roots[image] = root
        return self._roots[image]

    def _new_pod(self, index: int, attempt: int) -> None:
        pod = PodRun(self, index, attempt)
        self.pods.append(pod)
        pod.start()

    def step(self) -> None:
        if self.finished:
            return
        for pod in list(self.pods):
            if pod.exit_code is not None:
                continue
            code = pod.poll()
            if code is None:
                continue
            if code == 0:
                self.succeeded.add(pod.index)
            elif code in self.fail_codes:
                return self.fail(
                    "PodFailurePolicy",
                    f"Container worker for pod {self.actor.namespace}/{pod.name} failed with "
                    f"exit code {code} matching FailJob rule at index 0",
                )
            else:
                self.failures[pod.index] += 1
                if self.failures[pod.index] > self.retries:
                    reason = "FailedIndexes" if self.indexed else "BackoffLimitExceeded"
                    return self.fail(
                        reason,
                        "Job has failed indexes"
                        if self.indexed
                        else "Job has reached the specified backoff limit",
                    )
                self._new_pod(pod.index, self.failures[pod.index])
        if self.deadline is not None and time.monotonic() - self.started > float(self.deadline):
            return self.fail("DeadlineExceeded", "Job was active longer than specified deadline")
        if len(self.succeeded) == self.n:
            self.finished = True
            self._job_status(
                {
                    "active": 0,
                    "succeeded": self.n,
                    "completionTime": now(),
                    "conditions": [
                        {"type": "SuccessCriteriaMet", "status": "True"},
                        {"type": "Complete", "status": "True"},
                    ],
                }
            )

    def fail(self, reason: str, message: str) -> None:
        self.finished = True
        conditions = [
            {"type": kind, "status": "True", "reason": reason, "message": message}
            for kind in ("FailureTarget", "Failed")
        ]
        self._job_status(
            {"active": 0, "failed": sum(self.failures.values()), "conditions": conditions}
        )
        for pod in self.pods:  # the controller terminates the pods still running
            if pod.exit_code is None:
                pod.kill()
                self._delete_pod(pod)

    def _delete_pod(self, pod: PodRun) -> None:
        with gone_is_fine():
            self.actor.core.delete_namespaced_pod(
                pod.name, self.actor.namespace, _preload_content=False
            )

    def collect(self) -> None:
        """The Job is gone: what it owned goes too."""
        self.finished = True
        for pod in self.pods:
            pod.kill()
            self._delete_pod(pod)
        services = json.loads(
            self.actor.core.list_namespaced_service(
                self.actor.namespace, _preload_content=False
            ).data
        )
        for service in services.get("items") or []:
            owners = (service.get("metadata") or {}).get("ownerReferences") or []
            if any(o.get("uid") == self.uid for o in owners):
                with gone_is_fine():  # leptonci may have deleted it itself just now
                    self.actor.core.delete_namespaced_service(
                        service["metadata"]["name"], self.actor.namespace, _preload_content=False
                    )
                self.actor.collected.append(f"service/{service['metadata']['name']}")
        self.actor.collected.append(f"job/{self.name}")


class JobActor(threading.Thread):
    """Plays the Job controller, kubelet and garbage collector; see the module docstring."""

    def __init__(
        self,
        api: Any,
        *,
        emulator: RolloutEmulator,
        namespace: str,
        work: Path,
        scenario: Scenario | None = None,
        interval: float = 0.05,
    ) -> None:
        from kubernetes import client

        super().__init__(name="fake-job-controller", daemon=True)
        self.batch, self.core = client.BatchV1Api(api), client.CoreV1Api(api)
        self.emulator, self.namespace, self.work = emulator, namespace, work
        self.scenario = scenario or Scenario()
        self.interval = interval
        self.runs: dict[str, JobRun] = {}
        self.pulled: list[str] = []
        self.commands: list[tuple[str, list[str]]] = []
        self.collected: list[str] = []
        self.errors: list[BaseException] = []
        self._stop_event = threading.Event()
        work.mkdir(parents=True, exist_ok=True)

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                self.turn()
                self._stop_event.wait(self.interval)
        except BaseException as exc:  # reported to the test through self.errors
            self.errors.append(exc)

    def jobs(self) -> list[dict[str, Any]]:
        data = self.batch.list_namespaced_job(self.namespace, _preload_content=False).data
        return [j for j in json.loads(data).get("items") or [] if j.get("metadata")]

    def turn(self) -> None:
        present = {}
        for job in self.jobs():
            present[job["metadata"]["name"]] = job
        for name, job in present.items():
            run = self.runs.get(name)
            if run is None or run.uid != (job["metadata"].get("uid") or run.uid):
                run = self.runs[name] = JobRun(self, job)
            run.step()
        for name, run in list(self.runs.items()):
            if name not in present:
                run.collect()
                del self.runs[name]

    def processes(self) -> list[subprocess.Popen[bytes]]:
        return [p.process for r in self.runs.values() for p in r.pods if p.process is not None]

    def stop(self) -> None:
        self._stop_event.set()
        self.join(30)
        for run in self.runs.values():
            for pod in run.pods:
                pod.kill()
