"""Fuzz what registries answer: manifests, indexes, referrers, token replies, error bodies.

A registry (or a proxy in front of it) may answer anything; every reply ends in
success or a RegistryError (exit 3), never a crash. The client is replaced at its edge
(``get_manifest``, ``get_blob_bytes``, the token fetch), where the bytes come in.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from hypothesis import given
from hypothesis import strategies as st

from leptonci.adapters.images.candidates import (
    ARTIFACT_TYPE,
    METRICS_TYPE,
    MODEL_TYPE,
    check_metrics,
    parse_manifest,
)
from leptonci.adapters.images.daemonless import default_arch
from leptonci.adapters.images.layout import canonical_json, sha256_digest
from leptonci.adapters.images.referrers import (
    Artifact,
    Referrer,
    attach,
    list_referrers,
    read_artifact,
)
from leptonci.adapters.images.registry import _error_codes
from leptonci.adapters.images.registry_auth import Challenge, RegistryAuth
from leptonci.adapters.images.registry_http import error_text
from leptonci.adapters.images.transfer import load_registry_base
from leptonci.core.errors import ExitCode
from leptonci.core.images import OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST, BaseRef
from tests.fuzz.mutate import documents
from tests.fuzz.outcome import fuzz_settings, outcome

OUTSIDE = ExitCode.OUTSIDE
D = "sha256:" + "ab" * 32
SUBJECT = "sha256:" + "cd" * 32


def _json(data: Any) -> str:
    return json.dumps(data, indent=1)


CONFIG_BLOB = _json({"architecture": default_arch(), "os": "linux", "rootfs": {"type": "layers"}})
IMAGE = _json(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": D, "size": 120},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": D, "size": 4096}],
    }
)
INDEX = _json(
    {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": D,
                "size": 500,
                "platform": {"os": "linux", "architecture": default_arch()},
            },
            {"mediaType": OCI_MANIFEST, "digest": D, "size": 500, "artifactType": "x/y"},
        ],
    }
)
CANDIDATE = _json(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": METRICS_TYPE, "digest": D, "size": 300},
        "layers": [
            {
                "mediaType": MODEL_TYPE,
                "digest": D,
                "size": 9000,
                "annotations": {"org.opencontainers.image.title": "digits"},
            }
        ],
        "annotations": {"org.leptonci.model": "digits"},
    }
)
METRICS = _json({"model": "digits", "content_hash": "ff" * 32, "metrics": {"accuracy": 0.9}})
REFERRER = _json(
    {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": D, "size": 2},
        "layers": [{"mediaType": "application/json", "digest": sha256_digest(b"{}"), "size": 2}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": SUBJECT, "size": 500},
        "annotations": {"dev.sigstore.bundle.predicateType": "https://slsa.dev/provenance/v1"},
    }
)
TOKEN = _json({"token": "t0ken-value", "access_token": "t0ken-value", "expires_in": 300})
ERRORS = _json({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]})


class FakeClient:
    """A registry client at its edge: every manifest and blob it reads is given bytes."""

    host = "registry.test"

    def __init__(self, manifests: list[bytes], blob: bytes) -> None:
        self.manifests, self.blob = manifests, blob

    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str]:
        data = self.manifests.pop(0) if len(self.manifests) > 1 else self.manifests[0]
        return data, ""

    def get_blob_bytes(self, repo: str, digest: str) -> bytes:
        return self.blob


class FakeStore:
    """A referrers store answering with the given index and manifest bytes."""

    name = "registry.test/digits"

    def __init__(self, index: bytes | None, manifest: bytes | None = None) -> None:
        self.index, self.manifest = index, manifest
        self.written: list[bytes] = []

    def put_blob(self, data: bytes, *, fresh: bool = False) -> str:
        return sha256_digest(data)

    def get_blob(self, digest: str) -> bytes:
        return b"{}"

    def put_manifest(self, data: bytes, media_type: str, ref: str) -> bool:
        self.written.append(data)
        return False  # no referrers API: the tag-schema index is read and updated

    def get_manifest(self, ref: str) -> tuple[bytes, str] | None:
        if ref.startswith("sha256:"):
            return (self.manifest, OCI_MANIFEST) if self.manifest is not None else None
        return (self.index, OCI_INDEX) if self.index is not None else None

    def referrers_api(self, digest: str) -> bytes | None:
        return self.index

    def resolve(self, ref: str) -> tuple[str, int, str] | None:
        return None


def _response(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    return response


def test_the_seeds_parse() -> None:
    ref = BaseRef("registry", "registry.test", "library/python", "3.11")
    client = FakeClient([INDEX.encode(), IMAGE.encode()], CONFIG_BLOB.encode())
    assert outcome("registry", lambda: load_registry_base(ref, client), code=OUTSIDE) == "ok"
    assert outcome("registry", lambda: _candidate(CANDIDATE.encode()), code=OUTSIDE) == "ok"
    assert outcome("registry", lambda: _referrers(INDEX.encode()), code=OUTSIDE) == "ok"
    assert outcome("registry", lambda: _token(TOKEN.encode()), code=OUTSIDE) == "ok"
    data = REFERRER.encode()
    referrer = Referrer(sha256_digest(data), len(data), "x", {})
    store = FakeStore(INDEX.encode(), data)
    assert read_artifact(store, referrer, subject=SUBJECT) is not None


@fuzz_settings(300)
@given(documents(INDEX, "json"), documents(IMAGE, "json"), documents(CONFIG_BLOB, "json"))
def test_base_image_index_manifest_and_config(index: bytes, image: bytes, config: bytes) -> None:
    ref = BaseRef("registry", "registry.test", "library/python", "3.11")
    client = FakeClient([index, image], config)
    outcome("registry manifest", lambda: load_registry_base(ref, client), code=OUTSIDE)


def _candidate(data: bytes) -> None:
    parse_manifest(data, tag="digits-" + "f" * 64, digest=sha256_digest(data), where="cache")


@fuzz_settings(300)
@given(documents(CANDIDATE, "json"), documents(METRICS, "json"))
def test_candidate_manifest_and_metrics(manifest: bytes, metrics: bytes) -> None:
    outcome("registry candidate", lambda: _candidate(manifest), code=OUTSIDE)
    outcome(
        "registry candidate",
        lambda: check_metrics(metrics, model="digits", content_hash="ff" * 32, where="cache"),
        code=OUTSIDE,
    )


def _referrers(index: bytes) -> None:
    store = FakeStore(index)
    for referrer in list_referrers(store, SUBJECT):
        canonical_json(referrer.to_json())
    attach(
        store,
        subject=(SUBJECT, 500, OCI_MANIFEST),
        artifact_type="x/y",
        artifacts=[Artifact(b"{}", {"a": "b"})],
    )


@fuzz_settings(300)
@given(documents(INDEX, "json"))
def test_referrers_index(index: bytes) -> None:
    outcome("registry index", lambda: _referrers(index), code=OUTSIDE)


@fuzz_settings(300)
@given(documents(REFERRER, "json"))
def test_referrer_manifest(data: bytes) -> None:
    referrer = Referrer(sha256_digest(data), len(data), "x", {})
    store = FakeStore(INDEX.encode(), data)
    outcome(
        "registry referrer", lambda: read_artifact(store, referrer, subject=SUBJECT), code=OUTSIDE
    )


def _token(body: bytes, status: int = 200) -> None:
    challenge = Challenge("bearer", {"realm": "https://auth.test/token", "service": "registry"})
    auth = RegistryAuth(challenge, None, lambda url, params, creds: _response(status, body))
    header = auth.answer(_response(401, b""), (("digits", frozenset({"pull"})),))
    assert header is None or header.startswith("Bearer ")


@fuzz_settings(300)
@given(documents(TOKEN, "json"), st.sampled_from([200, 200, 401, 404]))
def test_token_reply(body: bytes, status: int) -> None:
    outcome("registry token", lambda: _token(body, status), code=OUTSIDE)


@fuzz_settings(200)
@given(documents(ERRORS, "json"), st.integers(400, 599))
def test_error_body(body: bytes, status: int) -> None:
    response = _response(status, body)
    outcome(
        "registry error body", lambda: (error_text(response), _error_codes(response)), code=OUTSIDE
    )
