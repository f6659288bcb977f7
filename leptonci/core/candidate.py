"""Candidate: a trained model artifact, its content hash and its evaluation metrics.

A candidate lives in a folder ``ROOT/`` holding the SavedModel in TensorFlow Serving
layout (``ROOT/MODEL/VERSION/saved_model.pb``) and ``ROOT/metrics.json``, which is the
serialised form of this record (with the prediction sample, ``core/parity.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leptonci.core.errors import ConfigError
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
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
        return path


def _json_float(value: float) -> float | str:
    # JSON has no NaN/inf; keep them visible as strings so the gate can fail closed.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def load_metrics_file(path: Path, *, model: str) -> Candidate:
    """A candidate from a metrics file: leptonci's candidate metrics.json, or a plain
    ``{"metric": value}`` object (DVC's format; nested objects become ``a.b``)."""
    where = str(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError("metrics file not found", file=where) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", file=where, line=exc.lineno) from None
    if isinstance(data, dict) and "model" in data and isinstance(data.get("metrics"), dict):
        return load_candidate(path)
    if not isinstance(data, dict):
        raise ConfigError('expected a JSON object: {"metric": value, ...}', file=where)
    metrics: dict[str, float] = {}
    for key, value in _flatten(data):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{key}: {value!r} is not a number", file=where)
        try:
            metrics[key] = float(value)
        except ValueError:
            raise ConfigError(f"{key}: {value!r} is not a number", file=where) from None
    return Candidate(
        model=model,
        version=1,
        root=path.parent,
        content_hash="",
        metrics=metrics,
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
    try:
        data = json.loads(metrics_file.read_text())
    except FileNotFoundError:
        raise ConfigError("metrics file not found", file=where) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", file=where, line=exc.lineno) from None
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object", file=where)
    try:
        metrics = {str(k): float(v) for k, v in dict(data.get("metrics") or {}).items()}
        return Candidate(
            model=str(data["model"]),
            version=int(data.get("version", 1)),
            root=metrics_file.parent,
            content_hash=str(data.get("content_hash", "")),
            metrics=metrics,
            eval_fingerprint=str(data.get("eval_fingerprint", "")),
            eval_count=int(data.get("eval_count", 0)),
            params=dict(data.get("params") or {}),
            versions=dict(data.get("versions") or {}),
            wall_seconds=float(data.get("wall_seconds", 0.0)),
            cached=cached,
            sample=sample_from_dict(data["sample"]) if data.get("sample") else None,
        )
    except KeyError as exc:
        raise ConfigError(f"missing key {exc.args[0]!r}", file=where) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad value: {exc}", file=where) from None
