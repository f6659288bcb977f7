"""The model pipeline's commands: train, gate, build."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from leptonci.cli.argparser import Commands, writes
from leptonci.cli.lazy import lazy

if TYPE_CHECKING:  # mypy checks every call below against the real modules
    from leptonci.commands import build, gate, train
else:
    build = lazy("leptonci.commands.build")
    gate = lazy("leptonci.commands.gate")
    train = lazy("leptonci.commands.train")


def add(commands: Commands) -> None:
    p = commands.add("train", "train a model, evaluate it and export a candidate")
    p.add_argument("model", metavar="MODEL", help="the model (a key of models: in leptonci.yaml)")
    p.add_argument(
        "--out", type=Path, metavar="DIR", default=None, help="also place the candidate in DIR"
    )
    p.add_argument("--no-cache", action="store_true", help="train even when a cache has it")
    writes(p)
    p.add_argument(
        "--fetch",
        action="store_true",
        help="with --dry-run: also ask the registry (the shared training cache, the training "
        "base image); reads only",
    )
    p.set_defaults(
        run=lambda a: lambda ctx: train.run(ctx, model=a.model, out=a.out, use_cache=not a.no_cache)
    )

    p = commands.add("gate", "check a candidate's metrics against the model's thresholds")
    p.add_argument("model", metavar="MODEL", help="the model (a key of models: in leptonci.yaml)")
    p.add_argument(
        "--against",
        metavar="ENV",
        default=None,
        help="baseline environment (default: the model's reference:, as in the pull-request "
        "gate: prod if it exists, else the last environment)",
    )
    p.add_argument(
        "--metrics",
        type=Path,
        metavar="FILE",
        default=None,
        help='gate this file instead of training: a plain {"metric": value} JSON object '
        "(DVC's format) or a leptonci candidate's metrics.json",
    )
    p.set_defaults(
        run=lambda a: lambda ctx: gate.run(ctx, model=a.model, against=a.against, metrics=a.metrics)
    )

    p = commands.add("build", "build the serving image for the current candidate and push it")
    p.add_argument("model", metavar="MODEL", help="the model (a key of models: in leptonci.yaml)")
    writes(p)
    p.set_defaults(run=lambda a: lambda ctx: build.run(ctx, model=a.model))
