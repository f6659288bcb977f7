"""`leptonci train digits` with `train.on: kubernetes`: the Job lifecycle on the kmock rig.

The cluster is kmock's emulator; ``tests/kube_jobs.py``'s ``JobActor`` plays the Job
controller, kubelet and garbage collector: it pulls the training image leptonci pushed
to the real registry, unpacks it and runs the worker entrypoint as local processes.
The end-to-end test trains the digits model with two real TensorFlow workers; the
failure tests make one thing go wrong each (image pull, OOM, deadline, one index,
the Job deleted, the API down, Ctrl-C) and check the message names the pod and that
nothing is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from leptonci import cli
from leptonci.adapters.images.layout import Descriptor, OciLayout, canonical_json, sha256_digest
from leptonci.core.images import OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST
from leptonci.core.train_job import INDEX_LABEL, job_name
from leptonci.pipeline.cache import model_content_hash
from leptonci.runtime.context import Context
from tests.fixtures.registry import RegistryServer
from tests.fixtures.training import REPO, digits_repo, worker_env
from tests.kube_apiserver import ACTOR_HEADER, EmulatorThread
from tests.kube_jobs import JobActor, Scenario

pytestmark = pytest.mark.service
NS = "ml-train"
TRAIN = """    train:
      on: kubernetes
      cluster:
        kubeconfig: kubeconfig
        namespace: ml-train
      image: oci-layout:base:train
      workers: {workers}
      resources: {{cpu: "1", memory: 1Gi}}
      timeout: {timeout}
      ttl: 60
      retries: {retries}
"""
CRASH = [
    sys.executable,
    "-c",
    "import sys; print('loading'); sys.stderr.write('worker crashed: simulated\\n'); sys.exit(1)",
]


def write_base_image(root: Path) -> None:
    """A tiny stand-in for a training base (Python and TensorFlow) in root/base, tag train."""
    import io
    import tarfile

    layout = OciLayout(root / "base")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        data = b"a stand-in for python3 and tensorflow\n"
        info = tarfile.TarInfo("etc/leptonci-test-base")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer, _ = layout.put_bytes(buffer.getvalue())
    config = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/local/bin:/usr/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [layer]},
        }
    )
    layout.put_bytes(config)
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": OCI_LAYER_TAR, "digest": layer, "size": len(buffer.getvalue())}
            ],
        }
    )
    digest, _ = layout.put_bytes(manifest)
    layout.tag(Descriptor(OCI_MANIFEST, digest, len(manifest)), ("train",))


def write_kubeconfig(root: Path, server: str) -> None:
    (root / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: emu, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: ci, user: {token: train-kube-token-0123456789}}]\n"
        "contexts: [{name: emu, context: {cluster: emu, user: ci}}]\n"
        "current-context: emu\n"
    )


@dataclass
class Rig:
    root: Path
    registry: RegistryServer
    emulator: EmulatorThread
    actor: JobActor
    api: Any

    @property
    def key(self) -> str:
        return model_content_hash(Context(root=self.root, env={}), "digits")

    @property
    def job(self) -> str:
        return job_name("digits", self.key)

    def objects(self, plural: str) -> list[dict[str, Any]]:
        """The objects the API holds now (asked as the actor: never an injected failure)."""
        listing = {
            "jobs": self.actor.batch.list_namespaced_job,
            "pods": self.actor.core.list_namespaced_pod,
            "services": self.actor.core.list_namespaced_service,
        }[plural]
        return list(json.loads(listing(NS, _preload_content=False).data).get("items") or [])

    def posts(self, plural: str) -> int:
        return sum(
            1
            for r in list(self.emulator.emu)
            if r.method == "POST"
            and r.resource is not None
            and r.resource.plural == plural
            and r.headers.get(ACTOR_HEADER) != "1"
        )

    def wait_for(self, condition: Callable[[], bool], timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while not condition():
            assert not self.actor.errors, self.actor.errors
            if time.monotonic() > end:
                raise AssertionError("the rig never got there")
            time.sleep(0.05)


@pytest.fixture
def make_rig(
    tmp_path: Path,
    registry: RegistryServer,
    kube_emulator: EmulatorThread,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., Rig]]:
    from leptonci.adapters.kube_client import api_client_for_host

    monkeypatch.setenv("LEPTONCI_ACTOR", "cluster-test")
    for name in ("LEPTONCI_CACHE", "LEPTONCI_REGISTRY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    made: list[Rig] = []

    def make(
        *, workers: int = 2, timeout: int = 600, retries: int = 1, scenario: Scenario | None = None
    ) -> Rig:
        root = digits_repo(
            tmp_path / "repo",
            f"{registry.host}/ml",
            train=TRAIN.format(workers=workers, timeout=timeout, retries=retries),
        )
        write_base_image(root)
        write_kubeconfig(root, kube_emulator.url)
        api = api_client_for_host(kube_emulator.url)
        api.set_default_header(ACTOR_HEADER, "1")
        actor = JobActor(
            api,
            emulator=kube_emulator.emu,
            namespace=NS,
            work=tmp_path / "kubelet",
            scenario=scenario,
        )
        actor.start()
        rig = Rig(root, registry, kube_emulator, actor, api)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.actor.stop()
        rig.api.close()
        assert not rig.actor.errors, rig.actor.errors
        assert all(p.poll() is not None for p in rig.actor.processes()), "a worker was left running"


def train(rig: Rig, *args: str) -> int:
    return cli.main(["-C", str(rig.root), "train", "digits", *args])


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("leptonci: error: ")]
    assert len(lines) == 1, err
    return lines[0].removeprefix("leptonci: error: ")


@pytest.mark.slow
def test_two_workers_train_digits_on_the_cluster_end_to_end(
    make_rig: Callable[..., Rig], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rig = make_rig(workers=2)
    name = rig.job

    # The dry run prints the Job, the Service and the image, and touches nothing.
    assert train(rig, "--dry-run") == 0
    plan = capsys.readouterr().out
    assert f"[create-job] create job/{name} in ml-train" in plan
    assert "+  completionMode: Indexed" in plan and "+  podReplacementPolicy: Failed" in plan
    assert f"[create-service] create headless service/{name}" in plan
    assert f"[push-image] push training image {rig.registry.host}/ml/leptonci-train@sha256:" in plan
    assert "[await-job]" in plan and "[fetch-candidate]" in plan
    assert (
        f"the shared training cache {rig.registry.host}/ml/leptonci-candidates was not asked"
        in plan
    )
    assert plan.rstrip().endswith("dry run: nothing was written")
    assert not [r for r in rig.emulator.emu if r.headers.get(ACTOR_HEADER) != "1"]
    assert requests.get(f"{rig.registry.url}/v2/_catalog", timeout=5).json()["repositories"] == []

    # Transient API failures once the Job runs: the watches resume, the run goes on.
    def flaky_api() -> None:
        rig.wait_for(lambda: bool(rig.actor.commands))
        rig.emulator.emu.fail_next = 3
        rig.emulator.emu.drop_epoch += 1

    chaos = threading.Thread(target=flaky_api, daemon=True)
    chaos.start()
    assert train(rig, "--json") == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    chaos.join(5)
    assert result["cached"] is False and result["content_hash"] == rig.key
    assert result["metrics"]["accuracy"] > 0.5 and result["eval_count"] == 360
    assert Path(result["root"], "digits", "1", "saved_model.pb").is_file()
    # the chief recorded the prediction sample, which came back with the candidate
    fetched = json.loads(Path(result["root"], "metrics.json").read_text())
    assert len(fetched["sample"]["instances"]) == 32 and fetched["sample"]["input"] == "image"
    log = captured.err
    assert f"created job/{name} in ml-train" in log
    assert f"epoch 1/2 ({name}-0-" in log and f"epoch 2/2 ({name}-0-" in log
    assert f"job/{name} in ml-train completed" in log

    [job] = rig.objects("jobs")
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 2, 2)
    assert spec["podReplacementPolicy"] == "Failed" and spec["backoffLimitPerIndex"] == 1
    [service] = rig.objects("services")
    assert service["spec"]["clusterIP"] == "None"
    assert service["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    image = spec["template"]["spec"]["containers"][0]["image"]
    assert image.startswith(f"{rig.registry.host}/ml/leptonci-train@sha256:")
    assert rig.actor.pulled == [image]  # pulled by digest, once for both workers
    indexes = sorted(p["metadata"]["labels"][INDEX_LABEL] for p in rig.objects("pods"))
    assert indexes == ["0", "1"]
    [(_, argv0), _] = rig.actor.commands
    assert argv0[1:4] == ["-m", "leptonci", "worker"] and argv0[4].endswith("/leptonci/job.json")
    worker_logs = [(rig.actor.work / f"{pod}.log").read_text() for pod, _ in rig.actor.commands]
    assert any("worker 1 of 2: training digits-" in text for text in worker_logs)
    assert any("worker 0 of 2 (chief): published digits-" in text for text in worker_logs)

    # Again: the local cache has it. A fresh cache: the registry has it. No Job either time.
    assert train(rig) == 0
    assert capsys.readouterr().out.startswith("cache hit: reusing candidate digits-")
    os.environ["LEPTONCI_CACHE"] = str(tmp_path / "fresh-cache")
    try:
        assert train(rig, "--dry-run", "--fetch") == 0
        assert "[fetch-candidate] fetch candidate digits-" in capsys.readouterr().out
        assert train(rig) == 0
        out = capsys.readouterr().out
    finally:
        del os.environ["LEPTONCI_CACHE"]
    assert out.startswith(
        f"cache hit in {rig.registry.host}/ml/leptonci-candidates: reusing candidate"
    )
    assert "trained 20" in out and "by cluster-test (pod " in out
    assert rig.posts("jobs") == 1


def test_an_image_that_cannot_be_pulled_ends_it_at_once_and_deletes_the_job(
    make_rig: Callable[..., Rig], capsys: pytest.CaptureFixture[str]
) -> None:
    rig = make_rig(workers=1, scenario=Scenario(pull_error=True))
    started = time.monotonic()
    assert train(rig) == 3
    err = capsys.readouterr().err
    line = one_error_line(err)
    assert line.startswith(f"pod {rig.job}-")
    assert f"cannot pull the training image {rig.registry.host}/ml/leptonci-train@sha256:" in line
    assert "ErrImagePull" in line and "train.registry_secret" in line
    assert time.monotonic() - started < 60  # not the 600 s deadline
    assert rig.objects("jobs") == []
    rig.wait_for(lambda: not rig.objects("pods"))  # the garbage collector's turn


def test_an_oom_killed_worker_is_named_with_its_memory_limit(
    make_rig: Callable[..., Rig], capsys: pytest.CaptureFixture[str]
) -> None:
    rig = make_rig(workers=2, scenario=Scenario(oom={1}))
    assert train(rig) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("models.digits.train.resources.memory: pod ")
    assert f"{rig.job}-1-" in line
    assert "(worker 1) was killed for running out of memory at its memory limit of 1Gi" in line
    assert "(OOMKilled, exit 137)" in line
    rig.wait_for(lambda: not rig.objects("jobs") and not rig.objects("services"))
    rig.wait_for(lambda: f"job/{rig.job}" in rig.actor.collected and not rig.objects("pods"))


def test_a_job_past_its_deadline_is_reported_and_deleted(
    make_rig: Callable[..., Rig], capsys: pytest.CaptureFixture[str]
) -> None:
    rig = make_rig(workers=1, timeout=2)
    assert train(rig) == 3
    line = one_error_line(capsys.readouterr().err)
    assert line == (
        f"job/{rig.job} in ml-train passed its deadline of 2 s (train.timeout); "
        "raise train.timeout, or give the workers more resources"
    )
    assert rig.objects("jobs") == []
    rig.wait_for(lambda: not rig.objects("pods"))


def test_one_index_failing_past_its_retries_names_the_worker_and_its_last_pod(
    make_rig: Callable[..., Rig], capsys: pytest.CaptureFixture[str]
) -> None:
    rig = make_rig(
        workers=2, retries=1, scenario=Scenario(command=lambda i, a: CRASH if i == 1 else None)
    )
    assert train(rig) == 3
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert line.startswith("worker 1 failed 2 times (train.retries: 1); last: pod ")
    assert "(worker 1) exit 1: worker crashed: simulated" in line
    crashed = [pod for pod, argv in rig.actor.commands if argv == CRASH]
    assert len(crashed) == 2  # the first failure got a replacement pod, the second ended it
    assert f"last lines of pod {crashed[-1]}'s log:" in captured.out
    assert rig.objects("jobs") == []
    rig.wait_for(lambda: not rig.objects("pods"))


def test_a_job_deleted_while_it_trains_is_reported(
    make_rig: Callable[..., Rig], capsys: pytest.CaptureFixture[str]
) -> None:
    rig = make_rig(workers=2)

    def delete_it() -> None:
        rig.wait_for(lambda: len(rig.actor.commands) == 2)
        rig.actor.batch.delete_namespaced_job(rig.job, NS, _preload_content=False)

    threading.Thread(target=delete_it, daemon=True).start()
    assert train(rig) == 3
    line = one_error_line(capsys.readouterr().err)
    assert line == (
        f"job/{rig.job} in ml-train was deleted while it trained; something else deleted it "
        "(a person, a namespace cleanup); run again"
    )
    rig.wait_for(lambda: not rig.objects("pods") and not rig.objects("services"))


def test_an_api_that_keeps_failing_exits_3_and_leaves_nothing(
    make_rig: Callable[..., Rig], capsys: pytest.CaptureFixture[str]
) -> None:
    rig = make_rig(workers=1)
    rig.emulator.emu.fail_next = 10**6
    assert train(rig) == 3
    err = capsys.readouterr().err
    line = one_error_line(err)
    assert line.startswith(f"creating job/{rig.job} in ml-train failed after 5 attempts: 503")
    assert "could not make sure there is no job/" in err  # said, not hidden
    rig.emulator.emu.fail_next = 0
    assert rig.objects("jobs") == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_a_cancelled_run_deletes_the_job_and_its_service(
    make_rig: Callable[..., Rig], signum: int
) -> None:
    rig = make_rig(workers=2)
    env = worker_env({"LEPTONCI_ACTOR": "cluster-test"})
    env["PYTHONPATH"] = str(REPO)
    process = subprocess.Popen(
        [sys.executable, "-m", "leptonci", "-C", str(rig.root), "train", "digits"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        rig.wait_for(lambda: len(rig.actor.commands) == 2 and bool(rig.objects("services")))
        process.send_signal(signum)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "interrupted: deleting what this run created on the cluster" in err
    assert f"deleted job/{rig.job} in ml-train" in out
    assert f"deleted service/{rig.job} in ml-train" in out
    assert err.rstrip().endswith("interrupted")
    rig.wait_for(
        lambda: not rig.objects("jobs") and not rig.objects("services") and not rig.objects("pods")
    )
