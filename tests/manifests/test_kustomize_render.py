"""The edited example overlays render, with `kubectl kustomize`, to the pinned image."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from leptonci.manifests import ImageTarget, edit_folder
from tests.services import require

REPO = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "5e" * 32


def _render(folder: Path) -> list[dict]:  # type: ignore[type-arg]
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        require("kubectl", "needed to render kustomize overlays")
    out = subprocess.run(
        [kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=True, timeout=120
    )
    return list(YAML(typ="safe", pure=True).load_all(out.stdout))


@pytest.mark.parametrize("tag", ["r-7f3a9c2e", None])
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_example_overlay_renders_the_pinned_image(
    tmp_path: Path, env: str, tag: str | None
) -> None:
    shutil.copytree(REPO / "environments", tmp_path / "environments")
    folder = tmp_path / "environments" / env
    files = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in folder.glob("*.yaml")}
    target = ImageTarget(
        name="leptonci/digits", new_name="127.0.0.1:5000/ml/digits", tag=tag, digest=DIGEST
    )
    for path, text in edit_folder(files, target).items():
        (tmp_path / path).write_text(text)
    deployments = [d for d in _render(folder) if d["kind"] == "Deployment"]
    # the example serves with image volumes: the model image is a volume's reference
    pods = [d["spec"]["template"]["spec"] for d in deployments]
    images = [v["image"]["reference"] for pod in pods for v in pod["volumes"] if "image" in v]
    assert images == [target.ref]
