"""Benchmark: what prediction parity adds to `verify`, beside the rollout check it follows.

Both run in one process on the test rig: kmock's emulator on loopback with a Deployment
rolled out, and ``tests/tf_serving.py`` (TensorFlow running the digits SavedModel)
behind the emulator's service proxy. Per trial: the rollout check
(``kube.verify_rollout`` on the finished rollout: list and watch until it is judged)
and then the parity check (``engine.parity``'s request: the sample through the service
proxy, decoded and compared). The model is trained once (1 epoch) and the stand-in
loads it before the first trial, so the numbers are leptonci's and the server's
steady state, not TensorFlow's start-up.

    .venv/bin/python bench/parity_time.py [--trials N] [--samples N]

Prints both medians and the ratio parity/rollout; the target is parity under the
rollout check's time plus 250 ms at 32 samples.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leptonci.adapters.kube import verify_rollout
from leptonci.adapters.kube_client import RetryPolicy, api_client_for_host
from leptonci.adapters.predict import send_predict
from leptonci.core.config import ClusterConfig
from leptonci.core.parity import Tolerance, compare, parse_predictions, predict_body
from leptonci.engine.parity import endpoint_for
from tests.fixtures.training import train_variant
from tests.kube_apiserver import ACTOR_HEADER, EmulatorThread
from tests.kube_rollouts import NAME, NAMESPACE, NEW, RolloutActor
from tests.tf_serving import ServingStandIn

CLUSTER = ClusterConfig(namespace=NAMESPACE, workload=f"deployment/{NAME}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--samples", type=int, default=32)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="leptonci-bench-parity-"))
    outcome = train_variant(work, samples=args.samples)
    sample = outcome.sample
    assert sample is not None
    server = EmulatorThread().start()
    api = api_client_for_host(server.url)
    actor_api = api_client_for_host(server.url)
    actor_api.set_default_header(ACTOR_HEADER, "1")
    RolloutActor(actor_api).deploy(NEW)
    endpoint = endpoint_for(CLUSTER, model_name="digits")
    rollout_times, parity_times = [], []
    with ServingStandIn(lambda: Path(outcome.export_dir)) as serving:
        server.emu.service_proxies[(NAMESPACE, f"{NAME}:8501")] = serving.url
        body = predict_body(sample)
        send_predict(endpoint, body, api=api, policy=RetryPolicy(), timeout=60)  # loads it
        try:
            for _ in range(args.trials):
                t0 = time.perf_counter()
                result = verify_rollout(CLUSTER, digest=NEW, timeout=30, api_client=api)
                t1 = time.perf_counter()
                answer = send_predict(endpoint, body, api=api, policy=RetryPolicy(), timeout=30)
                parity = compare(sample, parse_predictions(answer), Tolerance())
                t2 = time.perf_counter()
                assert result.ok and parity.ok, (result, parity.detail)
                rollout_times.append(t1 - t0)
                parity_times.append(t2 - t1)
        finally:
            api.close()
            actor_api.close()
            server.stop()
    rollout = statistics.median(rollout_times)
    parity = statistics.median(parity_times)
    print(f"trials: {args.trials}, samples: {args.samples}")
    print(f"rollout check median {rollout * 1000:8.1f} ms  (max {max(rollout_times) * 1000:.1f})")
    print(f"parity check  median {parity * 1000:8.1f} ms  (max {max(parity_times) * 1000:.1f})")
    print(f"ratio parity/rollout: {parity / rollout:.3f}")
    ok = parity < rollout + 0.25
    print(f"target parity < rollout + 250 ms: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
