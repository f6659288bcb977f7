"""GitHub's OpenAPI description (the trimmed copy next to this file) as a response checker.

The description is OpenAPI 3.0, whose schemas say ``nullable: true`` where JSON Schema
says ``"type": [..., "null"]``; ``Spec`` converts them once and validates response
bodies with jsonschema. ``regenerate.py`` rebuilds the copy from the npm package.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

SUBSET_FILE = Path(__file__).parent / "github-rest-subset.json"


def to_json_schema(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 ``nullable`` into JSON Schema, recursively."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: to_json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False) is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class Spec:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = to_json_schema(document["components"])
        self._validators: dict[str, Draft4Validator] = {}

    @property
    def version(self) -> str:
        return str(self.document["info"]["version"])

    def example(self, name: str) -> Any:
        return copy.deepcopy(self.document["components"]["examples"][name]["value"])

    def response_schema(self, template: str, method: str, status: int) -> dict[str, Any] | None:
        """The schema of a JSON response, or None when the operation declares no body."""
        op = self.document["paths"][template][method.lower()]
        response = op["responses"].get(str(status))
        if response is None:
            if status >= 400:  # errors GitHub returns everywhere (401, 403, 5xx)
                return {"$ref": "#/components/schemas/basic-error"}
            raise KeyError(f"{method} {template} declares no {status} response")
        if "$ref" in response:
            response = self._resolve(response["$ref"])
        content = response.get("content", {}).get("application/json")
        return None if content is None else content.get("schema", {})

    def check(self, template: str, method: str, status: int, body: Any) -> list[str]:
        """Every way body breaks the description's schema for that response."""
        try:
            schema = self.response_schema(template, method, status)
        except KeyError as exc:
            return [str(exc.args[0])]
        if schema is None:
            return [] if body in (None, "", {}) else ["a body where none is declared"]
        validator = self._validator(json.dumps(schema, sort_keys=True))
        return [
            f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message[:300]}"
            for err in validator.iter_errors(body)
        ]

    def _validator(self, key: str) -> Draft4Validator:
        if key not in self._validators:
            schema = {"allOf": [to_json_schema(json.loads(key))], "components": self.components}
            self._validators[key] = Draft4Validator(schema)
        return self._validators[key]

    def _resolve(self, ref: str) -> Any:
        node: Any = self.document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return node


@cache
def load_spec() -> Spec:
    return Spec(json.loads(SUBSET_FILE.read_text()))
