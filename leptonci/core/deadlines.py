"""The ``deadlines:`` section of ``leptonci.yaml``: how long any outside call may take.

One policy for every outside system (registry, git remote, GitHub API, Kubernetes API,
a TF Serving endpoint): ``connect`` seconds to open a connection; ``read`` seconds for
the whole answer to a small call (a ping, a HEAD, a manifest, an API read), however it
trickles in; a transfer (a blob upload or download, a git fetch or push) has no fixed
total but gives up when it moves fewer than ``low_speed`` bytes a second for ``stall``
seconds; and ``give_up`` seconds bound the retries of one call (a call that failed is
not tried again once that much time has passed since its first try, and no try of a
small call outlives it). With the defaults a hung system fails a step in under 30 s:
at most ``give_up`` for a small call, ``give_up + stall`` for a transfer.

Every value can also be set in the environment (``ENV_VARS``), which wins over the
file: a CI job can tighten or loosen them without a commit. ``process`` is the
backstop for one git process talking to a remote, should its own limits not end it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leptonci.core.errors import ConfigError

# setting -> the environment variable that overrides it
ENV_VARS = {
    "connect": "LEPTONCI_CONNECT_TIMEOUT",
    "read": "LEPTONCI_READ_TIMEOUT",
    "stall": "LEPTONCI_STALL_TIMEOUT",
    "low_speed": "LEPTONCI_LOW_SPEED_LIMIT",
    "give_up": "LEPTONCI_GIVE_UP",
    "process": "LEPTONCI_PROCESS_DEADLINE",
}


class Deadlines(BaseModel):
    """Seconds (``low_speed``: bytes per second) every outside call is held to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connect: float = Field(default=3.0, gt=0, le=300)
    read: float = Field(default=10.0, gt=0, le=3600)
    stall: float = Field(default=10.0, gt=0, le=3600)
    low_speed: int = Field(default=4096, ge=1, le=1 << 30)
    give_up: float = Field(default=15.0, gt=0, le=86400)
    process: float = Field(default=300.0, gt=0, le=86400)

    @property
    def small(self) -> tuple[float, float]:
        """(connect, read): the timeout pair for a small call."""
        return (self.connect, self.read)

    @property
    def window(self) -> int:
        """Bytes a transfer must move in each ``stall`` seconds: the size it is sent
        and read in, so that one slow window is one timed-out socket operation."""
        return max(1024, min(1 << 20, int(self.low_speed * self.stall)))


def with_env(base: Deadlines, env: Mapping[str, str]) -> Deadlines:
    """base with every value set in the environment (ENV_VARS) put in its place."""
    update = {key: env[name] for key, name in ENV_VARS.items() if env.get(name)}
    if not update:
        return base
    try:
        return Deadlines.model_validate({**base.model_dump(), **update})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err.get("loc") else ""
        name = ENV_VARS.get(key, "a LEPTONCI_* deadline")
        raise ConfigError(
            f"{name}={env.get(name, '')!r}: {err['msg']}",
            hint="give a number of seconds (LEPTONCI_LOW_SPEED_LIMIT: bytes per second)",
        ) from None
