"""The whole argument parser: the top-level options, then each group of commands."""

from __future__ import annotations

import argparse

from leptonci import __version__
from leptonci.cli import ci_commands, inspect_commands, model_commands, release_commands
from leptonci.cli.argparser import EXIT_CODES, Commands, Parser, shared_options


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="leptonci",
        description="GitOps CI/CD for machine-learning models: train, gate, build, "
        "promote through environments, verify, roll back.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[shared_options(top=True)],
    )
    parser.add_argument("--version", action="version", version=f"leptonci {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )
    commands = Commands(sub)
    # The order here is the order of `leptonci --help`.
    inspect_commands.add(commands)
    model_commands.add(commands)
    release_commands.add(commands)
    ci_commands.add(commands)
    return parser
