"""The node tree ``locate`` builds: scalars with their exact spans, mappings, sequences.

Plain data and lookups over it; editing rules read these nodes, ``Splicer`` writes at
their positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class Scalar:
    value: str
    style: str  # "" plain, "'" or '"' quoted, "|" or ">" block
    start: int  # span of the value text (anchor and tag excluded)
    end: int
    line: int  # 1-based
    empty: bool = False  # no text at all (`key:` with nothing): start == end, just after ':'


@dataclass(slots=True, eq=False)
class Mapping:
    pairs: list[tuple[Scalar, Node]] = field(default_factory=list)
    flow: bool = False
    start: int = 0
    end: int = 0  # meaningful for flow mappings: just after '}'


@dataclass(slots=True, eq=False)
class Sequence:
    items: list[Node] = field(default_factory=list)
    flow: bool = False
    start: int = 0  # block: the first '-'; flow: '['
    end: int = 0  # meaningful for flow sequences: just after ']'
    column: int = 0  # block: column of the '-'


Node = Scalar | Mapping | Sequence


def get(mapping: Node | None, key: str) -> Node | None:
    if isinstance(mapping, Mapping):
        for k, v in mapping.pairs:
            if k.value == key:
                return v
    return None


def content_end(node: Node) -> int:
    """Where a node's own text ends (a block collection: where its last child ends)."""
    if isinstance(node, Scalar):
        return node.end
    if node.flow:
        return node.end
    if isinstance(node, Mapping):
        return content_end(node.pairs[-1][1]) if node.pairs else node.start
    return content_end(node.items[-1]) if node.items else node.start


def get_path(node: Node | None, keys: tuple[str, ...]) -> Node | None:
    """The node at ``keys`` below ``node`` (each a mapping key), or None."""
    for key in keys:
        node = get(node, key)
    return node


def text_of(node: Node | None) -> str | None:
    """A non-empty scalar's value; None for anything else."""
    return node.value if isinstance(node, Scalar) and not node.empty else None
