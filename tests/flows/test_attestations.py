"""Signed verdicts on image digests, on Debian's docker-registry (no referrers API, so the
tag-schema fallback) and in an oci-layout: attach, list, verify, and refuse.

What leptonci signs is also checked by implementations that are not leptonci's:
securesystemslib's DSSE verification, in-toto-attestation's Statement v1 validation,
the SLSA provenance v1 protobuf, and the verdict predicate against its JSON schema.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement as IntotoStatement
from securesystemslib.dsse import Envelope as SslibEnvelope
from securesystemslib.signer import SSlibKey

from leptonci.adapters.images.referrers import RegistryStore, fallback_tag
from leptonci.adapters.images.registry import RegistryClient
from leptonci.cli import main
from leptonci.commands.rollback import run as rollback_command
from leptonci.commands.run_push import run as run_push
from leptonci.core.attestation import BUNDLE_TYPE, SLSA_PREDICATE, VERDICT_PREDICATE
from leptonci.core.candidate import Candidate
from leptonci.core.errors import ExitCode, PromotionRefused
from leptonci.core.ledger import ReleaseRecord
from leptonci.core.signing import SigningKey, encrypted_pem
from leptonci.pipeline.train import model_content_hash
from tests.adapters.test_images_daemonless import make_export
from tests.fixtures.attest import (
    KEY_PASSWORD,
    PROVENANCE,
    attach_bundle,
    attest_honestly,
    config_requiring,
    new_key,
    signed_bundle,
    small_image,
    tampered,
    verdict_predicate,
)
from tests.fixtures.git_repo import (
    Clone,
    enter_release,
    fake_record,
    make_clone,
    promote,
    seed_remote,
)
from tests.fixtures.registry import RegistryServer

pytestmark = pytest.mark.service
REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "docs" / "schemas" / "verdict-v1.json").read_text())


@pytest.fixture
def key() -> SigningKey:
    return new_key()


def _clone(tmp_path: Path, key: SigningKey, envs: tuple[str, ...]) -> Clone:
    remote = seed_remote(
        tmp_path,
        config_text=config_requiring(envs),
        envs={"keys/leptonci.pub": key.public.pem},
    )
    return make_clone(remote, tmp_path / "clone")


def _candidate(ctx: Any, folder: Path, *, accuracy: float = 0.96) -> Candidate:
    make_export(folder, seed=3)
    return Candidate(
        model="digits",
        version=1,
        root=folder,
        content_hash=model_content_hash(ctx, "digits"),
        metrics={"accuracy": accuracy, "loss": 0.1},
        eval_fingerprint="sha256:" + "e" * 64,
        eval_count=100,
    )


def _signing_env(tmp_path: Path, key: SigningKey) -> dict[str, str]:
    path = tmp_path / "cosign.key"
    path.write_text(encrypted_pem(key, KEY_PASSWORD))
    return {"LEPTONCI_SIGNING_KEY_FILE": str(path), "LEPTONCI_SIGNING_PASSWORD": KEY_PASSWORD}


def _registry_env(registry: RegistryServer) -> dict[str, str]:
    return {"LEPTONCI_REGISTRY": f"{registry.host}/team", "LEPTONCI_REGISTRY_RETRY_DELAY": "0.01"}


def _bundles(registry: RegistryServer, repo: str, digest: str) -> dict[str, dict[str, Any]]:
    """The Sigstore bundles on digest, read with plain HTTP (tag schema), by predicate type."""
    tag = registry.get(
        f"/v2/{repo}/manifests/{fallback_tag(digest)}",
        Accept="application/vnd.oci.image.index.v1+json",
    )
    assert tag.status_code == 200, tag.text
    index = tag.json()
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    out = {}
    for entry in index["manifests"]:
        assert entry["artifactType"] == BUNDLE_TYPE
        manifest = registry.get(
            f"/v2/{repo}/manifests/{entry['digest']}",
            Accept="application/vnd.oci.image.manifest.v1+json",
        ).json()
        assert manifest["subject"]["digest"] == digest
        assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
        bundle = json.loads(registry.blob(repo, manifest["layers"][0]["digest"]))
        out[entry["annotations"]["dev.sigstore.bundle.predicateType"]] = bundle
    return out


def _independently_verified(bundle: dict[str, Any], key: SigningKey, digest: str) -> dict[str, Any]:
    """The statement, checked by securesystemslib (DSSE) and in-toto-attestation."""
    envelope = SslibEnvelope.from_dict(bundle["dsseEnvelope"])
    trusted = SSlibKey.from_crypto(key.public.key, keyid=key.public.keyid)
    accepted = envelope.verify([trusted], 1)
    assert list(accepted) == [key.public.keyid]
    assert envelope.payload_type == "application/vnd.in-toto+json"
    doc = json.loads(envelope.payload)
    IntotoStatement.copy_from_pb(json_format.ParseDict(doc, statement_pb2.Statement())).validate()
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["subject"][0]["digest"] == {"sha256": digest.split(":")[1]}
    return doc


def test_run_push_attaches_a_signed_verdict_and_provenance_that_others_verify(
    tmp_path: Path,
    pinned_git: None,
    registry: RegistryServer,
    key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clone = _clone(tmp_path, key, ("dev", "staging"))
    env = {**_registry_env(registry), **_signing_env(tmp_path, key)}
    candidate = _candidate(clone.ctx(), tmp_path / "candidate")
    monkeypatch.setattr("leptonci.commands.run_push.train_model", lambda ctx, **kw: candidate)
    ctx = clone.ctx(env=env)
    assert run_push(ctx) == 0, ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
    said = ctx.out.stdout.getvalue() + ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
    assert "attested 2 statements (verdict, provenance)" in said
    clone.pull()
    record = clone.ctx().config  # noqa: F841 - the config loads with require: blocks
    from leptonci.core.ledger import parse_ledger

    dev = parse_ledger((clone.root / "environments/dev/ledger.yaml").read_text(), file="dev")
    current = dev.current_for("digits")
    assert current is not None
    digest, repo = current.digest, "team/digits"
    # the registry has no referrers API: the tag schema holds both
    assert registry.get(f"/v2/{repo}/referrers/{digest}").status_code == 404
    bundles = _bundles(registry, repo, digest)
    assert set(bundles) == {VERDICT_PREDICATE, SLSA_PREDICATE}
    verdict = _independently_verified(bundles[VERDICT_PREDICATE], key, digest)
    jsonschema.validate(verdict["predicate"], SCHEMA)
    predicate = verdict["predicate"]
    assert predicate["verdict"]["passed"] is True and predicate["release"] == current.release
    assert predicate["contentHash"] == candidate.content_hash
    assert {c["metric"] for c in predicate["verdict"]["checks"]} == {"accuracy", "loss"}
    assert predicate["thresholds"]["accuracy"]["min"] == 0.9
    assert predicate["source"]["commit"] == current.source_commit
    provenance = _independently_verified(bundles[SLSA_PREDICATE], key, digest)
    parsed = json_format.ParseDict(provenance["predicate"], provenance_pb2.Provenance())
    assert parsed.run_details.builder.id == "https://leptonci.dev/builders/local"
    assert (
        parsed.build_definition.resolved_dependencies[0].digest["gitCommit"]
        == current.source_commit
    )
    # staging requires them too: the promotion reads and checks them
    assert promote(clone, "staging") == 0
    # by hand, through the CLI, with the key file
    pub = tmp_path / "cosign.pub"
    pub.write_text(key.public.pem)
    for k, v in _registry_env(registry).items():
        monkeypatch.setenv(k, v)
    assert (
        main(
            ["-C", str(clone.root), "verify-image", f"{current.image}@{digest}", "--key", str(pub)]
        )
        == 0
    )
    assert (
        main(
            [
                "-C",
                str(clone.root),
                "verify-image",
                f"{current.image}:{current.release}",
                "--env",
                "staging",
            ]
        )
        == 0
    )
    # an equal statement is not attached twice by a second run
    assert run_push(clone.ctx(env=env)) == 0
    assert len(_bundles(registry, repo, digest)) == 2


@pytest.fixture
def staging_requires(tmp_path: Path, pinned_git: None, key: SigningKey) -> Clone:
    """The example where staging requires a verdict and provenance signed by key."""
    return _clone(tmp_path, key, ("staging",))


def _release_in_dev(
    clone: Clone, registry: RegistryServer, seed: str
) -> tuple[ReleaseRecord, RegistryStore]:
    client = RegistryClient(registry.host, plain_http=True)
    digest = small_image(client, "team/digits", seed)
    record = fake_record(seed=seed, image=f"{registry.host}/team/digits", digest=digest)
    enter_release(clone, record)
    return record, RegistryStore(client, "team/digits")


def _verdict(key: SigningKey, record: ReleaseRecord, **kw: Any) -> bytes:
    digest = kw.pop("digest", record.digest)
    return signed_bundle(
        key,
        name=record.image,
        digest=digest,
        predicate_type=VERDICT_PREDICATE,
        predicate=verdict_predicate(release=record.release, **kw),
    )


def _provenance(key: SigningKey, record: ReleaseRecord) -> bytes:
    return signed_bundle(
        key,
        name=record.image,
        digest=record.digest,
        predicate_type=SLSA_PREDICATE,
        predicate=PROVENANCE,
    )


def _set_tampered(stmt: dict[str, Any]) -> None:
    stmt["predicate"]["metrics"]["accuracy"] = 0.99


FORGERIES: dict[str, tuple[Callable[[SigningKey, ReleaseRecord], bytes], str]] = {
    "tampered predicate": (
        lambda key, r: tampered(_verdict(key, r), _set_tampered),
        "its signature does not match its content (changed after signing?)",
    ),
    "wrong key": (lambda key, r: _verdict(new_key(), r), "not a trusted key"),
    "another digest": (
        lambda key, r: _verdict(key, r, digest="sha256:" + "7" * 64),
        f"made for sha256:{'7' * 12}, not ",
    ),
    "failed verdict": (
        lambda key, r: _verdict(key, r, passed=False),
        "the verdict did not pass (failed: accuracy)",
    ),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_promotion_refuses_a_forged_verdict_with_its_own_message(
    staging_requires: Clone, registry: RegistryServer, key: SigningKey, forgery: str
) -> None:
    clone = staging_requires
    record, store = _release_in_dev(clone, registry, "forged")
    make, message = FORGERIES[forgery]
    attach_bundle(store, record.digest, make(key, record), VERDICT_PREDICATE)
    attach_bundle(store, record.digest, _provenance(key, record), SLSA_PREDICATE)
    head = clone.remote_git("rev-parse", "main")
    with pytest.raises(PromotionRefused) as refused:
        promote(clone, "staging")
    text = str(refused.value)
    assert message in text, text
    assert record.digest in text and "\n" not in text
    assert clone.remote_git("rev-parse", "main") == head
    # the dry run makes the same check
    with pytest.raises(PromotionRefused) as dry:
        from leptonci.commands import promote as promote_command

        promote_command.run(
            clone.ctx(dry_run=True), to="staging", release=None, force=False, reason=None
        )
    assert str(dry.value) == text


def test_a_digest_without_attestations_is_refused_and_exits_1(
    staging_requires: Clone,
    registry: RegistryServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clone = staging_requires
    record, _ = _release_in_dev(clone, registry, "bare")
    monkeypatch.setenv("LEPTONCI_ACTOR", "tester")
    assert main(["-C", str(clone.root), "promote", "--to", "staging"]) == ExitCode.NO
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("leptonci: error: ") and record.digest in line
    assert "has no verdict attestation" in line
    # --force does not lift it
    code = main(["-C", str(clone.root), "promote", "--to", "staging", "--force", "--reason", "x"])
    assert code == ExitCode.NO
    assert (
        main(
            [
                "-C",
                str(clone.root),
                "verify-image",
                f"{record.image}@{record.digest}",
                "--env",
                "staging",
            ]
        )
        == ExitCode.NO
    )


def test_an_honest_verdict_promotes_and_provenance_is_required_too(
    staging_requires: Clone, registry: RegistryServer, key: SigningKey
) -> None:
    clone = staging_requires
    record, store = _release_in_dev(clone, registry, "half")
    attach_bundle(store, record.digest, _verdict(key, record), VERDICT_PREDICATE)
    with pytest.raises(PromotionRefused, match="has no provenance attestation"):
        promote(clone, "staging")
    attach_bundle(store, record.digest, _provenance(key, record), SLSA_PREDICATE)
    assert promote(clone, "staging") == 0


def test_rollback_to_a_named_release_checks_its_attestations(
    staging_requires: Clone, registry: RegistryServer, key: SigningKey
) -> None:
    clone = staging_requires
    first, store = _release_in_dev(clone, registry, "one")
    attest_honestly(store, key, name=first.image, digest=first.digest, release=first.release)
    assert promote(clone, "staging") == 0
    second, _ = _release_in_dev(clone, registry, "two")
    attest_honestly(store, key, name=second.image, digest=second.digest, release=second.release)
    assert promote(clone, "staging") == 0
    # first's attestations go away (deleted from the registry): --to first is refused
    client = store.client
    index = client.manifest_digest("team/digits", fallback_tag(first.digest))
    client.request(
        "DELETE",
        f"{client.base_url}/v2/team/digits/manifests/{index}",
        scopes=(("team/digits", frozenset({"pull", "push"})),),
    ).close()
    head = clone.remote_git("rev-parse", "main")
    with pytest.raises(PromotionRefused, match="has no verdict attestation") as refused:
        rollback_command(clone.ctx(), env="staging", release=first.release, reason="check")
    assert first.digest in str(refused.value)
    assert clone.remote_git("rev-parse", "main") == head
    # signed again by the trusted key: the rollback goes through
    attest_honestly(store, key, name=first.image, digest=first.digest, release=first.release)
    assert rollback_command(clone.ctx(), env="staging", release=first.release, reason="check") == 0


def test_run_push_refuses_to_enter_unattested_when_the_first_environment_requires(
    tmp_path: Path,
    pinned_git: None,
    registry: RegistryServer,
    key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clone = _clone(tmp_path, key, ("dev",))
    candidate = _candidate(clone.ctx(), tmp_path / "candidate")
    monkeypatch.setattr("leptonci.commands.run_push.train_model", lambda ctx, **kw: candidate)
    ctx = clone.ctx(env={**_registry_env(registry), "LEPTONCI_SIGNING": "off"})
    head = clone.remote_git("rev-parse", "main")
    assert run_push(ctx) == ExitCode.NO
    err = ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
    assert "may not enter dev" in err and "has no verdict attestation" in err
    assert clone.remote_git("rev-parse", "main") == head
    # signed by a key dev does not trust
    other = tmp_path / "other"
    other.mkdir()
    ctx = clone.ctx(env={**_registry_env(registry), **_signing_env(other, new_key())})
    assert run_push(ctx) == ExitCode.NO
    assert "not a trusted key" in ctx.out.stderr.getvalue()  # type: ignore[attr-defined]


def test_a_dry_run_shows_the_statements_it_would_sign_and_signs_nothing(
    tmp_path: Path, pinned_git: None, key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded default (oci-layout): the dry run plans, the real run attaches in
    the layout, and promotion into an environment that requires them reads them there."""
    clone = _clone(tmp_path, key, ("dev", "staging"))
    env = _signing_env(tmp_path, key)
    candidate = _candidate(clone.ctx(), tmp_path / "candidate")
    monkeypatch.setattr("leptonci.commands.run_push.train_model", lambda ctx, **kw: candidate)
    monkeypatch.setattr("leptonci.pipeline.train.planned_candidate", lambda ctx, model: candidate)
    monkeypatch.setattr(
        "leptonci.commands.run_push.planned_candidate", lambda ctx, model: candidate
    )
    dry = clone.ctx(dry_run=True, json=True, env=env)
    assert run_push(dry) == 0, dry.out.stderr.getvalue()  # type: ignore[attr-defined]
    doc = json.loads(dry.out.stdout.getvalue())  # type: ignore[attr-defined]
    attaches = [a for a in doc["plan"]["actions"] if a["kind"] == "attach-attestation"]
    assert [a["predicate_type"] for a in attaches] == [VERDICT_PREDICATE, SLSA_PREDICATE]
    push = next(a for a in doc["plan"]["actions"] if a["kind"] == "push-image")
    for action in attaches:
        stmt = action["statement"]
        assert stmt["subject"][0]["digest"]["sha256"] == push["digest"].split(":")[1]
        assert (
            '"sig"' not in json.dumps(action)
            and "dsseEnvelope" not in json.dumps(action)
            and action["signer"].startswith("key sha256:")
        )
    jsonschema.validate(attaches[0]["statement"]["predicate"], SCHEMA)
    assert any(
        "into dev" in a["summary"] for a in doc["plan"]["actions"] if a["kind"] == "git-commit"
    )
    assert not (clone.root / ".leptonci" / "oci").exists()
    text_run = clone.ctx(dry_run=True, env=env)
    assert run_push(text_run) == 0
    assert (
        '"predicateType": "https://leptonci.dev/attestations/verdict/v1"'
        in text_run.out.stdout.getvalue()
    )  # type: ignore[attr-defined]

    real = clone.ctx(env=env)
    assert run_push(real) == 0, real.out.stderr.getvalue()  # type: ignore[attr-defined]
    index = json.loads((clone.root / ".leptonci/oci/digits/index.json").read_text())
    names = [
        m.get("annotations", {}).get("org.opencontainers.image.ref.name")
        for m in index["manifests"]
    ]
    tag = fallback_tag(push["digest"])
    assert tag in names
    assert promote(clone, "staging") == 0
    assert (
        main(
            ["-C", str(clone.root), "verify-image", f"digits@{push['digest']}", "--env", "staging"]
        )
        == 0
    )
    # the bundles in the layout pass the independent verifier too
    from leptonci.adapters.images.layout import OciLayout

    layout = OciLayout(clone.root / ".leptonci/oci/digits")
    listed = layout.read_json(layout.resolve(tag).digest)  # type: ignore[union-attr]
    for entry in listed["manifests"]:
        manifest = layout.read_json(entry["digest"])
        bundle = json.loads(layout.read_bytes(manifest["layers"][0]["digest"]))
        _independently_verified(bundle, key, push["digest"])


def test_signatures_are_cosign_shaped(key: SigningKey) -> None:
    """ASN.1 DER ECDSA over the DSSE PAE: what cosign verify-attestation checks."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    bundle = json.loads(
        signed_bundle(
            key,
            name="x",
            digest="sha256:" + "1" * 64,
            predicate_type=VERDICT_PREDICATE,
            predicate={"a": 1},
        )
    )
    sig = base64.b64decode(bundle["dsseEnvelope"]["signatures"][0]["sig"])
    r, s = decode_dss_signature(sig)
    assert r > 0 and s > 0
    assert bundle["verificationMaterial"]["publicKey"]["hint"] == key.public.keyid
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"


def test_validate_reads_the_trusted_keys(staging_requires: Clone) -> None:
    from leptonci.commands.validate import validate_all

    checked, errors = validate_all(staging_requires.ctx())
    assert not errors, errors
    assert any(c.what == "require staging" and "1 key(s)" in c.detail for c in checked)
    (staging_requires.root / "keys" / "leptonci.pub").write_text("not a key\n")
    _, errors = validate_all(staging_requires.ctx())
    assert any("keys/leptonci.pub is not a PEM public key" in str(e) for e in errors)
