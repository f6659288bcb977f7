"""How a command that failed is reported, whatever failed: the CLI's one handler calls this.

Every failure is one redacted line on stderr (a ``::error::`` annotation in GitHub
Actions, on the error's file and line) and an exit code. With ``-o json`` or ``-o
yaml``, stdout also carries one JSON document (JSON is YAML too), even for a bug, an
interrupt or a mistyped argument: ``{"error": LINE, "exit_code": N}``, plus ``file``
and ``line`` when the error knows them and ``"internal": true`` for a bug.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from leptonci.core.errors import ExitCode, LeptonError
from leptonci.core.redact import redact
from leptonci.runtime.output import annotation


def lepton_error(exc: LeptonError, *, json_mode: bool, debug: bool) -> int:
    if debug:
        print_traceback()
    line = one_line(str(exc))
    file, at = _where(exc)
    if json_mode:
        _document(line, exc.exit_code, file=getattr(exc, "file", None), line=at)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        print(f"{annotation('error', file=file, line=at)}{out_escape(line)}", file=sys.stderr)
    else:
        print(f"leptonci: error: {line}", file=sys.stderr)
    return int(exc.exit_code)


def bug(exc: BaseException, *, json_mode: bool, debug: bool) -> int:
    """A bug in leptonci: one redacted line (the traceback with --debug), exit 70."""
    text = one_line(f"{type(exc).__name__}: {exc}")
    if json_mode:
        _document(f"internal error: {text}", ExitCode.BUG, internal=True)
    if debug:
        print_traceback()
    else:
        print(f"leptonci: internal error: {text} (rerun with --debug)", file=sys.stderr)
    return int(ExitCode.BUG)


def interrupted(*, json_mode: bool) -> int:
    if json_mode:
        _document("interrupted", ExitCode.INTERRUPTED)
    print("interrupted", file=sys.stderr)
    return int(ExitCode.INTERRUPTED)


def bad_arguments(usage: str, message: str, *, prog: str, json_mode: bool) -> int:
    """A command line argparse refused: its usage and message, as argparse prints them."""
    if json_mode:
        _document(f"{prog}: {one_line(message)}", ExitCode.BAD_INPUT)
    print(f"{usage.rstrip()}\n{prog}: error: {message}", file=sys.stderr)
    return int(ExitCode.BAD_INPUT)


def json_requested(argv: Sequence[str]) -> bool:
    """Whether a command line (perhaps one argparse refused) asks for -o json or yaml."""
    words = list(argv)
    for i, word in enumerate(words):
        if word == "--json":
            return True
        value = None
        if word in ("-o", "--output") and i + 1 < len(words):
            value = words[i + 1]
        elif word.startswith("--output="):
            value = word.split("=", 1)[1]
        elif word.startswith("-o") and len(word) > 2:
            value = word[2:].lstrip("=")
        if value in ("json", "yaml"):
            return True
    return False


def print_traceback() -> None:
    """--debug: the traceback, through the same redaction as every other output."""
    print(redact(traceback.format_exc()), file=sys.stderr, end="")


def one_line(text: str) -> str:
    return redact(text).replace("\n", " ")


def out_escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _document(
    message: str,
    code: int,
    *,
    file: str | None = None,
    line: int | None = None,
    internal: bool = False,
) -> None:
    doc: dict[str, Any] = {"error": message, "exit_code": int(code)}
    if file:
        doc["file"] = redact(file)
        if line is not None:
            doc["line"] = line
    if internal:
        doc["internal"] = True
    print(json.dumps(doc), flush=True)


def _where(exc: LeptonError) -> tuple[str | None, int | None]:
    """The file (relative to the workspace, as annotations want it) and line of an error."""
    file = getattr(exc, "file", None)
    if not file:
        return None, None
    base = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
    if os.path.isabs(file):
        file = os.path.relpath(file, base)
    return file, getattr(exc, "line", None)
