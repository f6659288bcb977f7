"""The serving contract of each environment, for `leptonci validate`.

The rendered manifests must serve each model as its ``serving:`` shape says
(``core/serving_contract``), in a place the manifest editor pins; with a cluster
configured, the cluster must be able to run the shape (image volumes need Kubernetes
1.35+). A cluster that cannot be reached is reported as not checked, not as an error:
validate runs in pull requests, where no cluster credentials are given.

A problem on a rendered object is reported at the line of the source file that declares
that object (the field's line, or the nearest one the source has); a problem on no object
(nothing in the overlay carries the model) at the model's ``serving:`` key in leptonci.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leptonci.adapters import kube
from leptonci.core.config import CONFIG_FILE, Config, EnvironmentConfig
from leptonci.core.errors import ConfigError, LeptonError
from leptonci.core.images import parse_destination
from leptonci.core.ledger import Ledger
from leptonci.core.serving_config import VolumeServing
from leptonci.core.serving_contract import (
    Problem,
    check_serving,
    image_volume_problem,
    parse_version,
)
from leptonci.core.yamldoc import line_of
from leptonci.runtime.context import Context


@dataclass(frozen=True)
class SourceDoc:
    """One object in a source manifest: where a rendered object's problem is reported."""

    obj: str  # "Deployment/digits-serving"
    file: str  # shown path, relative to the repository
    offset: int  # lines before the document's first line
    tree: Any  # the document's round-trip tree (its nodes know their lines)


def check_environment(
    config: Config,
    env: EnvironmentConfig,
    objects: Sequence[Mapping[str, Any]],
    *,
    ledger: Ledger | None,
    sources: Sequence[SourceDoc] = (),
) -> tuple[list[tuple[str, str]], list[LeptonError]]:
    """((what, detail) checked, errors) for every model with a ``serving:`` shape;
    sources: the overlay's source objects, overlay first, then its bases."""
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
        errors += [_error(problem, env, name, sources) for problem in problems]
        if served is not None:
            checked.append(
                (
                    f"serving {env.name} {name}",
                    f"{model.serving.shape}: {served.where}, {served.field}",
                )
            )
    return checked, errors


def at_source(
    sources: Sequence[SourceDoc], obj: str | None, path: Sequence[str | int]
) -> tuple[str, int] | None:
    """(file, line) of the field at path in the source that declares obj, or None: the
    line of the deepest part of path the source has, else its document's first line."""
    source = next((s for s in sources if obj and s.obj == obj), None)
    if source is None:
        return None
    line = line_of(source.tree, path)
    if line is None:
        line = source.tree.lc.line + 1 if hasattr(source.tree, "lc") else 1
    return source.file, source.offset + line


def _error(
    problem: Problem, env: EnvironmentConfig, model: str, sources: Sequence[SourceDoc]
) -> ConfigError:
    message = f"environment {env.name!r}, model {model!r}: {problem}"
    hint = "see docs/serving.md for each shape's manifests"
    where = at_source(sources, problem.obj, problem.path)
    if where is None:
        return ConfigError(
            f"{message} in the rendered {env.path}",
            file=CONFIG_FILE,
            key=f"models.{model}.serving",
            hint=hint,
        )
    return ConfigError(message, file=where[0], line=where[1], hint=hint)


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
