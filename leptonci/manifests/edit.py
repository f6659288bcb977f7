"""Pinning an image in an environment's manifests: pure text in, text out.

An edit rewrites every place that holds the target image: kustomize ``images:``
entries (``kustomize``), ``image:`` fields of workloads and KServe, image volume
references and ``oci://`` storage URIs (``workloads``), and Flux setter comments
(``setters``). Only the changed scalars' characters are replaced
(in their own quoting style), so the rest of a file (comments, order, quoting, anchors,
flow style, documents, CRLF) stays byte for byte the same. Files that cannot hold a
target are returned without parsing.
"""

from __future__ import annotations

from collections.abc import Mapping

from leptonci.core.errors import ConfigError
from leptonci.core.imageref import split_ref
from leptonci.core.kustomization import is_kustomization_file, is_manifest_file
from leptonci.manifests.kustomize import (
    edit_kustomization,
    entry_ref,
    is_kustomization,
    kustomize_entries,
)
from leptonci.manifests.locate import locate
from leptonci.manifests.nodes import Mapping as YMapping
from leptonci.manifests.nodes import Node
from leptonci.manifests.setters import apply_setters, claim_setters
from leptonci.manifests.splice import Splicer
from leptonci.manifests.target import ImageTarget
from leptonci.manifests.workloads import image_fields, located_fields


def edit_text(
    text: str, target: ImageTarget, *, path: str = "<text>", add_missing: bool = True
) -> str:
    """``text`` with ``target`` pinned everywhere it is used; ``text`` itself if nothing is.

    ``add_missing``: add a kustomize ``images:`` entry when a kustomization in the text
    has none for ``target.name``. With ``target.policy`` (Flux setter mode) only the
    scalars whose setter names that policy change. ConfigError (file, line) for text
    that is not YAML, or setters that would pin by tag alone.
    """
    is_kfile = is_kustomization_file(path)
    if target.policy is not None and "$imagepolicy" not in text:
        return text  # setter mode: only setters pin
    if not (
        any(name in text for name in target.names)
        or "$imagepolicy" in text
        or is_kfile
        or "Kustomization" in text
    ):
        return text
    docs = locate(text, path=path)
    present = [doc for doc in docs if doc is not None]
    if is_kfile and len(present) > 1:
        # kustomize reads one Kustomization per file (v5 silently only the first): a pin
        # written into another document would be recorded yet never run
        raise ConfigError(
            f"{path} holds {len(present)} YAML documents; a kustomization file holds one",
            file=path,
            line=_line_of(text, present[1]),
            hint="keep the Kustomization alone in its file; move other objects to files "
            "it lists under resources:",
        )
    out = Splicer(text, path=path)
    if target.policy is not None:
        apply_setters(out, docs, target)
        return out.result()
    owned = claim_setters(out, docs) if "$imagepolicy" in text else set()
    for doc in docs:
        if is_kustomization(doc, is_kfile):
            assert isinstance(doc, YMapping)
            edit_kustomization(out, doc, target, add_missing=add_missing, owned=owned)
        for scalar, prefix in image_fields(doc):
            name, _, _ = split_ref(scalar.value.removeprefix(prefix))
            if name in target.names:
                out.set(scalar, prefix + target.ref)
    return out.result()


def _line_of(text: str, node: Node) -> int:
    """The 1-based line a node starts on."""
    return text.count("\n", 0, node.start) + 1


def edit_folder(files: Mapping[str, str], target: ImageTarget) -> dict[str, str]:
    """The YAML files of a folder that pinning ``target`` changes: {path: new text}.

    Paths are relative ("/"-separated). Every file is edited; only the shallowest
    kustomization (the folder's own) gets an ``images:`` entry added when it has none,
    and only when no field kustomize cannot reach (an image volume reference, a storage
    URI) pins the image already: an entry there would pin nothing.
    """
    yaml_paths = sorted(p for p in files if is_manifest_file(p))
    kfiles = [p for p in yaml_paths if is_kustomization_file(p)]
    top = min(kfiles, key=lambda p: (p.count("/"), p)) if kfiles else None
    direct = any(_pins_directly(files[p], target, path=p) for p in yaml_paths)
    changed: dict[str, str] = {}
    for path in yaml_paths:
        old = files[path]
        new = edit_text(old, target, path=path, add_missing=path == top and not direct)
        if new != old:
            changed[path] = new
    return changed


def _pins_directly(text: str, target: ImageTarget, *, path: str) -> bool:
    """Whether text holds target in a field kustomize's ``images:`` does not rewrite."""
    if not any(name in text for name in target.names):
        return False
    return any(
        not reached and split_ref(scalar.value.removeprefix(prefix))[0] in target.names
        for doc in locate(text, path=path)
        for scalar, prefix, reached in located_fields(doc)
    )


def current_image(
    files: Mapping[str, str], name: str, *, new_name: str | None = None
) -> str | None:
    """What the folder pins for image ``name``: "newName[:tag][@digest]", or None.

    The shallowest kustomization's ``images:`` entry wins; else the first workload
    ``image:`` (or ``oci://`` storageUri) whose repository is ``name`` or ``new_name``.
    """
    paths = sorted((p for p in files if is_manifest_file(p)), key=lambda p: (p.count("/"), p))
    names = {name, new_name} - {None}
    found: str | None = None
    for path in paths:
        is_kfile = is_kustomization_file(path)
        text = files[path]
        if not (is_kfile or "Kustomization" in text or any(n in text for n in names if n)):
            continue
        for doc in locate(text, path=path):
            if is_kustomization(doc, is_kfile):
                for entry in kustomize_entries(doc, name):
                    return entry_ref(entry, name)
            if found is None:
                for scalar, prefix in image_fields(doc):
                    value = scalar.value.removeprefix(prefix)
                    if split_ref(value)[0] in names:
                        found = value
                        break
    return found


def pins(files: Mapping[str, str], target: ImageTarget) -> bool:
    """Whether the folder runs ``target``: its pin (as ``current_image`` finds it) names
    ``target.new_name`` and ``target.digest``; with no such pin found, a setter-written
    digest field (Helm values, say) holds ``target.digest``."""
    found = current_image(files, target.name, new_name=target.new_name)
    if found is not None:
        name, _, digest = split_ref(found)
        return name == target.new_name and digest == target.digest
    return target.policy is not None and any(
        target.digest in text for path, text in files.items() if is_manifest_file(path)
    )
