"""Images that really run: built by either builder, pushed, pulled by digest, `docker run`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from leptonci.pipeline.build import build_image, push_image
from tests.fixtures.registry import RegistryServer
from tests.flows.test_build import RELEASE, SOURCE, make_candidate, make_ctx, make_repo

pytestmark = [pytest.mark.service, pytest.mark.slow]
CHECK = (
    "test -f /models/digits/1/saved_model.pb && "
    "sha256sum /models/digits/1/saved_model.pb && echo MODEL_NAME=$MODEL_NAME"
)


def _run(client: Any, image: str) -> str:
    out = client.containers.run(image, ["/bin/sh", "-c", CHECK], remove=True, network_mode="none")
    return bytes(out).decode()


def _expected(candidate_root: Path) -> str:
    pb = (candidate_root / "digits" / "1" / "saved_model.pb").read_bytes()
    return hashlib.sha256(pb).hexdigest()


def test_docker_builder_image_runs_and_holds_the_model(
    docker_client: Any, busybox_base_image: str, registry: RegistryServer, tmp_path: Path
) -> None:
    root = make_repo(
        tmp_path / "repo",
        registry=f"{registry.host}/team",
        builder="docker",
        base=busybox_base_image,
    )
    ctx = make_ctx(root, env={"DOCKER_HOST": _docker_host()})
    candidate = make_candidate(tmp_path / "cand")
    build = build_image(ctx, candidate=candidate, release=RELEASE, verdict="passed", source=SOURCE)
    assert build.digest is None  # the engine's digest is only known after the push
    built = push_image(ctx, build)
    assert built.digest.startswith("sha256:")
    assert (
        registry.manifest("team/digits", RELEASE).headers["Docker-Content-Digest"] == built.digest
    )
    assert (
        registry.manifest("team/digits", "cccccccccccc").headers["Docker-Content-Digest"]
        == built.digest
    )
    docker_client.images.remove(f"{built.image}:{RELEASE}", force=True)
    docker_client.images.remove(f"{built.image}:cccccccccccc", force=True)
    output = _run(docker_client, built.reference)  # pulled back from the registry by digest
    assert _expected(candidate.root) in output
    assert "MODEL_NAME=digits" in output
    labels = docker_client.images.get(built.reference).labels
    assert labels["io.leptonci.release"] == RELEASE
    assert labels["org.opencontainers.image.revision"] == SOURCE.commit


def test_daemonless_image_on_a_registry_base_runs(
    docker_client: Any, busybox_base_image: str, registry: RegistryServer, tmp_path: Path
) -> None:
    base = f"{registry.host}/base/busybox:1"
    docker_client.images.get(busybox_base_image).tag(f"{registry.host}/base/busybox", "1")
    for event in docker_client.images.push(
        f"{registry.host}/base/busybox", tag="1", stream=True, decode=True
    ):
        assert "error" not in event, event
    root = make_repo(tmp_path / "repo", registry=f"{registry.host}/team", base=base)
    ctx = make_ctx(root)
    candidate = make_candidate(tmp_path / "cand", seed=3)
    build = build_image(ctx, candidate=candidate, release=RELEASE, verdict="passed", source=SOURCE)
    assert build.digest is None  # a registry push learns it while the layer streams
    built = push_image(ctx, build)
    output = _run(docker_client, built.reference)
    assert _expected(candidate.root) in output
    assert "MODEL_NAME=digits" in output
    # a rebuild elsewhere (fresh cache) gives the identical digest
    other = make_repo(tmp_path / "other", registry=f"{registry.host}/team", base=base)
    again = build_image(
        make_ctx(other), candidate=candidate, release=RELEASE, verdict="passed", source=SOURCE
    )
    assert again.digest == built.digest
    assert push_image(make_ctx(other), again).bytes_sent == 0


def _docker_host() -> str:
    import os

    return os.environ["DOCKER_HOST"]
