"""The conventions users know from kubectl, Argo CD, CML and DVC, and GitHub's own.

`-o json|yaml`, "did you mean", shell completion, a help text for every option; and the
GitHub Actions side of the output: folds that never nest, annotations on file and line,
outputs in $GITHUB_OUTPUT (`::add-mask::` is tested with the redaction, tests/test_redact.py).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from leptonci.cli import build_parser
from leptonci.runtime.output import Output

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "leptonci", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


# -- the command line -------------------------------------------------------------------


def test_every_option_and_argument_has_a_help_text() -> None:
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, sub in subparsers().items()
        for action in sub._actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert not missing, missing


def test_rollback_help_says_it_holds_and_quarantines() -> None:
    text = " ".join(subparsers()["rollback"].format_help().split())
    assert "quarantine the bad digest" in text and "hold automatic promotion" in text
    assert "leptonci resume ENV" in text and "--release ID" in text


def test_rollback_to_is_a_deprecated_alias_of_release(
    example_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["rollback", "prod", "--to", "digits-1"])
    assert (args.release, args.to_deprecated) == (None, "digits-1")
    result = run_cli("-C", str(example_repo), "rollback", "dev", "--to", "digits-1", "--dry-run")
    assert "rollback --to is deprecated; use --release ID" in result.stderr
    assert "release digits-1 was never in dev" in result.stderr  # it still means the release


def test_a_mistyped_command_gets_a_suggestion() -> None:
    result = run_cli("stauts")
    assert result.returncode == 2
    assert "did you mean 'status'?" in result.stderr


def test_a_mistyped_environment_gets_a_suggestion(example_repo: Path) -> None:
    result = run_cli("-C", str(example_repo), "history", "prdo")
    assert result.returncode == 2
    assert "unknown environment 'prdo' (did you mean 'prod'?); have: dev, staging, prod" in (
        result.stderr
    )


def test_output_yaml_and_json_carry_the_same_document(example_repo: Path) -> None:
    as_yaml = run_cli("-C", str(example_repo), "status", "-o", "yaml")
    as_json = run_cli("-C", str(example_repo), "--json", "status")
    assert as_yaml.returncode == as_json.returncode == 0
    import json

    assert YAML(typ="safe").load(as_yaml.stdout) == json.loads(as_json.stdout)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_come_from_argcomplete(shell: str, tmp_path: Path) -> None:
    result = run_cli("completion", shell, cwd=tmp_path)  # needs no repository
    assert result.returncode == 0, result.stderr
    assert "leptonci" in result.stdout and "_ARGCOMPLETE" in result.stdout


def test_completion_offers_commands_and_environment_names(example_repo: Path) -> None:
    """What the shell hook asks argcomplete: the words that can follow."""
    import os

    def complete(line: str) -> list[str]:
        out = example_repo / "completions.txt"
        env = {
            "_ARGCOMPLETE": "1",
            "_ARGCOMPLETE_IFS": "\n",
            "COMP_LINE": line,
            "COMP_POINT": str(len(line)),
            "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        }
        subprocess.run(
            [sys.executable, "-m", "leptonci"],
            cwd=example_repo,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            capture_output=True,
            timeout=60,
        )
        return [w.strip() for w in out.read_text().split("\n")] if out.exists() else []

    assert "status" in complete("leptonci sta")
    assert set(complete("leptonci rollback ")) >= {"dev", "staging", "prod"}


# -- GitHub Actions output --------------------------------------------------------------


def actions_output(tmp_path: Path) -> tuple[Output, io.StringIO, io.StringIO]:
    stdout, stderr = io.StringIO(), io.StringIO()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "out.txt")}
    return Output(env=env, stdout=stdout, stderr=stderr), stdout, stderr


def test_steps_fold_once_and_never_nest(tmp_path: Path) -> None:
    out, stdout, _ = actions_output(tmp_path)
    with out.step("digits: gate"):
        out.info("accuracy 0.96 >= 0.90 ok")
        with out.step("train"):
            out.info("cache hit")
        out.info("gate passed")
    assert stdout.getvalue().splitlines() == [
        "::group::digits: gate",
        "accuracy 0.96 >= 0.90 ok",
        "==> train",
        "cache hit",
        "gate passed",  # still inside the fold
        "::endgroup::",
    ]


def test_errors_are_annotations_on_their_file_and_line(tmp_path: Path) -> None:
    out, _, stderr = actions_output(tmp_path)
    out.error("models.digits.gate: required key missing", file="leptonci.yaml", line=7)
    out.error("no file known")
    assert stderr.getvalue().splitlines()[-2:] == [
        "::error file=leptonci.yaml,line=7::models.digits.gate: required key missing",
        "::error::no file known",
    ]


def test_a_config_error_in_actions_points_at_the_line(example_repo: Path) -> None:
    config = example_repo / "leptonci.yaml"
    config.write_text(config.read_text().replace("project:", "projekt:"))
    result = run_cli("validate", cwd=example_repo, GITHUB_ACTIONS="true")
    assert result.returncode == 2
    assert "::error file=leptonci.yaml,line=2::leptonci.yaml:2: projekt: unknown key" in (
        result.stderr
    )


def test_outputs_go_to_github_output(tmp_path: Path) -> None:
    out, _, _ = actions_output(tmp_path)
    out.set_output("release", "digits-0123456789ab")
    out.set_output("environments", "dev,staging")
    assert (tmp_path / "out.txt").read_text() == (
        "release=digits-0123456789ab\nenvironments=dev,staging\n"
    )
