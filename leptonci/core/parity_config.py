"""The ``parity:`` sections of ``leptonci.yaml``: prediction parity after a rollout.

A model's ``parity:`` says how big the recorded sample is and how close the running
model's outputs must be; an environment's ``cluster.parity:`` says where the running
model answers (the Kubernetes API's service proxy by default, or a URL). Impossible
values fail the schema, so ``config.py`` reports them with file, line and key.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from leptonci.core.parity import DEFAULT_ATOL, DEFAULT_PORT, DEFAULT_SAMPLES, Tolerance

_SERVICE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?:([0-9]{1,5}|[a-z0-9-]{1,15})$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelParity(_Model):
    """``models.M.parity``: the sample training records and the tolerance verify allows."""

    samples: int = Field(default=DEFAULT_SAMPLES, ge=0, le=1000)  # 0: record and check none
    atol: float = Field(default=DEFAULT_ATOL, ge=0, allow_inf_nan=False)
    argmax: Literal["auto"] | bool = "auto"  # auto: for outputs of 2 or more values
    serving_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]+$")

    @property
    def tolerance(self) -> Tolerance:
        return Tolerance(atol=self.atol, argmax=None if self.argmax == "auto" else self.argmax)


class EndpointParity(_Model):
    """``environments[].cluster.parity``: where the running model's predict API answers."""

    service: str | None = None  # NAME:PORT; default: the workload's name, port 8501
    url: str | None = None  # TF Serving's REST base URL instead of the service proxy
    retries: int = Field(default=4, ge=0, le=20)  # more attempts after a 5xx or no answer
    timeout: float = Field(default=30, gt=0)  # seconds per request

    @field_validator("service")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        if value is not None and not _SERVICE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not NAME:PORT (a Service name and a port number or name)"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.rstrip("/") if value else value

    def service_for(self, workload_name: str) -> str:
        return self.service or f"{workload_name}:{DEFAULT_PORT}"
