"""The ``train:`` section of a model in ``leptonci.yaml``: where and how it trains.

``on: local`` (the default) trains in the leptonci process; ``on: kubernetes`` in a
Kubernetes Job on ``cluster``, running a training image built on ``image``
(docs/training.md, "Training on a cluster"). Unknown keys and impossible values
(quantities, label keys, object names, counts) fail the schema, so the loader in
``config.py`` reports them with file, line and key like any other config error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from leptonci.core.images import named_image


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")
_QUANTITY = re.compile(r"^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def _positive_quantity(value: str, what: str) -> str:
    """A Kubernetes quantity above zero, such as 500m, 2, 4Gi."""
    match = _QUANTITY.fullmatch(value)
    if match is None:
        raise ValueError(f"{what} {value!r} is not a Kubernetes quantity (e.g. 2, 500m, 4Gi)")
    if float(match.group(1)) <= 0:
        raise ValueError(f"{what} {value!r} must be above zero")
    return value


class TrainResources(_Model):
    """Requests and limits (set equal) of every training worker's container."""

    cpu: str | None = None  # cores: 2, 1.5, 500m
    memory: str | None = None  # bytes: 4Gi, 512Mi
    gpu: int | None = Field(default=None, alias="nvidia.com/gpu", ge=1, le=64)

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            _positive_quantity(value, "cpu")
            if value[-1].isalpha() and not value.endswith("m"):
                raise ValueError(f"cpu {value!r}: give cores (2, 1.5) or millicores (500m)")
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        if value is not None:
            _positive_quantity(value, "memory")
            if value.endswith("m"):
                raise ValueError(f"memory {value!r} is thousandths of a byte; did you mean Mi?")
        return value


class Toleration(_Model):
    """A Kubernetes toleration, spelled as in a pod spec."""

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(default=None, alias="tolerationSeconds", ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("operator Exists takes no value")
        if self.operator == "Equal" and not self.key:
            raise ValueError("operator Equal needs a key")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds applies only to effect NoExecute")
        return self


class TrainCluster(_Model):
    """The cluster a model trains on: like an environment's, and may be another cluster."""

    kubeconfig: str | None = None  # default: $KUBECONFIG or ~/.kube/config
    context: str | None = None
    namespace: str = Field(pattern=DNS_LABEL)


class LocalTraining(_Model):
    on: Literal["local"] = "local"


class KubernetesTraining(_Model):
    """Train in a Kubernetes Job: one pod, or an Indexed Job of ``workers`` pods."""

    on: Literal["kubernetes"]
    cluster: TrainCluster
    image: str  # the training base: Python, TensorFlow and leptonci[train]
    workers: int = Field(default=1, ge=1, le=256)
    resources: TrainResources = Field(default_factory=TrainResources)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    service_account: str | None = None
    timeout: int = Field(default=3600, ge=1, le=7 * 24 * 3600)  # seconds: the Job's deadline
    ttl: int = Field(default=3600, ge=0, le=30 * 24 * 3600)  # seconds a finished Job is kept
    retries: int = Field(default=1, ge=0, le=10)  # times one worker is started again
    registry_secret: str | None = None  # a dockerconfigjson Secret: pull the image, push

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        named_image(value, scratch="a training image needs Python, TensorFlow and leptonci[train]")
        return value

    @field_validator("node_selector")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            prefix, _, name = key.rpartition("/")
            if (prefix and not _DNS_SUBDOMAIN.fullmatch(prefix)) or not _LABEL_NAME.fullmatch(name):
                raise ValueError(f"{key!r} is not a Kubernetes label key")
            if not isinstance(label, str) or not _LABEL_VALUE.fullmatch(label):
                raise ValueError(f"{label!r} (for {key}) is not a Kubernetes label value")
        return value

    @field_validator("service_account", "registry_secret")
    @classmethod
    def _object_name(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 253 or not _DNS_SUBDOMAIN.fullmatch(value)):
            raise ValueError(f"{value!r} is not a Kubernetes object name")
        return value


def _training_kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("on", "local"))
    return str(getattr(value, "on", "local"))


TrainConfig = Annotated[
    Annotated[LocalTraining, Tag("local")] | Annotated[KubernetesTraining, Tag("kubernetes")],
    Discriminator(_training_kind),
]
TRAIN_KINDS = ("local", "kubernetes")
