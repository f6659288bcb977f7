"""The commands CI and the shell call: workflows, worker (a training pod's entrypoint),
run (a CI flow), completion."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from leptonci.cli.argparser import Commands, writes
from leptonci.cli.lazy import lazy

if TYPE_CHECKING:  # mypy checks every call below against the real modules
    from leptonci.cli import completion
    from leptonci.commands import pull_request, run_push, worker, workflows
else:
    completion = lazy("leptonci.cli.completion")
    pull_request = lazy("leptonci.commands.pull_request")
    run_push = lazy("leptonci.commands.run_push")
    worker = lazy("leptonci.commands.worker")
    workflows = lazy("leptonci.commands.workflows")


def add(commands: Commands) -> None:
    p = commands.add(
        "workflows",
        "write or update the GitHub workflows (.github/workflows/) from leptonci.yaml",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a workflow file is missing or out of date",
    )
    writes(p)
    p.set_defaults(run=lambda a: lambda ctx: workflows.run(ctx, check=a.check))

    # The training Job's entrypoint in each pod: no help, so it stays out of `--help`.
    p = commands.add_hidden("worker", "train one worker of a Job")
    p.add_argument(
        "job_file", type=Path, metavar="JOBFILE", help="the job file in the training image"
    )
    p.set_defaults(run=lambda a: lambda ctx: worker.run(ctx, job_file=a.job_file), repo=False)

    p = commands.add("run", "run a CI flow: push (release) or pull-request (model gate)")
    p.add_argument(
        "event",
        choices=["push", "pull-request"],
        metavar="EVENT",
        help="push: the release flow on main; pull-request: the model gate on a pull request",
    )
    p.add_argument(
        "--append",
        type=Path,
        metavar="FILE",
        default=None,
        help="pull-request: append this Markdown file (text, tables, images by URL) to every "
        "model's report",
    )
    writes(p)
    p.set_defaults(
        run=lambda a: (
            run_push.run
            if a.event == "push"
            else (lambda ctx: pull_request.run(ctx, append=a.append))
        )
    )

    p = commands.add("completion", "print the shell completion script for bash, zsh or fish")
    p.add_argument(
        "shell", choices=["bash", "zsh", "fish"], metavar="SHELL", help="bash, zsh or fish"
    )
    p.set_defaults(run=lambda a: lambda ctx: completion.script(a.shell))
