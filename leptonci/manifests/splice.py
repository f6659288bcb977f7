"""Splicing edits into YAML text at located positions, keeping every other byte.

A ``Splicer`` collects replacements, removals and insertions against the original
text (positions come from ``locate``) and applies them in one pass.
New lines copy the file's line ending and the indentation of their neighbours; a
replaced scalar keeps its quoting style.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence as Seq

from leptonci.core.errors import ConfigError
from leptonci.manifests.nodes import Mapping, Scalar, Sequence, content_end

_PLAIN_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@:+-]*")
# Values a YAML 1.1 or 1.2 resolver reads as a number, boolean or null: quote them.
_NOT_A_STRING = re.compile(
    r"[-+0-9._:]+(?:[eE][-+]?[0-9]+)?|0[xXoObB][0-9a-fA-F_]+|"
    r"(?i:y|n|yes|no|on|off|true|false|null|~)"
)


def render(value: str, style: str = "") -> str:
    """``value`` as a YAML scalar in ``style`` ("" plain when safe, "'" or '"')."""
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == "" and _PLAIN_SAFE.fullmatch(value) and not _NOT_A_STRING.fullmatch(value):
        return value
    return json.dumps(value)


class Splicer:
    def __init__(self, text: str, *, path: str) -> None:
        self.text = text
        self.path = path
        self.eol = "\r\n" if "\r\n" in text else "\n"
        self._edits: list[tuple[int, int, int, str]] = []  # start, end, order, new text
        self._claimed: set[int] = set()

    # -- scalars ----------------------------------------------------------------------

    def claim(self, scalar: Scalar) -> None:
        """Mark ``scalar`` as decided: later rules leave it alone."""
        self._claimed.add(scalar.start)

    def set(self, scalar: Scalar, value: str) -> None:
        if scalar.start in self._claimed:
            return
        self.claim(scalar)
        if scalar.empty:
            self._add(scalar.start, scalar.start, " " + render(value))
            return
        if scalar.value == value:
            return
        if scalar.style in ("|", ">"):
            raise ConfigError(
                f"cannot pin an image in a block scalar ({scalar.value.strip()!r})",
                file=self.path,
                line=scalar.line,
                hint="write the value on one line",
            )
        self._add(scalar.start, scalar.end, render(value, scalar.style))

    # -- mapping pairs ----------------------------------------------------------------

    def remove_pair(self, mapping: Mapping, index: int) -> None:
        key, value = mapping.pairs[index]
        if isinstance(value, Scalar) and value.start in self._claimed:
            return
        pairs = mapping.pairs
        if mapping.flow:
            if index > 0:
                start, end = content_end(pairs[index - 1][1]), content_end(value)
            elif len(pairs) > 1:
                start, end = key.start, pairs[1][0].start
            else:
                start, end = key.start, content_end(value)
        elif not self.text[self._line_start(key.start) : key.start].strip():
            start, end = self._line_start(key.start), self._next_line(content_end(value))
        elif index + 1 < len(pairs):  # first key after "- ": pull the next key up
            start, end = key.start, pairs[index + 1][0].start
        else:
            raise ConfigError(
                f"cannot remove {key.value!r}: it is the only key of its entry",
                file=self.path,
                line=key.line,
            )
        self._add(start, end, "")

    def add_pairs(self, mapping: Mapping, after: int, pairs: Seq[tuple[str, str]]) -> None:
        """Insert ``pairs`` after pair number ``after`` of ``mapping``."""
        end = content_end(mapping.pairs[after][1])
        if mapping.flow:
            self._add(end, end, "".join(f", {k}: {render(v)}" for k, v in pairs))
            return
        indent = " " * self._column(mapping.pairs[0][0].start)
        self._insert_lines(end, [f"{indent}{k}: {render(v)}" for k, v in pairs])

    # -- a new entry in a list ----------------------------------------------------------

    def append_entry(self, seq: Sequence, entry: Seq[tuple[str, str]]) -> None:
        if seq.flow:
            item = _flow_entry(entry)
            if seq.items:
                at = content_end(seq.items[-1])
                self._add(at, at, ", " + item)
            else:
                at = self.text.rindex("]", 0, seq.end)
                self._add(at, at, item)
            return
        first = seq.items[0] if seq.items else None
        offset = 2
        if isinstance(first, Mapping) and first.pairs:
            offset = max(self._column(first.pairs[0][0].start) - seq.column, 2)
        self._insert_lines(content_end(seq), _block_entry(entry, seq.column, offset))

    def add_key_with_entry(self, mapping: Mapping, key: str, entry: Seq[tuple[str, str]]) -> None:
        if mapping.flow or not mapping.pairs:
            at = content_end(mapping.pairs[-1][1]) if mapping.pairs else mapping.end - 1
            sep = ", " if mapping.pairs else ""
            self._add(at, at, f"{sep}{key}: [{_flow_entry(entry)}]")
            return
        column = self._column(mapping.pairs[0][0].start)
        dash, offset = self._list_style(mapping, column)
        lines = [f"{' ' * column}{key}:", *_block_entry(entry, column + dash, offset)]
        self._insert_lines(content_end(mapping), lines)

    def fill_empty_with_entry(
        self, mapping: Mapping, key: Scalar, empty: Scalar, entry: Seq[tuple[str, str]]
    ) -> None:
        if mapping.flow:
            self._add(empty.start, empty.start, f" [{_flow_entry(entry)}]")
            return
        column = self._column(key.start)
        dash, offset = self._list_style(mapping, self._column(mapping.pairs[0][0].start))
        self._insert_lines(empty.end, _block_entry(entry, column + dash, offset))

    # -- result -----------------------------------------------------------------------

    def result(self) -> str:
        if not self._edits:
            return self.text
        parts: list[str] = []
        pos = 0
        for start, end, _, new in sorted(self._edits):
            if start < pos:
                raise ConfigError(
                    "overlapping edits; the file layout is too unusual to edit",
                    file=self.path,
                    line=self.text.count("\n", 0, start) + 1,
                    hint="edit this image by hand once",
                )
            parts.append(self.text[pos:start])
            parts.append(new)
            pos = end
        parts.append(self.text[pos:])
        return "".join(parts)

    # -- helpers ------------------------------------------------------------------------

    def _add(self, start: int, end: int, new: str) -> None:
        self._edits.append((start, end, len(self._edits), new))

    def _line_start(self, pos: int) -> int:
        return self.text.rfind("\n", 0, pos) + 1

    def _column(self, pos: int) -> int:
        return pos - self._line_start(pos)

    def _next_line(self, end: int) -> int:
        """Start of the line after the one where text ending at ``end`` ends."""
        newline = self.text.find("\n", max(end - 1, 0))
        return len(self.text) if newline < 0 else newline + 1

    def _insert_lines(self, end: int, lines: list[str]) -> None:
        at = self._next_line(end)
        if at == len(self.text) and not self.text.endswith("\n"):
            self._add(at, at, "".join(self.eol + line for line in lines))
        else:
            self._add(at, at, "".join(line + self.eol for line in lines))

    def _list_style(self, mapping: Mapping, column: int) -> tuple[int, int]:
        """(dash indent under its key, key indent after the dash) of the file's lists."""
        dash, offset = None, None
        for _, value in mapping.pairs:
            if isinstance(value, Sequence) and not value.flow and value.items:
                if dash is None:
                    dash = value.column - column
                first = value.items[0]
                if offset is None and isinstance(first, Mapping) and first.pairs:
                    offset = self._column(first.pairs[0][0].start) - value.column
        return max(dash or 0, 0), max(offset or 2, 2)


def _flow_entry(entry: Seq[tuple[str, str]]) -> str:
    return "{" + ", ".join(f"{k}: {render(v)}" for k, v in entry) + "}"


def _block_entry(entry: Seq[tuple[str, str]], dash: int, offset: int) -> list[str]:
    lines = []
    for i, (k, v) in enumerate(entry):
        lead = " " * dash + "-" + " " * (offset - 1) if i == 0 else " " * (dash + offset)
        lines.append(f"{lead}{k}: {render(v)}")
    return lines
