"""Property: an edit changes exactly the image fields, for any layout of the same data.

Documents are generated as data, then written as YAML text in randomly chosen styles
(quoting, flow or block, indented or indentless lists, comments, blank lines, CRLF,
several documents). After an edit, both texts are parsed again: the data must equal the
original with only the expected fields changed, and the fast locator must agree with
ruamel.yaml wherever it accepts the text.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from leptonci.manifests import ImageTarget, edit_text, split_ref
from leptonci.manifests.locate import _FastLocator, _NotSimple, _ruamel_locate
from tests.manifests.shapes import shape

TARGET = ImageTarget(
    name="leptonci/digits",
    new_name="127.0.0.1:5000/ml/digits",
    tag="r-5",
    digest="sha256:" + "0f" * 32,
)
KINDS = ["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"]

words = st.text(alphabet="abcxyz019-.", min_size=1, max_size=8)
keys = st.from_regex(r"[a-z][a-zA-Z0-9]{0,7}", fullmatch=True).filter(
    lambda k: k not in ("image", "name", "kind", "spec", "images")
)
scalars = st.one_of(words, st.integers(-5, 5000), st.booleans())
leaf_maps = st.dictionaries(keys, scalars, min_size=1, max_size=3)
extras = st.dictionaries(
    keys, st.one_of(scalars, leaf_maps, st.lists(scalars, min_size=1, max_size=3)), max_size=3
)
images = st.one_of(
    st.sampled_from(
        [
            "leptonci/digits",
            "leptonci/digits:old",
            "busybox:1.36",
            "leptonci/other",
            f"127.0.0.1:5000/ml/digits:r-4@sha256:{'a1' * 32}",
            "leptonci/digits-x",
        ]
    ),
)


@st.composite
def containers(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(1, 3))):
        item: dict[str, Any] = {"name": f"c{i}", "image": draw(images)}
        item.update(draw(extras))
        out.append(item)
    return out


@st.composite
def workloads(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    pod: dict[str, Any] = {"containers": draw(containers())}
    if draw(st.booleans()):
        pod["initContainers"] = draw(containers())
    pod.update(draw(extras))
    spec: dict[str, Any] = pod if kind == "Pod" else {"template": {"spec": pod}}
    if kind == "CronJob":
        spec = {"schedule": "0 3 * * *", "jobTemplate": {"spec": spec}}
    doc: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "w"},
        "spec": spec,
    }
    doc.update(draw(extras))
    return doc


@st.composite
def kustomizations(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": "Kustomization", "resources": ["../base"]}
    entries = []
    for name in draw(
        st.lists(st.sampled_from(["leptonci/digits", "nginx", "x/y"]), unique=True, max_size=3)
    ):
        entry: dict[str, Any] = {"name": name}
        for key in ("newName", "newTag", "digest"):
            if draw(st.booleans()):
                entry[key] = {"newName": "r.io/z", "newTag": "old", "digest": "sha256:" + "9" * 64}[
                    key
                ]
        entries.append(entry)
    if entries:
        doc["images"] = entries
    doc.update(draw(extras))
    return doc


# -- a YAML writer with random style choices ---------------------------------------------


class Writer:
    def __init__(self, rnd: random.Random, *, allow_flow: bool) -> None:
        self.rnd = rnd
        self.allow_flow = allow_flow
        self.lines: list[str] = []

    def scalar(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        style = self.rnd.choice(["plain", "plain", "single", "double"])
        plain_ok = value[0].isalnum() and not _looks_typed(value)
        if style == "plain" and plain_ok:
            return str(value)
        if style == "single":
            return "'" + value.replace("'", "''") + "'"
        return json.dumps(value)

    def comment(self) -> str:
        return self.rnd.choice(["", "", "", "  # note", " # a: b", "   # - x, {y}"])

    def flow(self, value: Any) -> str:
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k}: {self.flow(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.flow(v) for v in value) + "]"
        return self.scalar(value)

    def mapping(self, data: dict[str, Any], indent: int, first: str | None = None) -> None:
        for i, (key, value) in enumerate(data.items()):
            lead = first if (i == 0 and first is not None) else " " * indent
            if lead == " " * indent and self.rnd.random() < 0.1:
                self.lines.append(self.rnd.choice(["", " " * indent + "# about " + key]))
            if isinstance(value, (dict, list)) and (not value or self._flow_ok(value)):
                self.lines.append(f"{lead}{key}: {self.flow(value)}{self.comment()}")
            elif isinstance(value, dict):
                self.lines.append(f"{lead}{key}:{self.comment()}")
                self.mapping(value, indent + self.rnd.choice([2, 4]))
            elif isinstance(value, list):
                self.lines.append(f"{lead}{key}:{self.comment()}")
                self.sequence(value, indent + self.rnd.choice([0, 2]))
            else:
                self.lines.append(f"{lead}{key}: {self.scalar(value)}{self.comment()}")

    def sequence(self, data: list[Any], indent: int) -> None:
        for item in data:
            if isinstance(item, dict) and item:
                self.mapping(item, indent + 2, first=" " * indent + "- ")
            else:
                self.lines.append(f"{' ' * indent}- {self.flow(item)}{self.comment()}")

    def _flow_ok(self, value: dict[str, Any] | list[Any]) -> bool:
        items = value.values() if isinstance(value, dict) else value
        simple = all(not isinstance(v, (dict, list)) for v in items)
        return self.allow_flow and simple and self.rnd.random() < 0.3


def _looks_typed(value: str) -> bool:
    return YAML(typ="safe", pure=True).load(value) != value


def write(docs: list[dict[str, Any]], rnd: random.Random, *, allow_flow: bool) -> str:
    out = []
    for i, doc in enumerate(docs):
        writer = Writer(rnd, allow_flow=allow_flow)
        writer.mapping(doc, 0)
        if i or rnd.random() < 0.3:
            out.append("---")
        out.extend(writer.lines)
    eol = rnd.choice(["\n", "\r\n"])
    return eol.join(out) + eol


# -- expected data -------------------------------------------------------------------------


def _pin_containers(pod: dict[str, Any]) -> None:
    for key in ("initContainers", "containers"):
        for container in pod.get(key, []):
            if split_ref(container["image"])[0] in (TARGET.name, TARGET.new_name):
                container["image"] = TARGET.ref


def expected(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    if doc["kind"] == "Kustomization":
        entries = [e for e in doc.get("images", []) if e["name"] == TARGET.name]
        if not entries:
            doc.setdefault("images", []).append({"name": TARGET.name})
            entries = doc["images"][-1:]
        for entry in entries:
            entry.update(newName=TARGET.new_name, newTag=TARGET.tag, digest=TARGET.digest)
        return doc
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    _pin_containers(spec if doc["kind"] == "Pod" else spec["template"]["spec"])
    return doc


def _load(text: str) -> list[Any]:
    return [d for d in YAML(typ="safe", pure=True).load_all(text) if d is not None]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    docs=st.lists(st.one_of(workloads(), kustomizations()), min_size=1, max_size=3),
    rnd=st.randoms(use_true_random=False),
    allow_flow=st.booleans(),
)
def test_edit_changes_exactly_the_image_fields(
    docs: list[dict[str, Any]], rnd: random.Random, allow_flow: bool
) -> None:
    text = write(docs, rnd, allow_flow=allow_flow)
    assert _load(text) == docs  # the writer wrote what was generated
    # several documents: not a kustomization file (those hold one), a manifests file
    edited = edit_text(text, TARGET, path="manifests.yaml")
    assert _load(edited) == [expected(d) for d in docs]
    assert edit_text(edited, TARGET, path="manifests.yaml") == edited
    if "\r\n" in text:
        assert edited.count("\n") == edited.count("\r\n")


@settings(max_examples=300, deadline=None)
@given(
    docs=st.lists(st.one_of(workloads(), kustomizations()), min_size=1, max_size=3),
    rnd=st.randoms(use_true_random=False),
)
def test_fast_locator_agrees_with_ruamel(docs: list[dict[str, Any]], rnd: random.Random) -> None:
    text = write(docs, rnd, allow_flow=False)
    try:
        fast = _FastLocator(text).documents()
    except _NotSimple:
        return
    slow = [d for d in _ruamel_locate(text, path="gen") if d is not None]
    assert [shape(d) for d in fast] == [shape(d) for d in slow]
