"""What the planner reads and what it returns: an environment's state and one change to it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from leptonci.core.actions import Action
from leptonci.core.attestation import Evidence, Trust
from leptonci.core.config import EnvironmentConfig
from leptonci.core.ledger import LEDGER_FILE, Ledger, Verification

NO_CLUSTER = "no cluster configured"


@dataclass(frozen=True)
class PromotionBranch:
    """A promotion branch on the remote (``leptonci/promote/ENV/RELEASE``) as last read."""

    tip: str  # the commit the branch points at
    on_current: bool  # its parent holds the environment folder exactly as main does now
    ledger: Ledger  # the environment's ledger at the tip


@dataclass(frozen=True)
class EnvState:
    """An environment's folder as read from a tree: manifests and ledger.

    ``branches`` lists the remote's promotion branches into this environment, by release,
    for environments that promote by pull request (empty otherwise).
    """

    env: EnvironmentConfig
    files: Mapping[str, str]  # repo-relative path -> text, ledger excluded
    ledger: Ledger
    ledger_text: str | None  # None when the folder has no ledger file yet
    branches: Mapping[str, PromotionBranch] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def ledger_path(self) -> str:
        return f"{self.env.path}/{LEDGER_FILE}"


@dataclass(frozen=True)
class Attested:
    """What the read phase learnt for the environments that ``require:`` attestations:
    whom each trusts, and the attestations on a digest (``evidence(image, digest)``,
    read once per digest and kept)."""

    trust: Mapping[str, Trust]
    evidence: Callable[[str, str], Evidence]


@dataclass(frozen=True)
class Change:
    """One commit's worth of change to one environment, and the state after it."""

    env: str
    model: str | None
    before: str | None  # release current for model before the change
    after: str | None  # ... and after it
    actions: tuple[Action, ...]  # WriteFiles then one GitCommit; empty for a no-op
    state: EnvState
    message: str  # what happened, one line

    @property
    def noop(self) -> bool:
        return not self.actions


def initial_verification(env: EnvironmentConfig, at: str) -> Verification:
    """Without a cluster there is nothing to wait for: the release counts as verified."""
    if env.cluster is None:
        return Verification(result="skipped", at=at, detail=NO_CLUSTER)
    return Verification(result="unverified")
