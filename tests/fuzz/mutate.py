"""Mutations of valid documents, for the fuzz tests: structure-aware and raw bytes.

``documents(seed, kind)`` draws a broken (or still valid) copy of a valid YAML or JSON
document: its parsed tree with nodes swapped for other types, keys dropped, renamed or
added; its text with lines duplicated (duplicate keys), small anchors and aliases,
tabs, CRLF, a BOM, truncation or another encoding read back as text; or its bytes
flipped, dropped and repeated. Aliases stay one level deep: the alias-bomb bound is
tested with the file reader, not here.
"""

from __future__ import annotations

import copy
import io
import json
import re
from typing import Any

from hypothesis import strategies as st
from ruamel.yaml import YAML

ODD_TEXT = st.sampled_from(
    ["", " ", "-", "~", "null", "yes", "on", "1e999", "-0", "0x1f", "::", "a: b", "- x", "*x",
     "&a", "!!binary", "'", '"', "{", "[", "%", "@", "\t", "é", "\u2028", "sha256:" + "ab" * 32,
     "x" * 300, "../..", "/etc", "${X}", "{{x}}"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([10**400, -(10**400)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    ODD_TEXT,
)
KEYS = st.one_of(st.text(max_size=8), ODD_TEXT, st.integers(-3, 3), st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(KEYS, kids, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated_tree(draw: st.DrawFn, tree: Any) -> Any:
    """tree (plain dicts and lists) with one to four nodes changed."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_paths(tree)))
        op = draw(st.sampled_from(["replace", "drop", "add", "rename", "wrap", "dup"]))
        node = _at(tree, path)
        if not path:
            if op == "replace":
                tree = draw(VALUES)
            continue
        parent, last = _at(tree, path[:-1]), path[-1]
        if op == "replace":
            parent[last] = draw(VALUES)
        elif op == "drop":
            del parent[last]
        elif op == "add" and isinstance(node, dict):
            node[draw(KEYS)] = draw(VALUES)
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(KEYS)] = parent.pop(last)
        elif op == "wrap":
            parent[last] = draw(st.sampled_from([[node], {"x": node}, {str(last): node}]))
        elif op == "dup" and isinstance(node, list) and node:
            node.append(draw(st.sampled_from(node)))
    return tree


_VALUE_LINE = re.compile(r"^(\s*(?:- )?[^\s#:\-][^:#]*:)[ ]+([^\s&*|>#][^#]*)$", re.M)


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """text with one to three line- or character-level changes."""
    for _ in range(draw(st.integers(1, 3))):
        lines = text.splitlines(keepends=True) or [""]
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(
            st.sampled_from(
                ["dupline", "dropline", "truncate", "insert", "alias", "badalias", "merge",
                 "tab", "crlf", "bom", "reencode", "indent"]
            )
        )  # fmt: skip
        if op == "dupline":
            lines.insert(i, lines[i])
        elif op == "dropline":
            del lines[i]
        elif op == "indent":
            lines[i] = draw(st.sampled_from([" ", "  ", "   "])) + lines[i]
        elif op == "tab":
            lines[i] = lines[i].replace("  ", "\t", 1)
        elif op in ("alias", "badalias", "merge"):
            found = list(_VALUE_LINE.finditer(text))
            if found:
                a, b = draw(st.sampled_from(found)), draw(st.sampled_from(found))
                if op == "alias":  # b's value becomes an alias of a's (one level only)
                    text = _sub(text, b, f"{b.group(1)} *x\n")
                    text = _sub(text, a, f"{a.group(1)} &x {a.group(2)}\n") if a != b else text
                elif op == "badalias":
                    text = _sub(text, b, f"{b.group(1)} *nowhere\n")
                else:
                    text = _sub(text, b, f"{b.group(1)}\n  <<: *x\n")
            continue
        else:
            text = "".join(lines)
            at = draw(st.integers(0, len(text)))
            if op == "truncate":
                text = text[:at]
            elif op == "insert":
                text = text[:at] + draw(st.one_of(ODD_TEXT, st.text(max_size=4))) + text[at:]
            elif op == "crlf":
                text = text.replace("\n", "\r\n")
            elif op == "bom":
                text = "\ufeff" + text
            else:  # another encoding read back as text, as a wrong editor setting does
                codec = draw(st.sampled_from(["utf-16", "utf-8-sig", "cp1252"]))
                text = text.encode(codec, errors="replace").decode("latin-1")
            continue
        text = "".join(lines)
    return text


def _sub(text: str, match: re.Match[str], new: str) -> str:
    return text[: match.start()] + new.rstrip("\n") + text[match.end() :]


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """data with one to eight bytes flipped, ranges dropped or repeated."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, max(0, len(buf) - 1)))
        op = draw(st.sampled_from(["flip", "drop", "repeat", "insert"]))
        size = draw(st.integers(1, 16))
        if op == "flip" and buf:
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "drop":
            del buf[at : at + size]
        elif op == "repeat":
            buf[at:at] = buf[at : at + size]
        else:
            buf[at:at] = draw(st.binary(min_size=1, max_size=4))
    return bytes(buf)


def load(seed: str, kind: str) -> Any:
    """The seed's tree: for YAML, the list of its documents."""
    return json.loads(seed) if kind == "json" else list(YAML(typ="safe").load_all(seed))


def dump(tree: Any, kind: str, *, flow: bool = False) -> str:
    if kind == "json":
        return json.dumps(tree, indent=2, default=str)
    yaml = YAML(typ="safe")
    yaml.default_flow_style = flow
    buf = io.StringIO()
    yaml.dump_all(tree if isinstance(tree, list) else [tree], buf)
    return buf.getvalue()


def documents(seed: str, kind: str = "yaml") -> st.SearchStrategy[bytes]:
    """Broken copies of seed's bytes (a valid document of kind "yaml" or "json")."""
    tree = load(seed, kind)
    trees = mutated_tree(tree).flatmap(
        lambda t: st.sampled_from([dump(t, kind), dump(t, kind, flow=True)])
    )
    texts = st.one_of(trees, st.just(seed)).flatmap(mutated_text)
    return st.one_of(
        trees.map(str.encode),
        texts.map(lambda t: t.encode("utf-8", errors="surrogatepass")),
        mutated_bytes(seed.encode()),
    )


def as_text(data: bytes) -> str:
    """Bytes as the parsers that take text see them (the decoding is the reader's job)."""
    return data.decode("utf-8", errors="replace")
