"""Training on a Kubernetes cluster: the training image, the Job, watching it, cleaning up.

``plan_cluster`` builds the actions: push the training image (the model folder and the
job file appended onto ``train.image`` by the daemonless writer, so its digest is known
first), create the Job (and, for several workers, its headless Service), wait for it,
fetch the candidate its chief published. ``ClusterRun`` applies them; whatever fails,
and Ctrl-C, deletes what this run created (the Job's pods go with it), so nothing is
left running. A finished Job is kept for ``train.ttl`` seconds for its logs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import leptonci
from leptonci.adapters import kube_jobs, training
from leptonci.adapters.images.candidates import CandidateStore
from leptonci.adapters.images.training_image import build_training_image
from leptonci.adapters.kube_client import RetryPolicy, load_api_client
from leptonci.adapters.kube_job_rules import JobVerdict
from leptonci.core.actions import (
    Action,
    AwaitJob,
    CreateJob,
    CreateService,
    DeleteObject,
    FetchCandidate,
    PushImage,
)
from leptonci.core.candidate import Candidate
from leptonci.core.config import ClusterConfig
from leptonci.core.errors import ConfigError, LeptonError, TrainingJobFailed
from leptonci.core.imageref import short_digest
from leptonci.core.images import LABEL_MODEL_HASH, Destination, parse_base, parse_destination
from leptonci.core.train_config import KubernetesTraining
from leptonci.core.train_job import (
    JOB_SCHEMA,
    job_manifest,
    job_name,
    owned_by_job,
    service_manifest,
)
from leptonci.core.training_contract import candidate_label, candidate_tag, effective_params
from leptonci.pipeline.build import build_store, load_base, size_text
from leptonci.pipeline.cache import file_sha256, hashed_config, model_files
from leptonci.runtime.context import Context
from leptonci.runtime.images import registry_client

if TYPE_CHECKING:
    from leptonci.adapters.images.daemonless import ImageArtifact

TRAIN_REPOSITORY = "leptonci-train"
LABEL_MODEL = "io.leptonci.model"
# The runner's settings the worker needs too, passed on into the pods when set.
PASSED_ENV = ("LEPTONCI_REGISTRY_PLAIN_HTTP", "LEPTONCI_REGISTRY_RETRIES")


@dataclass(frozen=True)
class ClusterPlan:
    actions: tuple[Action, ...]
    notes: tuple[str, ...]
    train: KubernetesTraining
    model: str
    key: str
    name: str  # the Job's (and the Service's) name
    destination: Destination
    artifact: ImageArtifact | None  # None: a dry run that did not read a remote base

    @property
    def label(self) -> str:
        return candidate_label(self.model, self.key)


@dataclass(frozen=True)
class TrainingResult:
    """What the actions applied so far produced, for the actions after them."""

    candidate: Candidate | None = None
    image: str | None = None  # the training image, pushed, by digest
    job_uid: str | None = None
    adopted: bool = False  # the Job was another run's for the same candidate: not ours to delete


def job_document(ctx: Context, model: str, key: str) -> bytes:
    """``/leptonci/job.json``: the inputs the content hash covers, for the worker to check."""
    files = [[rel, file_sha256(path)] for rel, path in model_files(ctx, model)]
    versions = training.library_versions()
    data = {
        "schema": JOB_SCHEMA,
        "model": model,
        "content_hash": key,
        "model_config": hashed_config(ctx, model),
        "params": effective_params(ctx.config.model(model).params),
        "samples": ctx.config.model(model).parity.samples,
        "library_versions": {k: v for k, v in versions.items() if k != "leptonci"},
        "leptonci_version": leptonci.__version__,
        "files": files,
    }
    return json.dumps(data, sort_keys=True, indent=1).encode() + b"\n"


def _worker_env(ctx: Context) -> dict[str, str]:
    env = {"LEPTONCI_REGISTRY": ctx.config.registry, "LEPTONCI_ACTOR": ctx.actor}
    for name in PASSED_ENV:
        if ctx.env.get(name):
            env[name] = ctx.env[name]
    return env


def plan_cluster(
    ctx: Context, *, model: str, key: str, train: KubernetesTraining, store: CandidateStore
) -> ClusterPlan:
    """The actions that train model on the cluster. The image is built here (a real run
    writes its blobs to the local image store; a dry run only hashes them)."""
    dest = parse_destination(ctx.config.registry)
    if dest.kind != "registry":
        raise ConfigError(
            f"train.on: kubernetes needs a registry the cluster pulls from; registry is "
            f"{ctx.config.registry}",
            key=f"models.{model}.train",
            hint="set registry: HOST/NAMESPACE in leptonci.yaml (or LEPTONCI_REGISTRY)",
        )
    label = candidate_label(model, key)
    tag = candidate_tag(model, key)
    name = job_name(model, key)
    ns = train.cluster.namespace
    notes: list[str] = []
    remote_base = parse_base(train.image).kind == "registry"
    artifact = None
    if ctx.dry_run and remote_base and not ctx.fetch:
        notes.append(
            f"the training image's digest is known once its base {train.image} is read "
            "(a dry run does no network I/O; --fetch allows it); the Job runs it by digest"
        )
    else:
        base = load_base(ctx, train.image)
        assert base is not None  # the config refuses scratch
        artifact = build_training_image(
            base=base,
            files=model_files(ctx, model),
            job=job_document(ctx, model, key),
            labels={LABEL_MODEL: model, LABEL_MODEL_HASH: key},
            store=None if ctx.dry_run else build_store(ctx),
        )
    where = dest.image(TRAIN_REPOSITORY)
    image = f"{where}@{artifact.digest}" if artifact else f"{where}:{tag}"
    size = f", {size_text(artifact.size)}" if artifact else ""
    manifest = job_manifest(
        train, name=name, model=model, content_hash=key, image=image, env=_worker_env(ctx)
    )
    cluster = train.cluster.context or "the current context"
    resources = ", ".join(f"{k} {v}" for k, v in _resource_summary(train).items()) or "no limits"
    actions: list[Action] = [
        PushImage(
            summary=f"push training image {image} ({ctx.config.model(model).path}/ on "
            f"{train.image}{size})",
            repository=where,
            tags=(tag,),
            digest=artifact.digest if artifact else None,
            size=artifact.size if artifact else None,
        ),
        CreateJob(
            summary=f"create job/{name} in {ns} ({cluster}): {train.workers} worker"
            f"{'s' if train.workers > 1 else ''}, {resources}, deadline {train.timeout} s, "
            f"kept {train.ttl} s after it ends",
            namespace=ns,
            name=name,
            manifest=manifest,
        ),
    ]
    if train.workers > 1:
        actions.append(
            CreateService(
                summary=f"create headless service/{name} in {ns}: the workers' DNS names "
                f"for TF_CONFIG",
                namespace=ns,
                name=name,
                manifest=service_manifest(train, name=name, model=model),
            )
        )
    actions += [
        AwaitJob(
            summary=f"watch job/{name} and its pods until it completes; the chief (worker 0) "
            f"evaluates and publishes {label} to {store.describe()}; a failure, a timeout or "
            "Ctrl-C deletes the Job and its pods",
            namespace=ns,
            name=name,
            workers=train.workers,
            timeout=train.timeout,
        ),
        FetchCandidate(
            summary=f"fetch candidate {label} from {store.describe()} into the local cache",
            store=store.describe(),
            tag=tag,
        ),
    ]
    return ClusterPlan(tuple(actions), tuple(notes), train, model, key, name, dest, artifact)


def _connection(train: KubernetesTraining) -> ClusterConfig:
    """The training cluster in the shape the Kubernetes adapter reads."""
    cluster = train.cluster
    return ClusterConfig(
        kubeconfig=cluster.kubeconfig, context=cluster.context, namespace=cluster.namespace
    )


def _resource_summary(train: KubernetesTraining) -> dict[str, str]:
    out = {}
    if train.resources.cpu:
        out["cpu"] = train.resources.cpu
    if train.resources.memory:
        out["memory"] = train.resources.memory
    if train.resources.gpu:
        out["nvidia.com/gpu"] = str(train.resources.gpu)
    return out


class ClusterRun:
    """Applies a ClusterPlan's cluster actions; ``clean_up`` undoes what was created."""

    def __init__(self, ctx: Context, plan: ClusterPlan, *, api: Any = None) -> None:
        self.ctx, self.plan = ctx, plan
        self._api = api
        self.policy = RetryPolicy()
        self.created: list[DeleteObject] = []  # what this run made, to undo on failure
        self.attempted: DeleteObject | None = None  # a create whose answer never came

    def connect(self) -> None:
        """Read the kubeconfig (no request yet): its problems show before any push."""
        if self._api is None:
            self._api = load_api_client(
                _connection(self.plan.train),
                env=self.ctx.env,
                root=self.ctx.root,
                deadlines=self.ctx.deadlines,
            )

    @property
    def api(self) -> Any:  # a kubernetes.client.ApiClient (only adapters import the client)
        self.connect()
        return self._api

    def handlers(self) -> dict[type[Action], Callable[[Any, TrainingResult], TrainingResult]]:
        return {
            PushImage: self.push_image,
            CreateJob: self.create_job,
            CreateService: self.create_service,
            AwaitJob: self.await_job,
        }

    def push_image(self, action: PushImage, done: TrainingResult) -> TrainingResult:
        from leptonci.adapters.images.transfer import push_to_registry

        artifact = self.plan.artifact
        assert artifact is not None  # a real run always builds it
        dest = self.plan.destination
        with self.ctx.out.step(f"push training image {action.repository}"):
            result = push_to_registry(
                artifact,
                store=build_store(self.ctx),
                client=registry_client(self.ctx, dest.host),
                repo=dest.repository(TRAIN_REPOSITORY),
                tags=action.tags,
            )
        self.ctx.out.info(
            f"pushed {action.repository}@{short_digest(result.digest)} "
            f"({size_text(result.bytes_sent)} sent)"
        )
        return replace(done, image=f"{action.repository}@{result.digest}")

    def create_job(self, action: CreateJob, done: TrainingResult) -> TrainingResult:
        self.attempted = action.inverse()
        created = kube_jobs.create_job(self.api, action.manifest, policy=self.policy)
        self.attempted = None
        if not created.adopted:  # another run's Job is that run's to clean up
            self.created.append(action.inverse())
        if created.adopted:
            self.ctx.out.warn(
                f"job/{action.name} in {action.namespace} is already training this candidate "
                "(another run started it); watching it instead of starting another"
            )
        else:
            self.ctx.out.info(f"created job/{action.name} in {action.namespace}")
        return replace(done, job_uid=created.uid, adopted=created.adopted)

    def create_service(self, action: CreateService, done: TrainingResult) -> TrainingResult:
        manifest = owned_by_job(action.manifest, job=action.name, uid=done.job_uid or "")
        self.attempted = action.inverse()
        kube_jobs.create_service(self.api, manifest, policy=self.policy)
        self.attempted = None
        if not done.adopted:
            self.created.append(action.inverse())
        return done

    def await_job(self, action: AwaitJob, done: TrainingResult) -> TrainingResult:
        out = self.ctx.out
        epochs = effective_params(self.ctx.config.model(self.plan.model).params).get("epochs")
        total = int(epochs) if isinstance(epochs, int) else None
        bar = out.progress(total, f"train {self.plan.model} on job/{action.name}", unit="epochs")

        def on_progress(epoch: int, of: int | None, logs: Any, pod: str) -> None:
            note = ", ".join(f"{k} {v:.3f}" for k, v in sorted(logs.items()))
            bar.advance(1, note=note)
            if not out.interactive:
                out.info(f"epoch {epoch}" + (f"/{of}" if of else "") + f" ({pod}): {note}")

        with out.step(f"train {self.plan.model} on the cluster: job/{action.name}"):
            try:
                verdict = kube_jobs.watch_job(
                    self.api,
                    namespace=action.namespace,
                    name=action.name,
                    retries=self.plan.train.retries,
                    timeout=action.timeout,
                    on_progress=on_progress,
                    on_note=out.info,
                    policy=self.policy,
                )
            finally:
                bar.close()
            if not verdict.ok:
                self._show_log(verdict)
                raise self.failure(verdict)
            out.info(verdict.detail)
        return done

    def _show_log(self, verdict: JobVerdict) -> None:
        if verdict.pod is None or verdict.reason in ("image-pull", "container-error"):
            return
        tail = kube_jobs.pod_log_tail(self.api, self.plan.train.cluster.namespace, verdict.pod)
        if tail.strip():
            self.ctx.out.info(f"last lines of pod {verdict.pod}'s log:")
            for line in tail.rstrip("\n").splitlines()[-15:]:
                self.ctx.out.info(f"  {line}")

    def failure(self, verdict: JobVerdict) -> LeptonError:
        ns = self.plan.train.cluster.namespace
        model = self.plan.model
        if verdict.reason == "oom":
            return ConfigError(
                verdict.detail,
                key=f"models.{model}.train.resources.memory",
                hint="give the workers more memory, or lower the batch size",
            )
        if verdict.reason == "bad-input":
            return ConfigError(
                verdict.detail, hint="fix the model code; the log lines above show the error"
            )
        hints = {
            "image-pull": f"check that the cluster can pull from {self.plan.destination.host} "
            "(train.registry_secret) and that the push above succeeded",
            "container-error": "check train.registry_secret and train.service_account exist in "
            f"namespace {ns}",
            "deadline": "raise train.timeout, or give the workers more resources",
            "worker-failed": "the log lines above show why; train.retries starts a worker again",
            "deleted": "something else deleted it (a person, a namespace cleanup); run again",
            "timeout": "check the cluster's Job controller and API server",
        }
        return TrainingJobFailed(verdict.detail, hint=hints.get(verdict.reason, "run again"))

    def clean_up(self) -> None:
        """Delete what this run created, newest first (a Job's pods go with it)."""
        pending = [(undo, True) for undo in reversed(self.created)]
        if self.attempted is not None:  # its request failed: it may exist or not
            pending.insert(0, (self.attempted, False))
        for undo, known in pending:
            what = f"{undo.object_kind.lower()}/{undo.name}"
            try:
                deleted = kube_jobs.delete_object(
                    self.api,
                    kind=undo.object_kind,
                    namespace=undo.namespace,
                    name=undo.name,
                    policy=self.policy,
                )
            except LeptonError as exc:
                state = "could not delete" if known else "could not make sure there is no"
                self.ctx.out.error(
                    f"{state} {what} in {undo.namespace}: {exc}; check with: kubectl get "
                    f"{undo.object_kind.lower()} {undo.name} -n {undo.namespace}"
                )
                continue
            if deleted:
                self.ctx.out.info(f"deleted {what} in {undo.namespace}")
