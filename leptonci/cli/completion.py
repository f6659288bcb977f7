"""Shell completion through argcomplete: the script `leptonci completion SHELL` prints,
and the answers to the shell's requests (ENV and MODEL complete to leptonci.yaml's names).

Loaded lazily (see ``lazy.py``): only a completion request or `leptonci completion`
imports argcomplete, and only a request for names reads leptonci.yaml.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import argcomplete

from leptonci.cli.lazy import lazy
from leptonci.core.errors import LeptonError

if TYPE_CHECKING:
    from leptonci.core import config
else:  # `leptonci completion bash` runs in every new shell: it reads no config
    config = lazy("leptonci.core.config")


def script(shell: str) -> int:
    """The argcomplete hook for leptonci, for `eval "$(leptonci completion bash)"`."""
    print(argcomplete.shellcode(["leptonci"], shell=shell), end="")
    return 0


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's request for completions; argcomplete exits when it has."""
    _attach_completers(parser)
    argcomplete.autocomplete(parser)


def _complete_names(kind: str) -> Callable[..., list[str]]:
    """An argcomplete completer for environment or model names, from leptonci.yaml."""

    def names(**_: object) -> list[str]:
        try:
            loaded = config.load_config(config.find_root(Path.cwd()))
        except LeptonError:
            return []
        return [e.name for e in loaded.environments] if kind == "env" else list(loaded.models)

    return names


def _attach_completers(parser: argparse.ArgumentParser) -> None:
    """ENV and MODEL arguments complete to the names in leptonci.yaml."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _attach_completers(sub)
        elif action.metavar in ("ENV", "MODEL"):
            action.completer = _complete_names("env" if action.metavar == "ENV" else "model")  # type: ignore[attr-defined]
