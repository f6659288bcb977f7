"""Command line: parses arguments and calls one function per command.

This package only parses. Each command is the ``run`` function of one module in
``leptonci/commands/``, called with explicit keyword arguments by the parser module of
its group (``inspect_commands``, ``model_commands``, ``release_commands``,
``ci_commands``; ``parser.build_parser`` puts them together). The command modules are
bound lazily (``lazy.py``: loaded on first use), so `leptonci --help` loads none of
them, and typed through ``TYPE_CHECKING`` imports, so mypy checks every call. Shell
completion (``completion.py``) is loaded only when the shell asks. ``main`` here is the
entry point; its one top-level handler maps ``LeptonError`` to a one-line message and
an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from leptonci.cli.argparser import EXIT_CODES, BadArguments
from leptonci.cli.lazy import lazy
from leptonci.cli.parser import build_parser
from leptonci.core.errors import ExitCode, LeptonError, UsageError
from leptonci.runtime.signals import terminate_as_interrupt

if TYPE_CHECKING:  # mypy checks every call below against the real modules
    from leptonci.cli import completion
    from leptonci.core import config
    from leptonci.runtime import context, failure, output
else:
    completion = lazy("leptonci.cli.completion")
    context = lazy("leptonci.runtime.context")
    output = lazy("leptonci.runtime.output")
    config = lazy("leptonci.core.config")
    failure = lazy("leptonci.runtime.failure")

__all__ = ["EXIT_CODES", "build_parser", "main"]

Command = Callable[["context.Context"], int]


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions; argcomplete exits
        completion.autocomplete(parser)
    try:
        args = parser.parse_args(words)
    except BadArguments as exc:
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
