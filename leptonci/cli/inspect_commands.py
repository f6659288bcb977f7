"""The commands that read and report: validate, status, history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leptonci.cli.argparser import Commands
from leptonci.cli.lazy import lazy

if TYPE_CHECKING:  # mypy checks every call below against the real modules
    from leptonci.commands import history, status, validate
else:
    history = lazy("leptonci.commands.history")
    status = lazy("leptonci.commands.status")
    validate = lazy("leptonci.commands.validate")


def add(commands: Commands) -> None:
    p = commands.add(
        "validate",
        "check leptonci.yaml, the ledgers, every environment's manifests and kustomize render, "
        "and each model's serving contract (docs/serving.md)",
    )
    p.set_defaults(run=lambda a: lambda ctx: validate.run(ctx))

    p = commands.add("status", "show what each environment runs, from the ledgers")
    p.add_argument("--live", action="store_true", help="also ask each cluster; flag drift")
    p.set_defaults(run=lambda a: lambda ctx: status.run(ctx, live=a.live))

    p = commands.add("history", "show an environment's release history")
    p.add_argument("env", metavar="ENV", help="the environment")
    p.add_argument("--from-git", action="store_true", help="rebuild it from commit trailers")
    p.add_argument(
        "--deepen",
        action="store_true",
        help="in a shallow clone, fetch the rest of the history first (with --from-git)",
    )
    p.add_argument(
        "--limit", type=int, metavar="N", default=None, help="show at most N entries, newest first"
    )
    p.set_defaults(
        run=lambda a: (
            lambda ctx: history.run(
                ctx, env=a.env, from_git=a.from_git, limit=a.limit, deepen=a.deepen
            )
        )
    )
