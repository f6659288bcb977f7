"""Pinning an image in an environment's manifests: pure text in, text out.

Three kinds of places hold an image, and an edit rewrites all that match:

- kustomize ``images:`` entries, matched by ``name``, with kustomize's semantics: the
  image becomes ``newName[:newTag]@digest``. leptonci pins by digest and writes the
  release id as ``newTag`` (a human hint; with a digest, kustomize renders
  ``name:tag@digest`` and the runtime pulls by digest). A target with ``tag=None``
  removes a stale ``newTag`` so the entry says exactly what runs. ``newName`` is written
  when it differs from ``name`` (or is already there). With no matching entry in the
  folder's top kustomization, one is added at the end of ``images:`` (created if absent).
- ``image:`` fields of workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
  CronJob, Pod, Argo Rollout; containers, initContainers, ephemeralContainers) and of a
  KServe InferenceService (component containers, ``image`` and ``oci://`` ``storageUri``
  of the model), matched by the repository part of the value (``target.name`` or
  ``target.new_name``; tag and digest ignored).
- Flux setter comments on a scalar's line: ``# {"$imagepolicy": "ns:policy"}`` sets the
  whole reference, ``ns:policy:name`` / ``:tag`` / ``:digest`` one part. Only setters of
  ``target.policy`` are applied; a scalar carrying any setter is left to its setter.

Only the changed scalars' characters are replaced (in their own quoting style), so the
rest of a file (comments, order, quoting, anchors, flow style, documents, CRLF) stays
byte for byte the same. Files that cannot hold a target are returned without parsing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from leptonci.core.errors import ConfigError
from leptonci.manifests.locate import Mapping as YMapping
from leptonci.manifests.locate import Node, Scalar, Sequence, get, locate
from leptonci.manifests.splice import Splicer

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
WORKLOAD_POD_SPEC: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Rollout": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
KSERVE_COMPONENTS = ("predictor", "transformer", "explainer")

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_HOST = (
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)"
)
_NAME_RE = re.compile(rf"(?:{_HOST}(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
_POLICY_RE = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_SETTER_RE = re.compile(r'#\s*\{\s*"\$imagepolicy"\s*:\s*"([^"]*)"\s*\}')


@dataclass(frozen=True)
class ImageTarget:
    """The image to pin: manifests call it ``name``; it runs as ``new_name[:tag]@digest``."""

    name: str  # image name used in manifests, e.g. "leptonci/digits"
    new_name: str  # repository to pin, e.g. "127.0.0.1:5000/ns/digits"
    tag: str | None
    digest: str  # "sha256:<64 hex>"
    policy: str | None = None  # Flux "ns:policy" whose setter comments to apply

    def __post_init__(self) -> None:
        for label, value, pattern in (
            ("image name", self.name, _NAME_RE),
            ("image repository", self.new_name, _NAME_RE),
            ("digest", self.digest, _DIGEST_RE),
        ):
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise ConfigError(f"bad {label} {value!r} for an image pin", hint=_HINTS[label])
        if self.tag is not None and not _TAG_RE.fullmatch(self.tag):
            raise ConfigError(f"bad image tag {self.tag!r} for an image pin", hint=_HINTS["tag"])
        if self.policy is not None and not _POLICY_RE.fullmatch(self.policy):
            raise ConfigError(
                f"bad Flux image policy {self.policy!r}", hint="write it as NAMESPACE:POLICY"
            )

    @property
    def ref(self) -> str:
        """The full pinned reference: ``new_name[:tag]@digest``."""
        tag = f":{self.tag}" if self.tag else ""
        return f"{self.new_name}{tag}@{self.digest}"


_HINTS = {
    "image name": "use a lowercase repository name such as 'team/model'",
    "image repository": "use HOST[:PORT]/PATH or a lowercase repository name",
    "digest": "use 'sha256:' and 64 lowercase hex digits, as the registry returned it",
    "tag": "use letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')",
}


def split_ref(ref: str) -> tuple[str, str | None, str | None]:
    """``name[:tag][@digest]`` -> (name, tag, digest)."""
    name, at, digest = ref.partition("@")
    tag = None
    colon, slash = name.rfind(":"), name.rfind("/")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, (digest if at else None)


def edit_text(
    text: str, target: ImageTarget, *, path: str = "<text>", add_missing: bool = True
) -> str:
    """``text`` with ``target`` pinned everywhere it is used; ``text`` itself if nothing is.

    ``add_missing``: add a kustomize ``images:`` entry when a kustomization in the text
    has none for ``target.name``. ConfigError (file, line) for text that is not YAML.
    """
    is_kfile = path.rsplit("/", 1)[-1] in KUSTOMIZATION_FILES
    if not (
        target.name in text
        or target.new_name in text
        or (target.policy is not None and "$imagepolicy" in text)
        or is_kfile
        or "Kustomization" in text
    ):
        return text
    docs = locate(text, path=path)
    out = Splicer(text, path=path)
    if target.policy is not None and "$imagepolicy" in text:
        _apply_setters(out, docs, target)
    elif "$imagepolicy" in text:
        _claim_setters(out, docs)
    for doc in docs:
        if _is_kustomization(doc, is_kfile):
            assert isinstance(doc, YMapping)
            _edit_kustomization(out, doc, target, add_missing=add_missing)
        for scalar, prefix in _image_fields(doc):
            name, _, _ = split_ref(scalar.value.removeprefix(prefix))
            if name in (target.name, target.new_name):
                out.set(scalar, prefix + target.ref)
    return out.result()


def edit_folder(files: Mapping[str, str], target: ImageTarget) -> dict[str, str]:
    """The YAML files of a folder that pinning ``target`` changes: {path: new text}.

    Paths are relative ("/"-separated). Every file is edited; only the shallowest
    kustomization (the folder's own) gets an ``images:`` entry added when it has none.
    """
    yaml_paths = sorted(p for p in files if p.endswith((".yaml", ".yml")))
    kfiles = [p for p in yaml_paths if p.rsplit("/", 1)[-1] in KUSTOMIZATION_FILES]
    top = min(kfiles, key=lambda p: (p.count("/"), p)) if kfiles else None
    changed: dict[str, str] = {}
    for path in yaml_paths:
        old = files[path]
        new = edit_text(old, target, path=path, add_missing=path == top)
        if new != old:
            changed[path] = new
    return changed


def current_image(
    files: Mapping[str, str], name: str, *, new_name: str | None = None
) -> str | None:
    """What the folder pins for image ``name``: "newName[:tag][@digest]", or None.

    The shallowest kustomization's ``images:`` entry wins; else the first workload
    ``image:`` (or ``oci://`` storageUri) whose repository is ``name`` or ``new_name``.
    """
    paths = sorted(
        (p for p in files if p.endswith((".yaml", ".yml"))), key=lambda p: (p.count("/"), p)
    )
    names = {name, new_name} - {None}
    found: str | None = None
    for path in paths:
        is_kfile = path.rsplit("/", 1)[-1] in KUSTOMIZATION_FILES
        text = files[path]
        if not (is_kfile or "Kustomization" in text or any(n in text for n in names if n)):
            continue
        for doc in locate(text, path=path):
            if _is_kustomization(doc, is_kfile):
                for entry in _kustomize_entries(doc, name):
                    return _entry_ref(entry, name)
            if found is None:
                for scalar, prefix in _image_fields(doc):
                    value = scalar.value.removeprefix(prefix)
                    if split_ref(value)[0] in names:
                        found = value
                        break
    return found


# -- kustomize ---------------------------------------------------------------------------


def _is_kustomization(doc: Node | None, is_kfile: bool) -> bool:
    if not isinstance(doc, YMapping):
        return False
    kind, api = _text(get(doc, "kind")), _text(get(doc, "apiVersion"))
    if api is not None and not api.startswith("kustomize.config.k8s.io/"):
        return False  # e.g. Flux's Kustomization custom resource
    return kind == "Kustomization" or (kind is None and is_kfile)


def _kustomize_entries(doc: Node | None, name: str) -> Iterator[YMapping]:
    images = get(doc, "images")
    if isinstance(images, Sequence):
        for item in images.items:
            if isinstance(item, YMapping) and _text(get(item, "name")) == name:
                yield item


def _entry_ref(entry: YMapping, name: str) -> str:
    ref = _text(get(entry, "newName")) or name
    if tag := _text(get(entry, "newTag")):
        ref += f":{tag}"
    if digest := _text(get(entry, "digest")):
        ref += f"@{digest}"
    return ref


def _entry_values(target: ImageTarget) -> list[tuple[str, str]]:
    values = [("name", target.name)]
    if target.new_name != target.name:
        values.append(("newName", target.new_name))
    if target.tag:
        values.append(("newTag", target.tag))
    values.append(("digest", target.digest))
    return values


def _edit_kustomization(
    out: Splicer, doc: YMapping, target: ImageTarget, *, add_missing: bool
) -> None:
    matched = False
    for entry in _kustomize_entries(doc, target.name):
        matched = True
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


# -- workloads and setters ---------------------------------------------------------------


def _text(node: Node | None) -> str | None:
    return node.value if isinstance(node, Scalar) and not node.empty else None


def _path(node: Node | None, keys: tuple[str, ...]) -> Node | None:
    for key in keys:
        node = get(node, key)
    return node


def _containers(pod_spec: Node | None) -> Iterator[Scalar]:
    for list_key in CONTAINER_LISTS:
        containers = get(pod_spec, list_key)
        if isinstance(containers, Sequence):
            for container in containers.items:
                image = get(container, "image")
                if isinstance(image, Scalar) and not image.empty:
                    yield image


def _image_fields(doc: Node | None) -> Iterator[tuple[Scalar, str]]:
    """(scalar, scheme prefix) of every image reference a workload document holds."""
    kind = _text(get(doc, "kind"))
    if kind in WORKLOAD_POD_SPEC:
        for image in _containers(_path(doc, WORKLOAD_POD_SPEC[kind])):
            yield image, ""
    elif kind == "InferenceService":
        for name in KSERVE_COMPONENTS:
            component = _path(doc, ("spec", name))
            for image in _containers(component):
                yield image, ""
            if not isinstance(component, YMapping):
                continue
            for _, runtime in component.pairs:  # model:, tensorflow:, sklearn:, ...
                runtime_image = get(runtime, "image")
                if isinstance(runtime_image, Scalar) and not runtime_image.empty:
                    yield runtime_image, ""
                uri = get(runtime, "storageUri")
                if isinstance(uri, Scalar) and uri.value.startswith("oci://"):
                    yield uri, "oci://"


def _scalars(node: Node | None, seen: set[int]) -> Iterator[Scalar]:
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, Scalar):
        yield node
    elif isinstance(node, YMapping):
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


def _claim_setters(out: Splicer, docs: list[Node | None]) -> None:
    for scalar, _ in _setters(out, docs):
        out.claim(scalar)


def _apply_setters(out: Splicer, docs: list[Node | None], target: ImageTarget) -> None:
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
