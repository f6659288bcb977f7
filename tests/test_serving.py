"""Serving shapes: the contract each shape's manifests must keep, checked by `validate`.

The rules are a table on plain objects; the example overlays (environments/, and the
bake and KServe folders in docs/examples/) are pinned with the real editor, rendered by
`kubectl kustomize` and checked with kubernetes-validate (the InferenceService against
the local structural schema); `validate` runs as a user runs it, with a kmock cluster
reporting its version.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from leptonci.adapters import kubeschema, kustomize
from leptonci.commands.validate import _documents
from leptonci.core.serving_config import BakeServing, KServeServing, VolumeServing
from leptonci.core.serving_contract import check_serving, image_volume_problem, parse_version
from leptonci.core.yamldoc import plain
from leptonci.manifests import ImageTarget, edit_folder
from tests.kube_apiserver import EmulatorThread
from tests.services import require
from tests.test_bad_input import _validate as validate

REPO = Path(__file__).resolve().parents[1]
DIGEST = "sha256:" + "5e" * 32
TARGET = ImageTarget(
    name="leptonci/digits", new_name="127.0.0.1:5000/ml/digits", tag="digits-1", digest=DIGEST
)
PINNED = f"127.0.0.1:5000/ml/digits:digits-1@{DIGEST}"
NAMES = {"leptonci/digits", "127.0.0.1:5000/ml/digits"}
VOLUME = VolumeServing(shape="volume")
BAKE = BakeServing(shape="bake", base="reg.example/tfs@" + DIGEST)
KSERVE = KServeServing(shape="kserve")
SERVER = "tensorflow/serving@sha256:" + "f7" * 32


def deployment(
    *,
    image: str = SERVER,
    mount: str | None = "/models/digits",
    ref: str | None = PINNED,
    container_name: str = "serving",
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": container_name, "image": image}
    if mount is not None:
        container["volumeMounts"] = [{"name": "model", "mountPath": mount}]
    spec: dict[str, Any] = {"containers": [container]}
    if ref is not None:
        spec["volumes"] = [{"name": "model", "image": {"reference": ref}}]
    return {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": spec}}}


def isvc(uri: str, name: str = "digits") -> dict[str, Any]:
    return {
        "kind": "InferenceService",
        "metadata": {"name": name},
        "spec": {"predictor": {"model": {"storageUri": uri}}},
    }


@pytest.mark.parametrize(
    ("shape", "objects", "problem"),
    [
        (VOLUME, [deployment()], None),
        (VOLUME, [deployment(mount="/models/digits/")], None),
        (VOLUME, [deployment(mount="/models")], "at /models; TF Serving reads /models/digits"),
        (VOLUME, [deployment(mount=None)], "at nowhere"),
        (VOLUME, [deployment(image=PINNED, ref=PINNED)], "runs the model-only image itself"),
        (VOLUME, [deployment(ref=None)], "no image volume 'model' has reference"),
        (VOLUME, [deployment(ref="other/model@" + DIGEST)], "no image volume 'model'"),
        (VOLUME, [deployment(container_name="server")], "no container 'serving' mounts"),
        (BAKE, [deployment(image=PINNED, ref=None)], None),
        (BAKE, [deployment()], "shape bake: no container 'serving' runs"),
        (KSERVE, [isvc("oci://" + PINNED)], None),
        (KSERVE, [isvc("s3://bucket/digits")], "no InferenceService has storageUri oci://"),
        (KServeServing(shape="kserve", inference_service="x"), [isvc("oci://" + PINNED)], "x"),
    ],
)
def test_the_serving_contract(shape: Any, objects: list[Any], problem: str | None) -> None:
    served, problems = check_serving(shape, objects, model="digits", names=NAMES)
    if problem is None:
        assert problems == [] and served is not None
    else:
        assert served is None and len(problems) == 1 and problem in problems[0].text, problems


@pytest.mark.parametrize(
    ("objects", "obj", "path"),
    [
        ([deployment(mount="/srv")], "Deployment/d", ("containers", 0, "volumeMounts")),
        ([deployment(image=PINNED)], "Deployment/d", ("containers", 0, "image")),
        ([deployment(container_name="server")], "Deployment/d", ("containers",)),
        ([deployment(ref=None)], None, None),
    ],
)
def test_a_problem_names_the_object_and_field_it_is_on(
    objects: list[Any], obj: str | None, path: tuple[Any, ...] | None
) -> None:
    """What validate needs to point at the source line (engine/serving.py)."""
    _, problems = check_serving(VOLUME, objects, model="digits", names=NAMES)
    assert problems and problems[0].obj == obj, problems
    if path is not None:
        assert problems[0].path == ("spec", "template", "spec", *path), problems


@pytest.mark.parametrize(
    ("major", "minor", "problem"),
    [("1", "34", True), ("1", "33+", True), ("1", "35", False), ("1", "36", False)],
)
def test_image_volumes_need_1_35(major: str, minor: str, problem: bool) -> None:
    version = parse_version(major, minor)
    assert version is not None
    found = image_volume_problem(VOLUME, version)
    assert bool(found) is problem
    if found:
        assert (
            f"Kubernetes {version[0]}.{version[1]}" in found and "use serving shape bake" in found
        )
    assert image_volume_problem(BAKE, version) is None


# -- the example overlays, pinned, rendered and schema-checked ------------------------


def pinned_render(tmp_path: Path, source: Path, env: str) -> list[dict[str, Any]]:
    """Copy source (base + env overlay), pin TARGET in env as a promotion would, render."""
    root = tmp_path / "repo"
    shutil.copytree(source, root)
    folder = root / env
    files = {p.relative_to(root).as_posix(): p.read_text() for p in folder.glob("*.y*ml")}
    changed = edit_folder(files, TARGET)
    assert changed, "the pin changed nothing"
    for rel, text in changed.items():
        (root / rel).write_text(text)
    rendered = kustomize.render(root, env)
    objects = [plain(doc) for _, doc in _documents(rendered, file=env) if doc]
    for obj in objects:
        assert kubeschema.violation(obj) is None, obj
    return objects


@pytest.fixture
def needs_kustomize_fixture() -> None:
    if kustomize.renderer() is None:
        require("kubectl", "renders the example overlays")


needs_kustomize = pytest.mark.usefixtures("needs_kustomize_fixture")


@needs_kustomize
@pytest.mark.parametrize("env", ["environments/dev", "environments/staging", "environments/prod"])
def test_the_example_mounts_the_pinned_model_image(tmp_path: Path, env: str) -> None:
    source = tmp_path / "src"
    shutil.copytree(REPO / "environments", source / "environments")
    objects = pinned_render(tmp_path, source, env)
    [workload] = [o for o in objects if o["kind"] == "Deployment"]
    pod = workload["spec"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": "model", "image": {"reference": PINNED, "pullPolicy": "IfNotPresent"}}
    ]
    [server] = pod["containers"]
    assert server["image"].startswith("tensorflow/serving@sha256:")
    served, problems = check_serving(VOLUME, objects, model="digits", names=NAMES)
    assert problems == [] and served is not None
    # a volume the schema does not know is caught (the check can fail)
    broken = copy.deepcopy(workload)
    broken["spec"]["template"]["spec"]["volumes"][0]["image"]["digest"] = DIGEST
    assert kubeschema.violation(broken) is not None


@needs_kustomize
@pytest.mark.parametrize(("shape", "folder"), [(BAKE, "bake"), (KSERVE, "kserve")])
def test_the_bake_and_kserve_examples_render_and_validate(
    tmp_path: Path, shape: Any, folder: str
) -> None:
    objects = pinned_render(tmp_path, REPO / "docs" / "examples" / folder, "dev")
    served, problems = check_serving(shape, objects, model="digits", names=NAMES)
    assert problems == [] and served is not None
    assert PINNED in served.field or served.field == "container serving"


def test_an_inferenceservice_is_checked_against_the_local_schema() -> None:
    good = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "digits"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "tensorflow"}}}},
    }
    assert kubeschema.violation(good) is None
    bad = copy.deepcopy(good)
    bad["spec"]["predictor"]["model"]["storageUri"] = 7
    found = kubeschema.violation(bad)
    assert found is not None and found.key == "spec.predictor.model.storageUri"
    assert kubeschema.violation({**good, "spec": {"predicter": {}}}) is not None


# -- `leptonci validate` on the example ---------------------------------------------


@needs_kustomize
def test_validate_reports_the_serving_contract(example_repo: Path) -> None:
    result = validate(example_repo)
    assert result.returncode == 0, result.stderr
    assert (
        "ok  serving dev digits: volume: Deployment/digits-serving, "
        "image volume model at /models/digits"
    ) in result.stdout
    base = example_repo / "environments" / "base" / "deployment.yaml"
    text = base.read_text()
    base.write_text(text.replace("mountPath: /models/digits", "mountPath: /srv"))
    mounts = text.splitlines().index("          volumeMounts:") + 1
    result = validate(example_repo)
    assert result.returncode == 2
    for env in ("dev", "staging", "prod"):  # at the source line, once per overlay
        assert (
            f"environments/base/deployment.yaml:{mounts}: environment {env!r}, model 'digits': "
            "Deployment/digits-serving: container 'serving' mounts volume 'model' at /srv; "
            "TF Serving reads /models/digits"
        ) in result.stderr, result.stderr


@needs_kustomize
def test_validate_names_the_config_line_when_no_workload_carries_the_model(
    example_repo: Path,
) -> None:
    """The fuzz find: a renamed server container was reported as a missing volume, and
    a problem on no object named no line."""
    base = example_repo / "environments" / "base" / "deployment.yaml"
    text = base.read_text()
    base.write_text(text.replace("- name: serving", "- name: server"))
    containers = text.splitlines().index("      containers:") + 1
    result = validate(example_repo)
    assert result.returncode == 2
    assert (
        f"environments/base/deployment.yaml:{containers}: environment 'dev', model 'digits': "
        "Deployment/digits-serving: no container 'serving' mounts the model"
    ) in result.stderr, result.stderr
    base.write_text(text)
    config = example_repo / "leptonci.yaml"
    config.write_text(
        config.read_text().replace("    serving:\n", "    serving:\n      volume: weights\n")
    )
    result = validate(example_repo)
    assert result.returncode == 2
    serving = config.read_text().splitlines().index("    serving:") + 1
    assert (
        f"leptonci.yaml:{serving}: models.digits.serving: environment 'dev', model 'digits': "
        "shape volume: no image volume 'weights' has reference"
    ) in result.stderr, result.stderr
    assert "in the rendered environments/dev; see docs/serving.md" in result.stderr


def with_cluster(root: Path, server: str) -> None:
    config = root / "leptonci.yaml"
    block = "  - name: dev\n    path: environments/dev\n"
    text = config.read_text()
    assert block in text
    cluster = "    cluster: {kubeconfig: kubeconfig, namespace: ml-dev}\n"
    config.write_text(text.replace(block, block + cluster))
    (root / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: emu, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: ci, user: {token: serving-token-0123456789}}]\n"
        "contexts: [{name: emu, context: {cluster: emu, user: ci}}]\n"
        "current-context: emu\n"
    )


@needs_kustomize
def test_validate_says_when_the_cluster_has_no_image_volumes(
    example_repo: Path, kube_emulator: EmulatorThread
) -> None:
    assert kube_emulator.emulator is not None
    with_cluster(example_repo, kube_emulator.url)
    kube_emulator.emulator.server_version = ("1", "35")
    result = validate(example_repo)
    assert result.returncode == 0, result.stderr
    assert "ok  cluster dev: Kubernetes 1.35: image volumes available" in result.stdout
    kube_emulator.emulator.server_version = ("1", "33+")
    shape = (example_repo / "leptonci.yaml").read_text().splitlines().index("    serving:") + 2
    result = validate(example_repo)
    assert result.returncode == 2
    assert (
        f"leptonci.yaml:{shape}: models.digits.serving.shape: environment 'dev', model 'digits': "
        "the cluster runs Kubernetes 1.33: image volumes are on by default from 1.35; "
        "use serving shape bake (docs/serving.md)"
    ) in result.stderr
    assert "serving-token" not in result.stdout + result.stderr


def test_validate_notes_an_unreachable_cluster(example_repo: Path) -> None:
    with_cluster(example_repo, "http://127.0.0.1:9")  # nothing listens on the discard port
    result = validate(example_repo)
    assert "ok  cluster dev: not reached, image volumes not checked" in result.stdout, (
        result.stdout + result.stderr
    )
