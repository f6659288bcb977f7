"""End to end: no secret ever reaches output, files, commits or error text.

Several commands run through the real CLI entry point against real parts (an htpasswd
registry, git with a bare remote, a credentialed push URL), with registry passwords,
a Docker config ``auths`` entry, a GitHub token and credentials in a git URL all set.
Then everything a user or a log collector could see is searched for every secret:
stdout, stderr, the job summary, ``$GITHUB_OUTPUT``, every file in the clone and the
cache, and the full history of both repositories.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from leptonci.cli import main
from leptonci.core import redact
from leptonci.core.candidate import Candidate
from leptonci.core.errors import ExitCode
from leptonci.core.ledger import ReleaseRecord
from tests.adapters.test_images_daemonless import make_export
from tests.fixtures.git_repo import Clone
from tests.fixtures.registry import RegistryServer

pytestmark = pytest.mark.service

WRONG_PASSWORD = "wrong-Reg1stry-pw-41"
GITHUB_TOKEN = "e2e-github-token-5f3a9c"  # not ghp_-shaped: only registration masks it
URL_PASSWORD = "e2e-git-url-secret-7c1d"


def _candidate(folder: Path) -> Candidate:
    make_export(folder, seed=7)
    return Candidate(
        model="digits",
        version=1,
        root=folder,
        content_hash="sha256:" + "5e" * 32,
        metrics={"accuracy": 0.96, "loss": 0.1},
        eval_fingerprint="sha256:" + "e" * 64,
        eval_count=100,
    )


def _texts_under(folder: Path) -> str:
    out = []
    for path in folder.rglob("*"):
        if path.is_file() and ".git" not in path.relative_to(folder).parts:
            out.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(out)


def _history(repo: Path) -> str:
    return subprocess.run(
        ["git", "log", "--all", "-p", "--format=%H%n%B%n%(trailers)"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_no_secret_reaches_any_output_file_or_commit(
    example_clone: Clone,
    release_in_dev: ReleaseRecord,
    registry_auth: RegistryServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Secrets registered by earlier tests must not hide a leak here: start empty, so
    # every mask below comes from this run's own reading of its credentials.
    monkeypatch.setattr(redact, "_secrets", set())
    clone = example_clone
    candidate = _candidate(tmp_path / "candidate")
    monkeypatch.setattr("leptonci.commands.build.train_model", lambda ctx, **kw: candidate)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    docker_auth = base64.b64encode(
        f"{registry_auth.username}:{registry_auth.password}".encode()
    ).decode()
    docker_config = tmp_path / "docker"
    docker_config.mkdir()
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {registry_auth.host: {"auth": docker_auth}}})
    )
    for key, value in {
        "LEPTONCI_REGISTRY": f"{registry_auth.host}/team",
        "LEPTONCI_REGISTRY_RETRY_DELAY": "0.01",
        "LEPTONCI_REGISTRY_RETRIES": "2",
        "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
        "GITHUB_TOKEN": GITHUB_TOKEN,
        "GITHUB_REPOSITORY": "example/models",
        "GITHUB_API_URL": "http://127.0.0.1:9",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
    }.items():
        monkeypatch.setenv(key, value)
    captured: list[str] = []
    stdouts: list[str] = []

    def run(*args: str, env: dict[str, str] | None = None) -> int:
        with monkeypatch.context() as m:
            for key, value in (env or {}).items():
                m.setenv(key, value)
            for key in [k for k, v in (env or {}).items() if v == ""]:
                m.delenv(key)
            code = main(["-C", str(clone.root), *args])
        out = capsys.readouterr()
        captured.append(out.out + out.err)
        stdouts.append(out.out)
        return code

    wrong = {"LEPTONCI_REGISTRY_USERNAME": "leptonci", "LEPTONCI_REGISTRY_PASSWORD": WRONG_PASSWORD}
    right = {**wrong, "LEPTONCI_REGISTRY_PASSWORD": registry_auth.password}
    # 1. registry: a wrong password (plain, --json, --debug, in Actions), then right ones
    assert run("build", "digits", env=wrong) == ExitCode.OUTSIDE
    assert "registry refused credentials" in captured[-1]
    assert run("--json", "build", "digits", env=wrong) == ExitCode.OUTSIDE
    assert run("--debug", "build", "digits", env=wrong) == ExitCode.OUTSIDE
    assert run("build", "digits", env={**wrong, "GITHUB_ACTIONS": "true"}) == ExitCode.OUTSIDE
    assert run("build", "digits", "--dry-run", "--json", env=right) == 0
    assert run("--json", "build", "digits", env={**right, "GITHUB_ACTIONS": "true"}) == 0
    digest = json.loads(stdouts[-1])["digest"]
    # 2. the Docker config's auths entry (no variables set)
    assert run("build", "digits", env={"DOCKER_CONFIG": str(docker_config)}) == 0
    assert digest in captured[-1]

    # 3. git: pushing to a URL with credentials in it fails, and says so without them
    bad_url = f"http://x-access-token:{URL_PASSWORD}@127.0.0.1:9/example/models.git"
    clone.git("remote", "set-url", "--push", "origin", bad_url)
    assert run("promote", "--to", "staging") == ExitCode.OUTSIDE
    assert "push" in captured[-1]
    assert run("--debug", "--json", "promote", "--to", "staging") == ExitCode.OUTSIDE
    # 4. plans: promote dry runs, text and JSON, in Actions
    assert run("promote", "--to", "staging", "--dry-run", env={"GITHUB_ACTIONS": "true"}) == 0
    assert run("--json", "promote", "--to", "staging", "--dry-run") == 0
    assert json.loads(stdouts[-1])["dry_run"] is True
    clone.git("remote", "set-url", "--push", "origin", str(clone.remote))
    assert run("promote", "--to", "staging") == 0
    assert run("--json", "status") == 0

    # GitHub consumes the ::add-mask:: commands (and masks their values everywhere after):
    # they are the one place a secret may be named
    masks = [line for text in captured for line in text.splitlines() if "::add-mask::" in line]
    assert any(registry_auth.password in line for line in masks)
    shown = [
        "\n".join(line for line in text.splitlines() if "::add-mask::" not in line)
        for text in captured
    ]
    seen = "\n".join(
        [
            *shown,
            summary.read_text() if summary.exists() else "",
            outputs.read_text() if outputs.exists() else "",
            _texts_under(clone.root),
            _history(clone.root),
            _history(clone.remote),
        ]
    )
    secrets = {
        "registry password": registry_auth.password,
        "wrong registry password": WRONG_PASSWORD,
        "docker config auth": docker_auth,
        "GitHub token": GITHUB_TOKEN,
        "git URL password": URL_PASSWORD,
    }
    for what, secret in secrets.items():
        for form in (secret, base64.b64encode(secret.encode()).decode()):
            assert form not in seen, f"the {what} leaked"
    for user_pass in (f"leptonci:{WRONG_PASSWORD}", f"leptonci:{registry_auth.password}"):
        assert base64.b64encode(user_pass.encode()).decode() not in seen
    assert "digits" in seen and "***" not in _history(clone.remote)
