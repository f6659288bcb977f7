"""Candidate: a trained model artifact, its content hash and its evaluation metrics.

A candidate lives in a folder ``ROOT/`` holding the SavedModel in TensorFlow Serving
layout (``ROOT/MODEL/VERSION/saved_model.pb``) and ``ROOT/metrics.json``, which is the
serialised form of this record (with the prediction sample, ``core/parity.py``).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leptonci.core.errors import ConfigError
from leptonci.core.files import read_text, write_atomic
from leptonci.core.parity import Sample, sample_from_dict

METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class Candidate:
    model: str
    version: int  # the TF Serving version folder, a positive integer
    root: Path  # folder holding MODEL/VERSION/ and metrics.json
    content_hash: str  # "sha256:..." over the model's inputs (code, config, data, leptonci)
    metrics: Mapping[str, float]
    eval_fingerprint: str  # "sha256:..." over the eval split
    eval_count: int | None  # None: unknown (a plain metrics file)
    params: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0
    cached: bool = False
    sample: Sample | None = None  # prediction parity: eval inputs and the model's outputs

    @property
    def export_dir(self) -> Path:
        return self.root / self.model / str(self.version)

    @property
    def short_hash(self) -> str:
        return self.content_hash.split(":", 1)[-1][:12]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "content_hash": self.content_hash,
            "metrics": {k: _json_float(v) for k, v in self.metrics.items()},
            "eval_fingerprint": self.eval_fingerprint,
            "eval_count": self.eval_count,
            "params": dict(self.params),
            "versions": dict(self.versions),
            "wall_seconds": round(self.wall_seconds, 3),
            **({"sample": self.sample.to_dict()} if self.sample else {}),
        }

    def write(self) -> Path:
        path = self.root / METRICS_FILE
        write_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path


def _json_float(value: float) -> float | str:
    # JSON has no NaN/inf; keep them visible as strings so the gate can fail closed.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def metric_value(value: Any) -> float:
    """value as a metric: a finite number (an int or a float, never a bool or a string),
    else ValueError saying what it is instead."""
    if isinstance(value, str):
        raise ValueError(f"{value!r} is a string, not a number")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{value!r} is too large for a float") from None
    if not math.isfinite(number):
        raise ValueError(f"{number} is not a finite number")
    return number


def checked_metrics(items: Iterable[tuple[Any, Any]], *, file: str) -> dict[str, float]:
    """Metrics by name, each a finite float; anything else refuses the candidate (exit 2)."""
    metrics: dict[str, float] = {}
    for key, value in items:
        try:
            metrics[str(key)] = metric_value(value)
        except ValueError as exc:
            raise ConfigError(
                f"metric {str(key)!r}: {exc}",
                file=file,
                hint="metrics are finite numbers; the candidate is refused",
            ) from None
    return metrics


def _read_json(path: Path) -> Any:
    where = str(path)
    try:
        return json.loads(read_text(path))
    except FileNotFoundError:
        raise ConfigError("metrics file not found", file=where) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", file=where, line=exc.lineno) from None
    except RecursionError:
        raise ConfigError("not valid JSON: nested too deeply", file=where) from None


def load_metrics_file(path: Path, *, model: str) -> Candidate:
    """A candidate from a metrics file: leptonci's candidate metrics.json, or a plain
    ``{"metric": value}`` object (DVC's format; nested objects become ``a.b``)."""
    data = _read_json(path)
    if isinstance(data, dict) and "model" in data and isinstance(data.get("metrics"), dict):
        return load_candidate(path)
    if not isinstance(data, dict):
        raise ConfigError('expected a JSON object: {"metric": value, ...}', file=str(path))
    return Candidate(
        model=model,
        version=1,
        root=path.parent,
        content_hash="",
        metrics=checked_metrics(_flatten(data), file=str(path)),
        eval_fingerprint="",
        eval_count=None,
    )


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out += _flatten(value, f"{name}.")
        else:
            out.append((name, value))
    return out


def load_candidate(metrics_file: Path, *, cached: bool = False) -> Candidate:
    """Read a candidate back from its metrics.json; a malformed file is a config error."""
    where = str(metrics_file)
    data = _read_json(metrics_file)
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object", file=where)
    metrics = data.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise ConfigError("metrics: expected an object of metric: number", file=where)
    try:
        return Candidate(
            model=str(data["model"]),
            version=_count(data.get("version", 1), "version"),
            root=metrics_file.parent,
            content_hash=str(data.get("content_hash", "")),
            metrics=checked_metrics(metrics.items(), file=where),
            eval_fingerprint=str(data.get("eval_fingerprint", "")),
            eval_count=_count(data.get("eval_count", 0), "eval_count"),
            params=dict(data.get("params") or {}),
            versions=dict(data.get("versions") or {}),
            wall_seconds=metric_value(data.get("wall_seconds", 0.0)),
            cached=cached,
            sample=sample_from_dict(data["sample"]) if data.get("sample") else None,
        )
    except KeyError as exc:
        raise ConfigError(f"missing key {exc.args[0]!r}", file=where) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad value: {exc}", file=where) from None


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} {value!r} is not a count")
    return value
