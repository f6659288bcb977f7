"""`leptonci train MODEL`: plan where the candidate comes from, then apply that plan.

The plan is typed actions (``core/actions.py``): nothing (the local cache has it), a
``FetchCandidate`` from the shared training cache in the registry, a ``TrainModel``
here followed by a ``PublishCandidate`` to that cache, or the cluster's image, Job,
Service and wait (``train_cluster``) followed by a ``FetchCandidate``. ``--dry-run``
prints the plan; a real run applies the same plan, dispatching on the actions' types.
A cache hit never imports TensorFlow. Every write goes to a temporary folder first and
is renamed into place, so an interrupted run never leaves a half-written candidate.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from leptonci.adapters import training
from leptonci.adapters.images.candidates import CandidateStore, StoredCandidate
from leptonci.core.actions import Action, FetchCandidate, PublishCandidate, TrainModel
from leptonci.core.candidate import METRICS_FILE, Candidate
from leptonci.core.errors import ConfigError, RegistryError
from leptonci.core.imageref import short_digest
from leptonci.core.plan import Plan
from leptonci.core.train_config import KubernetesTraining
from leptonci.core.training_contract import (
    EXPORT_VERSION,
    candidate_label,
    candidate_tag,
    effective_params,
)
from leptonci.pipeline import candidates, train_cluster
from leptonci.pipeline.cache import (
    cache_entry,
    cached_candidate,
    model_content_hash,
    new_tmp,
    replace_dir,
    trained_info,
    with_root,
    write_trained,
)
from leptonci.runtime.context import Context
from leptonci.runtime.signals import terminate_as_interrupt

__all__ = [
    "TrainingPlan",
    "cache_entry",
    "cached_candidate",
    "model_content_hash",
    "plan_training",
    "planned_candidate",
    "train_model",
]


@dataclass(frozen=True)
class TrainingPlan:
    plan: Plan
    model: str
    key: str
    local: Candidate | None = None  # the local cache has it: nothing to do
    store: CandidateStore | None = None
    stored: StoredCandidate | None = None  # the shared cache has it
    cluster: train_cluster.ClusterPlan | None = None

    @property
    def label(self) -> str:
        return candidate_label(self.model, self.key)


def plan_training(ctx: Context, *, model: str, use_cache: bool = True) -> TrainingPlan:
    """Where model's candidate will come from. A dry run writes nothing, and asks nothing
    over the network (the registry, the cluster) unless --fetch allows it."""
    config = ctx.config.model(model)
    key = model_content_hash(ctx, model)
    label = candidate_label(model, key)
    plan = Plan(f"train {label}")
    if use_cache:
        local = cached_candidate(ctx, model, key)
        if local is not None:
            when, _ = trained_info(local.root)
            note = f"cache hit: reusing candidate {label}" + (f" trained {when}" if when else "")
            return TrainingPlan(plan.with_note(note), model, key, local=local)
    store = candidates.candidate_store(ctx)
    asked = not ctx.dry_run or ctx.fetch or candidates.is_local(store)
    tag = candidate_tag(model, key)
    if use_cache and asked:
        stored = candidates.look_up(ctx, store, model, key)
        if stored is not None:
            fetch = FetchCandidate(
                summary=f"fetch candidate {label} from the shared training cache "
                f"{store.describe()} ({short_digest(stored.digest)}, trained "
                f"{stored.trained_at or 'at an unknown time'} by {stored.trained_by or 'someone'})",
                store=store.describe(),
                tag=tag,
                digest=stored.digest,
            )
            return TrainingPlan(plan.then(fetch), model, key, store=store, stored=stored)
        plan = plan.with_note(f"the shared training cache {store.describe()} has no {label}")
    elif use_cache:
        plan = plan.with_note(
            f"the shared training cache {store.describe()} was not asked (a dry run does no "
            "network I/O; --fetch allows it): a hit there would replace what follows"
        )
    if isinstance(config.train, KubernetesTraining):
        cluster = train_cluster.plan_cluster(
            ctx, model=model, key=key, train=config.train, store=store
        )
        return TrainingPlan(
            replace(plan, actions=cluster.actions, notes=(*plan.notes, *cluster.notes)),
            model,
            key,
            store=store,
            cluster=cluster,
        )
    where = f"train {label} here (train.on: local, params {_params_text(config.params)})"
    return TrainingPlan(
        plan.then(
            TrainModel(summary=where, model=model, candidate=label),
            PublishCandidate(
                summary=f"publish candidate {label} to the shared training cache "
                f"{store.describe()} as {tag[: len(model) + 13]}…",
                store=store.describe(),
                tag=tag,
            ),
        ),
        model,
        key,
        store=store,
    )


def _params_text(params: dict[str, Any]) -> str:
    return json.dumps(effective_params(params), sort_keys=True)


def planned_candidate(ctx: Context, model: str) -> Candidate | None:
    """The candidate a run would use, without training: the cached one, or None."""
    return cached_candidate(ctx, model, model_content_hash(ctx, model))


def train_model(
    ctx: Context, *, model: str, out: Path | None = None, use_cache: bool = True
) -> Candidate:
    """Train model (or reuse its candidate from a cache) and return the candidate."""
    planned = plan_training(ctx, model=model, use_cache=use_cache)
    candidate = apply_training(ctx, planned)
    if out is not None:
        candidate = _place(candidate, out)
    return candidate


# -- applying ------------------------------------------------------------------------

Done = train_cluster.TrainingResult
Handler = Callable[[Any, Done], Done]


def apply_training(ctx: Context, planned: TrainingPlan) -> Candidate:
    """Apply a training plan, each action by its type, and return the candidate.

    For a cluster training, whatever goes wrong (Ctrl-C too) deletes what the run
    created before the error goes on up."""
    if planned.local is not None:
        ctx.out.info(planned.plan.notes[-1])
        return planned.local
    handlers: dict[type[Action], Handler] = {
        TrainModel: lambda action, done: replace(done, candidate=_train_here(ctx, planned)),
        PublishCandidate: lambda action, done: _publish(ctx, planned, done),
        FetchCandidate: lambda action, done: _fetch(ctx, planned, done),
    }
    run = train_cluster.ClusterRun(ctx, planned.cluster) if planned.cluster else None
    if run is not None:
        handlers.update(run.handlers())
    missing = sorted({type(a).__name__ for a in planned.plan.actions if type(a) not in handlers})
    if missing:
        raise TypeError(f"no handler for {', '.join(missing)}")
    done = Done()
    if run is not None:
        run.connect()  # a kubeconfig problem shows before anything is pushed
    try:
        with terminate_as_interrupt():
            for action in planned.plan.actions:
                done = handlers[type(action)](action, done)
    except BaseException as exc:
        if run is not None:
            if isinstance(exc, KeyboardInterrupt):
                ctx.out.warn("interrupted: deleting what this run created on the cluster")
            run.clean_up()
        raise
    if done.candidate is None:
        raise RuntimeError(f"the plan for {planned.label} produced no candidate")
    return done.candidate


def _fetch(ctx: Context, planned: TrainingPlan, done: Done) -> Done:
    assert planned.store is not None
    store = planned.store
    stored = planned.stored or store.lookup(candidate_tag(planned.model, planned.key))
    if stored is None:
        raise RegistryError(
            f"the training Job completed but {store.describe()} holds no candidate {planned.label}",
            hint="the chief (worker 0) publishes it last; read its log (kubectl logs)",
        )
    try:
        candidate = candidates.fetch_into_cache(
            ctx, store, stored, model=planned.model, key=planned.key
        )
    except RegistryError as exc:
        if planned.stored is None:  # just trained on the cluster: nothing to fall back on
            raise
        ctx.out.warn(f"{exc}; training {planned.label} instead")
        # Where this model trains, without the caches: the new candidate replaces the entry.
        again = plan_training(ctx, model=planned.model, use_cache=False)
        return replace(done, candidate=apply_training(ctx, again))
    if planned.cluster is None:
        when = f" trained {stored.trained_at}" if stored.trained_at else ""
        by = f" by {stored.trained_by}" if stored.trained_by else ""
        ctx.out.info(
            f"cache hit in {store.describe()}: reusing candidate {planned.label}{when}{by}"
        )
    else:
        candidate = replace(candidate, cached=False)  # trained just now, on the cluster
    return replace(done, candidate=candidate)


def _publish(ctx: Context, planned: TrainingPlan, done: Done) -> Done:
    assert planned.store is not None and done.candidate is not None
    store = planned.store
    try:
        digest = candidates.publish(ctx, store, done.candidate, by=ctx.actor)
    except (RegistryError, ConfigError) as exc:
        ctx.out.warn(
            f"could not publish candidate {planned.label} to the shared training cache "
            f"{store.describe()}: {exc}; other runners will train it again"
        )
        return done
    ctx.out.info(
        f"published candidate {planned.label} to {store.describe()} ({short_digest(digest)})"
    )
    return done


def _train_here(ctx: Context, planned: TrainingPlan) -> Candidate:
    with ctx.out.step(f"train {planned.model}"):
        return _train_into_cache(ctx, model=planned.model, key=planned.key)


def _train_into_cache(ctx: Context, *, model: str, key: str) -> Candidate:
    config = ctx.config.model(model)
    folder = ctx.root / config.path
    full_params = effective_params(config.params)
    label = candidate_label(model, key)
    ctx.out.info(f"training {label} (params {json.dumps(full_params, sort_keys=True)})")
    final = cache_entry(ctx, model, key)
    tmp = new_tmp(ctx, model)
    started = time.perf_counter()
    epochs = full_params.get("epochs")
    bar = ctx.out.progress(
        int(epochs) if isinstance(epochs, int) else None, f"train {model}", unit="epochs"
    )

    def on_epoch(epoch: int, logs: dict[str, float] | Any) -> None:
        note = ", ".join(f"{k} {v:.3f}" for k, v in sorted(logs.items()))
        bar.advance(1, note=note)
        if not ctx.out.interactive:
            ctx.out.info(f"epoch {epoch}" + (f"/{epochs}" if epochs else "") + f": {note}")

    try:
        try:
            module = training.load_train_module(folder, model=model, display=config.path)
            outcome = training.train_and_export(
                module,
                params=full_params,
                export_dir=tmp / model / str(EXPORT_VERSION),
                display=config.path,
                on_epoch=on_epoch,
                samples=config.parity.samples,
            )
        finally:
            bar.close()
        candidate = Candidate(
            model=model,
            version=EXPORT_VERSION,
            root=tmp,
            content_hash=key,
            metrics=outcome.metrics,
            eval_fingerprint=outcome.eval_fingerprint,
            eval_count=outcome.eval_count,
            params=full_params,
            versions=training.library_versions(),
            wall_seconds=time.perf_counter() - started,
            sample=outcome.sample,
        )
        candidate.write()
        write_trained(tmp, trained_at=ctx.now(), by=ctx.actor)
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return with_root(candidate, final, cached=False)


def _place(candidate: Candidate, out: Path) -> Candidate:
    """Copy the candidate folder to out (atomically); out must be new, empty or a candidate."""
    out = out.resolve()
    if out == candidate.root.resolve():
        return candidate
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / METRICS_FILE).is_file())
    ):
        raise ConfigError(
            f"--out {out} exists and is not a candidate folder",
            hint="pass a new or empty folder",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        shutil.copytree(candidate.root, tmp)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return with_root(candidate, out, cached=candidate.cached)
