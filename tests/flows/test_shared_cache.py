"""The shared training cache on the real registry, across fresh clones of one repository.

The first clone builds the digits model: it trains (real TensorFlow), publishes the
candidate to ``REGISTRY/leptonci-candidates`` and pushes the image. A second fresh clone
(no local cache) builds the same commit without training anything: it fetches the
candidate and gets the same release id and the same image digest. Then a blob of the
stored candidate is corrupted in the registry's storage: a third clone refuses it and
trains instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leptonci import cli
from leptonci.adapters import training
from leptonci.adapters.images.candidates import RegistryCandidates
from leptonci.adapters.images.registry import RegistryClient
from leptonci.core.training_contract import candidate_tag
from leptonci.pipeline.cache import model_content_hash
from leptonci.pipeline.train import train_model
from tests.adapters.test_candidates import corrupt, registry_blob_file
from tests.fixtures.git_repo import REPO, make_clone, seed_remote
from tests.fixtures.registry import RegistryServer

pytestmark = [pytest.mark.service, pytest.mark.slow]


class TrainedAgain(Exception):
    pass


def no_training(*args: object, **kwargs: object) -> None:
    raise TrainedAgain("trained although the shared cache has the candidate")


def build(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, object], str]:
    code = cli.main(["-C", str(root), "--json", "build", "digits"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out), captured.err


def test_fresh_clones_share_candidates_through_the_registry(
    registry: RegistryServer,
    tmp_path: Path,
    pinned_git: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = (REPO / "leptonci.yaml").read_text()
    text = text.replace("registry: oci-layout:.leptonci/oci", f"registry: {registry.host}/ml")
    text = text.replace("epochs: 12", "epochs: 2")
    remote = seed_remote(tmp_path, config_text=text)
    monkeypatch.setenv("LEPTONCI_ACTOR", "first-runner")
    for name in ("LEPTONCI_CACHE", "LEPTONCI_REGISTRY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)

    first = make_clone(remote, tmp_path / "first")
    built, log = build(first.root, capsys)
    key = model_content_hash(first.ctx(), "digits")
    label = f"digits-{key.split(':')[1][:12]}"
    assert f"published candidate {label} to {registry.host}/ml/leptonci-candidates" in log

    monkeypatch.setattr(training, "train_and_export", no_training)
    monkeypatch.setenv("LEPTONCI_ACTOR", "second-runner")
    second = make_clone(remote, tmp_path / "second")
    assert not (second.root / ".leptonci").exists()  # a fresh clone: no local cache
    again, log = build(second.root, capsys)
    assert f"cache hit in {registry.host}/ml/leptonci-candidates: reusing candidate {label}" in log
    assert "by first-runner" in log
    assert again["release"] == built["release"]
    assert again["digest"] == built["digest"]  # the same model bytes: the same image

    store = RegistryCandidates(
        RegistryClient(registry.host, plain_http=True), "ml/leptonci-candidates"
    )
    stored = store.lookup(candidate_tag("digits", key))
    assert stored is not None
    corrupt(registry_blob_file(registry, stored.model.digest))
    third = make_clone(remote, tmp_path / "third")
    ctx = third.ctx()
    with pytest.raises(TrainedAgain):
        train_model(ctx, model="digits")
    warning = ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
    assert f"model blob {stored.model.digest[:19]} refused" in warning
    assert f"training {label} instead" in warning
    entries = third.root / ".leptonci" / "cache" / "digits"
    assert not entries.exists() or not list(entries.iterdir())  # nothing of it was kept
