"""Where output goes: a terminal, GitHub Actions, or JSON for machines.

Every line passes through ``redact``. In GitHub Actions, steps become ``::group::``
blocks, errors become ``::error::`` annotations, Markdown goes to the job summary
(``$GITHUB_STEP_SUMMARY``) and outputs to ``$GITHUB_OUTPUT``, and every secret leptonci
learns is announced with ``::add-mask::`` as it is registered, so the runner masks it in
the log from then on. With ``--json`` the human lines (and the announcements) go to
stderr and stdout carries exactly one JSON document.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

from leptonci.core.redact import announce_masks, redact, redact_obj


class Progress(Protocol):
    def advance(self, amount: float = 1, *, note: str = "") -> None: ...

    def close(self) -> None: ...


class _NoProgress:
    def advance(self, amount: float = 1, *, note: str = "") -> None:
        return None

    def close(self) -> None:
        return None


class _RichProgress:
    def __init__(self, total: float | None, description: str, stream: TextIO, unit: str) -> None:
        counter = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            counter,
            TimeRemainingColumn(),
            TextColumn("{task.fields[note]}"),
            console=Console(file=stream),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total, note="")

    def advance(self, amount: float = 1, *, note: str = "") -> None:
        self._bar.update(self._task, advance=amount, note=redact(note))

    def close(self) -> None:
        self._bar.stop()


class Output:
    def __init__(
        self,
        *,
        json_mode: bool = False,
        env: Mapping[str, str] | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.env = dict(os.environ if env is None else env)
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.github = self.env.get("GITHUB_ACTIONS") == "true"
        if self.github:
            # The sink, not the redactor, knows it runs in Actions and which stream may
            # carry workflow commands (stdout holds only JSON with --json).
            announce_masks(self._add_mask)

    @property
    def interactive(self) -> bool:
        """A person watches a terminal: progress bars, not a line per step."""
        if self.json_mode or self.github:
            return False
        try:
            return bool(self.stderr.isatty())
        except (AttributeError, ValueError):
            return False

    # -- plain lines ---------------------------------------------------------------
    @property
    def _human(self) -> TextIO:
        return self.stderr if self.json_mode else self.stdout

    def info(self, message: str) -> None:
        print(redact(message), file=self._human, flush=True)

    def warn(self, message: str) -> None:
        text = redact(message)
        if self.github:
            print(f"::warning::{_escape(text)}", file=self._human, flush=True)
        else:
            print(f"warning: {text}", file=self.stderr, flush=True)

    def error(self, message: str) -> None:
        text = redact(message)
        if self.github:
            print(f"::error::{_escape(text)}", file=self.stderr, flush=True)
        else:
            print(f"error: {text}", file=self.stderr, flush=True)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        text = redact(name)
        if self.github:
            print(f"::group::{_escape(text)}", file=self._human, flush=True)
        else:
            print(f"==> {text}", file=self._human, flush=True)
        try:
            yield
        finally:
            if self.github:
                print("::endgroup::", file=self._human, flush=True)

    def progress(self, total: float | None, description: str, *, unit: str = "steps") -> Progress:
        if not self.interactive:
            return _NoProgress()
        return _RichProgress(total, redact(description), self.stderr, unit)

    def _add_mask(self, value: str) -> None:
        # the one line a secret is written on, unredacted: the runner masks it after this
        print(f"::add-mask::{_escape(value)}", file=self._human, flush=True)

    # -- machine outputs -----------------------------------------------------------
    def result(self, data: Mapping[str, Any], text: str | None = None) -> None:
        """The command's final result: JSON with --json, else the human text."""
        if self.json_mode:
            json.dump(redact_obj(dict(data)), self.stdout, indent=2, default=str)
            self.stdout.write("\n")
            self.stdout.flush()
        elif text is not None:
            self.stdout.write(redact(text) if text.endswith("\n") else redact(text) + "\n")
            self.stdout.flush()

    def summary(self, markdown: str) -> None:
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if not path:
            return
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(redact(markdown).rstrip("\n") + "\n\n")

    def set_output(self, name: str, value: str) -> None:
        path = self.env.get("GITHUB_OUTPUT")
        if not path:
            return
        text = redact(value)
        with open(path, "a", encoding="utf-8") as fh:
            if "\n" in text:
                marker = f"EOF_{uuid.uuid4().hex}"
                fh.write(f"{name}<<{marker}\n{text}\n{marker}\n")
            else:
                fh.write(f"{name}={text}\n")


def _escape(text: str) -> str:
    # Workflow command data escaping, as the runner expects it.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
