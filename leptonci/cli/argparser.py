"""argparse as leptonci uses it: the parser class ("did you mean"), its refusal of a
command line, the options every command shares, and the adder of subcommands."""

from __future__ import annotations

import argparse
import difflib
import re
from typing import Any

from leptonci.core.errors import ExitCode

EXIT_CODES = """exit codes:
  0    done, or nothing to do
  1    a "no": gate failed, verification failed, promotion refused
  2    bad input or config
  3    an outside system failed after retries (git remote, registry, cluster, GitHub)
  70   a bug in leptonci (please report it)
  130  interrupted
"""


class Parser(argparse.ArgumentParser):
    """argparse, plus "did you mean" for a mistyped command or choice."""

    def error(self, message: str) -> Any:  # argparse's signature: it never returns
        found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if found:
            choices = re.findall(r"'?([\w-]+)'?", found.group(2))
            close = difflib.get_close_matches(found.group(1), choices, n=1, cutoff=0.6)
            if close:
                message += f"; did you mean {close[0]!r}?"
        raise BadArguments(self.format_usage(), message, self.prog)


class BadArguments(SystemExit):
    """argparse refused the command line: main reports it (as JSON too, with -o json);
    to any other caller of parse_args it is argparse's own SystemExit(2)."""

    def __init__(self, usage: str, message: str, prog: str) -> None:
        super().__init__(ExitCode.BAD_INPUT)
        self.usage, self.message, self.prog = usage, message, prog


def shared_options(*, top: bool) -> Parser:
    """-C, -o/--output, --json and --debug, for the top parser and every subcommand."""
    # Subcommands accept the global options too; their defaults are suppressed there
    # so that `leptonci -C DIR status` is not reset by the subparser.
    common = Parser(add_help=False)
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


def writes(parser: argparse.ArgumentParser) -> None:
    """--dry-run, for every command that writes."""
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (diffs, image refs, git and API calls) and write nothing",
    )


class Commands:
    """Adds the subcommands: each takes the shared options and shows the exit codes."""

    def __init__(self, sub: argparse._SubParsersAction[Parser]) -> None:
        self._sub = sub
        self._common = shared_options(top=False)

    def add(self, name: str, help: str) -> Parser:
        return self._sub.add_parser(
            name,
            help=help,
            description=help,
            parents=[self._common],
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    def add_hidden(self, name: str, description: str) -> Parser:
        """A command with no help, so it stays out of `leptonci --help`."""
        return self._sub.add_parser(name, parents=[self._common], description=description)
