"""The prediction sample training records, and the signature check validate can call."""

from __future__ import annotations

from pathlib import Path

import pytest

from leptonci.adapters import savedmodel, training
from leptonci.core.parity import Tolerance, compare
from tests.fixtures.training import train_variant


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> training.TrainingOutcome:
    return train_variant(tmp_path_factory.mktemp("trained"), samples=4)  # type: ignore[no-any-return]


def test_the_sample_is_the_first_eval_rows_and_the_models_outputs(
    trained: training.TrainingOutcome,
) -> None:
    import numpy as np
    import tensorflow as tf

    sample = trained.sample
    assert sample is not None and (sample.count, sample.input) == (4, "image")
    assert np.asarray(sample.instances).shape == (4, 8, 8, 1)
    signature = tf.saved_model.load(str(trained.export_dir)).signatures["serving_default"]
    (outputs,) = signature(image=tf.constant(np.asarray(sample.instances, "float32"))).values()
    assert compare(sample, outputs.numpy().tolist(), Tolerance(atol=1e-6)).ok
    assert all(len(row) == 10 for row in sample.predictions)


def test_signature_inputs_and_the_check_validate_calls(
    trained: training.TrainingOutcome, tmp_path: Path
) -> None:
    assert savedmodel.signature_inputs(trained.export_dir) == {"image": "float32 (None, 8, 8, 1)"}
    assert savedmodel.sample_input_problem(trained.export_dir, trained.sample) is None
    assert savedmodel.sample_input_problem(trained.export_dir) is None
    renamed = train_variant(tmp_path, input_name="pixels", samples=0)
    assert renamed.sample is None
    assert savedmodel.sample_input_problem(renamed.export_dir, trained.sample) == (
        "the serving_default signature has no input 'image' (it has 'pixels')"
    )
