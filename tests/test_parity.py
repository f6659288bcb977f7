"""Prediction parity, pure parts: the request, the comparison, the records that keep it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from leptonci.core.config import parse_config
from leptonci.core.errors import ConfigError
from leptonci.core.ledger import (
    ReleaseRecord,
    Verification,
    empty_ledger,
    parse_ledger,
    render_ledger,
)
from leptonci.core.parity import (
    Sample,
    Tolerance,
    compare,
    input_problem,
    parse_predictions,
    predict_body,
    proxy_path,
    sample_from_dict,
)
from leptonci.core.trailers import parse_trailers, record_trailers, verification_from_trailers

SAMPLE = Sample(
    input="image",
    instances=([[0.0], [0.5]], [[1.0], [0.25]]),
    predictions=([0.1, 0.7, 0.2], [0.6, 0.3, 0.1]),
)


def test_the_request_names_the_signature_and_its_input() -> None:
    assert predict_body(SAMPLE) == {
        "signature_name": "serving_default",
        "instances": [{"image": [[0.0], [0.5]]}, {"image": [[1.0], [0.25]]}],
    }
    assert proxy_path("ml-dev", "digits-serving:8501", "digits") == (
        "/api/v1/namespaces/ml-dev/services/digits-serving:8501/proxy/v1/models/digits:predict"
    )


@pytest.mark.parametrize(
    ("got", "tolerance", "ok", "detail"),
    [
        (
            [[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]],
            Tolerance(),
            True,
            "prediction parity: 2/2 outputs within 0.0001 (max |diff| 0), argmax 2/2 agree",
        ),
        (
            [[0.10005, 0.7, 0.2], [0.6, 0.3, 0.1]],
            Tolerance(),
            True,
            "prediction parity: 2/2 outputs within 0.0001 (max |diff| 5e-05), argmax 2/2 agree",
        ),
        (  # within atol of nothing: one row off by 0.01, same argmax
            [[0.1, 0.71, 0.19], [0.6, 0.3, 0.1]],
            Tolerance(),
            False,
            "prediction parity failed: 1/2 outputs within 0.0001 (max |diff| 0.01 at row 0), "
            "argmax 2/2 agree",
        ),
        (  # a looser tolerance lets it pass
            [[0.1, 0.71, 0.19], [0.6, 0.3, 0.1]],
            Tolerance(atol=0.05),
            True,
            "prediction parity: 2/2 outputs within 0.05 (max |diff| 0.01), argmax 2/2 agree",
        ),
        (  # within a loose atol, but another class wins: still a mismatch
            [[0.1, 0.7, 0.2], [0.4, 0.5, 0.1]],
            Tolerance(atol=0.5),
            False,
            "prediction parity failed: 2/2 outputs within 0.5 (max |diff| 0.2 at row 1), "
            "argmax 1/2 agree",
        ),
        (  # argmax switched off
            [[0.1, 0.7, 0.2], [0.4, 0.5, 0.1]],
            Tolerance(atol=0.5, argmax=False),
            True,
            "prediction parity: 2/2 outputs within 0.5 (max |diff| 0.2)",
        ),
        (
            [[0.1, 0.7, 0.2]],
            Tolerance(),
            False,
            "prediction parity failed: the server returned 1 predictions for 2",
        ),
        (
            [[0.1, 0.7], [0.6, 0.3, 0.1]],
            Tolerance(),
            False,
            "prediction parity failed: row 0: 2 values, recorded 3",
        ),
        (
            [{"digit": [0.1, 0.7, 0.2]}, [0.6, 0.3, 0.1]],
            Tolerance(),
            False,
            "prediction parity failed: row 0: the outputs have another shape than the recorded "
            "ones",
        ),
    ],
)
def test_compare(got: list[object], tolerance: Tolerance, ok: bool, detail: str) -> None:
    result = compare(SAMPLE, got, tolerance)
    assert (result.ok, result.detail) == (ok, detail)


def test_nan_never_matches() -> None:
    result = compare(SAMPLE, [[math.nan, 0.7, 0.2], [0.6, 0.3, 0.1]], Tolerance(atol=1.0))
    assert not result.ok and result.to_dict()["result"] == "mismatch"


def test_named_outputs_compare_per_output() -> None:
    sample = Sample("x", ([1.0],), ({"a": [0.2, 0.8], "b": 3.0},))
    assert compare(sample, [{"b": 3.0, "a": [0.2, 0.8]}], Tolerance()).ok
    assert not compare(sample, [{"b": 3.1, "a": [0.2, 0.8]}], Tolerance()).ok


def test_predictions_are_read_from_row_format_only() -> None:
    assert parse_predictions({"predictions": [[1.0]]}) == [[1.0]]
    with pytest.raises(ValueError, match="columnar"):
        parse_predictions({"outputs": [[1.0]]})
    with pytest.raises(ValueError, match="an error: boom"):
        parse_predictions({"error": "boom"})


def test_signature_input_check() -> None:
    assert input_problem("image", ["image"]) is None
    assert input_problem("image", ["pixels", "mask"]) == (
        "the serving_default signature has no input 'image' (it has 'mask', 'pixels')"
    )


def test_a_sample_that_does_not_hash_to_its_sha256_is_refused() -> None:
    data = SAMPLE.to_dict()
    assert sample_from_dict(data) == SAMPLE
    data["predictions"] = [[0.1, 0.7, 0.2], [0.6, 0.3, 0.2]]
    with pytest.raises(ValueError, match="does not match its sha256"):
        sample_from_dict(data)


def test_ledger_and_trailers_keep_sample_and_parity_numbers() -> None:
    numbers = {"result": "match", "count": 2, "within": 2, "max_abs_diff": 2.5e-07, "atol": 1e-4}
    verification = Verification("verified", "2026-01-01T00:00:00Z", "ok", numbers)
    record = ReleaseRecord(
        release="digits-r1",
        model="digits",
        model_hash="h",
        image="leptonci/digits",
        digest="sha256:" + "1" * 64,
        sample=SAMPLE,
        verification=verification,
    )
    text = render_ledger(empty_ledger("dev").with_release(record))
    assert "        - [0.1, 0.7, 0.2]\n" in text  # one row a line
    back = parse_ledger(text, file="ledger.yaml").current["digits"]
    assert back.sample == SAMPLE and back.verification == verification
    trailers = parse_trailers(f"{k}: {v}" for k, v in record_trailers("promote", "dev", record))
    assert trailers["Parity"] == (
        '{"atol":0.0001,"count":2,"max_abs_diff":2.5e-07,"result":"match","within":2}'
    )
    assert verification_from_trailers(trailers) == verification


CONFIG = """\
project: demo
models:
  digits:
    path: model_repo/digits
    gate: {{accuracy: {{min: 0.9}}}}
    parity: {model}
environments:
  - name: dev
    path: environments/dev
    cluster:
      namespace: ml-dev
      parity: {env}
"""


def test_parity_config_defaults_and_overrides(tmp_path: Path) -> None:
    config = parse_config(CONFIG.format(model="{}", env="{}"), file="leptonci.yaml", root=tmp_path)
    model, cluster = config.models["digits"].parity, config.environments[0].cluster
    assert cluster is not None
    assert (model.samples, model.tolerance) == (32, Tolerance(atol=1e-4, argmax=None))
    assert cluster.parity.service_for("digits-serving") == "digits-serving:8501"
    config = parse_config(
        CONFIG.format(
            model="{samples: 8, atol: 0.01, argmax: false, serving_name: mnist}",
            env="{url: 'https://digits.dev.example/', retries: 2}",
        ),
        file="leptonci.yaml",
        root=tmp_path,
    )
    cluster = config.environments[0].cluster
    assert cluster is not None and cluster.parity.url == "https://digits.dev.example"
    assert config.models["digits"].parity.tolerance == Tolerance(atol=0.01, argmax=False)


@pytest.mark.parametrize(
    ("model", "env", "line", "message"),
    [
        ("{atol: -1}", "{}", 6, "greater than or equal to 0"),
        ("{samples: 5000}", "{}", 6, "less than or equal to 1000"),
        ("{}", "{service: digits}", 12, "is not NAME:PORT"),
        ("{}", "{url: 'ftp://x'}", 12, "not an http:// or https:// URL"),
        ("{tolerance: 1}", "{}", 6, "tolerance"),
    ],
)
def test_parity_config_errors_name_the_line(
    tmp_path: Path, model: str, env: str, line: int, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG.format(model=model, env=env), file="leptonci.yaml", root=tmp_path)
    assert message in str(info.value)
    assert f"leptonci.yaml:{line}" in str(info.value)
