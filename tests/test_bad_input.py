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

import json
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
from leptonci.cli import main
from leptonci.core.errors import ExitCode
from leptonci.core.images import BaseRef
from leptonci.core.ledger import ReleaseRecord
from leptonci.core.trailers import CommitTrailers, history_from_commits, parse_trailers
from leptonci.manifests import ImageTarget, edit_folder
from tests.fixtures.git_repo import Clone
from tests.fuzz.outcome import outcome
from tests.fuzz.test_github import PULL, _event, _github
from tests.fuzz.test_manifests import KUSTOMIZATION
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
TARGET = ImageTarget(
    name="leptonci/digits",
    new_name="registry.test/ml/digits",
    tag="digits-1",
    digest="sha256:" + "ab" * 32,
)


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


def _kustomization_edit(data: bytes) -> None:
    edit_folder({KUSTOMIZATION: data.decode()}, TARGET)


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
    "kustomization-edit": (_kustomization_edit, ExitCode.BAD_INPUT),
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


def _check(result: subprocess.CompletedProcess[str], file: str, at: int, key: str | None) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    message = lines[0]
    # one fault: its error, maybe the "required key missing" it causes, or the same
    # line once per overlay that renders it
    same_line = all(f" {file}:{at}: " in f" {text}" for text in lines)
    assert 1 <= len(lines) <= 2 or same_line, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{file}:{at}:" in message, message
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


# -- what every file read refuses: bytes, sizes, symlinks (leptonci/core/files.py) -------

READ_BY_VALIDATE = [
    "leptonci.yaml",
    "environments/dev/ledger.yaml",
    "environments/dev/kustomization.yaml",
    "environments/base/deployment.yaml",
]


def _leptonci(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leptonci", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("target", READ_BY_VALIDATE)
def test_bytes_that_are_not_utf8_are_one_line_naming_file_and_line(
    target: str, example_repo: Path
) -> None:
    path = example_repo / target
    lines = path.read_bytes().split(b"\n")
    lines[2] += b"  # caf\xe9 (latin-1)"
    path.write_bytes(b"\n".join(lines))
    result = _validate(example_repo)
    _check(result, target, 3, None)
    assert "not UTF-8 text (byte 0xe9 on this line)" in result.stderr


def test_a_ledger_that_is_not_utf8_stops_status_too(example_repo: Path) -> None:
    (example_repo / "environments/prod/ledger.yaml").write_bytes(b"environment: prod\n\xff\n")
    result = _leptonci(example_repo, "status")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("leptonci: error: environments/prod/ledger.yaml:2: not UTF-8")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("target", "command"),
    [
        ("environments/dev/kustomization.yaml", ["validate"]),
        ("environments/dev/ledger.yaml", ["validate"]),
        ("environments/dev/ledger.yaml", ["status"]),
        ("environments/staging/kustomization.yaml", ["history", "staging"]),
        ("leptonci.yaml", ["status"]),
    ],
)
def test_a_50_mb_file_is_refused_before_it_is_read(
    target: str, command: list[str], example_repo: Path
) -> None:
    """The bound (core/files.py MAX_FILE_BYTES, 2 MiB) is checked on the file's size."""
    path = example_repo / target
    with path.open("ab") as fh:
        fh.write(b"# padding\n" * 5_000_000)
    result = _leptonci(example_repo, *command)
    assert result.returncode == 2, result.stderr
    first = result.stderr.strip().splitlines()[0]
    assert f"{target}: file is 5" in first, first
    assert "bytes, more than leptonci reads (2,097,152)" in first, first


def _link_out(root: Path, target: str, outside: Path) -> None:
    path = root / target
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)


@pytest.mark.parametrize(
    "target", ["environments/dev/kustomization.yaml", "environments/dev/ledger.yaml"]
)
def test_validate_refuses_an_environment_file_linked_out_of_the_repository(
    target: str, example_repo: Path, tmp_path: Path
) -> None:
    _link_out(example_repo, target, tmp_path / "elsewhere.yaml")
    result = _validate(example_repo)
    assert result.returncode == 2, result.stderr
    assert f"{target}: leads to {tmp_path / 'elsewhere.yaml'}, outside the repository" in (
        result.stderr
    )


@pytest.mark.parametrize(
    "command",
    [
        ["promote", "--to", "staging", "--dry-run"],
        ["rollback", "dev", "--dry-run"],
        ["history", "staging"],
        ["validate"],
    ],
)
def test_a_committed_kustomization_linked_out_of_the_repository_is_refused_everywhere(
    command: list[str],
    example_clone: Clone,
    release_in_dev: ReleaseRecord,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Read from the working tree (validate, history) or from the remote's tip (the
    planners, through git): the same refusal, exit 2, before anything is planned."""
    target = "environments/staging/kustomization.yaml"
    _link_out(example_clone.root, target, tmp_path / "elsewhere.yaml")
    example_clone.git("add", target)
    example_clone.git("commit", "--quiet", "-m", "staging's overlay lives elsewhere")
    example_clone.git("push", "--quiet", "origin", "main")
    assert main(["-C", str(example_clone.root), *command]) == 2
    err = capsys.readouterr().err
    assert f"{target}: leads to " in err and "outside the repository" in err, err


BAD_METRICS = [
    (True, "True is not a number"),
    ("0.99", "'0.99' is a string, not a number"),
    (None, "None is not a number"),
    ([0.9], "[0.9] is not a number"),
    (10**400, "is too large for a float"),
    (float("nan"), "nan is not a finite number"),
    (float("inf"), "inf is not a finite number"),
]


@pytest.mark.parametrize(("value", "why"), BAD_METRICS, ids=[w for _, w in BAD_METRICS])
@pytest.mark.parametrize("shape", ["candidate", "plain"])
def test_a_metric_that_is_not_a_finite_float_refuses_the_candidate(
    value: object, why: str, shape: str, example_repo: Path, tmp_path: Path
) -> None:
    """In leptonci's candidate metrics.json or a plain {"metric": value} file: exit 2,
    one line naming the file and the metric; the gate never sees the value."""
    metrics = {"accuracy": value, "loss": 0.1}
    data: dict[str, object] = metrics
    if shape == "candidate":
        data = {"model": "digits", "version": 1, "content_hash": "sha256:00", "metrics": metrics}
        data |= {"eval_fingerprint": "sha256:11", "eval_count": 10}
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(data))  # NaN and Infinity as Python's json writes them
    result = _leptonci(example_repo, "gate", "digits", "--metrics", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"{path}: metric 'accuracy': " in result.stderr and why in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_planner_refuses_a_committed_alias_bomb_naming_file_and_line(
    example_clone: Clone,
    release_in_dev: ReleaseRecord,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The promotion reads staging's overlay from the remote's tip and locates its image
    fields with the manifest editor's own parser: bounded too (core/yamldoc.py)."""
    target = "environments/staging/kustomization.yaml"
    text = (CORPUS / "manifests" / "alias_bomb_kustomization.yaml").read_text()
    line, _ = _expect(text)
    (example_clone.root / target).write_text(text)
    example_clone.git("commit", "--quiet", "-am", "staging's overlay laughs")
    example_clone.git("push", "--quiet", "origin", "main")
    assert main(["-C", str(example_clone.root), "promote", "--to", "staging", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"{target}:{line}: " in err and "aliases expand past 10,000 nodes" in err, err


def test_every_reply_has_a_parser() -> None:
    assert len(REPLIES) >= 15
    assert {p.name.split(".")[0] for p in REPLIES} == set(PARSERS)


@pytest.mark.parametrize("case", REPLIES, ids=lambda p: p.name)
def test_fuzz_found_reply(case: Path) -> None:
    """Each ended in an internal error before the fix; now in its documented outcome."""
    parser, _, expected, _ = case.name.split(".")
    call, code = PARSERS[parser]
    assert outcome(parser, partial(call, case.read_bytes()), code=code) == expected
