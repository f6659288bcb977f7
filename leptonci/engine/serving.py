"""The serving contract of each environment, for `leptonci validate`.

The rendered manifests must serve each model as its ``serving:`` shape says
(``core/serving_contract``), in a place the manifest editor pins; with a cluster
configured, the cluster must be able to run the shape (image volumes need Kubernetes
1.35+). A cluster that cannot be reached is reported as not checked, not as an error:
validate runs in pull requests, where no cluster credentials are given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leptonci.adapters import kube
from leptonci.core.config import CONFIG_FILE, Config, EnvironmentConfig
from leptonci.core.errors import ConfigError, LeptonError
from leptonci.core.images import parse_destination
from leptonci.core.ledger import Ledger
from leptonci.core.serving_config import VolumeServing
from leptonci.core.serving_contract import check_serving, image_volume_problem, parse_version
from leptonci.runtime.context import Context


def check_environment(
    config: Config,
    env: EnvironmentConfig,
    objects: Sequence[Mapping[str, Any]],
    *,
    ledger: Ledger | None,
) -> tuple[list[tuple[str, str]], list[LeptonError]]:
    """((what, detail) checked, errors) for every model with a ``serving:`` shape."""
    checked: list[tuple[str, str]] = []
    errors: list[LeptonError] = []
    destination = parse_destination(config.registry)
    for name, model in config.models.items():
        if model.serving is None:
            continue
        names = {config.image_name(name), destination.image(config.image_repository(name))}
        current = ledger.current_for(name) if ledger is not None else None
        if current is not None:
            names.add(current.image)
        served, problems = check_serving(
            model.serving,
            objects,
            model=name,
            names=names,
            model_base_path=model.image.model_base_path,
        )
        for problem in problems:
            errors.append(
                ConfigError(
                    f"environment {env.name!r}, model {name!r}: {problem}",
                    file=f"{env.path} (rendered)",
                    hint="see docs/serving.md for each shape's manifests",
                )
            )
        if served is not None:
            checked.append(
                (
                    f"serving {env.name} {name}",
                    f"{model.serving.shape}: {served.where}, {served.field}",
                )
            )
    return checked, errors


def check_cluster(
    ctx: Context, config: Config, env: EnvironmentConfig
) -> tuple[list[tuple[str, str]], list[LeptonError]]:
    """Whether env's cluster can run its models' serving shapes (image volumes)."""
    volume_models = [n for n, m in config.models.items() if isinstance(m.serving, VolumeServing)]
    if env.cluster is None or not volume_models:
        return [], []
    try:
        client = kube.load_api_client(env.cluster, env=ctx.env, root=ctx.root)
        major, minor = kube.server_version(env.cluster, api_client=client)
    except LeptonError as exc:
        return [(f"cluster {env.name}", f"not reached, image volumes not checked ({exc})")], []
    version = parse_version(major, minor)
    if version is None:
        return [(f"cluster {env.name}", f"version {major}.{minor} not understood")], []
    errors: list[LeptonError] = []
    for name in volume_models:
        serving = config.models[name].serving
        assert serving is not None
        problem = image_volume_problem(serving, version)
        if problem:
            errors.append(
                ConfigError(
                    f"environment {env.name!r}, model {name!r}: {problem}",
                    file=CONFIG_FILE,
                    key=f"models.{name}.serving.shape",
                )
            )
    if errors:
        return [], errors
    return [(f"cluster {env.name}", f"Kubernetes {major}.{minor}: image volumes available")], []
