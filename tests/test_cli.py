"""The CLI contract: global options, exit codes, one-line errors, JSON output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from leptonci.cli import build_parser, main
from leptonci.core.errors import ConfigError, ExitCode


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leptonci", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


COMMANDS = [
    "validate",
    "status",
    "history",
    "train",
    "gate",
    "build",
    "promote",
    "rollback",
    "unblock",
    "resume",
    "verify",
    "verify-image",
    "workflows",
    "run",
    "completion",
]


def test_help_lists_every_command_and_the_exit_codes() -> None:
    text = build_parser().format_help()
    # each command on a line of its own in the COMMAND list, in this order, and no other
    shown = re.findall(r"^    ([a-z][a-z-]*)(?:  |\n)", text, re.M)
    assert shown == COMMANDS
    codes = re.findall(r"^  (\d+) +\S", text.split("exit codes:", 1)[1], re.M)
    assert codes == [str(int(code)) for code in ExitCode]
    assert "130  interrupted" in text


def test_the_training_worker_is_hidden_from_help_and_needs_no_repository(tmp_path: Path) -> None:
    assert "worker" not in build_parser().format_help()
    result = run_cli("worker", str(tmp_path / "job.json"), cwd=tmp_path)  # no leptonci.yaml here
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == f"leptonci: error: {tmp_path / 'job.json'}: job file not found"


def test_writing_commands_take_dry_run() -> None:
    parser = build_parser()
    for argv in (
        ["build", "m"],
        ["promote", "--to", "dev"],
        ["rollback", "dev"],
        ["unblock", "dev", "x"],
        ["resume", "dev"],
        ["run", "push"],
    ):
        assert parser.parse_args([*argv, "--dry-run"]).dry_run is True


def test_global_options_work_before_and_after_the_command(example_repo: Path) -> None:
    parser = build_parser()
    assert parser.parse_args(["-C", "x", "status"]).directory == "x"
    assert parser.parse_args(["status", "-C", "x", "--json"]).output == "json"
    assert parser.parse_args(["--json", "status"]).output == "json"
    assert parser.parse_args(["status", "-o", "yaml"]).output == "yaml"
    before = run_cli("-C", str(example_repo), "status")
    after = run_cli("status", "-C", str(example_repo))
    assert before.returncode == after.returncode == 0
    assert before.stdout == after.stdout


def test_outside_a_repository_exit_2_with_one_line(tmp_path: Path) -> None:
    result = run_cli("status", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "no leptonci.yaml" in result.stderr and "-C DIR" in result.stderr


def test_a_bug_exits_70_never_1_with_one_redacted_line(
    example_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import leptonci.core.config
    from leptonci.core.redact import register_secret

    secret = "bug-secret-0123456789"
    register_secret(secret)

    def broken(start: Path) -> Path:
        raise ZeroDivisionError(f"a bug near {secret}")

    monkeypatch.setattr(leptonci.core.config, "find_root", broken)
    assert main(["-C", str(example_repo), "status"]) == ExitCode.BUG == 70
    err = capsys.readouterr().err
    assert (
        err == "leptonci: internal error: ZeroDivisionError: a bug near *** (rerun with --debug)\n"
    )
    assert main(["--debug", "-C", str(example_repo), "status"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err and secret not in err


def test_json_errors_are_machine_readable(tmp_path: Path) -> None:
    result = run_cli("--json", "-C", str(tmp_path), "status")
    assert result.returncode == 2
    assert json.loads(result.stdout)["exit_code"] == 2


def test_unknown_environment_is_bad_input(example_repo: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from leptonci.runtime.context import Context

    ctx = Context(root=example_repo)
    with pytest.raises(ConfigError) as info:
        ctx.config.env("qa")
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert "unknown environment 'qa'; have: dev, staging, prod" in str(info.value)
    assert main(["-C", str(example_repo), "status"]) == 0
    assert "dev" in capsys.readouterr().out


def test_status_table_and_json(example_repo: Path) -> None:
    text = run_cli("-C", str(example_repo), "status")
    assert text.returncode == 0
    header = text.stdout.splitlines()[0].split()
    assert header == ["ENV", "MODEL", "RELEASE", "DIGEST", "VERDICT", "VERIFIED", "WHEN", "BY"]
    data = json.loads(run_cli("-C", str(example_repo), "status", "--json").stdout)
    assert [e["environment"] for e in data["environments"]] == ["dev", "staging", "prod"]


def test_with_json_a_bug_is_a_json_document_and_exit_70(
    example_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import leptonci.core.config
    from leptonci.core.redact import register_secret

    secret = "bug-secret-json-0123456789"
    register_secret(secret)

    def broken(start: Path) -> Path:
        raise ZeroDivisionError(f"a bug near {secret}")

    monkeypatch.setattr(leptonci.core.config, "find_root", broken)
    for argv in (["--json", "status"], ["status", "-o", "yaml"], ["--debug", "-ojson", "status"]):
        assert main(["-C", str(example_repo), *argv]) == 70
        out, err = capsys.readouterr()
        assert json.loads(out) == {
            "error": "internal error: ZeroDivisionError: a bug near ***",
            "exit_code": 70,
            "internal": True,
        }
        assert secret not in out + err


def test_with_json_every_error_path_prints_one_json_document(
    example_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A LeptonError (with its file and line), a mistyped command line, an interrupt."""
    (example_repo / "leptonci.yaml").write_text("project: [x\n")
    assert main(["--json", "-C", str(example_repo), "status"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["exit_code"] == 2 and doc["line"] == 2 and "invalid YAML" in doc["error"]
    assert doc["file"].endswith("leptonci.yaml")
    assert main(["--json", "statsu"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["exit_code"] == 2 and "did you mean 'status'?" in out
    assert "usage: leptonci" in err
    assert main(["promote", "--output=json"]) == 2
    assert "--to" in json.loads(capsys.readouterr().out)["error"]

    import leptonci.core.config

    def interrupted(start: Path) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(leptonci.core.config, "find_root", interrupted)
    assert main(["-o", "json", "status"]) == 130
    assert json.loads(capsys.readouterr().out) == {"error": "interrupted", "exit_code": 130}
