"""Prediction parity end to end: `run push` trains, pushes, pins and verifies on the rig.

Real training (the example's digits model, 2 epochs, trained once for the module into
a shared cache), the real daemonless image in the clone's OCI layout, kmock's emulator
with ``FakeDeploymentController`` rolling it out, and ``tests/tf_serving.py`` standing
in for TF Serving behind the emulator's service proxy: it serves the SavedModel
unpacked from the image the Deployment runs, unless a test puts another model there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from leptonci import cli
from leptonci.commands.run_push import run as run_push
from leptonci.core.errors import ClusterError, ExitCode
from tests.fixtures.git_repo import enter_release, fake_record
from tests.fixtures.training import train_variant
from tests.flows.test_e2e_cluster import ClusterRig, config_with_cluster, running_rig
from tests.kube_apiserver import EmulatorThread
from tests.tf_serving import ServingStandIn, unpack_model

pytestmark = pytest.mark.timeout(300)
SERVICE = ("ml-dev", "digits-serving:8501")
# the release dev ran before (no sample: recorded before parity); a low baseline, so that
# the 2-epoch model passes the gate against it
GOOD = fake_record(seed="good", metrics={"accuracy": 0.2, "loss": 0.4})


def parity_config() -> str:
    text = config_with_cluster("dev", "direct").replace("epochs: 12", "epochs: 2")
    assert "      timeout: 20\n" in text
    return text.replace("      timeout: 20\n", "      timeout: 20\n      parity: {retries: 2}\n", 1)


@pytest.fixture(scope="module")
def train_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("train-cache")


@pytest.fixture(scope="module")
def other_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(train_variant(tmp_path_factory.mktemp("other"), seed=7).export_dir)


@pytest.fixture(scope="module")
def renamed_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(train_variant(tmp_path_factory.mktemp("renamed"), input_name="pixels").export_dir)


@dataclass
class ParityRig:
    rig: ClusterRig
    serving: ServingStandIn
    cache: Path
    instead: Path | None = None  # serve this model, not the one in the running image

    def run_push(self) -> int:
        ctx = self.rig.clone.ctx(env={"LEPTONCI_CACHE": str(self.cache)})
        self.ctx = ctx
        return run_push(ctx)

    def push_serving(self, model: Path) -> int:
        """GOOD runs in dev; then run push, with model behind the endpoint."""
        enter_release(self.rig.clone, GOOD)
        self.rig.sync()
        self.instead = model
        return self.run_push()

    def err(self) -> str:
        return self.ctx.out.stderr.getvalue()  # type: ignore[attr-defined,no-any-return]


@pytest.fixture()
def parity_rig(
    tmp_path: Path, pinned_git: None, kube_emulator: EmulatorThread, train_cache: Path
) -> Iterator[ParityRig]:
    with running_rig(
        tmp_path, kube_emulator, env="dev", apply="direct", crash=(), config_text=parity_config()
    ) as rig:
        holder: list[ParityRig] = []

        def running_model() -> Path:
            if holder[0].instead is not None:
                return holder[0].instead
            digest = rig.actor.image.rsplit("@", 1)[1]
            layout = rig.clone.root / ".leptonci" / "oci" / "digits"  # REGISTRY/REPOSITORY
            return unpack_model(layout, digest, tmp_path / "unpacked")

        with ServingStandIn(running_model) as serving:
            kube_emulator.emu.service_proxies[SERVICE] = serving.url
            holder.append(ParityRig(rig, serving, train_cache))
            yield holder[0]


def test_parity_matches_and_the_numbers_are_recorded(
    parity_rig: ParityRig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert parity_rig.run_push() == 0
    rig, serving = parity_rig.rig, parity_rig.serving
    current = rig.ledger("dev").current_for("digits")
    assert current is not None and current.sample is not None
    assert (current.sample.count, current.sample.input) == (32, "image")
    verification = current.verification
    assert verification.result == "verified", verification.detail
    assert verification.parity["result"] == "match"
    assert verification.parity["count"] == verification.parity["within"] == 32
    assert verification.parity["argmax_agree"] == 32
    assert verification.parity["max_abs_diff"] <= 1e-4
    assert "; prediction parity: 32/32 outputs within 0.0001 (max |diff| " in verification.detail
    trailers = rig.clone.remote_git("log", "-1", "--format=%(trailers:only)", "main")
    assert 'Leptonci-Parity: {"argmax_agree":32,' in trailers
    # one request, through the service proxy, naming the signature's input
    assert serving.paths == ["/v1/models/digits:predict"]
    [body] = serving.requests
    assert body["signature_name"] == "serving_default" and len(body["instances"]) == 32
    assert body["instances"][0] == {"image": current.sample.instances[0]}

    # --dry-run shows the request and sends nothing
    capsys.readouterr()
    assert cli.main(["-C", str(rig.clone.root), "verify", "dev", "--dry-run"]) == 0
    out = capsys.readouterr()
    proxy = "/api/v1/namespaces/ml-dev/services/digits-serving:8501/proxy/v1/models/digits:predict"
    assert f"would send: POST {rig.emulator.url}{proxy} with 32 instances of input 'image'" in (
        out.out + out.err
    )
    assert len(serving.requests) == 1


def test_another_model_behind_the_endpoint_is_rolled_back(
    parity_rig: ParityRig, other_model: Path
) -> None:
    rig = parity_rig.rig
    assert parity_rig.push_serving(other_model) == 1
    err = parity_rig.err()
    assert (
        "verification of digits in dev failed: parity-mismatch: service/digits-serving:8501" in err
    )
    assert f"restored {GOOD.release}" in err
    ledger = rig.ledger("dev")
    current = ledger.current_for("digits")
    assert current is not None and current.release == GOOD.release
    failed = ledger.history[0]
    assert failed.verification.result == "failed"
    assert failed.verification.parity["result"] == "mismatch"
    assert failed.verification.parity["within"] < 32
    assert ledger.is_quarantined(failed.digest) and ledger.held


def test_503s_then_the_model_answers(parity_rig: ParityRig) -> None:
    parity_rig.serving.fail_next = 2
    assert parity_rig.run_push() == 0
    current = parity_rig.rig.ledger("dev").current_for("digits")
    assert current is not None and current.verification.result == "verified"
    assert len(parity_rig.serving.paths) == 3 and len(parity_rig.serving.requests) == 1


def test_503s_forever_is_an_outside_failure_never_verified(parity_rig: ParityRig) -> None:
    parity_rig.serving.fail_always = True
    with pytest.raises(ClusterError) as info:
        parity_rig.run_push()
    assert info.value.exit_code == ExitCode.OUTSIDE
    assert "predict request to service/digits-serving:8501 in ml-dev failed after 3 attempts" in (
        info.value.message
    )
    assert "503" in info.value.message
    assert len(parity_rig.serving.paths) == 3
    current = parity_rig.rig.ledger("dev").current_for("digits")
    assert current is not None and current.verification.result != "verified"


def test_a_signature_without_the_input_is_a_clear_failure(
    parity_rig: ParityRig, renamed_input: Path
) -> None:
    rig = parity_rig.rig
    assert parity_rig.push_serving(renamed_input) == 1
    err = parity_rig.err()
    assert (
        "parity-refused: service/digits-serving:8501 in ml-dev refused the predict request" in err
    )
    assert "does not have named input: image" in err
    assert "the running model's serving_default signature does not take input 'image'" in err
    current = rig.ledger("dev").current_for("digits")
    assert current is not None and current.release == GOOD.release
