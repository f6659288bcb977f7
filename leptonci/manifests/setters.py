"""Flux setter comments: ``# {"$imagepolicy": "ns:policy"}`` on a scalar's line.

``ns:policy`` sets the whole reference, ``ns:policy:name`` / ``:tag`` / ``:digest`` one
part, as Flux's image automation does. Only setters of ``target.policy`` are applied.
With a policy configured (setter mode) nothing without a setter is touched, as in
Flux's own fixtures; without one, a scalar carrying any setter, and the kustomize
``images:`` entry it is part of, is left to its setter by every other rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from leptonci.core.errors import ConfigError
from leptonci.manifests.nodes import Mapping, Node, Scalar
from leptonci.manifests.splice import Splicer
from leptonci.manifests.target import ImageTarget

_SETTER_RE = re.compile(r'#\s*\{\s*"\$imagepolicy"\s*:\s*"([^"]*)"\s*\}')


def claim_setters(out: Splicer, docs: list[Node | None]) -> set[int]:
    """Keep every scalar that carries a setter away from the other rules.

    Returns the ids of the mappings holding one: a kustomize ``images:`` entry whose
    name or tag belongs to a setter is its setter's whole, never half-edited."""
    owners: set[int] = set()
    for scalar, _, parent in _setters(out, docs):
        out.claim(scalar)
        if parent is not None:
            owners.add(id(parent))
    return owners


def apply_setters(out: Splicer, docs: list[Node | None], target: ImageTarget) -> None:
    """Write ``target`` into the scalars whose setter names ``target.policy``; claim all.

    Flux's semantics: the bare policy sets the whole reference (``name:tag@digest``),
    ``:name``, ``:tag`` and ``:digest`` one part each. A mapping whose ``:name`` or
    ``:tag`` setters have no ``:digest`` (or whole-reference) setter beside them would
    pin by tag alone: refused, asking for the ``:digest`` setter.
    """
    parts_seen: dict[int, tuple[set[str], int]] = {}  # mapping id -> (fields, first line)
    for scalar, setter, parent in _setters(out, docs):
        parts = setter.split(":")
        if ":".join(parts[:2]) != target.policy:
            out.claim(scalar)
            continue
        field = ":".join(parts[2:])
        out.set(scalar, _setter_value(out, scalar, setter, field, target))
        out.claim(scalar)
        if parent is not None:
            fields, line = parts_seen.setdefault(id(parent), (set(), scalar.line))
            fields.add(field)
    for fields, line in parts_seen.values():
        if fields & {"name", "tag"} and not fields & {"digest", ""}:
            raise ConfigError(
                f"the Flux setters of {target.policy} set the image's "
                f"{' and '.join(sorted(fields))} but not its digest: that pins by tag alone",
                file=out.path,
                line=line,
                hint=f'add a digest field with `# {{"$imagepolicy": "{target.policy}:digest"}}` '
                "beside them (kustomize images: entries take `digest:`)",
            )


def _setter_value(
    out: Splicer, scalar: Scalar, setter: str, field: str, target: ImageTarget
) -> str:
    if field == "":
        return target.ref
    if field == "name":
        return target.new_name
    if field == "digest":
        return target.digest
    if field == "tag" and target.tag:
        return target.tag
    if field == "tag":
        raise ConfigError(
            f"setter {setter!r} wants a tag but the pin has none",
            file=out.path,
            line=scalar.line,
            hint="pin with a tag",
        )
    raise ConfigError(
        f"unknown setter field in {setter!r}",
        file=out.path,
        line=scalar.line,
        hint="use :name, :tag or :digest",
    )


def _scalars(
    node: Node | None, parent: Mapping | None, seen: set[int]
) -> Iterator[tuple[Scalar, Mapping | None]]:
    """Every scalar under ``node`` with the mapping it is a value of (None in a list)."""
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, Scalar):
        yield node, parent
    elif isinstance(node, Mapping):
        for _, value in node.pairs:
            yield from _scalars(value, node, seen)
    else:
        for item in node.items:
            yield from _scalars(item, None, seen)


def _setters(out: Splicer, docs: list[Node | None]) -> Iterator[tuple[Scalar, str, Mapping | None]]:
    """(scalar, setter text, its mapping) for each setter comment and the scalar before it."""
    text = out.text
    marks = [(m.start(), m.group(1)) for m in _SETTER_RE.finditer(text)]
    by_line_end = {(text.find("\n", pos) % (len(text) + 1)): (pos, s) for pos, s in marks}
    best: dict[int, tuple[Scalar, Mapping | None]] = {}
    seen: set[int] = set()
    for doc in docs:
        for scalar, parent in _scalars(doc, None, seen):
            if scalar.empty:
                continue
            line_end = text.find("\n", scalar.end) % (len(text) + 1)
            hit = by_line_end.get(line_end)
            if (
                hit
                and scalar.end <= hit[0]
                and (line_end not in best or best[line_end][0].end < scalar.end)
            ):
                best[line_end] = (scalar, parent)
    for line_end, (scalar, parent) in best.items():
        yield scalar, by_line_end[line_end][1], parent
