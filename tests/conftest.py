"""Shared test setup: service-backed tests fail in CI instead of skipping.

Fixtures that build real things live in tests/fixtures/ and are loaded here as
plugins, so every test module can ask for them by name.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from leptonci.core import redact
from tests.services import services_required

REPO = Path(__file__).resolve().parent.parent

_PLUGINS = [
    "tests.fixtures.git_repo",
    "tests.fixtures.registry",
    "tests.fixtures.docker_engine",
    "tests.fixtures.secret_forms",
    "tests.fixtures.hung_servers",
    "tests.kube_apiserver",
    "tests.kube_rollouts",
    "tests.github_fake",
]
pytest_plugins = [p for p in _PLUGINS if importlib.util.find_spec(p) is not None]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    # In CI a missing service must fail the run, never pass quietly as a skip.
    outcome = yield
    report = outcome.get_result()
    if report.skipped and services_required() and item.get_closest_marker("service"):
        report.outcome = "failed"
        report.longrepr = f"service-backed test skipped in CI: {report.longrepr}"


@pytest.fixture(autouse=True)
def no_mask_announcer_after_the_test() -> Iterator[None]:
    # An Output in GitHub Actions mode announces secrets for the rest of the process (a
    # CLI run has one Output); a later test must not write into this test's streams.
    yield
    redact.announce_masks(None)


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    """A copy of this repository's example (config, environments, model) in tmp_path."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / "leptonci.yaml", root / "leptonci.yaml")
    for folder in ("environments", "model_repo"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return root
