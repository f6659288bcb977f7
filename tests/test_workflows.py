"""The GitHub workflows and action.yml: valid, pinned, least-privilege, injection-free.

Two real tools check them (zizmor offline, check-jsonschema with GitHub's schemas);
the rest are the rules the design sets, read straight from the YAML.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.services import require

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
ACTION = REPO / "action.yml"
ALL = [*WORKFLOWS, ACTION]
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        require(name, f"install it with pip install {name}")
    return found


def steps(doc: Any) -> list[dict[str, Any]]:
    if "runs" in doc:
        return list(doc["runs"]["steps"])
    return [s for job in doc["jobs"].values() for s in job.get("steps", [])]


def test_the_expected_workflows_exist() -> None:
    names = {p.stem for p in WORKFLOWS}
    assert names == {"ci", "model-gate", "release", "promote", "rollback"}


def test_zizmor_finds_nothing_medium_or_worse() -> None:
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--format", "json", *map(str, ALL)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert result.stdout.strip(), result.stderr
    findings = json.loads(result.stdout)
    serious = [
        f"{f['ident']} ({f['determinations']['severity']}): {f['desc']} in "
        f"{f['locations'][0]['symbolic']['key']['Local']['verbatim_path']}"
        for f in findings
        if f["determinations"]["severity"] not in ("Unknown", "Informational", "Low")
    ]
    assert not serious, "\n".join(serious)


@pytest.mark.parametrize(
    ("schema", "paths"),
    [("vendor.github-workflows", WORKFLOWS), ("vendor.github-actions", [ACTION])],
)
def test_files_match_githubs_schemas(schema: str, paths: list[Path]) -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_third_party_actions_are_pinned_by_sha_with_version(path: Path) -> None:
    lines = path.read_text().splitlines()
    for line in lines:
        found = re.match(r"\s*(?:- )?uses:\s*(\S+)(.*)", line)
        if not found or found.group(1).startswith("./"):
            continue
        assert PINNED.match(found.group(1)), line
        assert re.search(r"#\s*v\d+\.\d+\.\d+", found.group(2)), f"no version comment: {line}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_no_expression_reaches_a_shell(path: Path) -> None:
    for step in steps(load(path)):
        assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name')}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkout_keeps_credentials_only_where_the_job_pushes(path: Path) -> None:
    doc = load(path)
    assert doc["permissions"] == {}, "permissions are granted per job"
    for job in doc["jobs"].values():
        pushes = job.get("permissions", {}).get("contents") == "write"
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is pushes, path.name


def test_model_gate_is_fork_safe() -> None:
    path = REPO / ".github" / "workflows" / "model-gate.yml"
    doc, text = load(path), path.read_text()
    assert list(doc["on"]) == ["pull_request"]
    assert "pull_request_target:" not in text and "pull_request_target\n" not in text
    [job] = doc["jobs"].values()
    assert job["permissions"] == {
        "contents": "read",
        "pull-requests": "write",
        "statuses": "write",
    }
    assert "secrets." not in text
    assert job["steps"][-1]["run"] == "leptonci run pull-request"


def test_release_queues_per_environment() -> None:
    doc = load(REPO / ".github" / "workflows" / "release.yml")
    assert doc["on"] == {"push": {"branches": ["main"]}}
    assert doc["concurrency"] == {"group": "leptonci-env-dev", "cancel-in-progress": False}
    assert steps(doc)[-1]["run"] == "leptonci run push"


@pytest.mark.parametrize("name", ["promote", "rollback"])
def test_manual_flows_run_in_the_chosen_environment(name: str) -> None:
    doc = load(REPO / ".github" / "workflows" / f"{name}.yml")
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["type"] == "choice" and "prod" in inputs["environment"]["options"]
    assert inputs["release"]["required"] is False
    [job] = doc["jobs"].values()
    assert job["environment"] == "${{ inputs.environment }}"
    assert doc["concurrency"] == {
        "group": "leptonci-env-${{ inputs.environment }}",
        "cancel-in-progress": False,
    }
    run = steps(doc)[-1]
    assert set(run["env"]) >= {"ENVIRONMENT", "RELEASE", "GITHUB_TOKEN"}


def test_action_caches_the_training_cache() -> None:
    doc = load(ACTION)
    assert doc["runs"]["using"] == "composite"
    [cache] = [s for s in steps(doc) if s.get("uses", "").startswith("actions/cache@")]
    assert cache["with"]["path"] == ".leptonci/cache"
