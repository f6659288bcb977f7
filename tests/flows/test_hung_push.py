"""`leptonci run push` against a registry or a git remote that hangs, through the CLI.

The registry (Debian's docker-registry) or the example's bare remote (served over http
by ``git http-backend``) sits behind a ``HungProxy`` that accepts and never answers,
answers the first request then hangs, or trickles a byte a second. The run must exit 3
with one error line inside the budget set through the documented variables, record and
push nothing, and an interrupt during the wait must exit 130 within a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leptonci.cli import main
from leptonci.core import redact
from leptonci.core.candidate import Candidate
from leptonci.core.errors import ExitCode
from tests.adapters.test_images_daemonless import make_export
from tests.fixtures.git_repo import Clone
from tests.fixtures.hung_servers import MODES, GitHttpRemote, HungProxy
from tests.fixtures.registry import RegistryServer

pytestmark = pytest.mark.service

TIGHT = {
    "LEPTONCI_CONNECT_TIMEOUT": "1",
    "LEPTONCI_READ_TIMEOUT": "2",  # longer than the trickle's second per byte
    "LEPTONCI_STALL_TIMEOUT": "2",
    "LEPTONCI_GIVE_UP": "4",
}
PATIENT = {**TIGHT, "LEPTONCI_GIVE_UP": "120", "LEPTONCI_READ_TIMEOUT": "60"}
BUDGET = 4 + 3  # give_up + one small call (connect + read)
MARGIN = 6.0  # seconds a loaded CI machine may add (training is stubbed; the build is not)


def _candidate(folder: Path) -> Candidate:
    make_export(folder, seed=11)
    return Candidate(
        model="digits",
        version=1,
        root=folder,
        content_hash="sha256:" + "4d" * 32,
        metrics={"accuracy": 0.96, "loss": 0.1},
        eval_fingerprint="sha256:" + "e" * 64,
        eval_count=100,
    )


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def push_run(
    example_clone: Clone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Clone]:
    candidate = _candidate(tmp_path / "candidate")
    monkeypatch.setattr("leptonci.commands.run_push.train_model", lambda ctx, **kw: candidate)
    monkeypatch.setattr(redact, "_registry", redact._Registry())
    for key, value in {
        "LEPTONCI_REGISTRY_RETRY_DELAY": "0.05",
        "LEPTONCI_SIGNING": "off",
        "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("GITHUB_ACTIONS", "GITHUB_TOKEN", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(key, raising=False)
    yield example_clone


def _tip(repo: Path) -> str:
    out = subprocess.run(
        ["git", "--git-dir", str(repo), "rev-parse", "refs/heads/main"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def _run_push(clone: Clone, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> int:
    with monkeypatch.context() as m:
        for key, value in env.items():
            m.setenv(key, value)
        return main(["-C", str(clone.root), "run", "push"])


def _interrupted(clone: Clone, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    sent: list[float] = []

    def interrupt() -> None:
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(1.5, interrupt)
    timer.start()
    try:
        code = _run_push(clone, monkeypatch, env)
    finally:
        timer.cancel()
    assert sent, "the run ended before the interrupt"
    assert code == ExitCode.INTERRUPTED
    assert time.monotonic() - sent[0] < 1.0


def _error_line(err: str) -> str:
    [line] = [x for x in err.splitlines() if x.startswith("leptonci: error:")]
    return line


# -- registry ------------------------------------------------------------------------


@pytest.fixture()
def hung_registry(registry: RegistryServer, mode: str) -> Iterator[HungProxy]:
    proxy = HungProxy(mode, registry.host)
    yield proxy
    proxy.stop()


def test_run_push_gives_up_on_a_hung_registry_within_its_budget(
    push_run: Clone,
    hung_registry: HungProxy,
    registry: RegistryServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = _tip(push_run.remote)
    started = time.monotonic()
    env = {**TIGHT, "LEPTONCI_REGISTRY": f"{hung_registry.host}/team"}
    assert _run_push(push_run, monkeypatch, env) == ExitCode.OUTSIDE
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET + MARGIN, f"gave up after {elapsed:.1f}s"
    line = _error_line(capsys.readouterr().err)
    assert f"registry {hung_registry.host} failed to" in line and "timed out" in line
    assert _tip(push_run.remote) == before  # nothing pushed
    assert registry.manifest("team/digits", "latest").status_code == 404
    ledger = push_run.root / "environments" / "dev" / "ledger.yaml"
    assert not ledger.exists() or "digits-" not in ledger.read_text()  # nothing recorded


def test_an_interrupt_during_a_registry_wait_exits_130(
    push_run: Clone, hung_registry: HungProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _tip(push_run.remote)
    _interrupted(
        push_run, monkeypatch, {**PATIENT, "LEPTONCI_REGISTRY": f"{hung_registry.host}/team"}
    )
    assert _tip(push_run.remote) == before


# -- git remote over http -------------------------------------------------------------


@pytest.fixture()
def hung_origin(push_run: Clone, mode: str) -> Iterator[HungProxy]:
    server = GitHttpRemote(push_run.remote.parent)
    proxy = HungProxy(mode, server.host)
    url = f"http://ci:hung-origin-pw-88@{proxy.host}/{push_run.remote.name}"
    subprocess.run(
        ["git", "-C", str(push_run.root), "remote", "set-url", "origin", url], check=True
    )
    yield proxy
    proxy.stop()
    server.stop()


def test_run_push_gives_up_on_a_hung_git_remote_within_its_budget(
    push_run: Clone,
    hung_origin: HungProxy,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = _tip(push_run.remote)
    started = time.monotonic()
    assert _run_push(push_run, monkeypatch, TIGHT) == ExitCode.OUTSIDE
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET + MARGIN, f"gave up after {elapsed:.1f}s"
    line = _error_line(capsys.readouterr().err)
    assert f"origin (http://ci:***@{hung_origin.host}/" in line and "stalled" in line
    assert "hung-origin-pw-88" not in line
    assert _tip(push_run.remote) == before


def test_an_interrupt_during_a_git_wait_exits_130_and_leaves_the_clone_usable(
    push_run: Clone, hung_origin: HungProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _tip(push_run.remote)
    env = {**PATIENT, "LEPTONCI_STALL_TIMEOUT": "60", "LEPTONCI_LOW_SPEED_LIMIT": "1"}
    _interrupted(push_run, monkeypatch, env)
    assert _tip(push_run.remote) == before
    assert not list((push_run.root / ".git").rglob("*.lock"))
    status = subprocess.run(["git", "-C", str(push_run.root), "status"], capture_output=True)
    assert status.returncode == 0
