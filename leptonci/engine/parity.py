"""Prediction parity after a verified rollout: does the running model answer like the gated one?

The release record carries the sample training recorded (``core/parity.py``). It goes
to the running model as TF Serving's REST predict request, through the Kubernetes API's
service proxy (nothing has to be exposed) or the environment's ``cluster.parity.url``.
The outcome is a ``Verification``, numbers included: "verified" when every output is
within tolerance, "failed" on a mismatch or a refused request, and a ``ClusterError``
(exit 3, never "verified") when the endpoint keeps failing. A dry run sends nothing:
it says what it would send.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from leptonci.adapters.kube_client import RetryPolicy
from leptonci.adapters.kube_watch import parse_workload
from leptonci.adapters.predict import Endpoint, PredictRefused, send_predict
from leptonci.core.config import ClusterConfig, EnvironmentConfig
from leptonci.core.ledger import ReleaseRecord, Verification
from leptonci.core.parity import (
    Sample,
    compare,
    describe_request,
    parse_predictions,
    predict_body,
    predict_path,
    proxy_path,
)
from leptonci.core.parity_config import ModelParity
from leptonci.core.redact import redact
from leptonci.runtime.context import Context


def endpoint_for(cluster: ClusterConfig, *, model_name: str) -> Endpoint:
    """The predict endpoint of env's running model: the configured URL, else the proxy."""
    if cluster.parity.url:  # a password in it never reaches a label (ledger, trailers)
        label = redact(cluster.parity.url)
        return Endpoint(label=label, url=cluster.parity.url + predict_path(model_name))
    _, workload = parse_workload(cluster.workload)
    service = cluster.parity.service_for(workload)
    return Endpoint(
        label=f"service/{service} in {cluster.namespace}",
        proxy_path=proxy_path(cluster.namespace, service, model_name),
    )


def check_parity(
    ctx: Context,
    *,
    env: EnvironmentConfig,
    record: ReleaseRecord,
    rollout: Verification,
    api: Any,  # the cluster's kubernetes ApiClient (the engine does not import the client)
) -> Verification:
    """rollout (verified) followed by the parity check of record's sample."""
    assert env.cluster is not None
    model = ctx.config.models.get(record.model)
    settings = model.parity if model is not None else ModelParity()
    sample = record.sample
    if sample is None or settings.samples == 0:
        why = "samples: 0 configured" if sample is not None else "the release has no sample"
        return replace(rollout, detail=f"{rollout.detail}; prediction parity not checked ({why})")
    endpoint = endpoint_for(env.cluster, model_name=settings.serving_name or record.model)
    if ctx.dry_run:
        request = redact(describe_request(endpoint.target(api), sample))
        ctx.out.info(f"would send: {request}")
        return replace(
            rollout, detail=f"{rollout.detail}; prediction parity not checked (dry run: {request})"
        )
    policy = RetryPolicy(attempts=env.cluster.parity.retries + 1)
    try:
        answer = send_predict(
            endpoint,
            predict_body(sample),
            api=api,
            policy=policy,
            timeout=env.cluster.parity.timeout,
        )
        predictions = parse_predictions(answer)
    except PredictRefused as exc:
        return _failed(ctx, "parity-refused", _refusal(endpoint, sample, exc))
    except ValueError as exc:
        return _failed(ctx, "parity-bad-answer", f"{endpoint.label}: {exc}")
    result = compare(sample, predictions, settings.tolerance)
    numbers = {**result.to_dict(), "endpoint": endpoint.label}
    if not result.ok:
        return _failed(ctx, "parity-mismatch", f"{endpoint.label}: {result.detail}", numbers)
    return Verification(
        "verified", ctx.now(), f"{rollout.detail}; {result.detail} from {endpoint.label}", numbers
    )


def _failed(
    ctx: Context, reason: str, detail: str, numbers: dict[str, object] | None = None
) -> Verification:
    return Verification("failed", ctx.now(), f"{reason}: {detail}", numbers or {"result": reason})


def _refusal(endpoint: Endpoint, sample: Sample, exc: PredictRefused) -> str:
    """What the server refused, and what that most likely means."""
    text = f"{endpoint.label} refused the predict request ({exc.status}: {exc.detail})"
    if sample.input in exc.detail or "input" in exc.detail.lower():
        return (
            f"{text}: the running model's {sample.signature} signature does not take input "
            f"{sample.input!r}, which the gated model did"
        )
    return text
