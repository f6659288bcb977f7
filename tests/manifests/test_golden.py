"""Golden files: each case's input edited with its target equals expected.yaml byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leptonci.manifests import ImageTarget, edit_text
from leptonci.manifests.locate import _FastLocator, _NotSimple, _ruamel_locate
from tests.manifests.shapes import shape

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "input.yaml").is_file())
DEFAULT_TARGET = {
    "name": "leptonci/digits",
    "new_name": "registry.example.com/ml/digits",
    "tag": "r-7f3a9c2e",
    "digest": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}


def _case(name: str) -> tuple[str, str, ImageTarget, str]:
    folder = GOLDEN / name
    options = (
        json.loads((folder / "target.json").read_text())
        if (folder / "target.json").exists()
        else {}
    )
    path = options.pop("path", f"{name}/input.yaml")
    # bytes, not read_text(): universal newlines would hide CRLF
    source = (folder / "input.yaml").read_bytes().decode()
    expected = (folder / "expected.yaml").read_bytes().decode()
    return source, expected, ImageTarget(**{**DEFAULT_TARGET, **options}), path


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 12


@pytest.mark.parametrize("name", CASES)
def test_golden_byte_for_byte(name: str) -> None:
    source, expected, target, path = _case(name)
    assert edit_text(source, target, path=path) == expected


@pytest.mark.parametrize("name", CASES)
def test_golden_edit_is_idempotent(name: str) -> None:
    _, expected, target, path = _case(name)
    assert edit_text(expected, target, path=path) == expected


def _plain_block_files() -> list[tuple[str, str]]:
    """The golden files the fast locator reads itself (the rest go to ruamel.yaml)."""
    out = []
    for name in CASES:
        for which in ("input", "expected"):
            try:
                _FastLocator((GOLDEN / name / f"{which}.yaml").read_bytes().decode()).documents()
            except _NotSimple:
                continue
            out.append((name, which))
    return out


@pytest.mark.parametrize(("name", "which"), _plain_block_files())
def test_fast_locator_agrees_with_ruamel(name: str, which: str) -> None:
    text = (GOLDEN / name / f"{which}.yaml").read_bytes().decode()
    fast = _FastLocator(text).documents()
    slow = [doc for doc in _ruamel_locate(text, path=name) if doc is not None]
    assert [shape(d) for d in fast] == [shape(d) for d in slow]


def test_crlf_case_really_has_crlf() -> None:
    raw = (GOLDEN / "crlf_kustomization" / "expected.yaml").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") > 5
