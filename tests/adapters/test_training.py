"""The training runtime: loading train.py, contract violations, eval fingerprints."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from leptonci.adapters import training
from leptonci.core.errors import ConfigError, ExitCode

TINY_TRAIN = """
import keras
import numpy as np

def load_data(params):
    rng = np.random.default_rng(params["seed"])
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    return x[:48], y[:48], x[48:], y[48:]

def build_model(params):
    model = keras.Sequential([keras.Input((4,), name="features"), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
"""


def model_folder(tmp_path: Path, source: str, name: str = "tiny") -> Path:
    folder = tmp_path / "model_repo" / name
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(textwrap.dedent(source))
    return folder


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def load_data(params):\n    return ()\n", "missing function build_model(params)"),
        ("def build_model(params):\n    return None\n", "missing function load_data(params)"),
        (
            "def load_data(p): ...\ndef build_model(p): ...\nfit = 3\n",
            "fit is not a function fit(model, data, params, callbacks)",
        ),
        ("raise RuntimeError('boom')\n", "import failed: RuntimeError: boom"),
    ],
)
def test_contract_violations_are_config_errors(tmp_path: Path, source: str, message: str) -> None:
    folder = model_folder(tmp_path, source)
    with pytest.raises(ConfigError) as info:
        training.load_train_module(folder, model="tiny", display="model_repo/tiny")
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert str(info.value).startswith(f"model_repo/tiny/train.py: {message}")


def test_missing_train_py(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"model_repo/empty/train.py: file not found"):
        training.load_train_module(tmp_path / "empty", model="empty", display="model_repo/empty")


def test_modules_get_unique_names_and_can_import_siblings(tmp_path: Path) -> None:
    a = model_folder(tmp_path, "import helper\nload_data = build_model = helper.f\n", "a")
    (a / "helper.py").write_text("def f(params):\n    return params\n")
    b = model_folder(tmp_path, "def load_data(p): ...\ndef build_model(p): ...\n", "b")
    mod_a = training.load_train_module(a, model="a", display="a")
    mod_b = training.load_train_module(b, model="b", display="b")
    assert mod_a.__name__ != mod_b.__name__
    assert mod_a.load_data({"x": 1}) == {"x": 1}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ("def load_data(params):\n    return 1, 2\n", "load_data(params) must return"),
        ("def build_model(params):\n    return 'model'\n", "returned str, not a keras.Model"),
        (
            "def build_model(params):\n    raise ValueError('bad layer')\n",
            "build_model(params) raised ValueError: bad layer",
        ),
        (
            "def evaluate(model, data, params):\n    return {'acc': 'high'}\n",
            "metric 'acc': 'high' is not a number",
        ),
        (
            "def evaluate(model, data, params):\n    return {'acc': float('nan')}\n",
            "metric 'acc': nan is not a finite number",
        ),
    ],
)
def test_hook_results_are_checked(tmp_path: Path, patch: str, message: str) -> None:
    folder = model_folder(tmp_path, TINY_TRAIN + "\n" + patch)
    module = training.load_train_module(folder, model="tiny", display="model_repo/tiny")
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        training.train_and_export(
            module,
            params={"seed": 1, "epochs": 1},
            export_dir=tmp_path / "out" / "tiny" / "1",
            display="model_repo/tiny",
        )
    assert str(info.value).startswith("model_repo/tiny/train.py: ")


def test_tiny_model_trains_with_custom_hooks(tmp_path: Path) -> None:
    hooks = """
calls = []

def fit(model, data, params, callbacks):
    calls.append("fit")
    model.fit(data[0], data[1], epochs=3, verbose=0, callbacks=callbacks)

def evaluate(model, data, params):
    calls.append("evaluate")
    return {"answer": 42}
"""
    folder = model_folder(tmp_path, TINY_TRAIN + hooks)
    module = training.load_train_module(folder, model="tiny", display="model_repo/tiny")
    epochs: list[int] = []
    outcome = training.train_and_export(
        module,
        params={"seed": 1},
        export_dir=tmp_path / "out" / "tiny" / "1",
        display="model_repo/tiny",
        on_epoch=lambda epoch, logs: epochs.append(epoch),
    )
    assert module.calls == ["fit", "evaluate"]
    assert epochs == [1, 2, 3]
    assert outcome.metrics == {"answer": 42.0}
    assert outcome.eval_count == 16
    assert (outcome.export_dir / "saved_model.pb").is_file()


def test_eval_fingerprint_covers_dtype_shape_and_bytes() -> None:
    x = np.arange(6, dtype="float32")
    base = training.eval_fingerprint(x, np.arange(3))
    assert base.startswith("sha256:") and len(base) == 7 + 64
    assert training.eval_fingerprint(x.copy(), np.arange(3)) == base
    assert training.eval_fingerprint(x.reshape(2, 3), np.arange(3)) != base
    assert training.eval_fingerprint(x.astype("float64"), np.arange(3)) != base
    assert training.eval_fingerprint(x + 1, np.arange(3)) != base


def test_library_versions_do_not_import_tensorflow() -> None:
    versions = training.library_versions()
    assert set(versions) >= {"tensorflow", "numpy", "scikit-learn", "leptonci"}
