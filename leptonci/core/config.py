"""The project config (``leptonci.yaml``): its schema and its loader.

The schema is pydantic models with unknown keys forbidden; the loader reads YAML with
ruamel.yaml so every error can name the file, the line and the key path. Checks that
span several entries (upstream cycles, unknown references, paths leaving the
repository) run after the schema and report the line of the offending key too.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from ruamel.yaml.comments import CommentedMap

from leptonci.core.config_errors import data_loc, pydantic_message
from leptonci.core.deadlines import Deadlines
from leptonci.core.errors import ConfigError
from leptonci.core.files import read_text
from leptonci.core.image_config import ImageConfig
from leptonci.core.images import parse_destination
from leptonci.core.parity_config import EndpointParity, ModelParity
from leptonci.core.serving_config import ServingConfig, base_conflict
from leptonci.core.train_config import LocalTraining, TrainConfig
from leptonci.core.yamldoc import key_path, line_of, load_yaml_with_lines, plain

CONFIG_FILE = "leptonci.yaml"
NAME_RE = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Name = Annotated[str, Field(pattern=NAME_RE)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChangeThreshold(_Model):
    """A check of the candidate against the baseline release."""

    direction: Literal["higher_is_better", "lower_is_better"] = "higher_is_better"
    absolute: float | None = None  # allowed delta (candidate - baseline), signed
    relative: float | None = None  # allowed delta / baseline, signed

    @model_validator(mode="after")
    def _one_allowance(self) -> ChangeThreshold:
        if self.absolute is None and self.relative is None:
            raise ValueError("a change threshold needs 'absolute' and/or 'relative'")
        for value in (self.absolute, self.relative):
            if value is not None and not math.isfinite(value):
                raise ValueError("allowances must be finite numbers")
        return self


class Threshold(_Model):
    """Thresholds for one metric: inclusive value bounds and/or a change check."""

    min: float | None = None
    max: float | None = None
    change: ChangeThreshold | None = None

    @model_validator(mode="after")
    def _something(self) -> Threshold:
        if self.min is None and self.max is None and self.change is None:
            raise ValueError("give 'min', 'max' and/or 'change'")
        for value in (self.min, self.max):
            if value is not None and not math.isfinite(value):
                raise ValueError("bounds must be finite numbers")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class ModelConfig(_Model):
    path: str
    reference: str | None = None  # environment the pull-request gate compares against
    params: dict[str, Any] = Field(default_factory=dict)
    image: ImageConfig = Field(default_factory=ImageConfig)
    gate: dict[str, Threshold]
    # Where it trains is not an input of the model: left out of the content hash.
    train: TrainConfig = Field(default_factory=LocalTraining)
    parity: ModelParity = Field(default_factory=ModelParity)  # parity_config.py
    serving: ServingConfig | None = None  # how the image is served (docs/serving.md)

    @model_validator(mode="after")
    def _one_base(self) -> ModelConfig:
        if problem := base_conflict(self.image.base, self.serving):
            raise ValueError(problem)
        return self

    @field_validator("gate")
    @classmethod
    def _not_empty(cls, value: dict[str, Threshold]) -> dict[str, Threshold]:
        if not value:
            raise ValueError("no thresholds: a model's gate needs at least one metric")
        return value


class ClusterConfig(_Model):
    kubeconfig: str | None = None  # default: $KUBECONFIG or ~/.kube/config
    context: str | None = None
    namespace: str
    workload: str = Field(default="deployment/serving", pattern=r"^[a-z]+/[a-z0-9.-]+$")
    apply: Literal["gitops", "direct"] = "gitops"
    timeout: float = Field(default=300, gt=0)
    parity: EndpointParity = Field(default_factory=EndpointParity)  # parity_config.py


AttestationKind = Literal["verdict", "provenance"]


class RequireConfig(_Model):
    """What a digest must carry to enter the environment (``require:``).

    ``keys``: public keys (PEM, cosign.pub) trusted to sign, each a path in the
    repository or the PEM text itself. ``identity`` (and ``issuer``): the keyless
    signer trusted instead, the certificate identity of the workflow that signs, e.g.
    ``https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/heads/main``.
    """

    attestation: AttestationKind | list[AttestationKind] = "verdict"
    keys: list[str] = Field(default_factory=list)
    identity: str | None = None
    issuer: str = "https://token.actions.githubusercontent.com"

    @model_validator(mode="after")
    def _a_signer(self) -> RequireConfig:
        if not self.keys and not self.identity:
            raise ValueError("give 'keys' (public keys) and/or 'identity' (a keyless signer)")
        if isinstance(self.attestation, list) and not self.attestation:
            raise ValueError("'attestation' names verdict and/or provenance")
        return self

    @property
    def kinds(self) -> tuple[str, ...]:
        value = self.attestation
        kinds = (value,) if isinstance(value, str) else tuple(value)
        return tuple(dict.fromkeys(kinds))


class EnvironmentConfig(_Model):
    name: Name
    path: str
    upstream: str | None = None
    policy: Literal["auto", "pull-request", "manual"] = "manual"
    rollback: Literal["auto", "manual"] = "manual"
    cluster: ClusterConfig | None = None
    history_limit: int = Field(default=50, ge=1, le=10000)
    require: RequireConfig | None = None


class GitConfig(_Model):
    remote: str = "origin"
    branch: str = "main"
    author_name: str = "github-actions[bot]"
    author_email: str = "41898282+github-actions[bot]@users.noreply.github.com"
    push_retries: int = Field(default=5, ge=0, le=50)
    # push: commit straight to the branch; pull-request: a branch and an auto-merge pull
    # request per change (for a protected main the token may not push to)
    land: Literal["push", "pull-request"] = "push"
    merge_method: Literal["merge", "squash", "rebase"] = "merge"


class ReportConfig(_Model):
    """How reports show numbers (gate lines, PR comments, summaries, PR bodies)."""

    precision: int = Field(default=3, ge=0, le=12)  # digits after the decimal point


class WorkflowsConfig(_Model):
    """What `leptonci workflows` writes into .github/workflows/."""

    action: str = "./"  # the `uses:` that installs leptonci: ./, or OWNER/REPO@SHA # vX.Y.Z
    token: Literal["default", "app"] = "default"  # app: mint a GitHub App token for pushes

    @field_validator("action")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if value != "./" and not re.fullmatch(
            r"[\w.-]+/[\w./-]+@[0-9a-f]{40}\s+#\s*v\d+\.\d+\.\d+", value
        ):
            raise ValueError("give ./ or OWNER/REPO@<40-hex commit> # vX.Y.Z (pinned by commit)")
        return value


class Config(_Model):
    project: Name
    registry: str = "oci-layout:.leptonci/oci"
    builder: Literal["daemonless", "docker"] = "daemonless"
    cache: str = ".leptonci/cache"
    git: GitConfig = Field(default_factory=GitConfig)
    workflows: WorkflowsConfig = Field(default_factory=WorkflowsConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    deadlines: Deadlines = Field(default_factory=Deadlines)  # core/deadlines.py
    models: dict[str, ModelConfig]
    environments: list[EnvironmentConfig]

    @field_validator("models")
    @classmethod
    def _model_names(cls, value: dict[str, ModelConfig]) -> dict[str, ModelConfig]:
        for name in value:
            if not re.fullmatch(NAME_RE, name):
                raise ValueError(f"model name {name!r} must be lower-case letters, digits, '-'")
        if not value:
            raise ValueError("no models configured")
        return value

    @field_validator("environments")
    @classmethod
    def _some_envs(cls, value: list[EnvironmentConfig]) -> list[EnvironmentConfig]:
        if not value:
            raise ValueError("no environments configured")
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        try:
            parse_destination(value)
        except ConfigError as exc:
            raise ValueError(exc.message.removeprefix("registry: ")) from None
        return value

    # -- lookups ---------------------------------------------------------------------
    def env(self, name: str) -> EnvironmentConfig:
        for env in self.environments:
            if env.name == name:
                return env
        names = [e.name for e in self.environments]
        raise ConfigError(
            f"unknown environment {name!r}{did_you_mean(name, names)}; have: {', '.join(names)}"
        )

    def model(self, name: str) -> ModelConfig:
        if name not in self.models:
            names = list(self.models)
            raise ConfigError(
                f"unknown model {name!r}{did_you_mean(name, names)}; have: {', '.join(names)}"
            )
        return self.models[name]

    def first_env(self) -> EnvironmentConfig:
        """The environment with no upstream that releases enter first (dev)."""
        return next(e for e in self.ordered_envs() if e.upstream is None)

    def downstream(self, name: str) -> list[EnvironmentConfig]:
        return [e for e in self.environments if e.upstream == name]

    def ordered_envs(self) -> list[EnvironmentConfig]:
        """Environments in promotion order: each after its upstream."""
        done: list[EnvironmentConfig] = []
        names: set[str] = set()
        pending = list(self.environments)
        while pending:
            progressed = False
            for env in list(pending):
                if env.upstream is None or env.upstream in names:
                    done.append(env)
                    names.add(env.name)
                    pending.remove(env)
                    progressed = True
            if not progressed:  # cycles are rejected at load time
                done.extend(pending)
                break
        return done

    def reference_env(self, model: str) -> EnvironmentConfig:
        ref = self.model(model).reference
        if ref:
            return self.env(ref)
        names = [e.name for e in self.environments]
        return self.env("prod") if "prod" in names else self.ordered_envs()[-1]

    def image_repository(self, model: str) -> str:
        return self.model(model).image.repository or model

    def image_name(self, model: str) -> str:
        """The name the manifests use for this model's image (kustomize `images[].name`)."""
        image = self.model(model).image
        return image.name or image.repository or model


def did_you_mean(word: str, choices: list[str]) -> str:
    """ ", did you mean 'prod'?" for a close match, else ""."""
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- loading ---------------------------------------------------------------------------


def find_root(start: Path) -> Path:
    """The repository root: the nearest folder at or above start with leptonci.yaml."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ConfigError(
        f"no {CONFIG_FILE} in {start} or above", hint="run in a leptonci repository or pass -C DIR"
    )


def load_config(root: Path) -> Config:
    path = root / CONFIG_FILE
    try:
        text = read_text(path, root=root)
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    return parse_config(text, file=str(path), root=root)


def parse_config(text: str, *, file: str, root: Path) -> Config:
    config, errors = check_config(text, file=file, root=root)
    if errors:
        raise errors[0]
    assert config is not None
    return config


def check_config(text: str, *, file: str, root: Path) -> tuple[Config | None, list[ConfigError]]:
    """The config and every error found in it (all of them, not only the first): a
    schema error stops before the checks that span entries."""
    data = load_yaml_with_lines(text, file=file)
    if not isinstance(data, CommentedMap):
        line = data.lc.line + 1 if hasattr(data, "lc") else 1
        return None, [ConfigError("expected a mapping at the top level", file=file, line=line)]
    try:
        config = Config.model_validate(plain(data))
    except ValidationError as exc:
        # An unknown key first: a typo often also leaves a required key "missing".
        found = sorted(exc.errors(), key=lambda e: e.get("type") != "extra_forbidden")
        errors = []
        for err in found:
            loc = data_loc(tuple(err["loc"]), str(err.get("type", "")))
            errors.append(
                ConfigError(
                    pydantic_message(err, loc),
                    file=file,
                    line=line_of(data, loc),
                    key=key_path(loc),
                )
            )
        return None, errors
    errors = _check_graph(config, data, file=file) + _check_paths(
        config, data, file=file, root=root
    )
    return config, errors


def _env_line(data: CommentedMap, index: int, key: str) -> int | None:
    return line_of(data, ("environments", index, key))


def _check_graph(config: Config, data: CommentedMap, *, file: str) -> list[ConfigError]:
    errors: list[ConfigError] = []
    seen: dict[str, int] = {}
    for i, env in enumerate(config.environments):
        if env.name in seen:
            errors.append(
                ConfigError(
                    f"duplicate environment name {env.name!r}",
                    file=file,
                    line=_env_line(data, i, "name"),
                    key=f"environments[{i}].name",
                )
            )
            continue
        seen[env.name] = i
    for i, env in enumerate(config.environments):
        if env.upstream is not None and env.upstream not in seen:
            errors.append(
                ConfigError(
                    f"unknown upstream {env.upstream!r}{did_you_mean(env.upstream, list(seen))}; "
                    f"have: {', '.join(seen)}",
                    file=file,
                    line=_env_line(data, i, "upstream"),
                    key=f"environments[{i}].upstream",
                )
            )
    if errors:
        return errors  # a cycle search needs known, unique names
    for i, env in enumerate(config.environments):
        chain = [env.name]
        current = env
        while current.upstream is not None:
            if current.upstream in chain:
                cycle = " -> ".join([*chain, current.upstream])
                errors.append(
                    ConfigError(
                        f"upstream cycle {cycle}",
                        file=file,
                        line=_env_line(data, i, "upstream"),
                        key=f"environments[{i}].upstream",
                    )
                )
                break
            chain.append(current.upstream)
            current = config.environments[seen[current.upstream]]
        if errors:
            break
    if not any(env.upstream is None for env in config.environments) and not errors:
        errors.append(ConfigError("no environment without an upstream", file=file))
    for name, model in config.models.items():
        if model.reference is not None and model.reference not in seen:
            errors.append(
                ConfigError(
                    f"unknown environment {model.reference!r}"
                    f"{did_you_mean(model.reference, list(seen))}; have: {', '.join(seen)}",
                    file=file,
                    line=line_of(data, ("models", name, "reference")),
                    key=f"models.{name}.reference",
                )
            )
    return errors


def _check_paths(config: Config, data: CommentedMap, *, file: str, root: Path) -> list[ConfigError]:
    checks: list[tuple[str, tuple[Any, ...]]] = []
    for name, model in config.models.items():
        checks.append((model.path, ("models", name, "path")))
        if model.image.dockerfile:
            checks.append(
                (f"{model.path}/{model.image.dockerfile}", ("models", name, "image", "dockerfile"))
            )
    for i, env in enumerate(config.environments):
        checks.append((env.path, ("environments", i, "path")))
        for j, key in enumerate(env.require.keys if env.require else ()):
            if not key.lstrip().startswith("-----BEGIN"):
                checks.append((key, ("environments", i, "require", "keys", j)))
    checks.append((config.cache, ("cache",)))
    if config.registry.startswith("oci-layout:"):
        checks.append((config.registry[len("oci-layout:") :], ("registry",)))
    errors = []
    for rel, loc in checks:
        problem = path_problem(root, rel)
        if problem:
            errors.append(
                ConfigError(problem, file=file, line=line_of(data, loc), key=key_path(loc))
            )
    return errors


def path_problem(root: Path, rel: str) -> str | None:
    """Why rel is not a path inside root, or None when it is."""
    if not rel or os.path.isabs(rel) or rel.startswith("~"):
        return f"path {rel!r} must be relative to the repository root"
    parts = Path(rel).parts
    if ".." in parts:
        return f"path {rel!r} leaves the repository ('..')"
    resolved = (root / rel).resolve()
    try:
        resolved.relative_to(root.resolve())
    except ValueError:
        return f"path {rel!r} resolves outside the repository (symlink?)"
    return None
