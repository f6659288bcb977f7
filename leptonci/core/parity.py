"""Prediction parity, pure parts: the recorded sample, the predict request, the comparison.

Training records a small fixed sample of eval inputs with the trained model's outputs
(``Sample``, kept in the candidate's metrics.json and in the release record). After a
rollout is verified, the sample goes to the running model as TensorFlow Serving's REST
predict request (``predict_body``), and ``compare`` checks every returned output
against the recorded one: the largest absolute difference within ``atol`` and, for
classifier outputs, the same argmax. Nothing here touches the network.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SIGNATURE = "serving_default"
DEFAULT_SAMPLES = 32
DEFAULT_ATOL = 1e-4
DEFAULT_PORT = 8501  # TensorFlow Serving's REST port


@dataclass(frozen=True)
class Sample:
    """Eval inputs and the outputs the gated model gave for them, one row each.

    ``instances`` are JSON values shaped as the signature's input (nested lists);
    ``predictions`` are what TF Serving's row format returns: a value per row for a
    single-output signature, an object {output: value} per row otherwise.
    """

    input: str  # the serving_default signature's input name
    instances: tuple[Any, ...]
    predictions: tuple[Any, ...]
    signature: str = SIGNATURE

    @property
    def count(self) -> int:
        return len(self.instances)

    @property
    def sha256(self) -> str:
        text = json.dumps(
            [self.signature, self.input, list(self.instances), list(self.predictions)],
            sort_keys=True,
            separators=(",", ":"),
        )
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "signature": self.signature,
            "input": self.input,
            "sha256": self.sha256,
            "instances": list(self.instances),
            "predictions": list(self.predictions),
        }


def sample_from_dict(data: Mapping[str, Any]) -> Sample:
    """The sample back from its dict; ValueError when malformed or not what it hashes to."""
    try:
        sample = Sample(
            input=str(data["input"]),
            instances=tuple(data["instances"]),
            predictions=tuple(data["predictions"]),
            signature=str(data.get("signature") or SIGNATURE),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed prediction sample: {exc}") from None
    if sample.count != len(sample.predictions):
        raise ValueError(
            f"prediction sample has {sample.count} instances but "
            f"{len(sample.predictions)} predictions"
        )
    recorded = data.get("sha256")
    if recorded and recorded != sample.sha256:
        raise ValueError(f"prediction sample does not match its sha256 {recorded}")
    return sample


@dataclass(frozen=True)
class Tolerance:
    atol: float = DEFAULT_ATOL
    argmax: bool | None = None  # None: for classifier outputs (vectors of 2 or more)


def predict_path(model_name: str) -> str:
    return f"/v1/models/{model_name}:predict"


def proxy_path(namespace: str, service: str, model_name: str) -> str:
    """The Kubernetes API's service proxy path to TF Serving's predict API.

    service is NAME:PORT (a port number or name), as the proxy subresource spells it.
    """
    return f"/api/v1/namespaces/{namespace}/services/{service}/proxy" + predict_path(model_name)


def predict_body(sample: Sample) -> dict[str, Any]:
    """TF Serving's row-format request: every instance names the signature's input."""
    return {
        "signature_name": sample.signature,
        "instances": [{sample.input: row} for row in sample.instances],
    }


def describe_request(url: str, sample: Sample) -> str:
    """One line for --dry-run: what verify would send, and where."""
    size = len(json.dumps(predict_body(sample), separators=(",", ":")))
    return (
        f"POST {url} with {sample.count} instances of input {sample.input!r} "
        f"(signature {sample.signature}, {size} bytes of JSON, sample {sample.sha256[:19]})"
    )


def parse_predictions(body: Any) -> list[Any]:
    """The ``predictions`` list of a predict response; ValueError naming what is wrong."""
    if not isinstance(body, Mapping):
        raise ValueError("the predict response is not a JSON object")
    if "predictions" not in body:
        if "error" in body:
            raise ValueError(f"the server answered an error: {str(body['error'])[:300]}")
        if "outputs" in body:
            raise ValueError("the server answered in columnar format (outputs), not rows")
        raise ValueError("the predict response has no 'predictions'")
    predictions = body["predictions"]
    if not isinstance(predictions, list):
        raise ValueError("'predictions' is not a list")
    return predictions


def input_problem(sample_input: str, signature_inputs: Iterable[str]) -> str | None:
    """Why the signature cannot take the sample's input, or None when it can."""
    names = sorted(signature_inputs)
    if sample_input in names:
        return None
    have = ", ".join(repr(n) for n in names) or "no inputs"
    return f"the {SIGNATURE} signature has no input {sample_input!r} (it has {have})"


@dataclass(frozen=True)
class ParityResult:
    """How the running model's outputs compare with the recorded ones."""

    count: int  # rows compared
    within: int  # rows whose every value is within atol
    max_abs_diff: float
    worst_row: int
    atol: float
    argmax_rows: int  # rows whose argmax was compared (classifier outputs)
    argmax_agree: int
    problem: str = ""  # a shape mismatch that made the comparison impossible

    @property
    def ok(self) -> bool:
        return (
            not self.problem
            and self.within == self.count
            and self.argmax_agree == self.argmax_rows
            and math.isfinite(self.max_abs_diff)
        )

    @property
    def detail(self) -> str:
        if self.problem:
            return f"prediction parity failed: {self.problem}"
        where = f" at row {self.worst_row}" if not self.ok and self.count else ""
        text = (
            f"{self.within}/{self.count} outputs within {self.atol:g} "
            f"(max |diff| {self.max_abs_diff:.3g}{where})"
        )
        if self.argmax_rows:
            text += f", argmax {self.argmax_agree}/{self.argmax_rows} agree"
        return ("prediction parity: " if self.ok else "prediction parity failed: ") + text

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "result": "match" if self.ok else "mismatch",
            "count": self.count,
            "within": self.within,
            "max_abs_diff": float(f"{self.max_abs_diff:.6g}"),
            "atol": self.atol,
        }
        if self.argmax_rows:
            out["argmax_agree"] = self.argmax_agree
            out["argmax_rows"] = self.argmax_rows
        if self.problem:
            out["problem"] = self.problem
        return out


def compare(sample: Sample, predictions: Sequence[Any], tolerance: Tolerance) -> ParityResult:
    """Every returned row against the recorded one, within tolerance."""

    def failed(problem: str) -> ParityResult:
        return ParityResult(sample.count, 0, math.inf, 0, tolerance.atol, 0, 0, problem)

    if len(predictions) != sample.count:
        return failed(f"the server returned {len(predictions)} predictions for {sample.count}")
    within = argmax_rows = argmax_agree = worst_row = 0
    worst = 0.0
    for index, (want, got) in enumerate(zip(sample.predictions, predictions, strict=True)):
        pairs = _outputs(want, got)
        if pairs is None:
            return failed(f"row {index}: the outputs have another shape than the recorded ones")
        diff = 0.0
        for expected, actual in pairs:
            if len(expected) != len(actual):
                return failed(f"row {index}: {len(actual)} values, recorded {len(expected)}")
            for a, b in zip(expected, actual, strict=True):
                d = abs(a - b)
                diff = max(diff, d) if math.isfinite(d) else math.inf
        if diff <= tolerance.atol:
            within += 1
        if diff > worst or not math.isfinite(diff):
            worst, worst_row = diff, index
        if _classifies(pairs, tolerance):
            argmax_rows += 1
            if all(_argmax(e) == _argmax(a) for e, a in pairs):
                argmax_agree += 1
    return ParityResult(
        sample.count, within, worst, worst_row, tolerance.atol, argmax_rows, argmax_agree
    )


def _outputs(want: Any, got: Any) -> list[tuple[list[float], list[float]]] | None:
    """(recorded values, returned values) per output of one row, flattened; None on a
    different structure."""
    if isinstance(want, Mapping):
        if not isinstance(got, Mapping) or set(want) != set(got):
            return None
        pairs = [(_flat(want[k]), _flat(got[k])) for k in sorted(want)]
    else:
        if isinstance(got, Mapping):
            return None
        pairs = [(_flat(want), _flat(got))]
    if any(e is None or a is None for e, a in pairs):
        return None
    return [(e, a) for e, a in pairs if e is not None and a is not None]


def _flat(value: Any) -> list[float] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, list):
        out: list[float] = []
        for item in value:
            flat = _flat(item)
            if flat is None:
                return None
            out += flat
        return out
    return None


def _classifies(pairs: list[tuple[list[float], list[float]]], tolerance: Tolerance) -> bool:
    if tolerance.argmax is not None:
        return tolerance.argmax
    return all(len(expected) > 1 for expected, _ in pairs)


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: values[i]) if values else -1
