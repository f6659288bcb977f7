"""Regenerate github-rest-subset.json: the part of GitHub's OpenAPI description the fake serves.

The full description (npm package ``@octokit/openapi``, file
``generated/api.github.com.json``, ~13 MB) is installed with npm into a cache folder;
this script keeps only the operations in ``OPERATIONS`` with every component they
reference, so the tests stay offline and the vendored file stays small.

    python tests/openapi/regenerate.py [--spec PATH] [--version 23.0.2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
OUT = HERE / "github-rest-subset.json"
CACHE = Path.home() / ".cache" / "leptonci-openapi"
PACKAGE = "@octokit/openapi"
DEFAULT_VERSION = "23.0.2"

OPERATIONS: tuple[tuple[str, str], ...] = (
    ("/repos/{owner}/{repo}", "get"),
    ("/repos/{owner}/{repo}/issues/{issue_number}", "get"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/comments", "get"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/comments", "post"),
    ("/repos/{owner}/{repo}/issues/comments/{comment_id}", "patch"),
    ("/repos/{owner}/{repo}/issues/{issue_number}/labels", "post"),
    ("/repos/{owner}/{repo}/statuses/{sha}", "post"),
    ("/repos/{owner}/{repo}/commits/{ref}/statuses", "get"),
    ("/repos/{owner}/{repo}/pulls", "get"),
    ("/repos/{owner}/{repo}/pulls", "post"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}", "get"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}", "patch"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}/merge", "put"),
    ("/repos/{owner}/{repo}/pulls/{pull_number}/reviews", "post"),
    ("/repos/{owner}/{repo}/check-runs", "post"),
    ("/repos/{owner}/{repo}/deployments", "get"),
    ("/repos/{owner}/{repo}/deployments", "post"),
    ("/repos/{owner}/{repo}/deployments/{deployment_id}", "get"),
    ("/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", "get"),
    ("/repos/{owner}/{repo}/deployments/{deployment_id}/statuses", "post"),
)
EXTRA_SCHEMAS = ("basic-error", "validation-error")


def install(version: str) -> Path:
    """npm-install the package into the cache folder; return the spec's path."""
    folder = CACHE / version
    spec = folder / "node_modules" / PACKAGE / "generated" / "api.github.com.json"
    if not spec.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(folder),
                f"{PACKAGE}@{version}",
            ],
            check=True,
        )
    return spec


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def trim(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for path, method in OPERATIONS:
        op = spec["paths"][path][method]
        kept = {k: op[k] for k in ("operationId", "summary", "responses") if k in op}
        paths.setdefault(path, {})[method] = kept
    out: dict[str, Any] = {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "paths": paths,
        "components": {},
    }
    pending: set[str] = set()
    _refs(paths, pending)
    pending |= {f"#/components/schemas/{name}" for name in EXTRA_SCHEMAS}
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in done:
            continue
        done.add(ref)
        _, _, kind, name = ref.split("/", 3)
        node = _resolve(spec, ref)
        out["components"].setdefault(kind, {})[name] = node
        more: set[str] = set()
        _refs(node, more)
        pending |= more - done
    for kind in out["components"]:
        out["components"][kind] = dict(sorted(out["components"][kind].items()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, help="api.github.com.json (default: npm install)")
    parser.add_argument("--version", default=DEFAULT_VERSION)
    args = parser.parse_args(argv)
    spec_path = args.spec or install(args.version)
    subset = trim(json.loads(spec_path.read_text()))
    OUT.write_text(json.dumps(subset, indent=1, sort_keys=False) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes) from {spec_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
