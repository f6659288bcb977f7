from __future__ import annotations

import os
from pathlib import Path

import pytest

from leptonci.core.config import load_config, parse_config
from leptonci.core.errors import ConfigError
from leptonci.core.serving_config import build_base
from leptonci.runtime.context import Context


def test_example_config_loads_in_promotion_order(example_repo: Path) -> None:
    config = load_config(example_repo)
    assert [e.name for e in config.ordered_envs()] == ["dev", "staging", "prod"]
    assert config.first_env().name == "dev"
    assert config.reference_env("digits").name == "prod"
    assert config.image_name("digits") == "leptonci/digits"
    assert config.image_repository("digits") == "digits"
    assert config.model("digits").gate["accuracy"].min == 0.90


def test_order_does_not_depend_on_listing_order(tmp_path: Path) -> None:
    text = """
project: p
models:
  m: {path: m, gate: {acc: {min: 0.5}}}
environments:
  - {name: prod, path: e/prod, upstream: staging}
  - {name: staging, path: e/staging, upstream: dev}
  - {name: dev, path: e/dev}
"""
    config = parse_config(text, file="leptonci.yaml", root=tmp_path)
    assert [e.name for e in config.ordered_envs()] == ["dev", "staging", "prod"]
    assert [e.name for e in config.downstream("dev")] == ["staging"]


def test_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "repo"
    root.mkdir()
    os.symlink(outside, root / "model_repo")
    text = """project: p
models:
  m:
    path: model_repo/m
    gate: {acc: {min: 0.5}}
environments:
  - {name: dev, path: e/dev}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text, file="leptonci.yaml", root=root)
    assert "leptonci.yaml:4: models.m.path:" in str(info.value)
    assert "outside the repository" in str(info.value)


def test_registry_override_from_the_environment(example_repo: Path) -> None:
    ctx = Context(root=example_repo, env={"LEPTONCI_REGISTRY": "127.0.0.1:5000/team"})
    assert ctx.config.registry == "127.0.0.1:5000/team"


def test_cache_override_from_the_environment(example_repo: Path, tmp_path: Path) -> None:
    ctx = Context(root=example_repo, env={"LEPTONCI_CACHE": str(tmp_path / "c")})
    assert ctx.cache_dir == (tmp_path / "c").resolve()
    assert Context(root=example_repo, env={}).cache_dir == example_repo / ".leptonci/cache"


@pytest.mark.parametrize(
    "registry",
    ["ghcr.io/acme", "127.0.0.1:5000/ns", "registry.example.com:443/a/b", "oci-layout:out/oci"],
)
def test_registry_forms(registry: str, tmp_path: Path) -> None:
    text = f"""project: p
registry: {registry}
models: {{m: {{path: m, gate: {{acc: {{min: 0.5}}}}}}}}
environments: [{{name: dev, path: e}}]
"""
    assert parse_config(text, file="leptonci.yaml", root=tmp_path).registry == registry


@pytest.mark.parametrize(
    "require, message",
    [
        ("{attestation: verdict}", "give 'keys' (public keys) and/or 'identity'"),
        ("{attestation: sbom, keys: [k.pub]}", "attestation"),
        ("{keys: [../k.pub]}", "leaves the repository"),
        ("{keys: [k.pub], trusted: yes}", "unknown key"),
    ],
)
def test_a_require_block_is_checked(tmp_path: Path, require: str, message: str) -> None:
    text = f"""
project: p
models:
  m: {{path: m, gate: {{acc: {{min: 0.5}}}}}}
environments:
  - name: dev
    path: e/dev
    require: {require}
"""
    with pytest.raises(ConfigError) as failed:
        parse_config(text, file="leptonci.yaml", root=tmp_path)
    assert message in str(failed.value)
    assert ":7:" in str(failed.value) or ":8:" in str(failed.value)


def test_a_require_block_defaults_to_the_verdict(tmp_path: Path) -> None:
    text = """
project: p
models:
  m: {path: m, gate: {acc: {min: 0.5}}}
environments:
  - {name: dev, path: e/dev, require: {keys: [k.pub]}}
  - {name: prod, path: e/prod, upstream: dev, require: {attestation: [verdict, provenance, verdict], identity: x}}
"""
    config = parse_config(text, file="leptonci.yaml", root=tmp_path)
    assert config.env("dev").require.kinds == ("verdict",)  # type: ignore[union-attr]
    assert config.env("prod").require.kinds == ("verdict", "provenance")  # type: ignore[union-attr]


PINNED_BASE = "reg.example/tfs@sha256:" + "a" * 64


@pytest.mark.parametrize(
    "serving, image, where, message",
    [
        ("{shape: vol}", "", "serving.shape", "'vol' is not one of: volume, bake, kserve"),
        ("{volume: model}", "", "serving.shape", "give shape: one of volume, bake, kserve"),
        ("{shape: volume, base: x}", "", "serving.base", "unknown key"),
        ("{shape: volume, container: Serving_1}", "", "serving.container", "should match"),
        ("{shape: bake}", "", "serving.base", "required key missing"),
        ("{shape: bake, base: scratch}", "", "serving.base", "needs a serving base image"),
        ("{shape: bake, base: 'reg.example/tfs:2.18'}", "", "serving.base", "not pinned by"),
        ("{shape: bake, base: 'oci-layout:bases/tfs:2'}", "", "serving.base", "not pinned by"),
        (f"{{shape: bake, base: '{PINNED_BASE}'}}", "busybox", "models.m", "give the serving"),
        ("{shape: volume}", "busybox", "models.m", "image.base must be scratch"),
        ("{shape: kserve, inference_service: -x}", "", "inference_service", "should match"),
    ],
)
def test_a_serving_section_is_checked(
    tmp_path: Path, serving: str, image: str, where: str, message: str
) -> None:
    base = f"\n    image: {{base: {image}}}" if image else ""
    text = f"""project: p
models:
  m:
    path: m{base}
    serving: {serving}
    gate: {{acc: {{min: 0.5}}}}
environments: [{{name: dev, path: e}}]
"""
    with pytest.raises(ConfigError) as failed:
        parse_config(text, file="leptonci.yaml", root=tmp_path)
    assert message in str(failed.value)
    assert where in str(failed.value) and "leptonci.yaml:" in str(failed.value)


@pytest.mark.parametrize(
    "serving, base",
    [
        ("{shape: volume}", "scratch"),
        ("{shape: kserve}", "scratch"),
        (f"{{shape: bake, base: '{PINNED_BASE}'}}", PINNED_BASE),
        ("{shape: bake, base: 'oci-layout:bases/tfs@sha256:" + "b" * 64 + "'}", None),
    ],
)
def test_bake_builds_on_its_serving_base(tmp_path: Path, serving: str, base: str | None) -> None:
    text = f"""project: p
models:
  m: {{path: m, serving: {serving}, gate: {{acc: {{min: 0.5}}}}}}
environments: [{{name: dev, path: e}}]
"""
    model = parse_config(text, file="leptonci.yaml", root=tmp_path).model("m")
    built_on = build_base(model.image.base, model.serving)
    assert built_on == (base if base is not None else model.serving.base)  # type: ignore[union-attr]
