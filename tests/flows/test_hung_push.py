"""`leptonci run push` against a registry or a git remote that hangs, through the CLI.

The registry (Debian's docker-registry) or the example's bare remote (served over http
by ``git http-backend``) sits behind a ``HungProxy`` that accepts and never answers,
answers the first request then hangs, or trickles a byte a second. The run must exit 3
with one error line inside the budget set through the documented variables, record and
push nothing, and an interrupt during the wait must exit 130 within a second.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leptonci.adapters.git import Git
from leptonci.cli import main
from leptonci.core import redact
from leptonci.core.errors import ExitCode
from leptonci.engine import clone as writer
from tests.fixtures.git_repo import Clone
from tests.fixtures.hung_servers import GitHttpRemote, HungProxy, interrupt_after
from tests.fixtures.registry import RegistryServer
from tests.flows.test_secrets_e2e import _candidate

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


@pytest.fixture()
def push_run(
    example_clone: Clone, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Clone]:
    candidate = _candidate(tmp_path / "candidate")  # the trained model: stubbed
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


def _interrupted(
    clone: Clone, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], sig: int = signal.SIGINT
) -> None:
    before = _tip(clone.remote)
    with interrupt_after(1.5, sig) as sent:
        code = _run_push(clone, monkeypatch, env)
    assert sent, "the run ended before the interrupt"
    assert _tip(clone.remote) == before
    assert code == ExitCode.INTERRUPTED
    assert time.monotonic() - sent[0] < 1.0


def _gives_up(
    clone: Clone,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
) -> str:
    """run push exits 3 within the budget, pushing nothing; returns its error line."""
    before = _tip(clone.remote)
    started = time.monotonic()
    assert _run_push(clone, monkeypatch, env) == ExitCode.OUTSIDE
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET + MARGIN, f"gave up after {elapsed:.1f}s"
    assert _tip(clone.remote) == before  # nothing pushed
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.startswith("leptonci: error:")]
    return line


# -- registry ------------------------------------------------------------------------


def test_run_push_gives_up_on_a_hung_registry_within_its_budget(
    push_run: Clone,
    hung_registry: HungProxy,
    registry: RegistryServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = {**TIGHT, "LEPTONCI_REGISTRY": f"{hung_registry.host}/team"}
    line = _gives_up(push_run, monkeypatch, capsys, env)
    assert f"registry {hung_registry.host} failed to" in line and "timed out" in line
    assert registry.manifest("team/digits", "latest").status_code == 404
    ledger = push_run.root / "environments" / "dev" / "ledger.yaml"
    assert not ledger.exists() or "digits-" not in ledger.read_text()  # nothing recorded


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupt_during_a_registry_wait_exits_130(
    push_run: Clone, hung_registry: HungProxy, monkeypatch: pytest.MonkeyPatch, sig: int
) -> None:
    env = {**PATIENT, "LEPTONCI_REGISTRY": f"{hung_registry.host}/team"}
    _interrupted(push_run, monkeypatch, env, sig)


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
    line = _gives_up(push_run, monkeypatch, capsys, TIGHT)
    assert f"origin (http://ci:***@{hung_origin.host}/" in line and "stalled" in line
    assert "hung-origin-pw-88" not in line


def test_an_interrupt_during_a_git_wait_exits_130_and_leaves_the_clone_usable(
    push_run: Clone, hung_origin: HungProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**PATIENT, "LEPTONCI_STALL_TIMEOUT": "60", "LEPTONCI_LOW_SPEED_LIMIT": "1"}
    _interrupted(push_run, monkeypatch, env)
    # git's lock files are gone; leptonci's writer lock is a flock on a file that stays,
    # free once the run has ended
    assert [p.name for p in (push_run.root / ".git").rglob("*.lock")] in ([], [writer.LOCK])
    with writer.exclusive(Git(push_run.root)):
        pass
    status = subprocess.run(["git", "-C", str(push_run.root), "status"], capture_output=True)
    assert status.returncode == 0
