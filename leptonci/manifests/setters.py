"""Flux setter comments: ``# {"$imagepolicy": "ns:policy"}`` on a scalar's line.

``ns:policy`` sets the whole reference, ``ns:policy:name`` / ``:tag`` / ``:digest`` one
part, as Flux's image automation does. Only setters of ``target.policy`` are applied; a
scalar carrying any setter is left to its setter by every other rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from leptonci.core.errors import ConfigError
from leptonci.manifests.nodes import Mapping, Node, Scalar
from leptonci.manifests.splice import Splicer
from leptonci.manifests.target import ImageTarget

_SETTER_RE = re.compile(r'#\s*\{\s*"\$imagepolicy"\s*:\s*"([^"]*)"\s*\}')


def claim_setters(out: Splicer, docs: list[Node | None]) -> None:
    """Keep every scalar that carries a setter away from the other rules."""
    for scalar, _ in _setters(out, docs):
        out.claim(scalar)


def apply_setters(out: Splicer, docs: list[Node | None], target: ImageTarget) -> None:
    """Write ``target`` into the scalars whose setter names ``target.policy``; claim all."""
    for scalar, setter in _setters(out, docs):
        parts = setter.split(":")
        field = parts[2] if len(parts) == 3 else None
        if ":".join(parts[:2]) != target.policy:
            out.claim(scalar)
            continue
        if field is None:
            value = target.ref
        elif field == "name":
            value = target.new_name
        elif field == "digest":
            value = target.digest
        elif field == "tag" and target.tag:
            value = target.tag
        elif field == "tag":
            raise ConfigError(
                f"setter {setter!r} wants a tag but the pin has none",
                file=out.path,
                line=scalar.line,
                hint="pin with a tag",
            )
        else:
            raise ConfigError(
                f"unknown setter field in {setter!r}",
                file=out.path,
                line=scalar.line,
                hint="use :name, :tag or :digest",
            )
        out.set(scalar, value)
        out.claim(scalar)


def _scalars(node: Node | None, seen: set[int]) -> Iterator[Scalar]:
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, Scalar):
        yield node
    elif isinstance(node, Mapping):
        for _, value in node.pairs:
            yield from _scalars(value, seen)
    else:
        for item in node.items:
            yield from _scalars(item, seen)


def _setters(out: Splicer, docs: list[Node | None]) -> Iterator[tuple[Scalar, str]]:
    """(scalar, setter text) for each setter comment and the scalar it sits behind."""
    text = out.text
    marks = [(m.start(), m.group(1)) for m in _SETTER_RE.finditer(text)]
    by_line_end = {(text.find("\n", pos) % (len(text) + 1)): (pos, s) for pos, s in marks}
    best: dict[int, Scalar] = {}
    seen: set[int] = set()
    for doc in docs:
        for scalar in _scalars(doc, seen):
            if scalar.empty:
                continue
            line_end = text.find("\n", scalar.end) % (len(text) + 1)
            hit = by_line_end.get(line_end)
            if (
                hit
                and scalar.end <= hit[0]
                and (line_end not in best or best[line_end].end < scalar.end)
            ):
                best[line_end] = scalar
    for line_end, scalar in best.items():
        yield scalar, by_line_end[line_end][1]
