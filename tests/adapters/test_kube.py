"""The Kubernetes adapter: kubeconfig loading and secrets, direct apply, live image, rules."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from leptonci.adapters.kube import apply_overlay, live_image, load_api_client, render_overlay
from leptonci.adapters.kube_client import RetryPolicy, request_json
from leptonci.adapters.kube_rollout import RolloutState, assess, label_selector, timed_out
from leptonci.core.config import ClusterConfig
from leptonci.core.errors import ClusterError, ConfigError
from leptonci.core.redact import redact
from tests.kube_apiserver import EmulatorThread
from tests.kube_rollouts import NAME, NAMESPACE, NEW, OLD, RolloutActor
from tests.services import require

REPO = Path(__file__).resolve().parents[2]
CLUSTER = ClusterConfig(namespace=NAMESPACE, workload=f"deployment/{NAME}")
TOKEN = "kube-token-0123456789abcdef"
KEY_DATA = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tZmFrZQ=="

RENDERED = f"""\
apiVersion: v1
kind: Service
metadata:
  name: {NAME}
  namespace: {NAMESPACE}
spec:
  selector: {{app: {NAME}}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {NAME}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {NAME}}}
  template:
    metadata:
      labels: {{app: {NAME}}}
    spec:
      containers:
        - name: serving
          image: leptonci/digits@{NEW}
"""


def write_kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        f"""\
apiVersion: v1
kind: Config
clusters:
  - name: emu
    cluster: {{server: "{server}"}}
  - name: other
    cluster: {{server: "http://127.0.0.1:9"}}
users:
  - name: ci
    user: {{token: {TOKEN}}}
  - name: admin
    user: {{client-key-data: {KEY_DATA}, username: admin, password: hunter2-secret}}
contexts:
  - name: emu
    context: {{cluster: emu, user: ci}}
  - name: other
    context: {{cluster: other, user: admin}}
current-context: other
"""
    )
    return path


def require_kubectl() -> None:
    if shutil.which("kubectl") is None:
        require("kubectl", "kubectl is not installed")


# -- kubeconfig ----------------------------------------------------------------------


def test_kubeconfig_context_is_used_and_credentials_are_redacted(
    tmp_path: Path, kube_emulator: EmulatorThread, rollout: RolloutActor
) -> None:
    rollout.deploy(NEW)
    kubeconfig = write_kubeconfig(tmp_path / "config", kube_emulator.url)
    cluster = CLUSTER.model_copy(update={"kubeconfig": str(kubeconfig), "context": "emu"})
    api = load_api_client(cluster, env={})
    assert live_image(cluster, api) == f"registry.example/leptonci/digits@{NEW}"
    auth = [
        r.headers.get("Authorization") for r in kube_emulator.emu if r.headers.get("Authorization")
    ]
    assert auth and auth[-1] == f"Bearer {TOKEN}"
    leaked = f"a {TOKEN} b {KEY_DATA} c hunter2-secret"  # no secret-shaped keys around them
    assert redact(leaked) == "a *** b *** c ***"


def test_kubeconfig_from_env_variable(tmp_path: Path, kube_emulator: EmulatorThread) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config", kube_emulator.url)
    api = load_api_client(
        CLUSTER.model_copy(update={"context": "emu"}), env={"KUBECONFIG": str(kubeconfig)}
    )
    assert api.configuration.host == kube_emulator.url


def test_relative_kubeconfig_resolves_against_the_repository(tmp_path: Path) -> None:
    write_kubeconfig(tmp_path / "kc.yaml", "http://127.0.0.1:9")
    cluster = CLUSTER.model_copy(update={"kubeconfig": "kc.yaml"})
    api = load_api_client(cluster, env={}, root=tmp_path)
    assert api.configuration.host == "http://127.0.0.1:9"


def test_missing_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    cluster = CLUSTER.model_copy(update={"kubeconfig": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match="no kubeconfig at"):
        load_api_client(cluster, env={})


def test_unknown_context_is_a_config_error(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "config", "http://127.0.0.1:9")
    cluster = CLUSTER.model_copy(update={"kubeconfig": str(kubeconfig), "context": "prod-eu"})
    with pytest.raises(ConfigError, match="context 'prod-eu'"):
        load_api_client(cluster, env={})


# -- direct apply --------------------------------------------------------------------


def test_apply_overlay_server_side_applies_every_object(
    kube_api: Any, kube_emulator: EmulatorThread
) -> None:
    applied = apply_overlay(CLUSTER, rendered_yaml=RENDERED, api_client=kube_api)
    assert applied == [f"Service/{NAMESPACE}/{NAME}", f"Deployment/{NAMESPACE}/{NAME}"]
    deployment = request_json(
        kube_api, "GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{NAME}"
    )
    assert deployment["metadata"]["namespace"] == NAMESPACE  # defaulted from the cluster config
    assert live_image(CLUSTER, kube_api) == f"leptonci/digits@{NEW}"
    patches = [r for r in kube_emulator.emu if r.method == "PATCH"]
    assert len(patches) == 2
    for request in patches:
        assert request.params == {"fieldManager": "leptonci", "force": "true"}
        assert request.headers["Content-Type"] == "application/apply-patch+yaml"
    # applying again updates in place
    again = RENDERED.replace(NEW, OLD)
    apply_overlay(CLUSTER, rendered_yaml=again, api_client=kube_api)
    assert live_image(CLUSTER, kube_api) == f"leptonci/digits@{OLD}"


def test_apply_overlay_rejects_nameless_objects(kube_api: Any) -> None:
    with pytest.raises(ConfigError, match=r"has no metadata\.name"):
        apply_overlay(CLUSTER, rendered_yaml="apiVersion: v1\nkind: Service\n", api_client=kube_api)


def test_render_overlay_of_the_example_dev_environment() -> None:
    require_kubectl()
    text = render_overlay(REPO, "environments/dev")
    assert "kind: Deployment" in text and "namespace: ml-dev" in text


def test_render_then_apply_the_example_overlay(kube_api: Any) -> None:
    require_kubectl()
    names = apply_overlay(
        CLUSTER, rendered_yaml=render_overlay(REPO, "environments/dev"), api_client=kube_api
    )
    assert names == ["Service/ml-dev/digits-serving", "Deployment/ml-dev/digits-serving"]


def test_a_broken_overlay_shows_kustomize_s_complaint_not_the_command(tmp_path: Path) -> None:
    require_kubectl()
    overlay = tmp_path / "environments" / "dev"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources:\n- missing.yaml\n")
    with pytest.raises(ConfigError) as info:
        render_overlay(tmp_path, "environments/dev")
    text = str(info.value)
    assert text.startswith("environments/dev: kustomize cannot render the overlay: ")
    assert "missing.yaml" in text and "exited" not in text


def test_render_overlay_without_kustomization(tmp_path: Path) -> None:
    (tmp_path / "environments" / "dev").mkdir(parents=True)
    with pytest.raises(
        ConfigError,
        match=r"no kustomization in environments/dev \(looked for kustomization\.yaml, kustomization\.yml, Kustomization\)",
    ):
        render_overlay(tmp_path, "environments/dev")


def test_live_image_of_a_missing_workload_is_none(kube_api: Any) -> None:
    assert live_image(CLUSTER, kube_api) is None


FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


def test_api_5xx_is_retried_then_answers(kube_api: Any, kube_emulator: EmulatorThread) -> None:
    kube_emulator.emu.fail_next = 2
    assert live_image(CLUSTER, kube_api, policy=FAST) is None
    assert kube_emulator.emu.fail_next == 0


def test_api_5xx_past_the_bound_names_what_and_the_attempts(
    kube_api: Any, kube_emulator: EmulatorThread
) -> None:
    kube_emulator.emu.fail_next = 10
    with pytest.raises(ClusterError) as info:
        live_image(CLUSTER, kube_api, policy=FAST)
    assert str(info.value).startswith(
        f"reading deployment/{NAME} in {NAMESPACE} failed after 3 attempts: 503"
    )
    assert kube_emulator.emu.fail_next == 7
    assert not info.value.retryable  # a caller's own retry must not multiply the tries


def test_api_4xx_is_not_retried(kube_api: Any, kube_emulator: EmulatorThread) -> None:
    kube_emulator.emu.fail_status = 403
    kube_emulator.emu.fail_next = 10
    with pytest.raises(ClusterError, match="failed: 403") as info:
        live_image(CLUSTER, kube_api, policy=FAST)
    assert kube_emulator.emu.fail_next == 9
    assert "RBAC" in str(info.value)


# -- the rules, table-driven -----------------------------------------------------------


def deployment(**status: Any) -> dict[str, Any]:
    generation = status.pop("generation", 2)
    return {
        "metadata": {"name": NAME, "namespace": NAMESPACE, "generation": generation},
        "spec": {
            "replicas": 2,
            "selector": {
                "matchLabels": {"app": NAME},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
            },
            "template": {"spec": {"containers": [{"name": "s", "image": f"img@{NEW}"}]}},
        },
        "status": status,
    }


DONE = {
    "observedGeneration": 2,
    "replicas": 2,
    "updatedReplicas": 2,
    "readyReplicas": 2,
    "availableReplicas": 2,
}


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (DONE, "verified"),
        ({**DONE, "observedGeneration": 1}, None),
        ({**DONE, "readyReplicas": 1}, None),
        ({**DONE, "availableReplicas": 1}, None),
        ({**DONE, "updatedReplicas": 1}, None),
        ({**DONE, "replicas": 3}, None),  # an old pod still terminating
        ({}, None),
    ],
)
def test_assess_counts(status: dict[str, Any], reason: str | None) -> None:
    verdict = assess(RolloutState(deployment=deployment(**status)), name=NAME, digest=NEW)
    assert (verdict.reason if verdict else None) == reason


def test_label_selector_covers_expressions() -> None:
    assert label_selector(deployment()) == f"app={NAME},tier in (a,b)"


def test_timed_out_names_the_unobserved_generation() -> None:
    state = RolloutState(deployment=deployment(**{**DONE, "observedGeneration": 1}))
    result = timed_out(state, name=NAME, digest=NEW, timeout=30)
    assert result.reason == "timeout"
    assert result.detail.endswith(
        "2/2 updated, 2 ready, 2 available, generation 2 not yet observed"
    )
