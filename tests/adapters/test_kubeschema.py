"""Kubernetes schema checks: a violation names the key path, custom resources pass."""

from __future__ import annotations

from typing import Any

from leptonci.adapters.kubeschema import SchemaViolation, violation


def deployment(**container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "m"},
        "spec": {
            "selector": {"matchLabels": {"app": "m"}},
            "template": {
                "metadata": {"labels": {"app": "m"}},
                "spec": {"containers": [{"name": "m", **container}]},
            },
        },
    }


def test_a_valid_object_has_no_violation() -> None:
    assert violation(deployment(image="registry.example.test/m@sha256:" + "a" * 64)) is None


def test_an_unknown_field_is_named_with_its_key_path() -> None:
    found = violation(deployment(imagee="x"))
    assert found is not None
    assert found.path == ("spec", "template", "spec", "containers", 0)
    assert found.key == "spec.template.spec.containers[0]"
    assert found.message.startswith("unknown field") and "'imagee'" in found.message


def test_a_wrong_type_names_the_field() -> None:
    found = violation(deployment(image="x", ports=[{"containerPort": "eighty"}]))
    assert found is not None and "eighty" in found.message
    assert found.key == "spec.template.spec.containers[0].ports[0].containerPort"


def test_the_key_path_of_the_object_root_is_empty() -> None:
    assert SchemaViolation((), "'kind' is a required property").key == ""


def test_custom_resources_without_a_schema_pass() -> None:
    assert violation({"apiVersion": "example.test/v1", "kind": "Widget", "metadata": {}}) is None
