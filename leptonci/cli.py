"""Command line: parses arguments and calls one function per command.

This module only parses. Each command is the ``run`` function of one module in
``leptonci/commands/``, called with explicit keyword arguments. The command modules are
bound lazily (loaded on first use), so `leptonci --help` loads none of them, and typed
through ``TYPE_CHECKING`` imports, so mypy checks every call. The one top-level handler here maps
``LeptonError`` to a one-line message and an exit code.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from leptonci import __version__
from leptonci.core.errors import ExitCode, LeptonError, UsageError
from leptonci.runtime.signals import terminate_as_interrupt


def _lazy(name: str) -> ModuleType:
    """A module that is loaded on first use: `leptonci --help` imports no command."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")  # as an import would: leptonci.commands.build
    setattr(importlib.import_module(parent), child, module)
    return module


if TYPE_CHECKING:  # mypy checks every call below against the real modules
    from leptonci.commands import (
        build,
        gate,
        history,
        promote,
        pull_request,
        resume,
        rollback,
        run_push,
        status,
        train,
        unblock,
        validate,
        verify,
        verify_image,
        worker,
        workflows,
    )
    from leptonci.core import config
    from leptonci.runtime import context, failure, output
else:
    build = _lazy("leptonci.commands.build")
    gate = _lazy("leptonci.commands.gate")
    history = _lazy("leptonci.commands.history")
    promote = _lazy("leptonci.commands.promote")
    pull_request = _lazy("leptonci.commands.pull_request")
    resume = _lazy("leptonci.commands.resume")
    rollback = _lazy("leptonci.commands.rollback")
    run_push = _lazy("leptonci.commands.run_push")
    status = _lazy("leptonci.commands.status")
    train = _lazy("leptonci.commands.train")
    unblock = _lazy("leptonci.commands.unblock")
    validate = _lazy("leptonci.commands.validate")
    verify = _lazy("leptonci.commands.verify")
    verify_image = _lazy("leptonci.commands.verify_image")
    worker = _lazy("leptonci.commands.worker")
    workflows = _lazy("leptonci.commands.workflows")
    context = _lazy("leptonci.runtime.context")
    output = _lazy("leptonci.runtime.output")
    config = _lazy("leptonci.core.config")
    failure = _lazy("leptonci.runtime.failure")

Command = Callable[["context.Context"], int]

EXIT_CODES = """exit codes:
  0    done, or nothing to do
  1    a "no": gate failed, verification failed, promotion refused
  2    bad input or config
  3    an outside system failed after retries (git remote, registry, cluster, GitHub)
  70   a bug in leptonci (please report it)
  130  interrupted
"""


def _writes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (diffs, image refs, git and API calls) and write nothing",
    )


def _deprecated(release: str | None, to: str | None) -> str | None:
    """`rollback --to ID` (deprecated: in promote --to names an environment)."""
    if to is not None:
        print("leptonci: warning: rollback --to is deprecated; use --release ID", file=sys.stderr)
    return release if release is not None else to


def build_parser() -> argparse.ArgumentParser:
    def common_options(*, top: bool) -> _Parser:
        # Subcommands accept the global options too; their defaults are suppressed there
        # so that `leptonci -C DIR status` is not reset by the subparser.
        common = _Parser(add_help=False)
        default: Any = None if top else argparse.SUPPRESS
        flag: Any = False if top else argparse.SUPPRESS
        common.add_argument(
            "-C",
            dest="directory",
            metavar="DIR",
            default=default,
            help="run against the leptonci repository in DIR (default: the current one)",
        )
        common.add_argument(
            "-o",
            "--output",
            dest="output",
            choices=["text", "json", "yaml"],
            default=None if top else argparse.SUPPRESS,
            help="output format: text (default), or one json or yaml document on stdout",
        )
        common.add_argument(
            "--json",
            action="store_const",
            const="json",
            dest="output",
            default=argparse.SUPPRESS,
            help="same as -o json",
        )
        common.add_argument(
            "--debug", action="store_true", default=flag, help="show tracebacks on errors"
        )
        return common

    common = common_options(top=False)

    parser = _Parser(
        prog="leptonci",
        description="GitOps CI/CD for machine-learning models: train, gate, build, "
        "promote through environments, verify, roll back.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common_options(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"leptonci {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help,
            description=help,
            parents=[common],
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = command(
        "validate",
        "check leptonci.yaml, the ledgers, every environment's manifests and kustomize render, "
        "and each model's serving contract (docs/serving.md)",
    )
    p.set_defaults(run=lambda a: lambda ctx: validate.run(ctx))

    p = command("status", "show what each environment runs, from the ledgers")
    p.add_argument("--live", action="store_true", help="also ask each cluster; flag drift")
    p.set_defaults(run=lambda a: lambda ctx: status.run(ctx, live=a.live))

    p = command("history", "show an environment's release history")
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

    p = command("train", "train a model, evaluate it and export a candidate")
    p.add_argument("model", metavar="MODEL", help="the model (a key of models: in leptonci.yaml)")
    p.add_argument(
        "--out", type=Path, metavar="DIR", default=None, help="also place the candidate in DIR"
    )
    p.add_argument("--no-cache", action="store_true", help="train even when a cache has it")
    _writes(p)
    p.add_argument(
        "--fetch",
        action="store_true",
        help="with --dry-run: also ask the registry (the shared training cache, the training "
        "base image); reads only",
    )
    p.set_defaults(
        run=lambda a: lambda ctx: train.run(ctx, model=a.model, out=a.out, use_cache=not a.no_cache)
    )

    p = command("gate", "check a candidate's metrics against the model's thresholds")
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

    p = command("build", "build the serving image for the current candidate and push it")
    p.add_argument("model", metavar="MODEL", help="the model (a key of models: in leptonci.yaml)")
    _writes(p)
    p.set_defaults(run=lambda a: lambda ctx: build.run(ctx, model=a.model))

    p = command("promote", "move the release current in ENV's upstream into ENV")
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
    _writes(p)
    p.set_defaults(
        run=lambda a: (
            lambda ctx: promote.run(ctx, to=a.to, release=a.release, force=a.force, reason=a.reason)
        )
    )

    p = command(
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
    _writes(p)
    p.set_defaults(
        run=lambda a: (
            lambda ctx: rollback.run(
                ctx, env=a.env, release=_deprecated(a.release, a.to_deprecated), reason=a.reason
            )
        )
    )

    p = command("unblock", "lift the quarantine of a release or digest in ENV")
    p.add_argument("env", metavar="ENV", help="the environment")
    p.add_argument(
        "target", metavar="RELEASE|DIGEST", help="the quarantined release id or sha256: digest"
    )
    _writes(p)
    p.set_defaults(run=lambda a: lambda ctx: unblock.run(ctx, env=a.env, target=a.target))

    p = command("resume", "lift the hold on automatic promotion into ENV")
    p.add_argument("env", metavar="ENV", help="the environment on hold")
    _writes(p)
    p.set_defaults(run=lambda a: lambda ctx: resume.run(ctx, env=a.env))

    p = command(
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
    _writes(p)
    p.set_defaults(
        run=lambda a: lambda ctx: verify.run(ctx, env=a.env, model=a.model, timeout=a.timeout)
    )

    p = command(
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

    p = command(
        "workflows",
        "write or update the GitHub workflows (.github/workflows/) from leptonci.yaml",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a workflow file is missing or out of date",
    )
    _writes(p)
    p.set_defaults(run=lambda a: lambda ctx: workflows.run(ctx, check=a.check))

    # The training Job's entrypoint in each pod: no help, so it stays out of `--help`.
    p = sub.add_parser("worker", parents=[common], description="train one worker of a Job")
    p.add_argument(
        "job_file", type=Path, metavar="JOBFILE", help="the job file in the training image"
    )
    p.set_defaults(run=lambda a: lambda ctx: worker.run(ctx, job_file=a.job_file), repo=False)

    p = command("run", "run a CI flow: push (release) or pull-request (model gate)")
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
    _writes(p)
    p.set_defaults(
        run=lambda a: (
            run_push.run
            if a.event == "push"
            else (lambda ctx: pull_request.run(ctx, append=a.append))
        )
    )

    p = command("completion", "print the shell completion script for bash, zsh or fish")
    p.add_argument(
        "shell", choices=["bash", "zsh", "fish"], metavar="SHELL", help="bash, zsh or fish"
    )
    p.set_defaults(run=lambda a: lambda ctx: _completion(a.shell))
    return parser


def _completion(shell: str) -> int:
    """The argcomplete hook for leptonci, for `eval "$(leptonci completion bash)"`."""
    import argcomplete

    print(argcomplete.shellcode(["leptonci"], shell=shell), end="")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, plus "did you mean" for a mistyped command or choice."""

    def error(self, message: str) -> Any:  # argparse's signature: it never returns
        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if found:
            choices = re.findall(r"'?([\w-]+)'?", found.group(2))
            close = difflib.get_close_matches(found.group(1), choices, n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]!r}?"
        raise _BadArguments(self.format_usage(), message, self.prog)


class _BadArguments(SystemExit):
    """argparse refused the command line: main reports it (as JSON too, with -o json);
    to any other caller of parse_args it is argparse's own SystemExit(2)."""

    def __init__(self, usage: str, message: str, prog: str) -> None:
        super().__init__(ExitCode.BAD_INPUT)
        self.usage, self.message, self.prog = usage, message, prog


def _complete_names(kind: str) -> Callable[..., list[str]]:
    """An argcomplete completer for environment or model names, from leptonci.yaml."""

    def names(**_: object) -> list[str]:
        try:
            loaded = config.load_config(config.find_root(Path.cwd()))
        except LeptonError:
            return []
        return [e.name for e in loaded.environments] if kind == "env" else list(loaded.models)

    return names


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions; argcomplete exits
        import argcomplete

        _attach_completers(parser)
        argcomplete.autocomplete(parser)
    try:
        args = parser.parse_args(words)
    except _BadArguments as exc:
        return failure.bad_arguments(
            exc.usage, exc.message, prog=exc.prog, json_mode=failure.json_requested(words)
        )
    debug = bool(args.debug)
    json_mode = args.output in ("json", "yaml")
    try:
        with terminate_as_interrupt():  # a cancelled CI run (SIGTERM) cleans up like Ctrl-C
            return _run(args)
    except KeyboardInterrupt:
        return failure.interrupted(json_mode=json_mode)
    except LeptonError as exc:
        return failure.lepton_error(exc, json_mode=json_mode, debug=debug)
    except BrokenPipeError:
        # stdout closed early (`leptonci status | head`): not an error of ours
        sys.stderr.close()
        return ExitCode.OK
    except Exception as exc:  # a bug: one redacted line, the traceback only with --debug
        return failure.bug(exc, json_mode=json_mode, debug=debug)


def _attach_completers(parser: argparse.ArgumentParser) -> None:
    """ENV and MODEL arguments complete to the names in leptonci.yaml."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _attach_completers(sub)
        elif action.metavar in ("ENV", "MODEL"):
            action.completer = _complete_names("env" if action.metavar == "ENV" else "model")  # type: ignore[attr-defined]


def _run(args: argparse.Namespace) -> int:
    start = Path(args.directory) if args.directory else Path.cwd()
    if args.directory and not start.is_dir():
        raise UsageError(f"-C {args.directory}: no such directory")
    if args.command == "completion":  # needs no repository
        return int(args.run(args)(None))
    # The training worker runs in a pod, where there is no leptonci.yaml to find.
    root = config.find_root(start) if getattr(args, "repo", True) else start.resolve()
    fmt = args.output or "text"
    ctx = context.Context(
        root=root,
        out=output.Output(format=fmt),
        dry_run=bool(getattr(args, "dry_run", False)),
        fetch=bool(getattr(args, "fetch", False)),
        json=fmt != "text",
        debug=bool(args.debug),
    )
    command: Command = args.run(args)
    return int(command(ctx) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
