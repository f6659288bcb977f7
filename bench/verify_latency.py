"""Benchmark: how fast does verification notice a finished rollout? Watch vs 1 s polling.

Both run in the same process against kmock's emulator on loopback. For each trial a
rollout is started, the verifier is waiting, then the emulator marks the rollout
complete; we time from that mark to the verifier returning "verified". The baseline is
a loop that GETs the Deployment and checks it once a second (what a sleep-poll does).

    .venv/bin/python bench/verify_latency.py [--trials N]

Prints both medians and their ratio; the target for the watch is under 0.3 s median.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leptonci.adapters.kube import verify_rollout
from leptonci.adapters.kube_client import api_client_for_host, request_json
from leptonci.adapters.kube_rollout import RolloutState, VerifyResult, assess
from leptonci.core.config import ClusterConfig
from tests.kube_apiserver import ACTOR_HEADER, EmulatorThread
from tests.kube_rollouts import NAME, NAMESPACE, RolloutActor

CLUSTER = ClusterConfig(namespace=NAMESPACE, workload=f"deployment/{NAME}")


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def poll_every_second(api: Any, want: str, timeout: float) -> VerifyResult:
    """The baseline: GET the Deployment, check it, sleep 1 s, repeat."""
    path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{NAME}"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        state = RolloutState(deployment=request_json(api, "GET", path))
        verdict = assess(state, name=NAME, digest=want)
        if verdict is not None:
            return verdict
        time.sleep(1.0)
    return VerifyResult(False, "timeout", "")


def trial(actor: RolloutActor, server: EmulatorThread, api: Any, n: int, *, watch: bool) -> float:
    want = digest(n)
    actor.start_rollout(want)
    done: dict[str, float] = {}
    result: list[VerifyResult] = []

    def verifier() -> None:
        if watch:
            result.append(verify_rollout(CLUSTER, digest=want, timeout=30, api_client=api))
        else:
            result.append(poll_every_second(api, want, 30))
        done["t1"] = time.perf_counter()

    watches_before = server.watch_requests()
    thread = threading.Thread(target=verifier)
    thread.start()
    if watch:
        server.wait_for_watches(watches_before + 3)  # the verifier is listening
    time.sleep(random.uniform(0.05, 1.0))  # the rollout finishes at an arbitrary moment
    t0 = time.perf_counter()
    actor.complete()
    thread.join(35)
    assert result and result[0].ok, result
    return done["t1"] - t0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=15)
    args = parser.parse_args()
    random.seed(7)
    server = EmulatorThread().start()
    api = api_client_for_host(server.url)
    actor_api = api_client_for_host(server.url)
    actor_api.set_default_header(ACTOR_HEADER, "1")
    actor = RolloutActor(actor_api)
    actor.deploy(digest(1))
    watch_times, poll_times = [], []
    try:
        for i in range(args.trials):  # interleaved so both see the same conditions
            watch_times.append(trial(actor, server, api, 2 * i + 2, watch=True))
            poll_times.append(trial(actor, server, api, 2 * i + 3, watch=False))
    finally:
        api.close()
        actor_api.close()
        server.stop()
    watch_median = statistics.median(watch_times)
    poll_median = statistics.median(poll_times)
    print(f"trials: {args.trials}")
    print(f"watch   median {watch_median * 1000:8.1f} ms  (max {max(watch_times) * 1000:.1f} ms)")
    print(f"poll 1s median {poll_median * 1000:8.1f} ms  (max {max(poll_times) * 1000:.1f} ms)")
    print(f"ratio watch/poll: {watch_median / poll_median:.4f}")
    ok = watch_median < 0.3
    print(f"target watch median < 300 ms: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
