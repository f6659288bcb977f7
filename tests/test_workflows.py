"""The GitHub workflows and action.yml: valid, pinned, least-privilege, injection-free.

Two real tools check them (zizmor offline, check-jsonschema with GitHub's schemas);
the rest are the rules the design sets, read straight from the YAML.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from leptonci.cli import build_parser
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
    assert names == {"ci", "model-gate", "release", "promote", "rollback", "resume", "unblock"}


def test_the_workflows_are_what_leptonci_workflows_writes_from_leptonci_yaml() -> None:
    """`leptonci workflows --check`: every generated file is committed and up to date."""
    result = subprocess.run(
        [sys.executable, "-m", "leptonci", "-C", str(REPO), "workflows", "--check"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_action_runs_on_a_retired_node_runtime() -> None:
    """actionlint flags node20 for checkout v4, setup-python v5 and cache v4: the pins
    are at the majors that run on node24."""
    node24 = {
        "actions/checkout": 5,
        "actions/setup-python": 6,
        "actions/cache": 5,
        "actions/create-github-app-token": 2,
    }
    for path in ALL:
        for action, version in re.findall(
            r"uses:\s*([\w-]+/[\w-]+)@[0-9a-f]{40}\s*#\s*v(\d+)", path.read_text()
        ):
            assert int(version) >= node24.get(action, 0), f"{path.name}: {action} v{version}"


def test_dependabot_keeps_the_pins_current() -> None:
    path = REPO / ".github" / "dependabot.yml"
    doc = load(path)
    assert {"package-ecosystem": "github-actions", "directory": "/"}.items() <= doc["updates"][
        0
    ].items()
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_action_exposes_what_the_commands_produce() -> None:
    doc = load(ACTION)
    assert set(doc["outputs"]) >= {
        "gate",
        "verdict",
        "release",
        "image",
        "digest",
        "environments",
        "pull-request",
        "commit",
    }
    for name, output in doc["outputs"].items():
        assert output["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
    assert set(doc["branding"]) == {"icon", "color"}


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
        "checks": "write",
    }
    assert "secrets." not in text
    assert job["steps"][-1]["run"] == "leptonci run pull-request"


def test_release_queues_per_environment() -> None:
    doc = load(REPO / ".github" / "workflows" / "release.yml")
    assert doc["on"] == {"push": {"branches": ["main"]}}
    assert doc["concurrency"] == {"group": "leptonci-env-dev", "cancel-in-progress": False}
    assert steps(doc)[-1]["run"] == "leptonci run push"


@pytest.mark.parametrize("name", ["promote", "rollback", "resume", "unblock"])
def test_manual_flows_run_in_the_chosen_environment(name: str) -> None:
    doc = load(REPO / ".github" / "workflows" / f"{name}.yml")
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["type"] == "choice" and "prod" in inputs["environment"]["options"]
    if "release" in inputs:
        assert inputs["release"]["required"] is False
    [job] = doc["jobs"].values()
    assert job["environment"] == "${{ inputs.environment }}"
    assert doc["concurrency"] == {
        "group": "leptonci-env-${{ inputs.environment }}",
        "cancel-in-progress": False,
    }
    run = steps(doc)[-1]
    assert set(run["env"]) >= {"ENVIRONMENT", "GITHUB_TOKEN"}


def test_action_caches_the_training_cache() -> None:
    doc = load(ACTION)
    assert doc["runs"]["using"] == "composite"
    [cache] = [s for s in steps(doc) if s.get("uses", "").startswith("actions/cache@")]
    assert cache["with"]["path"] == "${{ inputs.cache-path }}"
    # the default is the example's cache: folder
    assert doc["inputs"]["cache-path"]["default"] == load(REPO / "leptonci.yaml")["cache"]


# -- the leptonci command lines the workflows run ---------------------------------------

ENV_NAMES = [e["name"] for e in load(REPO / "leptonci.yaml")["environments"]]
# Values for the step variables that carry workflow inputs, one run per combination.
INPUTS: dict[str, list[str]] = {
    "ENVIRONMENT": ["prod"],
    "RELEASE": ["", "digits-3f2a9c1b7d4e"],
    "REASON": ["bad latency"],
    "TARGET": ["digits-3f2a9c1b7d4e"],
    "LEPTONCI_COMMAND": ["run pull-request"],
}


def leptonci_calls(script: str, env: dict[str, str], tmp_path: Path) -> list[list[str]]:
    """Run a step's shell script with a stub `leptonci` on PATH; return its argument lists."""
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls.jsonl"
    calls.write_text("")
    stub = stub_dir / "leptonci"
    stub.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"with open({str(calls)!r}, 'a') as f: f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    stub.chmod(0o755)
    path = f"{stub_dir}:{os.environ['PATH']}"
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env={**os.environ, **env, "PATH": path},
        check=True,
        timeout=60,
    )
    return [json.loads(line) for line in calls.read_text().splitlines()]


def invocations(tmp_path: Path) -> list[tuple[str, dict[str, Any], argparse.Namespace]]:
    """(file, job, parsed args) for every leptonci call in every workflow and action.yml."""
    parser = build_parser()
    found = []
    for path in ALL:
        doc = load(path)
        jobs = [doc["runs"]] if "runs" in doc else list(doc["jobs"].values())
        for job in jobs:
            for step in job["steps"]:
                script = step.get("run", "")
                if "leptonci" not in script or "pip install" in script:
                    continue
                names = [k for k in step.get("env", {}) if k in INPUTS]
                for values in itertools.product(*(INPUTS[k] for k in names)):
                    env = dict(zip(names, values, strict=True))
                    for argv in leptonci_calls(script, env, tmp_path):
                        try:
                            args = parser.parse_args(argv)
                        except SystemExit:
                            pytest.fail(
                                f"{path.name}: `leptonci {shlex.join(argv)}` fails to parse"
                            )
                        found.append((path.name, job, args))
    return found


def test_every_leptonci_call_in_the_workflows_parses(tmp_path: Path) -> None:
    calls = invocations(tmp_path)
    commands = {(name, args.command) for name, _, args in calls}
    assert commands >= {
        ("model-gate.yml", "run"),
        ("release.yml", "run"),
        ("promote.yml", "promote"),
        ("rollback.yml", "rollback"),
        ("resume.yml", "resume"),
        ("unblock.yml", "unblock"),
        ("action.yml", "run"),
    }


def test_manual_workflows_pass_their_inputs_to_the_right_options(tmp_path: Path) -> None:
    calls = [(name, args) for name, _, args in invocations(tmp_path)]
    promotes = [a for name, a in calls if name == "promote.yml"]
    assert {(a.to, a.release) for a in promotes} == {
        ("prod", None),
        ("prod", "digits-3f2a9c1b7d4e"),
    }
    rollbacks = [a for name, a in calls if name == "rollback.yml"]
    assert {(a.env, a.release, a.reason) for a in rollbacks} == {
        ("prod", None, "bad latency"),
        ("prod", "digits-3f2a9c1b7d4e", "bad latency"),
    }


def test_jobs_that_read_git_history_check_out_all_of_it(tmp_path: Path) -> None:
    for name, job, args in invocations(tmp_path):
        # history --from-git reads trailers; the PR gate diffs against the base branch
        if getattr(args, "from_git", False) or getattr(args, "event", "") == "pull-request":
            if name == "action.yml":
                continue  # the calling workflow checks out
            [checkout] = [
                s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")
            ]
            assert checkout["with"]["fetch-depth"] == 0, name


def test_the_environment_choices_match_leptonci_yaml() -> None:
    config = load(REPO / "leptonci.yaml")
    downstream = [e["name"] for e in config["environments"] if e.get("upstream")]
    promote = load(REPO / ".github" / "workflows" / "promote.yml")
    rollback = load(REPO / ".github" / "workflows" / "rollback.yml")
    choices = "environment"
    assert promote["on"]["workflow_dispatch"]["inputs"][choices]["options"] == downstream
    assert rollback["on"]["workflow_dispatch"]["inputs"][choices]["options"] == ENV_NAMES
    for name in ("resume", "unblock"):
        doc = load(REPO / ".github" / "workflows" / f"{name}.yml")
        assert doc["on"]["workflow_dispatch"]["inputs"][choices]["options"] == ENV_NAMES


def test_the_action_installs_a_leptonci_that_answers_version() -> None:
    [install] = [s for s in steps(load(ACTION)) if "pip install" in s.get("run", "")]
    assert "leptonci --version" in install["run"]
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--version"])
    assert exited.value.code == 0


def test_app_token_workflows_for_a_protected_main_are_valid_and_safe(tmp_path: Path) -> None:
    """workflows.token: app with git.land: pull-request: the App's token is minted per
    pushing job and handed to the checkout and to leptonci; GitHub's schema and zizmor
    accept the files."""
    from leptonci.core.config import parse_config
    from leptonci.core.workflows import render_workflows

    text = (REPO / "leptonci.yaml").read_text()
    text += "\ngit:\n  land: pull-request\nworkflows:\n  token: app\n"
    config = parse_config(text, file="leptonci.yaml", root=REPO)
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    paths = []
    for wf in render_workflows(config):
        path = folder / f"{wf.name}.yml"
        path.write_text(wf.text)
        paths.append(path)
    rollback = load(folder / "rollback.yml")
    [job] = rollback["jobs"].values()
    assert (
        job["permissions"]["pull-requests"] == "write" and job["permissions"]["statuses"] == "write"
    )
    app, checkout = job["steps"][0], job["steps"][1]
    assert app["uses"].startswith("actions/create-github-app-token@") and app["id"] == "app"
    assert checkout["with"]["token"] == "${{ steps.app.outputs.token }}"
    assert job["steps"][-1]["env"]["GITHUB_TOKEN"] == "${{ steps.app.outputs.token }}"
    gate = load(folder / "model-gate.yml")
    assert "create-github-app-token" not in (folder / "model-gate.yml").read_text()  # forks
    assert gate["jobs"]["gate"]["steps"][-1]["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    checked = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--format", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    serious = [
        f["ident"]
        for f in json.loads(result.stdout)
        if f["determinations"]["severity"] not in ("Unknown", "Informational", "Low")
    ]
    assert not serious, serious


def test_only_the_release_job_may_ask_for_an_oidc_token() -> None:
    """Keyless signing needs id-token: write; the jobs that only check attestations
    (promote, rollback) and the fork-facing gate must not have it."""
    for path in WORKFLOWS:
        for job in load(path)["jobs"].values():
            wanted = "write" if path.name == "release.yml" else None
            assert job.get("permissions", {}).get("id-token") == wanted, path.name
    [run] = [s for s in steps(load(REPO / ".github" / "workflows" / "release.yml")) if s.get("run")]
    assert set(run["env"]) >= {"LEPTONCI_SIGNING_KEY", "LEPTONCI_SIGNING_PASSWORD"}
