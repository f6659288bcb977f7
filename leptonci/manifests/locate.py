"""Locating scalars in YAML text, for edits that splice new values into the original text.

``locate(text)`` returns one light node tree per document: every scalar carries its
value, its quoting style and its exact character span in ``text``, so an edit replaces
only those characters and the rest of the file stays byte for byte what it was. Two
locators give the same tree: a fast one for the plain block YAML that manifests almost
always are, and ruamel.yaml's composer for everything else (flow style, anchors, tags,
block scalars, multi-line scalars, tabs, non-ASCII). The fast one gives up on the first
line it is not sure about; it never guesses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
from ruamel.yaml.nodes import Node as YamlNode

from leptonci.core.errors import ConfigError
from leptonci.core.yamldoc import error_line, yaml_parser
from leptonci.manifests.nodes import Mapping, Node, Scalar, Sequence, content_end


def locate(text: str, *, path: str = "<text>") -> list[Node | None]:
    """One node tree per document of ``text``; ConfigError if it is not valid YAML."""
    try:
        return _FastLocator(text).documents()
    except _NotSimple:
        return _ruamel_locate(text, path=path)


# -- ruamel.yaml composer ---------------------------------------------------------------


def _ruamel_locate(text: str, *, path: str) -> list[Node | None]:
    try:
        roots = list(yaml_parser().compose_all(text))
    except YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = error_line(exc, text)
        raise ConfigError(
            f"not valid YAML ({problem})", file=path, line=line, hint="fix the file and retry"
        ) from None
    memo: dict[int, Node] = {}
    return [None if r is None else _convert(r, text, memo, path) for r in roots]


def _value_start(text: str, index: int) -> int:
    # An anchor (&a) or tag (!t) precedes the value inside the node's span: skip them.
    while index < len(text) and text[index] in "&!":
        while index < len(text) and text[index] not in " \t\r\n":
            index += 1
        while index < len(text) and text[index] in " \t\r\n":
            index += 1
    return index


def _convert(node: YamlNode, text: str, memo: dict[int, Node], path: str) -> Node:
    done = memo.get(id(node))
    if done is not None:  # an alias: the same node, edited once
        return done
    start = node.start_mark.index
    result: Node
    if isinstance(node, ScalarNode):
        begin = _value_start(text, start)
        style = node.style or ""
        empty = style == "" and node.value == "" and node.end_mark.index <= begin
        result = Scalar(
            node.value, style, begin, node.end_mark.index, node.start_mark.line + 1, empty=empty
        )
    elif isinstance(node, MappingNode):
        result = Mapping(flow=bool(node.flow_style), start=start, end=node.end_mark.index)
        memo[id(node)] = result
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                continue  # complex keys never hold an image
            k = _convert(key, text, memo, path)
            v = _convert(value, text, memo, path)
            assert isinstance(k, Scalar)
            if isinstance(v, Scalar) and v.empty:
                between = text[k.end : result.end]
                after = k.end + len(between) - len(between.lstrip())
                colon = after + 1 if text.startswith(":", after) else 0
                if not colon:  # "{key}" or "? key": no place to write a value into
                    raise ConfigError(
                        f"key {k.value!r} has no ':' and no value; write it as KEY: VALUE",
                        file=path,
                        line=k.line,
                    )
                v = Scalar("", "", colon, colon, k.line, empty=True)
            result.pairs.append((k, v))
    elif isinstance(node, SequenceNode):
        result = Sequence(
            flow=bool(node.flow_style),
            start=start,
            end=node.end_mark.index,
            column=node.start_mark.column,
        )
        memo[id(node)] = result
        result.items.extend(_convert(item, text, memo, path) for item in node.value)
    else:  # pragma: no cover - ruamel has no other node kind
        raise TypeError(type(node))
    memo[id(node)] = result
    return result


# -- fast path: plain block YAML --------------------------------------------------------


class _NotSimple(Exception):
    """The fast locator is not sure about this text; ruamel.yaml decides."""


_UNSAFE = re.compile(r"[^\x20-\x7e\n\r]|\r(?!\n)")
_KEY = re.compile(r"([A-Za-z0-9_$][A-Za-z0-9_.$/-]*):(?: |$)")
_SINGLE = re.compile(r"'((?:[^'\n]|'')*)'")
_DOUBLE = re.compile(r'"([^"\\\n]*)"')
_NOT_PLAIN_START = set("[]{}&*!|>%@`?:,#'\"")


@dataclass(slots=True)
class _Token:
    kind: str  # "key", "dash", "item" (a scalar right after a dash)
    col: int
    scalar: Scalar | None = None  # key text, or the item scalar
    value: Scalar | None = None  # a key's inline value
    colon: int = 0  # just after a key's ':'


class _FastLocator:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[_Token] = []
        self.i = 0

    def documents(self) -> list[Node | None]:
        text = self.text
        if _UNSAFE.search(text):
            raise _NotSimple
        docs: list[list[_Token]] = [[]]
        pos = 0
        for number, raw in enumerate(text.split("\n"), start=1):
            base = pos
            pos += len(raw) + 1
            line = raw[:-1] if raw.endswith("\r") else raw
            rest = line.lstrip(" ")
            if not rest or rest[0] == "#":
                continue
            col = len(line) - len(rest)
            if col == 0 and rest.startswith(("---", "...", "%")):
                if rest == "---" or rest.startswith("--- #"):
                    docs.append([])
                    continue
                raise _NotSimple
            self.toks = docs[-1]
            self._line(base + col, col, rest, number)
        return [self._document(toks) for toks in docs if toks]

    def _line(self, at: int, col: int, rest: str, number: int) -> None:
        if rest == "-" or rest.startswith("- "):
            self.toks.append(_Token("dash", col))
            inner = rest[1:].lstrip(" ")
            if not inner or inner[0] == "#" or inner == "-" or inner.startswith("- "):
                raise _NotSimple
            skip = len(rest) - len(inner)
            self._content(at + skip, col + skip, inner, number, in_item=True)
        else:
            self._content(at, col, rest, number, in_item=False)

    def _content(self, at: int, col: int, rest: str, number: int, *, in_item: bool) -> None:
        m = _KEY.match(rest)
        if m is None:
            if not in_item:
                raise _NotSimple
            self.toks.append(_Token("item", col, scalar=self._scalar(at, rest, number)))
            return
        key = Scalar(m.group(1), "", at, at + len(m.group(1)), number)
        colon = key.end + 1
        after = rest[m.end() :]
        value_text = after.lstrip(" ")
        value = None
        if value_text and value_text[0] != "#":
            value = self._scalar(at + len(rest) - len(value_text), value_text, number)
        self.toks.append(_Token("key", col, scalar=key, value=value, colon=colon))

    @staticmethod
    def _scalar(at: int, s: str, number: int) -> Scalar:
        first = s[0]
        if first in "'\"":
            m = (_SINGLE if first == "'" else _DOUBLE).match(s)
            if m is None:
                raise _NotSimple
            value = m.group(1).replace("''", "'") if first == "'" else m.group(1)
            size = m.end()
            tail = s[size:]
            if tail and not (tail[0] == " " and (not tail.strip() or tail.lstrip()[0] == "#")):
                raise _NotSimple
            return Scalar(value, first, at, at + size, number)
        if first in _NOT_PLAIN_START or (first == "-" and (len(s) == 1 or s[1] == " ")):
            raise _NotSimple
        cut = s.find(" #")
        body = (s if cut < 0 else s[:cut]).rstrip(" ")
        if ": " in body or body.endswith(":"):
            raise _NotSimple
        return Scalar(body, "", at, at + len(body), number)

    def _document(self, toks: list[_Token]) -> Node:
        self.toks, self.i = toks, 0
        first = toks[0]
        node = self._mapping(first.col) if first.kind == "key" else self._sequence(first.col)
        if self.i != len(toks):
            raise _NotSimple
        return node

    def _peek(self) -> _Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _mapping(self, col: int) -> Mapping:
        result = Mapping()
        while (tok := self._peek()) is not None and tok.col == col and tok.kind == "key":
            self.i += 1
            assert tok.scalar is not None
            value: Node
            nxt = self._peek()
            if tok.value is not None:
                value = tok.value
                if nxt is not None and nxt.col > col:
                    raise _NotSimple  # a continuation line or a bad indent
            elif nxt is not None and nxt.kind == "dash" and nxt.col >= col:
                value = self._sequence(nxt.col)
            elif nxt is not None and nxt.col > col and nxt.kind == "key":
                value = self._mapping(nxt.col)
            else:
                value = Scalar("", "", tok.colon, tok.colon, tok.scalar.line, empty=True)
            result.pairs.append((tok.scalar, value))
        tok = self._peek()
        if tok is not None and (tok.col > col or (tok.col == col and tok.kind != "key")):
            raise _NotSimple
        result.start = result.pairs[0][0].start
        result.end = content_end(result)
        return result

    def _sequence(self, col: int) -> Sequence:
        result = Sequence(column=col)
        while (tok := self._peek()) is not None and tok.col == col and tok.kind == "dash":
            self.i += 1
            inner = self.toks[self.i]
            if inner.kind == "item":
                assert inner.scalar is not None
                self.i += 1
                result.items.append(inner.scalar)
                nxt = self._peek()
                if nxt is not None and nxt.col > col:
                    raise _NotSimple
            else:
                result.items.append(self._mapping(inner.col))
        tok = self._peek()
        if tok is not None and tok.col > col:
            raise _NotSimple
        first = result.items[0]
        result.start = first.pairs[0][0].start if isinstance(first, Mapping) else first.start
        result.start = self.text.rindex("-", 0, result.start)
        result.end = content_end(result)
        return result
