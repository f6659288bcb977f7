"""The typed actions a plan is made of: one frozen dataclass per kind of effect.

Each action holds exactly what its apply needs and a one-line ``summary`` for people.
The engine dispatches on the type (``leptonci/engine/applier.py``); a value that one
action produces for a later one (a commit, a deployment id, a pull request URL) travels
in the engine's result, never in the action. What ``--dry-run`` prints is these objects,
so a dry run shows exactly what a real run applies.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from leptonci.core.yamldoc import dump_yaml


@dataclass(frozen=True, kw_only=True)
class Action:
    kind: ClassVar[str] = "action"
    summary: str

    def details(self) -> dict[str, object]:
        """The action's data for --json, without the summary."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "summary"}

    def diff(self) -> str:
        return ""

    def shown(self) -> str:
        """What a plan prints under the summary: the diff, or an action's own text."""
        return self.diff()

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": self.kind, "summary": self.summary}
        out.update(self.details())
        text = self.diff()
        if text:
            out["diff"] = text
        return out


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _creation_diff(label: str, text: str) -> str:
    lines = difflib.unified_diff(
        [], text.splitlines(keepends=True), fromfile="/dev/null", tofile=label
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True, kw_only=True)
class Step(Action):
    """Work the command does itself (train, gate, verify), shown so the plan reads whole."""

    kind: ClassVar[str] = "step"
    name: str


@dataclass(frozen=True, kw_only=True)
class WriteFile(Action):
    """Replace (or create, when ``old`` is None) a file under the repository root."""

    kind: ClassVar[str] = "write-file"
    path: str
    old: str | None
    new: str

    def details(self) -> dict[str, object]:
        return {"path": self.path, "created": self.old is None}

    def diff(self) -> str:
        lines = difflib.unified_diff(
            (self.old or "").splitlines(keepends=True),
            self.new.splitlines(keepends=True),
            fromfile="/dev/null" if self.old is None else f"a/{self.path}",
            tofile=f"b/{self.path}",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True, kw_only=True)
class GitCommit(Action):
    kind: ClassVar[str] = "git-commit"
    message: str
    paths: tuple[str, ...]
    trailers: tuple[tuple[str, str], ...] = ()

    def full_message(self) -> str:
        body = self.message.rstrip("\n")
        if self.trailers:
            body += "\n\n" + "\n".join(f"{k}: {v}" for k, v in self.trailers)
        return body + "\n"


@dataclass(frozen=True, kw_only=True)
class GitPush(Action):
    """Push HEAD to a branch. ``lease`` guards a force-push of leptonci's own branches:
    the commit the branch must still point at ("" for "must not exist"); None pushes
    without force (a fast-forward of the main branch)."""

    kind: ClassVar[str] = "git-push"
    remote: str
    branch: str
    lease: str | None = None

    @property
    def main(self) -> bool:
        return self.lease is None


@dataclass(frozen=True, kw_only=True)
class OpenPullRequest(Action):
    """Open the pull request that promotes ``release`` into ``env`` (or update the open one)."""

    kind: ClassVar[str] = "open-pull-request"
    repository: str | None  # None: GitHub is not configured; a person opens it
    env: str
    release: str
    head: str
    base: str
    title: str
    body: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ClosePullRequest(Action):
    """Close a promotion pull request that went stale, with a comment saying why."""

    kind: ClassVar[str] = "close-pull-request"
    repository: str
    number: int
    env: str
    release: str
    reason: str  # why it may no longer merge, one line


@dataclass(frozen=True, kw_only=True)
class EnableAutoMerge(Action):
    """Mark the pull request this plan opened for auto-merge (GitHub merges it once its
    required checks and reviews allow; at once when nothing holds it)."""

    kind: ClassVar[str] = "enable-auto-merge"
    repository: str
    head: str
    method: str  # merge | squash | rebase
    headline: str  # the merge commit's subject
    body: str  # ... and body (a squash keeps the commit's trailers here)

    def details(self) -> dict[str, object]:
        return {"repository": self.repository, "head": self.head, "method": self.method}


@dataclass(frozen=True, kw_only=True)
class CreateDeployment(Action):
    """Record the rollout as a GitHub deployment of the landed commit, ``in_progress``."""

    kind: ClassVar[str] = "create-deployment"
    repository: str
    environment: str
    release: str


@dataclass(frozen=True, kw_only=True)
class SetDeploymentStatus(Action):
    """Give the deployment the landing opened its final status (the id is in the result)."""

    kind: ClassVar[str] = "set-deployment-status"
    repository: str
    environment: str
    state: str  # success | failure | error
    description: str


@dataclass(frozen=True, kw_only=True)
class ServerSideApply(Action):
    """Apply the environment's rendered overlay to its cluster (``apply: direct``)."""

    kind: ClassVar[str] = "server-side-apply"
    environment: str
    path: str
    target: str  # context/namespace
    field_manager: str = "leptonci"


@dataclass(frozen=True, kw_only=True)
class PushImage(Action):
    kind: ClassVar[str] = "push-image"
    repository: str
    tags: tuple[str, ...] = ()
    digest: str | None = None  # None: unknown until pushed (docker builder)
    size: int | None = None


@dataclass(frozen=True, kw_only=True)
class AttachAttestation(Action):
    """Sign an in-toto statement about the pushed image and attach it as a referrer.

    ``digest`` is None when it is learnt from the push (it then travels in the push's
    result); the statement shown names it once known. The predicate is the JSON text of
    exactly what is signed; ``signer`` says with what (a key id, or keyless), never the
    key.
    """

    kind: ClassVar[str] = "attach-attestation"
    image: str  # the image name the statement's subject carries
    destination: str  # where the image is pushed, for people
    digest: str | None
    predicate_type: str
    predicate: str  # canonical JSON
    signer: str

    def statement(self, digest: str | None = None) -> dict[str, object]:
        digest = digest or self.digest or "sha256:<the digest the push reports>"
        algo, _, hexpart = digest.partition(":")
        return {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": self.image, "digest": {algo: hexpart}}],
            "predicateType": self.predicate_type,
            "predicate": json.loads(self.predicate),
        }

    def details(self) -> dict[str, object]:
        return {
            "image": self.image,
            "destination": self.destination,
            "digest": self.digest,
            "predicate_type": self.predicate_type,
            "signer": self.signer,
            "statement": self.statement(),
        }

    def shown(self) -> str:
        return json.dumps(self.statement(), indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True, kw_only=True)
class UpsertComment(Action):
    """Create the pull request's sticky comment carrying ``marker``, or update it."""

    kind: ClassVar[str] = "upsert-comment"
    repository: str
    number: int
    marker: str
    body: str

    def details(self) -> dict[str, object]:
        return {"repository": self.repository, "number": self.number, "marker": self.marker}


@dataclass(frozen=True, kw_only=True)
class SetCommitStatus(Action):
    """A commit status; ``sha`` None is the head of the pull request this plan opened."""

    kind: ClassVar[str] = "set-commit-status"
    repository: str
    sha: str | None
    state: str  # success | failure | pending | error
    context: str
    description: str
    target_url: str | None = None


@dataclass(frozen=True, kw_only=True)
class CreateCheckRun(Action):
    """A completed Checks-API check run carrying a full Markdown report."""

    kind: ClassVar[str] = "create-check-run"
    repository: str
    sha: str
    name: str
    conclusion: str  # success | failure | neutral
    title: str
    summary_text: str  # the check run's own summary line (``summary`` is the plan's)
    text: str = ""
    details_url: str | None = None

    def details(self) -> dict[str, object]:
        return {
            "repository": self.repository,
            "sha": self.sha,
            "name": self.name,
            "conclusion": self.conclusion,
            "title": self.title,
        }


# -- training ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TrainModel(Action):
    """Train the model here, in this process (``train.on: local``)."""

    kind: ClassVar[str] = "train-model"
    model: str
    candidate: str  # digits-0123abcd4567


@dataclass(frozen=True, kw_only=True)
class PublishCandidate(Action):
    """Push the trained candidate to the shared training cache (an OCI artifact)."""

    kind: ClassVar[str] = "publish-candidate"
    store: str  # HOST/NAMESPACE/leptonci-candidates, or oci-layout:DIR/leptonci-candidates
    tag: str


@dataclass(frozen=True, kw_only=True)
class FetchCandidate(Action):
    """Download a candidate from the shared training cache into the local one, verified."""

    kind: ClassVar[str] = "fetch-candidate"
    store: str
    tag: str
    digest: str | None = None  # None: published by the training Job this plan runs


@dataclass(frozen=True, kw_only=True)
class DeleteObject(Action):
    """Delete a Kubernetes object (its pods go with it: propagation Background)."""

    kind: ClassVar[str] = "delete-object"
    object_kind: str  # Job | Service
    namespace: str
    name: str


@dataclass(frozen=True, kw_only=True)
class CreateJob(Action):
    """Create the training Job; its pods run the training image."""

    kind: ClassVar[str] = "create-job"
    namespace: str
    name: str
    manifest: Mapping[str, Any]

    def diff(self) -> str:
        return _creation_diff(f"job/{self.name}", dump_yaml(self.manifest))

    def inverse(self) -> DeleteObject:
        return DeleteObject(
            summary=f"delete job/{self.name} in {self.namespace} and its pods",
            object_kind="Job",
            namespace=self.namespace,
            name=self.name,
        )


@dataclass(frozen=True, kw_only=True)
class CreateService(Action):
    """Create the headless Service the workers of an Indexed Job find each other by.

    The Job's uid, known once it is created, is added as the Service's owner (the engine
    result carries it), so the Service goes when the Job does."""

    kind: ClassVar[str] = "create-service"
    namespace: str
    name: str
    manifest: Mapping[str, Any]

    def diff(self) -> str:
        return _creation_diff(f"service/{self.name}", dump_yaml(self.manifest))

    def inverse(self) -> DeleteObject:
        return DeleteObject(
            summary=f"delete service/{self.name} in {self.namespace}",
            object_kind="Service",
            namespace=self.namespace,
            name=self.name,
        )


@dataclass(frozen=True, kw_only=True)
class AwaitJob(Action):
    """Watch the Job and its pods until it completes or fails (then delete it)."""

    kind: ClassVar[str] = "await-job"
    namespace: str
    name: str
    workers: int
    timeout: int  # seconds: the Job's activeDeadlineSeconds
