"""Digits: a small Keras CNN on scikit-learn's bundled 8x8 handwritten digits.

The leptonci training contract (docs/training.md): leptonci imports this file, seeds
every random generator from params["seed"], calls load_data and build_model, fits,
evaluates on the held-out split and exports the SavedModel for TensorFlow Serving.
No download: load_digits ships inside scikit-learn.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

EVAL_FRACTION = 0.2


def load_data(params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    digits = load_digits()
    # Pixels are 0..16; scale to 0..1 and add the channel axis the CNN expects.
    images = (digits.images / 16.0).astype("float32")[..., np.newaxis]
    labels = digits.target.astype("int64")
    x_train, x_eval, y_train, y_eval = train_test_split(
        images,
        labels,
        test_size=EVAL_FRACTION,
        random_state=int(params["seed"]),
        stratify=labels,
    )
    return x_train, y_train, x_eval, y_eval


def build_model(params: dict[str, Any]) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1), name="image"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax", name="digit"),
        ],
        name="digits",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(params.get("learning_rate", 0.002))),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
