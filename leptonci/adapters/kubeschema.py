"""Kubernetes object schemas: check a manifest against the API's published JSON schemas.

Through kubernetes-validate (imported here only, and only when a check runs: it loads
large schema files). The answer is a ``SchemaViolation`` naming the key path and the
problem, or None; the caller knows the file and line and words the error.

Custom resources have no published schema there. A KServe InferenceService is checked
against a local structural schema instead (``templates/inferenceservice-v1beta1.schema
.json``: the fields leptonci reads and pins, with their types, not the whole CRD).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

KUBERNETES_VERSION = "1.35"  # image volumes: beta and on by default
_LOCAL_SCHEMAS = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "inferenceservice-v1beta1.schema.json"
}
_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
_API_VERSION = re.compile(r"([a-z0-9]([a-z0-9.-]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")  # a Go type name: it names a schema file too


@dataclass(frozen=True)
class SchemaViolation:
    path: tuple[str | int, ...]  # keys and list indexes from the object's root
    message: str  # one line, e.g. "unknown field 'replica'"

    @property
    def key(self) -> str:
        """The path as a key path: ``spec.template.spec.containers[0].image``."""
        key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in self.path)
        return key.replace(".[", "[")


def violation(
    obj: Mapping[str, object], *, version: str = KUBERNETES_VERSION
) -> SchemaViolation | None:
    """The first way obj breaks its kind's schema, or None when it fits (or when its kind,
    a custom resource, has no schema to check against)."""
    import kubernetes_validate

    for key in ("apiVersion", "kind"):  # the schema is found by these: a KeyError without
        value = obj.get(key)
        if value is None:
            return SchemaViolation((), f"required key {key!r} missing")
        if not isinstance(value, str):
            return SchemaViolation((key,), f"{key} must be a string, not {type(value).__name__}")
    if not _API_VERSION.fullmatch(str(obj["apiVersion"])):  # it names a schema file
        return SchemaViolation(("apiVersion",), f"{obj['apiVersion']!r} is not an apiVersion")
    if not _KIND.fullmatch(str(obj["kind"])):
        return SchemaViolation(("kind",), f"{obj['kind']!r} is not a kind")
    local = _LOCAL_SCHEMAS.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
    if local is not None:
        return _local_violation(obj, local)
    try:
        kubernetes_validate.validate(dict(obj), desired_version=version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return None
    except kubernetes_validate.ValidationError as exc:
        message = exc.message.split("\n")[0]
        if "Additional properties" in message:
            message = message.replace("Additional properties are not allowed", "unknown field")
        return SchemaViolation(tuple(exc.path), message)
    return None


@cache
def _local_schema(name: str) -> dict[str, Any]:
    return json.loads((_TEMPLATES / name).read_text())  # type: ignore[no-any-return]


def _local_violation(obj: Mapping[str, object], schema: str) -> SchemaViolation | None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(_local_schema(schema))
    error = jsonschema.exceptions.best_match(validator.iter_errors(dict(obj)))
    if error is None:
        return None
    message = error.message.split("\n")[0]
    if "Additional properties" in message:
        message = message.replace("Additional properties are not allowed", "unknown field")
    return SchemaViolation(tuple(error.absolute_path), message)
