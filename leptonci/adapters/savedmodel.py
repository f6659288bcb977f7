"""A SavedModel's serving signature, and the prediction sample recorded from it.

TensorFlow is imported inside the functions only. ``signature_inputs`` is what
``leptonci validate`` compares with what verify will send; ``record_sample`` runs the
exported model's ``serving_default`` signature, exactly what TensorFlow Serving runs,
on the first eval rows, so the recorded outputs are the ones a server must give back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leptonci.adapters.tfquiet import quiet_tensorflow
from leptonci.core.errors import ConfigError
from leptonci.core.parity import SIGNATURE, Sample, input_problem


def _signature(export_dir: Path, *, what: str) -> Any:
    quiet_tensorflow()
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(export_dir))
    except (OSError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot load the SavedModel in {export_dir}: {first}") from None
    signature = loaded.signatures.get(SIGNATURE)
    if signature is None:
        have = ", ".join(sorted(loaded.signatures)) or "none"
        raise ConfigError(
            f"the SavedModel in {export_dir} has no {SIGNATURE} signature (have: {have})",
            hint=f"TensorFlow Serving answers {what} with {SIGNATURE}; export one",
        )
    return loaded, signature


def signature_inputs(export_dir: Path) -> dict[str, str]:
    """{input name: "dtype shape"} of the SavedModel's serving_default signature."""
    _, signature = _signature(export_dir, what="predict requests")
    specs = signature.structured_input_signature[1]
    return {
        str(name): f"{spec.dtype.name} {tuple(spec.shape.as_list())}"
        for name, spec in sorted(specs.items())
    }


def record_sample(export_dir: Path, x_eval: Any, *, count: int) -> Sample | None:
    """The first count eval rows and the exported model's outputs for them (None for 0)."""
    if count <= 0 or len(x_eval) == 0:
        return None
    import numpy as np
    import tensorflow as tf

    loaded, signature = _signature(export_dir, what="the recorded sample")
    specs = signature.structured_input_signature[1]
    if len(specs) != 1:
        names = ", ".join(sorted(specs))
        raise ConfigError(
            f"the {SIGNATURE} signature takes {len(specs)} inputs ({names}); the prediction "
            "sample needs exactly one",
            hint="set models.MODEL.parity.samples: 0 to record no sample",
        )
    (name, spec) = next(iter(specs.items()))
    rows = np.asarray(x_eval[:count]).astype(spec.dtype.as_numpy_dtype)
    outputs = signature(**{name: tf.constant(rows)})
    del loaded  # the signature keeps what it needs alive while it runs
    values = {key: value.numpy() for key, value in sorted(outputs.items())}
    if len(values) == 1:
        (only,) = values.values()
        predictions = tuple(_plain(row) for row in only)
    else:
        predictions = tuple(
            {key: _plain(value[i]) for key, value in values.items()} for i in range(len(rows))
        )
    return Sample(
        input=str(name), instances=tuple(_plain(row) for row in rows), predictions=predictions
    )


def _plain(value: Any) -> Any:
    """Nested lists of numbers; floats in their shortest form at their own precision."""
    import numpy as np

    array = np.asarray(value)
    if array.ndim:
        return [_plain(item) for item in array]
    if array.dtype.kind == "f":
        return float(str(array.item() if array.dtype == np.float64 else array[()]))
    if array.dtype.kind == "b":
        return bool(array)
    if array.dtype.kind in "iu":
        return int(array)
    return array.item()


def sample_input_problem(export_dir: Path, sample: Sample | None = None) -> str | None:
    """Why verify's predict request would not fit the SavedModel, or None when it fits.

    With a sample: its input must be one of the serving_default signature's inputs.
    Without one: the signature must take exactly one input, as recording a sample needs.
    """
    inputs = signature_inputs(export_dir)
    if sample is not None:
        return input_problem(sample.input, inputs)
    if len(inputs) != 1:
        names = ", ".join(repr(n) for n in inputs) or "none"
        return f"the {SIGNATURE} signature takes {len(inputs)} inputs ({names}), not one"
    return None
