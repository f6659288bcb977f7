"""The bad-input corpus: every broken config or manifest gives exit 2, its error first.

`validate` reports every error it finds, one line each; a corpus file has one fault, so
its error comes first (a typo may add the "required key missing" it causes).

Each file in tests/bad_input/ starts with comments saying what it expects:
``# expect: line=N key=PATH`` (and, for manifests, ``# target: FILE`` to replace).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "bad_input"
CONFIGS = sorted((CORPUS / "configs").glob("*.yaml"))
MANIFESTS = sorted((CORPUS / "manifests").glob("*.yaml"))


def _expect(text: str) -> tuple[int, str | None]:
    m = re.search(r"# expect: line=(\d+)(?: key=(\S+))?", text)
    assert m, "corpus file lacks '# expect:'"
    return int(m.group(1)), m.group(2)


def _validate(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leptonci", "-C", str(root), "validate"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _check(result: subprocess.CompletedProcess[str], file: str, line: int, key: str | None) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    message = lines[0]
    assert "Traceback" not in result.stderr
    assert f"{file}:{line}:" in message, message
    if key:
        assert f" {key}:" in message, message


def test_corpus_is_big_enough() -> None:
    assert len(CONFIGS) + len(MANIFESTS) >= 20


@pytest.mark.parametrize("case", CONFIGS, ids=lambda p: p.stem)
def test_broken_config(case: Path, example_repo: Path) -> None:
    text = case.read_text()
    (example_repo / "leptonci.yaml").write_text(text)
    line, key = _expect(text)
    _check(_validate(example_repo), "leptonci.yaml", line, key)


@pytest.mark.parametrize("case", MANIFESTS, ids=lambda p: p.stem)
def test_broken_manifest(case: Path, example_repo: Path) -> None:
    text = case.read_text()
    target = re.search(r"# target: (\S+)", text)
    assert target
    (example_repo / target.group(1)).write_text(text)
    line, key = _expect(text)
    _check(_validate(example_repo), target.group(1), line, key)


def test_example_is_valid(example_repo: Path) -> None:
    result = _validate(example_repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("valid")


def test_a_yaml_error_in_a_later_document_names_file_and_line_once(example_repo: Path) -> None:
    target = "environments/base/service.yaml"
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\nkind: [Service\n"
    (example_repo / target).write_text(text)
    result = _validate(example_repo)
    _check(result, target, 7, None)
    message = result.stderr.strip()
    assert message.count(target) == 1, message
    assert f"{target}:7: invalid YAML: " in message, message


def test_validate_reports_every_error_it_finds(example_repo: Path) -> None:
    """Two broken overlays: both reported, one line each, exit 2."""
    for env in ("staging", "prod"):
        path = example_repo / "environments" / env / "kustomization.yaml"
        path.write_text(path.read_text() + "  - [broken\n")
    result = _validate(example_repo)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, lines
    assert "environments/staging/kustomization.yaml:" in lines[0]
    assert "environments/prod/kustomization.yaml:" in lines[1]
    assert "2 error(s) found" in result.stdout
