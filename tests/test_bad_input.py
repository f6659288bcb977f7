"""The bad-input corpus: every broken config or manifest gives exit 2, its error first.

`validate` reports every error it finds, one line each; a corpus file has one fault, so
its error comes first (a typo may add the "required key missing" it causes).

Each file in tests/bad_input/ starts with comments saying what it expects:
``# expect: line=N key=PATH`` (and, for manifests, ``# target: FILE`` to replace).

``replies/`` holds what the fuzz tests (tests/fuzz/) found crashing a parser that is not
`validate`'s: ``PARSER.CASE.OUTCOME.EXT``, read by the fuzz test's own parser call, must
end in OUTCOME ("ok" or the LeptonError class it raises).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from leptonci.adapters.images.candidates import check_metrics
from leptonci.adapters.images.registry import _error_codes
from leptonci.adapters.images.registry_http import error_text
from leptonci.adapters.images.transfer import load_registry_base
from leptonci.core.errors import ExitCode
from leptonci.core.images import BaseRef
from leptonci.core.trailers import CommitTrailers, history_from_commits, parse_trailers
from tests.fuzz.outcome import outcome
from tests.fuzz.test_github import PULL, _event, _github
from tests.fuzz.test_registry import (
    CONFIG_BLOB,
    IMAGE,
    FakeClient,
    _candidate,
    _referrers,
    _response,
    _token,
)
from tests.fuzz.test_trailers import _history

CORPUS = Path(__file__).parent / "bad_input"
CONFIGS = sorted((CORPUS / "configs").glob("*.yaml"))
MANIFESTS = sorted((CORPUS / "manifests").glob("*.yaml"))
REPLIES = sorted((CORPUS / "replies").iterdir())
OUTSIDE = ExitCode.OUTSIDE


def _trailers(data: bytes) -> None:
    _history([data.decode()])
    commits = [CommitTrailers("a" * 40, parse_trailers(data.decode().splitlines()))]
    assert history_from_commits("dev", commits) == [], "a malformed block is not a record"


def _base(data: bytes) -> None:
    base = BaseRef("registry", "registry.test", "library/python", "3.11")
    load_registry_base(base, FakeClient([data, IMAGE.encode()], CONFIG_BLOB.encode()))


def _metrics(data: bytes) -> None:
    check_metrics(data, model="digits", content_hash="ff" * 32, where="cache")


def _error_body(data: bytes) -> None:
    response = _response(404, data)
    error_text(response)
    _error_codes(response)


def _auto_merge(data: bytes) -> None:
    _github([data]).enable_auto_merge(pull=PULL, method="merge", headline="h", body="b")


PARSERS: dict[str, tuple[Callable[[bytes], object], ExitCode]] = {
    "trailers": (_trailers, ExitCode.BAD_INPUT),
    "registry-base": (_base, OUTSIDE),
    "registry-candidate": (_candidate, OUTSIDE),
    "registry-metrics": (_metrics, OUTSIDE),
    "registry-referrers": (_referrers, OUTSIDE),
    "registry-token": (_token, OUTSIDE),
    "registry-error": (_error_body, OUTSIDE),
    "github-event": (_event, OUTSIDE),
    "github-automerge": (_auto_merge, OUTSIDE),
}


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


def test_every_reply_has_a_parser() -> None:
    assert len(REPLIES) >= 15
    assert {p.name.split(".")[0] for p in REPLIES} == set(PARSERS)


@pytest.mark.parametrize("case", REPLIES, ids=lambda p: p.name)
def test_fuzz_found_reply(case: Path) -> None:
    """Each ended in an internal error before the fix; now in its documented outcome."""
    parser, _, expected, _ = case.name.split(".")
    call, code = PARSERS[parser]
    assert outcome(parser, partial(call, case.read_bytes()), code=code) == expected
