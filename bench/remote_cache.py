"""Benchmark: the shared training cache in a registry against retraining; two workers vs one.

    .venv/bin/python bench/remote_cache.py [--rounds 3] [--epochs 12]

Part 1, in the same run against the same loopback registry (Debian's docker-registry):
`leptonci train digits --no-cache` (trains locally, then publishes the candidate) beside
`leptonci train digits` from a fresh, empty local cache (a cache hit in the registry:
look the hash up, download and verify every blob, unpack). Both are fresh subprocesses,
Python start-up included, alternating. Targets: the hit under 2 s and under 0.2x the
retrain.

Part 2: the worker entrypoint a training pod runs (`leptonci worker job.json`), as two
processes on loopback with a generated TF_CONFIG (MultiWorkerMirroredStrategy) beside
one process alone, training the same digits inputs; wall time until every process has
exited and the chief has published. On a machine with few cores two workers are not
faster: the figure is the overhead of the all-reduce and of a second TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from leptonci.core.train_job import tf_config  # noqa: E402
from leptonci.runtime.context import Context  # noqa: E402
from tests.fixtures.registry import RegistryServer, free_port  # noqa: E402
from tests.fixtures.training import digits_repo, start_worker, worker_dir  # noqa: E402

BIN = Path(sys.executable).parent


def leptonci(root: Path, cache: Path, *args: str) -> tuple[float, str]:
    """Wall seconds of one `leptonci -C root train digits ...` subprocess, and its output."""
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "LEPTONCI_CACHE": str(cache),
        "LEPTONCI_ACTOR": "bench",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "leptonci", "-C", str(root), "train", "digits", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"leptonci train failed:\n{done.stdout}\n{done.stderr}")
    return wall, done.stdout


def workers(root: Path, registry: RegistryServer, tmp: Path, n: int, tag: str) -> float:
    """Wall seconds for n worker processes (n > 1: a TF_CONFIG cluster on loopback)."""
    job = worker_dir(Context(root=root, env={}), tmp / f"image-{tag}" / "leptonci")
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(n)]
    start = time.perf_counter()
    processes = []
    for i in range(n):
        env = {"LEPTONCI_REGISTRY": f"{registry.host}/{tag}", "LEPTONCI_ACTOR": "bench"}
        if n > 1:
            env["TF_CONFIG"] = json.dumps(tf_config(addresses, i))
        processes.append(start_worker(job, env=env, log=tmp / f"{tag}-{i}.log"))
    codes = [p.wait(timeout=1800) for p in processes]
    wall = time.perf_counter() - start
    if codes != [0] * n:
        logs = "\n".join((tmp / f"{tag}-{i}.log").read_text()[-2000:] for i in range(n))
        raise SystemExit(f"workers exited {codes}:\n{logs}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=12)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leptonci-bench-") as name:
        tmp = Path(name)
        (tmp / "registry").mkdir()
        registry = RegistryServer(tmp / "registry", auth=False)
        registry.start()
        try:
            root = digits_repo(tmp / "repo", f"{registry.host}/bench", epochs=opts.epochs)
            retrains: list[float] = []
            hits: list[float] = []
            for i in range(opts.rounds):
                wall, _ = leptonci(root, tmp / "retrain-cache", "--no-cache")
                retrains.append(wall)
                wall, out = leptonci(root, tmp / f"fresh-cache-{i}")
                if not out.startswith("cache hit in "):
                    raise SystemExit(f"expected a cache hit in the registry, got:\n{out}")
                hits.append(wall)
                print(
                    f"round {i + 1}: retrain {retrains[-1]:.2f} s, registry cache hit {wall:.2f} s"
                )
            print("two workers against one (the worker entrypoint, loopback):")
            one = workers(root, registry, tmp, 1, "one")
            two = workers(root, registry, tmp, 2, "two")
        finally:
            registry.stop()
    retrain, hit = statistics.median(retrains), statistics.median(hits)
    ratio = hit / retrain
    ok = hit < 2.0 and ratio < 0.2
    print(
        f"local retrain (--no-cache) median {retrain:.2f} s ({opts.rounds} runs, {opts.epochs} epochs)"
    )
    print(f"registry cache hit         median {hit:.2f} s (fresh local cache each run)")
    print(
        f"hit / retrain ratio        {ratio:.3f} (target: hit < 2 s and ratio < 0.2) {'ok' if ok else 'MISSED'}"
    )
    print(f"one worker                 {one:.2f} s")
    print(f"two workers                {two:.2f} s (ratio {two / one:.2f}; {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
