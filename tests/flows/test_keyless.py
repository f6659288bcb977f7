"""Keyless signing, with a loopback GitHub OIDC endpoint and a fake Fulcio at the edge.

What runs for real: leptonci asking the OIDC endpoint for a ``sigstore`` token with the
request token, choosing keyless when no key is set and the job can get a token, the
bundle carried as a referrer on the real registry, reading the identity and issuer out
of the certificate, and the environment's ``identity:`` rule. What is faked: Fulcio
(a test CA) and the absence of Rekor; the sigstore package's own sign and verify are
exercised only for failing cleanly without a network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from leptonci.adapters import keyless
from leptonci.commands.run_push import run as run_push
from leptonci.core.errors import ConfigError, ExitCode, OutsideError, PromotionRefused
from leptonci.core.ledger import parse_ledger
from leptonci.runtime.attestations import signer
from tests.fixtures.attest import config_requiring
from tests.fixtures.git_repo import Clone, make_clone, promote, seed_remote
from tests.fixtures.keyless import IDENTITY, ISSUER, REQUEST_TOKEN, FakeFulcio, FakeOidc
from tests.fixtures.registry import RegistryServer
from tests.flows.test_attestations import _candidate, _registry_env

pytestmark = pytest.mark.service

REQUIRE_DEV = f"""    require:
      attestation: [verdict, provenance]
      identity: {IDENTITY}
      issuer: {ISSUER}
"""
REQUIRE_OTHER = """    require:
      attestation: verdict
      identity: https://github.com/someone/else/.github/workflows/x.yml@refs/heads/main
"""


@pytest.fixture
def oidc() -> Iterator[FakeOidc]:
    server = FakeOidc()
    yield server
    server.stop()


@pytest.fixture
def fulcio(monkeypatch: pytest.MonkeyPatch) -> FakeFulcio:
    fake = FakeFulcio()
    monkeypatch.setattr(keyless, "backend", lambda: fake)
    return fake


def _clone(tmp_path: Path) -> Clone:
    staging = "  - name: staging\n    path: environments/staging\n"
    text = config_requiring(("dev",), require=REQUIRE_DEV).replace(staging, staging + REQUIRE_OTHER)
    remote = seed_remote(tmp_path, config_text=text)
    return make_clone(remote, tmp_path / "clone")


def test_keyless_in_actions_signs_with_the_workflow_identity_and_is_checked(
    tmp_path: Path,
    pinned_git: None,
    registry: RegistryServer,
    oidc: FakeOidc,
    fulcio: FakeFulcio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clone = _clone(tmp_path)
    candidate = _candidate(clone.ctx(), tmp_path / "candidate")
    monkeypatch.setattr("leptonci.commands.run_push.train_model", lambda ctx, **kw: candidate)
    env = {**_registry_env(registry), **oidc.env, "GITHUB_ACTIONS": "true"}
    assert signer(clone.ctx(env=env)).kind == "keyless"
    ctx = clone.ctx(env=env, json=True)
    assert run_push(ctx) == 0, ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
    assert oidc.audiences == ["sigstore"], "one token, asked for Sigstore"
    assert fulcio.tokens == oidc.issued * 2, "the verdict and the provenance, one token"
    dev = parse_ledger(clone.remote_file("environments/dev/ledger.yaml"), file="dev")
    assert dev.current_for("digits") is not None  # entered: the identity was trusted
    # staging trusts another workflow: refused, naming who signed
    with pytest.raises(PromotionRefused) as refused:
        promote(clone, "staging")
    assert f"signed by {IDENTITY} ({ISSUER}), not the trusted" in str(refused.value)
    # the tokens are nowhere: output, plan, ledger, history
    out = ctx.out.stdout.getvalue() + ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
    assert '"attach-attestation"' in out and "keyless" in out
    history = clone.remote_git("log", "--all", "-p")
    for secret in [REQUEST_TOKEN, *oidc.issued]:
        assert secret not in out and secret not in history
        assert secret not in str(refused.value)


def test_a_certificate_from_another_ca_is_refused(
    tmp_path: Path,
    pinned_git: None,
    registry: RegistryServer,
    oidc: FakeOidc,
    fulcio: FakeFulcio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clone = _clone(tmp_path)
    candidate = _candidate(clone.ctx(), tmp_path / "candidate")
    monkeypatch.setattr("leptonci.commands.run_push.train_model", lambda ctx, **kw: candidate)
    impostor = FakeFulcio()  # signs with its own CA; the verifier trusts fulcio's
    monkeypatch.setattr(keyless, "backend", lambda: impostor)
    real_verify = fulcio.verify
    monkeypatch.setattr(impostor, "verify", real_verify)
    ctx = clone.ctx(env={**_registry_env(registry), **oidc.env})
    assert run_push(ctx) == ExitCode.NO
    err = ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
    assert "keyless signature does not verify: certificate not issued by the trusted CA" in err


def test_keyless_without_id_token_permission_says_what_to_grant(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="id-token: write"):
        keyless.oidc_token({})


def test_a_rejected_token_request_names_the_service_not_the_token(oidc: FakeOidc) -> None:
    env = {**oidc.env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong-request-token-91"}
    with pytest.raises(OutsideError) as failed:
        keyless.oidc_token(env)
    assert "answered 401" in str(failed.value) and "wrong-request-token-91" not in str(failed.value)


def test_the_sigstore_backend_fails_in_one_line_without_a_network() -> None:
    """The real backend (the sigstore package) cannot reach Sigstore here; it must fail
    cleanly, without the token, and a bundle it cannot verify is a problem, not a pass."""
    token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2VjcmV0LXNpZy0xMjM0"
    with pytest.raises(OutsideError) as failed:
        keyless.SigstoreBackend().sign(b"{}", token=token)
    assert token not in str(failed.value) and "\n" not in str(failed.value)
    _, who = keyless.SigstoreBackend().verify(b'{"mediaType": "x"}')
    assert who.problem
