"""Outside systems that hang: each adapter gives up within its deadlines, cleanly.

For the registry, a git remote over http, the GitHub fake and the kmock rig, a proxy
in front of the real loopback server accepts and never answers, answers the first
request then hangs, or trickles each answer a byte a second (tests/fixtures/
hung_servers.py). Each ends in the system's OutsideError (exit 3) within the budget set
here through the documented settings (small, so the suite stays fast; the elapsed
time is asserted with a generous margin), nothing lands, and an interrupt during the
wait ends it within a second.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from leptonci.adapters.git import Git
from leptonci.adapters.github import GitHub, settings_from_env
from leptonci.adapters.images.registry import RegistryClient, RetryPolicy
from leptonci.adapters.images.upload import BytesSource, upload_blob
from leptonci.adapters.kube import verify_rollout
from leptonci.adapters.kube_client import RetryPolicy as KubeRetry
from leptonci.adapters.kube_client import api_client_for_host
from leptonci.core.config import ClusterConfig
from leptonci.core.deadlines import Deadlines, with_env
from leptonci.core.errors import ClusterError, ExitCode, GitError, GitHubError, RegistryError
from tests.fixtures.hung_servers import GitHttpRemote, HungProxy, interrupt_after
from tests.fixtures.registry import RegistryServer
from tests.github_fake import FakeGitHub
from tests.kube_apiserver import EmulatorThread
from tests.kube_rollouts import NAME, NAMESPACE, NEW

# set as a user would: the documented variables
TIGHT = with_env(
    Deadlines(),
    {
        "LEPTONCI_CONNECT_TIMEOUT": "1",
        "LEPTONCI_READ_TIMEOUT": "2",  # longer than the trickle's second per byte
        "LEPTONCI_STALL_TIMEOUT": "2",
        "LEPTONCI_GIVE_UP": "4",
    },
)
PATIENT = TIGHT.model_copy(update={"give_up": 120.0, "read": 60.0, "stall": 60.0})
MARGIN = 4.0  # seconds past the budget a loaded CI machine may take
SECRET = "hung-remote-password-0451"


def within_budget(started: float, deadlines: Deadlines = TIGHT) -> None:
    elapsed = time.monotonic() - started
    budget = deadlines.give_up + max(deadlines.stall, deadlines.connect + deadlines.read)
    assert elapsed < budget + MARGIN, f"gave up after {elapsed:.1f}s, budget {budget:g}s"


def interrupted_promptly(wait: Callable[[], Any], *, after: float = 1.0) -> None:
    """SIGINT this process `after` seconds into wait(): it must raise within a second."""
    with interrupt_after(after) as sent, pytest.raises(KeyboardInterrupt):
        wait()
    assert sent, "the wait ended before the interrupt"
    assert time.monotonic() - sent[0] < 1.0


# -- registry ----------------------------------------------------------------------


def _registry_client(proxy: HungProxy, deadlines: Deadlines) -> RegistryClient:
    retry = RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.1)
    return RegistryClient(proxy.host, plain_http=True, retry=retry, deadlines=deadlines)


def test_a_hung_registry_is_given_up_on_within_the_budget(
    hung_registry: HungProxy, registry: RegistryServer
) -> None:
    data = os.urandom(200_000)
    started = time.monotonic()
    with pytest.raises(RegistryError) as info:
        upload_blob(_registry_client(hung_registry, TIGHT), "ns/hung", BytesSource(data))
    within_budget(started)
    assert info.value.exit_code == ExitCode.OUTSIDE
    assert "timed out" in str(info.value) and "\n" not in str(info.value)
    assert registry.manifest("ns/hung", "latest").status_code == 404  # nothing landed


def test_an_interrupt_ends_a_registry_wait_at_once(hung_registry: HungProxy) -> None:
    client = _registry_client(hung_registry, PATIENT)
    interrupted_promptly(lambda: client.manifest_digest("ns/hung", "latest"))


def test_an_interrupt_during_a_blob_upload_cancels_its_session(registry: RegistryServer) -> None:
    proxy = HungProxy("relay", registry.host, hang=frozenset({"PATCH", "PUT"}))
    try:
        client = _registry_client(proxy, PATIENT)
        source = BytesSource(os.urandom(300_000))
        interrupted_promptly(lambda: upload_blob(client, "ns/hung", source))
        [(path, _)] = [(p, s) for m, p, s in proxy.seen if m == "POST"]
        # the session the interrupted upload opened was deleted, and the registry knows
        # it no more
        assert [s for m, p, s in proxy.seen if m == "DELETE" and p.startswith(path)] == [204]
    finally:
        proxy.stop()


# -- git over http --------------------------------------------------------------------


@pytest.fixture()
def git_remote(tmp_path: Path, mode: str) -> Iterator[tuple[Path, HungProxy]]:
    """A clone whose origin (with a password in its URL) is the proxy in front of a
    bare repository served over smart http."""
    bare = tmp_path / "remotes" / "models.git"
    seed = tmp_path / "seed"
    for args in (
        ["init", "--bare", "-b", "main", str(bare)],
        ["init", "-b", "main", str(seed)],
        ["-C", str(seed), "commit", "--allow-empty", "-m", "first"],
        ["-C", str(seed), "push", str(bare), "main"],
    ):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
            check=True,
            capture_output=True,
        )
    server = GitHttpRemote(tmp_path / "remotes")
    proxy = HungProxy(mode, server.host)
    clone = tmp_path / "clone"
    url = f"http://ci:{SECRET}@{proxy.host}/models.git"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "remote", "set-url", "origin", url], check=True)
    yield clone, proxy
    proxy.stop()
    server.stop()


def test_a_hung_git_remote_is_one_line_naming_the_remote(
    git_remote: tuple[Path, HungProxy],
) -> None:
    clone, _ = git_remote
    started = time.monotonic()
    with pytest.raises(GitError) as info:
        Git(clone, deadlines=TIGHT).fetch("origin", "main")
    within_budget(started)
    text = str(info.value)
    assert info.value.exit_code == ExitCode.OUTSIDE
    assert text.startswith("git fetch origin (http://ci:***@127.0.0.1:")
    assert "stalled" in text and "\n" not in text and SECRET not in text


def test_an_interrupt_ends_a_git_wait_and_leaves_the_clone_usable(
    git_remote: tuple[Path, HungProxy],
) -> None:
    clone, _ = git_remote
    git = Git(clone, deadlines=PATIENT.model_copy(update={"low_speed": 1}))
    interrupted_promptly(lambda: git.fetch("origin", "main"))
    assert not list((clone / ".git").rglob("*.lock"))
    assert git.run("status", "--porcelain").ok and git.run("fsck", "--no-progress").ok
    left = subprocess.run(["pgrep", "-f", "git-remote-http"], capture_output=True, text=True)
    assert str(clone) not in left.stdout


# -- GitHub ---------------------------------------------------------------------------


@pytest.fixture()
def github_proxy(github_fake: FakeGitHub, mode: str) -> Iterator[tuple[FakeGitHub, HungProxy]]:
    upstream = github_fake.api_url.split("//", 1)[1].split("/", 1)[0]
    proxy = HungProxy(mode, upstream)
    yield github_fake, proxy
    proxy.stop()


def _github(fake: FakeGitHub, proxy: HungProxy, deadlines: Deadlines) -> GitHub:
    settings = settings_from_env(fake.env(GITHUB_API_URL=f"{proxy.url}{fake.prefix}"))
    assert settings is not None
    return GitHub(settings, attempts=6, deadlines=deadlines)


def _status(client: GitHub) -> None:
    client.set_status(sha="a" * 40, state="success", context="leptonci/gate/d", description="x")


def test_a_hung_github_api_is_given_up_on_within_the_budget(
    github_proxy: tuple[FakeGitHub, HungProxy],
) -> None:
    fake, proxy = github_proxy
    client = _github(fake, proxy, TIGHT)
    before = sum(len(v) for v in fake.statuses.values())
    started = time.monotonic()
    with pytest.raises(GitHubError) as info:
        _status(client)
    within_budget(started)
    assert info.value.exit_code == ExitCode.OUTSIDE
    assert "kept failing for status leptonci/gate/d" in str(info.value)
    assert sum(len(v) for v in fake.statuses.values()) == before  # nothing recorded


def test_an_interrupt_ends_a_github_wait_at_once(
    github_proxy: tuple[FakeGitHub, HungProxy],
) -> None:
    fake, proxy = github_proxy
    client = _github(fake, proxy, PATIENT)
    interrupted_promptly(lambda: _status(client))


# -- Kubernetes API (kmock) -----------------------------------------------------------

CLUSTER = ClusterConfig(namespace=NAMESPACE, workload=f"deployment/{NAME}")
FAST = KubeRetry(attempts=20, base_delay=0.05, max_delay=0.1)


@pytest.fixture()
def kube_proxy(kube_emulator: EmulatorThread, mode: str) -> Iterator[HungProxy]:
    proxy = HungProxy(mode, kube_emulator.url.split("//", 1)[1].rstrip("/"))
    yield proxy
    proxy.stop()


def test_a_hung_cluster_api_is_given_up_on_within_the_budget(kube_proxy: HungProxy) -> None:
    api = api_client_for_host(kube_proxy.url, deadlines=TIGHT)
    started = time.monotonic()
    with pytest.raises(ClusterError) as info:
        verify_rollout(CLUSTER, digest=NEW, timeout=60, api_client=api, policy=FAST)
    within_budget(started)
    assert info.value.exit_code == ExitCode.OUTSIDE
    assert "Timeout: no answer within" in str(info.value)


def test_the_verify_timeout_bounds_the_wait_on_a_hung_api(kube_proxy: HungProxy) -> None:
    api = api_client_for_host(kube_proxy.url, deadlines=PATIENT.model_copy(update={"read": 2.0}))
    started = time.monotonic()
    with pytest.raises(ClusterError):  # the API failing: an outside failure, not "no"
        verify_rollout(CLUSTER, digest=NEW, timeout=4, api_client=api, policy=FAST)
    assert time.monotonic() - started < 4 + MARGIN


def test_an_interrupt_ends_a_cluster_wait_at_once(kube_proxy: HungProxy) -> None:
    api = api_client_for_host(kube_proxy.url, deadlines=PATIENT)
    interrupted_promptly(
        lambda: verify_rollout(CLUSTER, digest=NEW, timeout=60, api_client=api, policy=FAST)
    )
