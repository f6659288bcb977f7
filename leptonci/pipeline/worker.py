"""The training Job's worker: what ``leptonci worker /leptonci/job.json`` does in a pod.

The training image holds the job file and, beside it, the model folder. The worker
first checks that they are what the runner hashed (the files, and the library and
leptonci versions the hash covers), so the candidate it publishes is the one the
content hash names. It takes its place in the cluster from ``JOB_COMPLETION_INDEX``
and the worker addresses the Job passes (``TF_CONFIG``, when set, is used as given),
then calls the model's hooks (docs/training.md): one worker trains exactly as
``leptonci train`` does locally; several train inside ``MultiWorkerMirroredStrategy``.
The chief (worker 0) prints a progress line per epoch, evaluates, exports and
publishes the candidate to the shared training cache (``LEPTONCI_REGISTRY``).

Exit codes tell the Job what to do: 2 (bad input: the same inputs fail the same way)
ends the Job at once; any other failure counts against ``train.retries``. The
one-line error also goes to the termination message file Kubernetes reads.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import leptonci
from leptonci.adapters import training
from leptonci.core.candidate import Candidate
from leptonci.core.errors import ConfigError
from leptonci.core.files import read_text
from leptonci.core.imageref import short_digest
from leptonci.core.parity import DEFAULT_SAMPLES
from leptonci.core.train_job import (
    ENV_INDEX,
    ENV_WORKERS,
    JOB_SCHEMA,
    MODEL_DIR,
    progress_line,
    tf_config,
)
from leptonci.core.training_contract import EXPORT_VERSION, candidate_label
from leptonci.pipeline import candidates
from leptonci.pipeline.cache import folder_files, hash_of
from leptonci.runtime.context import Context

TERMINATION_LOG = "/dev/termination-log"
TERMINATION_VAR = "LEPTONCI_TERMINATION_LOG"  # where the message goes instead (tests, local)


@dataclass(frozen=True)
class JobFile:
    model: str
    content_hash: str
    model_config: Mapping[str, Any]
    params: Mapping[str, Any]
    library_versions: Mapping[str, str]
    leptonci_version: str
    path: Path
    samples: int = DEFAULT_SAMPLES  # rows of the prediction sample the chief records

    @property
    def model_folder(self) -> Path:
        return self.path.parent / MODEL_DIR

    @property
    def label(self) -> str:
        return candidate_label(self.model, self.content_hash)


def read_job(path: Path) -> JobFile:
    where = str(path)
    try:
        data = json.loads(read_text(path))
    except FileNotFoundError:
        raise ConfigError("job file not found", file=where) from None
    except ValueError as exc:
        raise ConfigError(f"not valid JSON: {exc}", file=where) from None
    if not isinstance(data, dict) or data.get("schema") != JOB_SCHEMA:
        raise ConfigError(
            f"not a {JOB_SCHEMA} job file", file=where, hint="leptonci writes it into the image"
        )
    try:
        return JobFile(
            model=str(data["model"]),
            content_hash=str(data["content_hash"]),
            model_config=dict(data["model_config"]),
            params=dict(data["params"]),
            library_versions={str(k): str(v) for k, v in dict(data["library_versions"]).items()},
            leptonci_version=str(data["leptonci_version"]),
            path=path,
            samples=int(data.get("samples", DEFAULT_SAMPLES)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"bad job file: {exc}", file=where) from None


def check_inputs(job: JobFile) -> None:
    """Refuse to train anything but what the runner hashed."""
    mine = {k: v for k, v in training.library_versions().items() if k != "leptonci"}
    differ = [
        f"{name} {mine.get(name, 'missing')} here, {job.library_versions.get(name, 'missing')} "
        "on the runner"
        for name in sorted(set(mine) | set(job.library_versions))
        if mine.get(name) != job.library_versions.get(name)
    ]
    if leptonci.__version__ != job.leptonci_version:
        differ.append(f"leptonci {leptonci.__version__} here, {job.leptonci_version} on the runner")
    if differ:
        raise ConfigError(
            f"the training image does not match the runner that hashed {job.label}: "
            + "; ".join(differ),
            key="train.image",
            hint="install the same versions in the training image (docs/training.md)",
        )
    files = folder_files(job.model_folder)
    if hash_of(files, job.model_config, training.library_versions()) != job.content_hash:
        raise ConfigError(
            f"the model folder {job.model_folder} does not hash to {job.label}",
            hint="the training image was changed after leptonci built it; train again",
        )


def topology(env: Mapping[str, str]) -> tuple[int, list[str], dict[str, Any] | None]:
    """(this worker's index, every worker's address, its TF_CONFIG or None for one worker)."""
    given = env.get("TF_CONFIG")
    if given:
        try:
            config = json.loads(given)
            workers = [str(w) for w in config["cluster"]["worker"]]
            index = int(config["task"]["index"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"TF_CONFIG is not a worker cluster: {exc}") from None
        return index, workers, (config if len(workers) > 1 else None)
    workers = [w for w in env.get(ENV_WORKERS, "").split(",") if w]
    if len(workers) <= 1:
        return 0, workers, None
    try:
        index = int(env[ENV_INDEX])
    except (KeyError, ValueError):
        raise ConfigError(
            f"{ENV_WORKERS} names {len(workers)} workers but {ENV_INDEX} is not set",
            hint="the worker runs in an Indexed Job, which sets it",
        ) from None
    try:
        return index, workers, tf_config(workers, index)
    except ValueError as exc:
        raise ConfigError(f"{ENV_INDEX}: {exc}") from None


def run_worker(ctx: Context, *, job_file: Path) -> int:
    """Train this worker's part; on the chief, publish the candidate. Returns 0."""
    job = read_job(job_file)
    check_inputs(job)
    index, workers, config = topology(ctx.env)
    chief = index == 0
    role = f"worker {index} of {max(1, len(workers))}" + (" (chief)" if chief else "")
    registry = ctx.env.get("LEPTONCI_REGISTRY", "")
    if chief and not registry:
        raise ConfigError("LEPTONCI_REGISTRY is not set: the chief publishes the candidate there")
    store = candidates.store_for(ctx, registry) if chief else None
    ctx.out.info(f"{role}: training {job.label}")
    module = training.load_train_module(job.model_folder, model=job.model, display=job.model)
    epochs = job.params.get("epochs")

    def on_epoch(epoch: int, logs: Mapping[str, float]) -> None:
        if chief:
            ctx.out.info(progress_line(epoch, epochs if isinstance(epochs, int) else None, logs))

    work = Path(tempfile.mkdtemp(prefix="leptonci-candidate-"))
    started = time.perf_counter()
    try:
        export_dir = work / job.model / str(EXPORT_VERSION)
        outcome: training.TrainingOutcome | None
        if config is None:
            outcome = training.train_and_export(
                module,
                params=job.params,
                export_dir=export_dir,
                display=job.model,
                on_epoch=on_epoch,
                samples=job.samples,
            )
        else:
            outcome = training.train_multi_worker(
                module,
                params=job.params,
                tf_config=config,
                export_dir=export_dir if chief else None,
                display=job.model,
                on_epoch=on_epoch,
                samples=job.samples,
            )
        if outcome is None or store is None:
            ctx.out.info(f"{role}: done")
            return 0
        candidate = Candidate(
            model=job.model,
            version=EXPORT_VERSION,
            root=work,
            content_hash=job.content_hash,
            metrics=outcome.metrics,
            eval_fingerprint=outcome.eval_fingerprint,
            eval_count=outcome.eval_count,
            params=dict(job.params),
            versions=training.library_versions(),
            wall_seconds=time.perf_counter() - started,
            sample=outcome.sample,
        )
        candidate.write()
        host = ctx.env.get("HOSTNAME")
        by = ctx.actor + (f" (pod {host})" if host else "")
        digest = candidates.publish(ctx, store, candidate, by=by)
        ctx.out.info(
            f"{role}: published {job.label} to {store.describe()} ({short_digest(digest)})"
        )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_termination_message(env: Mapping[str, str], text: str) -> None:
    """Leave the one-line error where Kubernetes reads it into the pod's status."""
    path = Path(env.get(TERMINATION_VAR) or TERMINATION_LOG)
    if not env.get(TERMINATION_VAR) and not path.exists():
        return  # not in a pod: the log has the error
    try:
        with path.open("w", encoding="utf-8") as fh:
            fh.write(text[:4000])
    except OSError:
        pass  # the log still has the error
