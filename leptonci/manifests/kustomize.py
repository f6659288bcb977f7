"""Kustomize ``images:`` entries, matched by ``name``, with kustomize's semantics.

The image becomes ``newName[:newTag]@digest``. leptonci pins by digest and writes the
release id as ``newTag`` (a human hint; with a digest, kustomize renders
``name:tag@digest`` and the runtime pulls by digest). A target with ``tag=None`` removes
a stale ``newTag`` so the entry says exactly what runs. ``newName`` is written when it
differs from ``name`` (or is already there). With no matching entry in the folder's top
kustomization, one is added at the end of ``images:`` (created if absent).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from leptonci.core.errors import ConfigError
from leptonci.manifests.nodes import Mapping, Node, Scalar, Sequence, get, text_of
from leptonci.manifests.splice import Splicer
from leptonci.manifests.target import ImageTarget


def is_kustomization(doc: Node | None, is_kfile: bool) -> bool:
    """A kustomize Kustomization document (``kind`` may be left out in its own file)."""
    if not isinstance(doc, Mapping):
        return False
    kind, api = text_of(get(doc, "kind")), text_of(get(doc, "apiVersion"))
    if api is not None and not api.startswith("kustomize.config.k8s.io/"):
        return False  # e.g. Flux's Kustomization custom resource
    return kind == "Kustomization" or (kind is None and is_kfile)


def kustomize_entries(doc: Node | None, name: str) -> Iterator[Mapping]:
    """The ``images:`` entries of ``doc`` whose ``name`` is ``name``."""
    images = get(doc, "images")
    if isinstance(images, Sequence):
        for item in images.items:
            if isinstance(item, Mapping) and text_of(get(item, "name")) == name:
                yield item


def entry_ref(entry: Mapping, name: str) -> str:
    """What an entry makes of image ``name``: ``newName[:newTag][@digest]``."""
    ref = text_of(get(entry, "newName")) or name
    if tag := text_of(get(entry, "newTag")):
        ref += f":{tag}"
    if digest := text_of(get(entry, "digest")):
        ref += f"@{digest}"
    return ref


def edit_kustomization(
    out: Splicer,
    doc: Mapping,
    target: ImageTarget,
    *,
    add_missing: bool,
    owned: Collection[int] = (),
) -> None:
    """Pin ``target`` in every matching entry; add one if none matches and ``add_missing``.

    An entry in ``owned`` (ids of entries a Flux setter writes) is left whole: pinning
    only its digest beside a setter's old name and tag would be a partial reference."""
    matched = False
    for entry in kustomize_entries(doc, target.name):
        matched = True
        if id(entry) not in owned:
            _edit_entry(out, entry, target)
    if matched or not add_missing:
        return
    images = get(doc, "images")
    new_entry = _entry_values(target)
    if images is None:
        out.add_key_with_entry(doc, "images", new_entry)
    elif isinstance(images, Sequence):
        out.append_entry(images, new_entry)
    elif isinstance(images, Scalar) and images.empty:
        images_key = next(k for k, v in doc.pairs if v is images)
        out.fill_empty_with_entry(doc, images_key, images, new_entry)
    else:
        line = next(k.line for k, v in doc.pairs if v is images)
        raise ConfigError(
            "'images' is not a list",
            file=out.path,
            line=line,
            hint="make it a list of {name, newName, newTag, digest}",
        )


def _edit_entry(out: Splicer, entry: Mapping, target: ImageTarget) -> None:
    wanted: dict[str, str | None] = {
        "newName": target.new_name
        if target.new_name != target.name or get(entry, "newName") is not None
        else None,
        "newTag": target.tag,
        "digest": target.digest,
    }
    anchor = next(i for i, (k, _) in enumerate(entry.pairs) if k.value == "name")
    pending: dict[int, list[tuple[str, str]]] = {}
    for key in ("newName", "newTag", "digest"):
        index = next((i for i, (k, _) in enumerate(entry.pairs) if k.value == key), None)
        value = wanted[key]
        if index is not None:
            node = entry.pairs[index][1]
            if value is None:
                out.remove_pair(entry, index)
                continue
            anchor = index
            if isinstance(node, Scalar):
                out.set(node, value)
            else:
                raise ConfigError(
                    f"images entry {target.name!r}: {key} is not a scalar",
                    file=out.path,
                    line=entry.pairs[index][0].line,
                )
        elif value is not None:
            pending.setdefault(anchor, []).append((key, value))
    for index, pairs in pending.items():
        out.add_pairs(entry, index, pairs)


def _entry_values(target: ImageTarget) -> list[tuple[str, str]]:
    values = [("name", target.name)]
    if target.new_name != target.name:
        values.append(("newName", target.new_name))
    if target.tag:
        values.append(("newTag", target.tag))
    values.append(("digest", target.digest))
    return values
