"""`leptonci build`: plan, push and read back, to an OCI layout and to a real registry."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest

from leptonci.adapters.git import SourceInfo
from leptonci.adapters.images.daemonless import build_artifact
from leptonci.commands.build import run as build_command
from leptonci.core.actions import PushImage
from leptonci.core.candidate import Candidate
from leptonci.core.errors import ConfigError, ExitCode, GateFailed, RegistryError
from leptonci.pipeline.build import build_image, push_image
from leptonci.runtime.context import Context
from leptonci.runtime.output import Output
from tests.adapters.test_images_daemonless import make_export
from tests.fixtures.registry import RegistryServer

CONFIG = """\
project: demo
registry: {registry}
builder: {builder}
models:
  digits:
    path: model_repo/digits
    image:
      repository: digits
      base: {base}
    gate:
      accuracy:
        min: 0.9
environments:
  - name: dev
    path: environments/dev
    policy: auto
"""
SOURCE = SourceInfo("c" * 40, "2026-01-02T03:04:05Z", "https://github.com/example/models")
CONTENT_HASH = "sha256:" + "ab" * 32
RELEASE = "digits-abababababab"


def make_repo(
    root: Path,
    *,
    registry: str = "oci-layout:.leptonci/oci",
    builder: str = "daemonless",
    base: str = "scratch",
) -> Path:
    (root / "model_repo" / "digits").mkdir(parents=True)
    (root / "environments" / "dev").mkdir(parents=True)
    (root / "leptonci.yaml").write_text(
        CONFIG.format(registry=registry, builder=builder, base=base)
    )
    return root


def make_ctx(root: Path, *, dry_run: bool = False, env: dict[str, str] | None = None) -> Context:
    out = Output(env={}, stdout=io.StringIO(), stderr=io.StringIO())
    full_env = {"LEPTONCI_REGISTRY_RETRY_DELAY": "0.01", "HOME": str(root), **(env or {})}
    return Context(root=root, out=out, dry_run=dry_run, env=full_env)


def make_candidate(folder: Path, *, accuracy: float = 0.95, seed: int = 1) -> Candidate:
    make_export(folder, seed=seed)
    return Candidate(
        model="digits",
        version=1,
        root=folder,
        content_hash=CONTENT_HASH,
        metrics={"accuracy": accuracy},
        eval_fingerprint="sha256:" + "e" * 64,
        eval_count=100,
    )


def printed(ctx: Context) -> str:
    return ctx.out.stdout.getvalue() + ctx.out.stderr.getvalue()  # type: ignore[union-attr,attr-defined]


def test_layout_destination_push_and_read_back(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    ctx = make_ctx(root)
    candidate = make_candidate(tmp_path / "cand")
    build = build_image(ctx, candidate=candidate, release=RELEASE, verdict="passed", source=SOURCE)
    (action,) = [a for a in build.plan.actions if isinstance(a, PushImage)]
    assert action.digest == build.digest and action.digest is not None
    assert action.tags == (RELEASE, "cccccccccccc")
    built = push_image(ctx, build)
    assert built.digest == action.digest
    assert built.image == "digits"
    assert built.tags == (RELEASE, "cccccccccccc")
    index = json.loads((root / ".leptonci" / "oci" / "digits" / "index.json").read_text())
    assert {m["digest"] for m in index["manifests"]} == {built.digest}
    assert built.bytes_sent > 0
    assert push_image(ctx, build).bytes_sent == 0


def test_dry_run_plan_knows_the_digest_and_writes_nothing(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    candidate = make_candidate(tmp_path / "cand")
    dry = build_image(
        make_ctx(root, dry_run=True),
        candidate=candidate,
        release=RELEASE,
        verdict="passed",
        source=SOURCE,
    )
    assert not (root / ".leptonci").exists()
    text = dry.plan.render_text()
    assert f"push oci-layout:.leptonci/oci/digits@{dry.digest}" in text
    real = build_image(
        make_ctx(root), candidate=candidate, release=RELEASE, verdict="passed", source=SOURCE
    )
    assert real.digest == dry.digest


def test_registry_destination_with_auth_from_env(
    registry_auth: RegistryServer, tmp_path: Path
) -> None:
    root = make_repo(tmp_path / "repo", registry=f"{registry_auth.host}/team")
    env = {
        "LEPTONCI_REGISTRY_USERNAME": registry_auth.username,
        "LEPTONCI_REGISTRY_PASSWORD": registry_auth.password,
    }
    ctx = make_ctx(root, env=env)
    candidate = make_candidate(tmp_path / "c")
    build = build_image(ctx, candidate=candidate, release=RELEASE, verdict="passed", source=SOURCE)
    # the model is not read to plan a registry push: its digest is learnt as it streams
    assert build.digest is None
    dry = build_image(
        make_ctx(root, env=env, dry_run=True),
        candidate=candidate,
        release=RELEASE,
        verdict="passed",
        source=SOURCE,
    )
    assert dry.plan.to_dict() == build.plan.to_dict()  # a dry run plans what a run does
    built = push_image(ctx, build)
    assert built.image == f"{registry_auth.host}/team/digits"
    response = registry_auth.manifest("team/digits", RELEASE)
    hashed = build_artifact(build.spec, base=None, store=None)  # what the bytes decide
    assert response.headers["Docker-Content-Digest"] == built.digest == hashed.digest
    assert registry_auth.password not in build.plan.render_text() + build.plan.to_json()


def test_wrong_password_exits_3_and_never_prints_it(
    registry_auth: RegistryServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from leptonci.cli import main

    root = make_repo(tmp_path / "repo", registry=f"{registry_auth.host}/team")
    candidate = make_candidate(tmp_path / "c")
    monkeypatch.setattr("leptonci.commands.build.train_model", lambda ctx, **kw: candidate)
    wrong = "wrong-pass-Xy9"
    monkeypatch.setenv("LEPTONCI_REGISTRY_USERNAME", "leptonci")
    monkeypatch.setenv("LEPTONCI_REGISTRY_PASSWORD", wrong)
    monkeypatch.setenv("LEPTONCI_REGISTRY_RETRY_DELAY", "0.01")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    assert main(["-C", str(root), "build", "digits"]) == ExitCode.OUTSIDE
    captured = capsys.readouterr()
    assert f"registry refused credentials for {registry_auth.host}/team/digits" in captured.err
    assert wrong not in captured.out + captured.err
    assert registry_auth.manifest("team/digits", RELEASE).status_code == 404


def test_registry_stopped_mid_push_gives_no_image(registry: RegistryServer, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", registry=f"{registry.host}/team")
    ctx = make_ctx(root, env={"LEPTONCI_REGISTRY_RETRIES": "2"})
    build = build_image(
        ctx,
        candidate=make_candidate(tmp_path / "c"),
        release=RELEASE,
        verdict="passed",
        source=SOURCE,
    )

    class StopsRegistry:
        def advance(self, amount: float = 1, *, note: str = "") -> None:
            registry.stop()

        def close(self) -> None:
            return None

    ctx.out.progress = lambda *a, **k: StopsRegistry()  # type: ignore[method-assign]
    with pytest.raises(RegistryError, match=r"after 2 tries") as info:
        push_image(ctx, build)
    assert info.value.exit_code == ExitCode.OUTSIDE


def test_docker_builder_refuses_an_oci_layout(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo", builder="docker")
    with pytest.raises(ConfigError, match="needs a registry"):
        build_image(
            make_ctx(root),
            candidate=make_candidate(tmp_path / "c"),
            release=RELEASE,
            verdict="passed",
            source=SOURCE,
        )


def _git_repo(root: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init")


def test_build_command_gates_then_pushes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path / "repo")
    _git_repo(root)
    candidate = make_candidate(tmp_path / "cand", accuracy=0.97)
    # training is the outside runtime here: hand back a ready candidate
    monkeypatch.setattr("leptonci.commands.build.train_model", lambda ctx, **kw: candidate)
    ctx = make_ctx(root)
    assert build_command(ctx, model="digits") == 0
    out = printed(ctx)
    assert "digits@sha256:" in out
    index = json.loads((root / ".leptonci" / "oci" / "digits" / "index.json").read_text())
    assert any(m["digest"] in out for m in index["manifests"])


def test_build_command_dry_run_prints_the_plan_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo(tmp_path / "repo")
    candidate = make_candidate(tmp_path / "cand", accuracy=0.97)
    # a dry run trains nothing: it takes the candidate from the cache, here this one
    monkeypatch.setattr("leptonci.commands.build.planned_candidate", lambda ctx, model: candidate)
    ctx = make_ctx(root, dry_run=True)
    assert build_command(ctx, model="digits") == 0
    assert "Plan: build digits image" in printed(ctx)
    assert not (root / ".leptonci").exists()


def test_build_command_refuses_when_the_gate_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_repo(tmp_path / "repo")
    candidate = make_candidate(tmp_path / "cand", accuracy=0.5)
    monkeypatch.setattr("leptonci.commands.build.train_model", lambda ctx, **kw: candidate)
    with pytest.raises(GateFailed, match="no image pushed"):
        build_command(make_ctx(root), model="digits")
    assert not (root / ".leptonci" / "oci").exists()
