"""Fuzz metrics files: a candidate's metrics.json and a plain {"metric": value} file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given

from leptonci.core.candidate import load_candidate, load_metrics_file
from tests.fuzz.mutate import as_text, documents
from tests.fuzz.outcome import fuzz_settings, outcome

CANDIDATE = json.dumps(
    {
        "model": "digits",
        "version": 1,
        "content_hash": "ab" * 32,
        "metrics": {"accuracy": 0.93, "loss": 0.21},
        "eval_fingerprint": "e" * 16,
        "eval_count": 1797,
        "params": {"epochs": 3, "batch_size": 64},
        "versions": {"tensorflow": "2.16.1"},
        "wall_seconds": 12.5,
    },
    indent=2,
)
PLAIN = json.dumps({"accuracy": 0.93, "eval": {"loss": 0.21, "auc": 0.99}}, indent=2)
# one folder for every case; each case overwrites the one file leptonci reads
FOLDER = Path(tempfile.mkdtemp(prefix="leptonci-fuzz-metrics-"))
FILE = FOLDER / "metrics.json"


def _file(data: bytes) -> Path:
    # Valid UTF-8 only: decoding every file read in one place is #11 item 9's (the
    # fuzzer's non-UTF-8 bytes give UnicodeDecodeError here until it lands).
    FILE.write_bytes(as_text(data).encode())
    return FILE


def test_the_seeds_load() -> None:
    assert outcome("metrics.json", lambda: load_candidate(_file(CANDIDATE.encode()))) == "ok"
    assert outcome("metrics.json", lambda: load_metrics_file(_file(PLAIN.encode()), model="m"))


@fuzz_settings(400)
@given(documents(CANDIDATE, "json"))
def test_candidate_file(data: bytes) -> None:
    path = _file(data)
    outcome("metrics.json", lambda: load_candidate(path), file=str(path))


@fuzz_settings(400)
@given(documents(PLAIN, "json") | documents(CANDIDATE, "json"))
def test_metrics_file(data: bytes) -> None:
    path = _file(data)
    outcome("metrics file", lambda: load_metrics_file(path, model="digits"), file=str(path))
