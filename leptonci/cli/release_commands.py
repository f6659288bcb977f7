"""The commands that move, hold, check and trust releases in environments: promote,
rollback, unblock, resume, verify, verify-image."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from leptonci.cli.argparser import Commands, writes
from leptonci.cli.lazy import lazy

if TYPE_CHECKING:  # mypy checks every call below against the real modules
    from leptonci.commands import promote, resume, rollback, unblock, verify, verify_image
else:
    promote = lazy("leptonci.commands.promote")
    resume = lazy("leptonci.commands.resume")
    rollback = lazy("leptonci.commands.rollback")
    unblock = lazy("leptonci.commands.unblock")
    verify = lazy("leptonci.commands.verify")
    verify_image = lazy("leptonci.commands.verify_image")


def _deprecated(release: str | None, to: str | None) -> str | None:
    """`rollback --to ID` (deprecated: in promote --to names an environment)."""
    if to is not None:
        print("leptonci: warning: rollback --to is deprecated; use --release ID", file=sys.stderr)
    return release if release is not None else to


def add(commands: Commands) -> None:
    p = commands.add("promote", "move the release current in ENV's upstream into ENV")
    p.add_argument(
        "--to", required=True, metavar="ENV", dest="to", help="the environment to promote into"
    )
    p.add_argument(
        "--release", metavar="ID", default=None, help="a release current in ENV's upstream"
    )
    p.add_argument("--force", action="store_true", help="override the rules (needs --reason)")
    p.add_argument(
        "--reason", metavar="TEXT", default=None, help="why; recorded in the ledger and commit"
    )
    writes(p)
    p.set_defaults(
        run=lambda a: (
            lambda ctx: promote.run(ctx, to=a.to, release=a.release, force=a.force, reason=a.reason)
        )
    )

    p = commands.add(
        "rollback",
        "restore the previous (or named) release in ENV as a new commit, quarantine the bad "
        "digest (refused until `leptonci unblock`) and hold automatic promotion into ENV "
        "(until `leptonci resume ENV`)",
    )
    p.add_argument("env", metavar="ENV", help="the environment to roll back")
    p.add_argument(
        "--release",
        metavar="ID",
        default=None,
        help="the release to restore (default: the previous one not quarantined)",
    )
    p.add_argument(
        "--to",
        metavar="ID",
        default=None,
        dest="to_deprecated",
        help="deprecated alias of --release",
    )
    p.add_argument(
        "--reason", metavar="TEXT", default=None, help="why; recorded in the ledger and commit"
    )
    writes(p)
    p.set_defaults(
        run=lambda a: (
            lambda ctx: rollback.run(
                ctx, env=a.env, release=_deprecated(a.release, a.to_deprecated), reason=a.reason
            )
        )
    )

    p = commands.add("unblock", "lift the quarantine of a release or digest in ENV")
    p.add_argument("env", metavar="ENV", help="the environment")
    p.add_argument(
        "target", metavar="RELEASE|DIGEST", help="the quarantined release id or sha256: digest"
    )
    writes(p)
    p.set_defaults(run=lambda a: lambda ctx: unblock.run(ctx, env=a.env, target=a.target))

    p = commands.add("resume", "lift the hold on automatic promotion into ENV")
    p.add_argument("env", metavar="ENV", help="the environment on hold")
    writes(p)
    p.set_defaults(run=lambda a: lambda ctx: resume.run(ctx, env=a.env))

    p = commands.add(
        "verify",
        "wait until ENV's cluster runs its current release, check prediction parity, record "
        "the result; roll back on failure where ENV says rollback: auto",
    )
    p.add_argument("env", metavar="ENV", help="the environment to verify")
    p.add_argument(
        "--model",
        metavar="MODEL",
        default=None,
        help="the model to verify (default: the only current one)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to wait for the rollout (default: the cluster's timeout:)",
    )
    writes(p)
    p.set_defaults(
        run=lambda a: lambda ctx: verify.run(ctx, env=a.env, model=a.model, timeout=a.timeout)
    )

    p = commands.add(
        "verify-image",
        "check the signed gate verdict and provenance attached to an image digest",
    )
    p.add_argument(
        "ref", metavar="REF", help="HOST/PATH@DIGEST or HOST/PATH:TAG (REPO:TAG for oci-layout)"
    )
    p.add_argument("--env", metavar="ENV", default=None, help="trust what ENV's require: trusts")
    p.add_argument(
        "--key",
        metavar="FILE",
        action="append",
        default=[],
        help="a trusted PEM public key (repeatable)",
    )
    p.add_argument(
        "--identity", default=None, help="a trusted keyless signer (certificate identity)"
    )
    p.add_argument("--issuer", default=None, help="the keyless signer's OIDC issuer")
    p.add_argument(
        "--type",
        dest="types",
        action="append",
        choices=["verdict", "provenance"],
        default=[],
        help="what must be attached (repeatable; default: what --env requires, else both)",
    )
    p.set_defaults(
        run=lambda a: (
            lambda ctx: verify_image.run(
                ctx,
                ref=a.ref,
                env=a.env,
                keys=a.key,
                identity=a.identity,
                issuer=a.issuer,
                types=a.types,
            )
        )
    )
