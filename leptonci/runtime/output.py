"""Where output goes: a terminal, GitHub Actions, or JSON for machines.

Every line passes through ``redact``. In GitHub Actions, steps become ``::group::``
blocks (never nested: GitHub does not fold a group inside a group, so a step inside an
open one is a plain line in that fold), errors become ``::error::`` annotations (with
``file=`` and ``line=`` when the error knows them), Markdown goes to the job summary
(``$GITHUB_STEP_SUMMARY``) and outputs to ``$GITHUB_OUTPUT``, and every secret leptonci
learns is announced with ``::add-mask::`` as it is registered, so the runner masks it in
the log from then on. With ``-o json`` (or ``--json``) or ``-o yaml`` the human lines
(and the announcements) go to stderr and stdout carries exactly one document.
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
from ruamel.yaml import YAML

from leptonci.core.redact import announce_masks, redact, redact_obj

FORMATS = ("text", "json", "yaml")


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
        format: str | None = None,
        env: Mapping[str, str] | None = None,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.format = format or ("json" if json_mode else "text")
        if self.format not in FORMATS:
            raise ValueError(f"output format {self.format!r} is not one of {FORMATS}")
        self.env = dict(os.environ if env is None else env)
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.github = self.env.get("GITHUB_ACTIONS") == "true"
        self._groups = 0  # open ::group:: blocks (0 or 1: GitHub does not nest them)
        if self.github:
            # The sink, not the redactor, knows it runs in Actions and which stream may
            # carry workflow commands (stdout holds only the document with -o json|yaml).
            announce_masks(self._add_mask)

    @property
    def json_mode(self) -> bool:
        """A machine document (JSON or YAML) goes to stdout; people's lines to stderr."""
        return self.format != "text"

    @json_mode.setter
    def json_mode(self, value: bool) -> None:
        self.format = "json" if value else "text"

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

    def error(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        """An error line; in Actions an annotation, on file and line when they are known."""
        text = redact(message)
        if self.github:
            if file and os.path.isabs(file):  # annotations name files from the workspace
                file = os.path.relpath(file, self.env.get("GITHUB_WORKSPACE") or os.getcwd())
            print(f"{annotation('error', file=file, line=line)}{_escape(text)}", file=self.stderr)
        else:
            print(f"error: {text}", file=self.stderr, flush=True)
        self.stderr.flush()

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        text = redact(name)
        fold = self.github and self._groups == 0
        if fold:
            print(f"::group::{_escape(text)}", file=self._human, flush=True)
            self._groups += 1
        else:
            print(f"==> {text}", file=self._human, flush=True)
        try:
            yield
        finally:
            if fold:
                self._groups -= 1
                print("::endgroup::", file=self._human, flush=True)

    def progress(self, total: float | None, description: str, *, unit: str = "steps") -> Progress:
        stream = self.stderr
        if self.json_mode or self.github or not stream.isatty():
            return _NoProgress()
        return _RichProgress(total, redact(description), stream, unit)

    def _add_mask(self, value: str) -> None:
        # the one line a secret is written on, unredacted: the runner masks it after this
        print(f"::add-mask::{_escape(value)}", file=self._human, flush=True)

    # -- machine outputs -----------------------------------------------------------
    def result(self, data: Mapping[str, Any], text: str | None = None) -> None:
        """The command's final result: JSON or YAML with -o, else the human text."""
        if self.format == "json":
            json.dump(redact_obj(dict(data)), self.stdout, indent=2, default=str)
            self.stdout.write("\n")
            self.stdout.flush()
        elif self.format == "yaml":
            plain = json.loads(json.dumps(redact_obj(dict(data)), default=str))
            yaml = YAML(typ="safe", pure=True)
            yaml.default_flow_style = False
            yaml.dump(plain, self.stdout)
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


def annotation(kind: str, *, file: str | None = None, line: int | None = None) -> str:
    """The start of a workflow command annotation: ``::error file=F,line=L::``."""
    props = []
    if file:
        props.append(f"file={_escape_property(file)}")
        if line is not None:
            props.append(f"line={int(line)}")
    return f"::{kind} {','.join(props)}::" if props else f"::{kind}::"


def _escape(text: str) -> str:
    # Workflow command data escaping, as the runner expects it.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape(text).replace(":", "%3A").replace(",", "%2C")
