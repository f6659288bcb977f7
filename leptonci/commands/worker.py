"""`leptonci worker JOBFILE`: the training Job's entrypoint in each pod (hidden from --help).

The pod has no leptonci.yaml: everything the worker needs is in the job file and the
model folder the training image holds beside it (``pipeline/worker.py``).
"""

from __future__ import annotations

from pathlib import Path

from leptonci.core.errors import LeptonError
from leptonci.core.redact import redact
from leptonci.pipeline.worker import run_worker, write_termination_message
from leptonci.runtime.context import Context


def run(ctx: Context, *, job_file: Path) -> int:
    try:
        return run_worker(ctx, job_file=job_file)
    except LeptonError as exc:
        write_termination_message(ctx.env, redact(str(exc)).replace("\n", " "))
        raise
