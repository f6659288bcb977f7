"""The training runtime: loads a model's train.py, trains, evaluates, exports a SavedModel.

The only leptonci module that imports TensorFlow/Keras, and only inside functions, so
that importing it (on a cache hit, or for ``leptonci --help``) stays cheap. The model's
hooks are user code: an exception from them becomes a ``ConfigError`` naming the hook.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import leptonci
from leptonci.adapters.savedmodel import record_sample
from leptonci.adapters.tfquiet import quiet_tensorflow
from leptonci.core.candidate import metric_value
from leptonci.core.errors import ConfigError
from leptonci.core.parity import DEFAULT_SAMPLES, Sample
from leptonci.core.training_contract import (
    LIBRARIES,
    OPTIONAL_HOOKS,
    REQUIRED_HOOKS,
    TRAIN_FILE,
)

EpochCallback = Callable[[int, Mapping[str, float]], None]


@dataclass(frozen=True)
class TrainingOutcome:
    metrics: dict[str, float]
    eval_fingerprint: str
    eval_count: int
    export_dir: Path
    sample: Sample | None = None  # eval inputs and the exported model's outputs for them


def library_versions() -> dict[str, str]:
    """Installed versions of the ML libraries and leptonci, read without importing them."""
    out: dict[str, str] = {}
    for name in LIBRARIES:
        candidates = (name, "tensorflow-cpu") if name == "tensorflow" else (name,)
        for dist in candidates:
            try:
                out[name] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    out["leptonci"] = leptonci.__version__
    return out


def load_train_module(model_dir: Path, *, model: str, display: str) -> ModuleType:
    """Import MODEL_DIR/train.py under a unique name and check its hooks.

    display is the folder as the user knows it (model_repo/digits) for messages.
    """
    path = model_dir / TRAIN_FILE
    where = f"{display}/{TRAIN_FILE}"
    if not path.is_file():
        raise ConfigError(
            "file not found", file=where, hint="a model folder needs train.py (docs/training.md)"
        )
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"leptonci_model_{model.replace('-', '_')}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError("cannot be imported as a Python module", file=where)
    module = importlib.util.module_from_spec(spec)
    quiet_tensorflow()  # train.py usually imports keras at the top
    sys.path.insert(0, str(model_dir))  # lets train.py import helpers next to it
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(
            f"import failed: {type(exc).__name__}: {exc}", file=where, hint="run it with python"
        ) from exc
    finally:
        try:
            sys.path.remove(str(model_dir))
        except ValueError:
            pass
    for hook, signature in REQUIRED_HOOKS.items():
        if not callable(getattr(module, hook, None)):
            raise ConfigError(
                f"missing function {signature}", file=where, hint="see docs/training.md"
            )
    for hook, signature in OPTIONAL_HOOKS.items():
        if hasattr(module, hook) and not callable(getattr(module, hook)):
            raise ConfigError(f"{hook} is not a function {signature}", file=where)
    return module


def eval_fingerprint(*arrays: Any) -> str:
    """sha256 over each array's dtype, shape and bytes (C order)."""
    import numpy as np

    h = hashlib.sha256()
    for arr in arrays:
        a = np.ascontiguousarray(np.asarray(arr))
        h.update(f"{a.dtype.str}\0{a.shape}\0".encode())
        h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


def train_and_export(
    module: ModuleType,
    *,
    params: Mapping[str, Any],
    export_dir: Path,
    display: str,
    on_epoch: EpochCallback | None = None,
    samples: int = DEFAULT_SAMPLES,
) -> TrainingOutcome:
    """Seed, load data, build, fit, evaluate and export to export_dir (MODEL/VERSION),
    then record the prediction sample (the first ``samples`` eval rows)."""
    where = f"{display}/{TRAIN_FILE}"
    data = _seed_and_load(module, params, where)
    model = _build(module, params, where)
    _fit(module, model, data, params, where, on_epoch)
    return _evaluate_and_export(module, model, data, params, where, export_dir, samples)


def train_multi_worker(
    module: ModuleType,
    *,
    params: Mapping[str, Any],
    tf_config: Mapping[str, Any],
    export_dir: Path | None,
    display: str,
    on_epoch: EpochCallback | None = None,
    samples: int = DEFAULT_SAMPLES,
) -> TrainingOutcome | None:
    """One worker of a ``MultiWorkerMirroredStrategy`` cluster described by tf_config.

    Every worker loads the data and builds and fits the model inside
    ``strategy.scope()``; the gradients are all-reduced, so all workers end with the
    same weights. The chief (worker 0, the one given an export_dir) then copies the
    weights into a model built outside the strategy and evaluates and exports that one,
    alone, exactly as a local training does; the others return None.
    """
    os.environ["TF_CONFIG"] = json.dumps(dict(tf_config))  # read when the strategy starts
    quiet_tensorflow()
    import tensorflow as tf

    _patch_keras_multi_worker()
    where = f"{display}/{TRAIN_FILE}"
    try:  # first: the strategy must exist before any other TensorFlow op runs
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(f"TF_CONFIG: {exc}", hint="check the worker addresses") from exc
    data = _seed_and_load(module, params, where)
    with strategy.scope():
        model = _build(module, params, where)
        _fit(module, model, data, params, where, on_epoch)
    if export_dir is None:
        return None
    local = _build(module, params, where)  # same architecture, no distributed variables
    local.set_weights(model.get_weights())
    return _evaluate_and_export(module, local, data, params, where, export_dir, samples)


def _seed_and_load(module: ModuleType, params: Mapping[str, Any], where: str) -> tuple[Any, ...]:
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(params["seed"]))
    tf.config.experimental.enable_op_determinism()
    data = _call(where, "load_data(params)", module.load_data, dict(params))
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise ConfigError(
            "load_data(params) must return (x_train, y_train, x_eval, y_eval)", file=where
        )
    data = tuple(data)
    x_eval, y_eval = data[2], data[3]
    if len(x_eval) != len(y_eval):
        raise ConfigError(
            f"load_data(params): x_eval has {len(x_eval)} rows, y_eval {len(y_eval)}", file=where
        )
    return data


def _build(module: ModuleType, params: Mapping[str, Any], where: str) -> Any:
    import keras

    model = _call(where, "build_model(params)", module.build_model, dict(params))
    if not isinstance(model, keras.Model):
        raise ConfigError(
            f"build_model(params) returned {type(model).__name__}, not a keras.Model", file=where
        )
    return model


def _fit(
    module: ModuleType,
    model: Any,
    data: tuple[Any, ...],
    params: Mapping[str, Any],
    where: str,
    on_epoch: EpochCallback | None,
) -> None:
    callbacks = [_epoch_callback(on_epoch)] if on_epoch else []
    fit = getattr(module, "fit", None) or _default_fit
    _call(where, "fit(model, data, params, callbacks)", fit, model, data, dict(params), callbacks)


def _evaluate_and_export(
    module: ModuleType,
    model: Any,
    data: tuple[Any, ...],
    params: Mapping[str, Any],
    where: str,
    export_dir: Path,
    samples: int,
) -> TrainingOutcome:
    x_eval, y_eval = data[2], data[3]
    evaluate = getattr(module, "evaluate", None) or _default_evaluate
    raw = _call(where, "evaluate(model, data, params)", evaluate, model, data, dict(params))
    metrics = _metrics(raw, where)
    fingerprint = eval_fingerprint(x_eval, y_eval)
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    model.export(str(export_dir), format="tf_saved_model", verbose=False)
    if not (export_dir / "saved_model.pb").is_file():
        raise ConfigError(f"export wrote no saved_model.pb to {export_dir}", file=where)
    sample = record_sample(export_dir, x_eval, count=samples)
    return TrainingOutcome(metrics, fingerprint, len(y_eval), export_dir, sample)


_PATCHED = False


def _patch_keras_multi_worker() -> None:
    """Work around Keras 3's multi-worker reductions (tensorflow/tensorflow#72388).

    Under ``MultiWorkerMirroredStrategy`` Keras 3's TensorFlow trainer fails in two
    places: its first symbolic build reduces the (x, y) input batch as one value
    ("Attempt to convert a value (PerReplica...)"), and each step reduces scalar
    metrics along axis 0 ("Invalid reduction dimension 0 for input with 0
    dimensions"). The build only needs a batch's shapes, so it gets this worker's own
    batch; a scalar is reduced without an axis. Nothing changes without a multi-worker
    strategy, and nothing is patched if Keras no longer has these functions.
    """
    global _PATCHED
    if _PATCHED:
        return
    try:
        from keras.src import tree
        from keras.src.backend.tensorflow import trainer
    except ImportError:
        return
    reduce_per_replica = getattr(trainer, "reduce_per_replica", None)
    multi_worker = getattr(trainer, "_collective_all_reduce_multi_worker", None)
    cls = getattr(trainer, "TensorFlowTrainer", None)
    if reduce_per_replica is None or multi_worker is None or cls is None:
        return
    import tensorflow as tf

    def reduce_scalars_without_axis(values: Any, strategy: Any, reduction: str) -> Any:
        if not (multi_worker(strategy) and reduction in ("auto", "mean")):
            return reduce_per_replica(values, strategy, reduction)

        def one(value: Any) -> Any:
            rank = getattr(getattr(value, "shape", None), "rank", None)
            return strategy.reduce("MEAN", value, axis=None if rank == 0 else 0)

        return tree.map_structure(one, values)

    def build_from_local_batch(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        if self._distribute_strategy is None:
            return
        strategy = self.distribute_strategy
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tree.map_structure(
                    lambda v: (
                        strategy.experimental_local_results(v)[0]
                        if isinstance(v, tf.distribute.DistributedValues)
                        else v
                    ),
                    next(it),
                )
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_scalars_without_axis
    cls._maybe_symbolic_build = build_from_local_batch
    _PATCHED = True


def _call(where: str, signature: str, fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except ConfigError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(
            f"{signature} raised {type(exc).__name__}: {first}",
            file=where,
            hint="fix the model code; --debug shows the traceback",
        ) from exc


def _default_fit(
    model: Any, data: tuple[Any, ...], params: Mapping[str, Any], callbacks: list[Any]
) -> None:
    x_train, y_train = data[0], data[1]
    model.fit(
        x_train,
        y_train,
        epochs=int(params.get("epochs", 1)),
        batch_size=int(params.get("batch_size", 32)),
        callbacks=callbacks,
        verbose=0,
    )


def _default_evaluate(model: Any, data: tuple[Any, ...], params: Mapping[str, Any]) -> Any:
    return model.evaluate(
        data[2], data[3], batch_size=int(params.get("batch_size", 32)), verbose=0, return_dict=True
    )


def _metrics(raw: Any, where: str) -> dict[str, float]:
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("evaluate(model, data, params) must return a dict of metrics", file=where)
    out: dict[str, float] = {}
    for key, value in raw.items():
        try:
            if isinstance(value, (bool, str, bytes)):
                raise ValueError(f"{value!r} is not a number")
            out[str(key)] = metric_value(float(value))  # numpy and tensor scalars too
        except (TypeError, ValueError, OverflowError) as exc:
            raise ConfigError(
                f"evaluate(model, data, params): metric {key!r}: {exc}", file=where
            ) from None
    return out


def _epoch_callback(on_epoch: EpochCallback) -> Any:
    """A Keras callback reporting each finished epoch (keras is imported only here)."""
    import keras

    class EpochReporter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
            values = {k: float(v) for k, v in (logs or {}).items() if _is_number(v)}
            on_epoch(epoch + 1, values)

    return EpochReporter()


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
