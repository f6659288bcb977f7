"""Shared helpers for the manifest tests: a comparable shape of a located node tree."""

from __future__ import annotations

from typing import Any

from leptonci.manifests.locate import Mapping, Node, Scalar


def shape(node: Node | None) -> Any:
    """Values, styles and spans of every scalar, nested like the document."""
    if node is None:
        return None
    if isinstance(node, Scalar):
        if node.empty:
            return ("empty", node.start)
        return (node.value, node.style, node.start, node.end, node.line)
    if isinstance(node, Mapping):
        return ("map", node.start, [(shape(k), shape(v)) for k, v in node.pairs])
    return ("seq", node.start, node.column, [shape(i) for i in node.items])
