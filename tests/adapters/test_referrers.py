"""Referrers on a registry without the referrers API (Debian's docker-registry: the tag
schema) and with it (the same registry behind a loopback proxy that implements
``GET /v2/NAME/referrers/DIGEST`` and answers ``OCI-Subject``, as a 1.1 registry does)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from leptonci.adapters.images.referrers import (
    Artifact,
    RegistryStore,
    attach,
    fallback_tag,
    list_referrers,
    read_artifact,
)
from leptonci.adapters.images.registry import RegistryClient
from leptonci.core.images import OCI_INDEX
from tests.fixtures.attest import small_image
from tests.fixtures.registry import RegistryServer

pytestmark = pytest.mark.service
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


class ReferrersProxy:
    """Forwards to a real registry; keeps the referrers index a 1.1 registry keeps."""

    def __init__(self, upstream: RegistryServer) -> None:
        self.referrers: dict[str, list[dict[str, object]]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command == "GET" and "/referrers/" in self.path:
                    digest = self.path.rsplit("/", 1)[1]
                    index = {
                        "schemaVersion": 2,
                        "mediaType": OCI_INDEX,
                        "manifests": outer.referrers.get(digest, []),
                    }
                    self._send(200, json.dumps(index).encode(), {"Content-Type": OCI_INDEX})
                    return
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length")
                }
                response = requests.request(
                    self.command,
                    upstream.url + self.path,
                    headers=headers,
                    data=body,
                    timeout=10,
                    allow_redirects=False,
                )
                extra = {}
                if self.command == "PUT" and "/manifests/" in self.path and body:
                    manifest = json.loads(body)
                    subject = (manifest.get("subject") or {}).get("digest")
                    if subject and response.status_code == 201:
                        entry = {
                            "mediaType": manifest["mediaType"],
                            "digest": response.headers["Docker-Content-Digest"],
                            "size": len(body),
                            "artifactType": manifest.get("artifactType"),
                            "annotations": manifest.get("annotations") or {},
                        }
                        outer.referrers.setdefault(subject, []).append(entry)
                        extra["OCI-Subject"] = subject
                keep = (
                    "Content-Type",
                    "Docker-Content-Digest",
                    "Location",
                    "Range",
                    "WWW-Authenticate",
                )
                out = {k: response.headers[k] for k in keep if k in response.headers}
                self._send(
                    response.status_code,
                    response.content if self.command != "HEAD" else b"",
                    {**out, **extra},
                    head_length=response.headers.get("Content-Length"),
                )

            def _send(
                self,
                status: int,
                data: bytes,
                headers: dict[str, str],
                head_length: str | None = None,
            ) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header(
                    "Content-Length",
                    head_length if self.command == "HEAD" and head_length else str(len(data)),
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_PATCH = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(registry: RegistryServer) -> Iterator[ReferrersProxy]:
    server = ReferrersProxy(registry)
    yield server
    server.stop()


def _attach_two(store: RegistryStore, digest: str) -> None:
    subject = store.resolve(digest)
    assert subject is not None
    attach(
        store, subject=subject, artifact_type=BUNDLE, artifacts=[Artifact(b'{"n":1}', {"n": "1"})]
    )
    attach(
        store, subject=subject, artifact_type=BUNDLE, artifacts=[Artifact(b'{"n":2}', {"n": "2"})]
    )


def test_without_the_referrers_api_the_tag_schema_lists_them(registry: RegistryServer) -> None:
    client = RegistryClient(registry.host, plain_http=True)
    digest = small_image(client, "team/digits", "a")
    store = RegistryStore(client, "team/digits")
    assert client.referrers("team/digits", digest) is None
    assert list_referrers(store, digest) == []
    _attach_two(store, digest)
    tagged = registry.get(
        f"/v2/team/digits/manifests/{fallback_tag(digest)}", Accept=OCI_INDEX
    ).json()
    assert [m["annotations"]["n"] for m in tagged["manifests"]] == ["1", "2"]
    found = list_referrers(store, digest, artifact_type=BUNDLE)
    assert [read_artifact(store, r, subject=digest) for r in found] == [
        (b'{"n":1}', {"n": "1"}),
        (b'{"n":2}', {"n": "2"}),
    ]
    other = small_image(client, "team/digits", "b")
    assert list_referrers(store, other) == []
    assert read_artifact(store, found[0], subject=other) is None  # a lying index entry


def test_with_the_referrers_api_no_tag_is_written(
    registry: RegistryServer, proxy: ReferrersProxy
) -> None:
    client = RegistryClient(proxy.host, plain_http=True)
    digest = small_image(client, "team/digits", "a")
    store = RegistryStore(client, "team/digits")
    _attach_two(store, digest)
    assert (
        registry.get(
            f"/v2/team/digits/manifests/{fallback_tag(digest)}", Accept=OCI_INDEX
        ).status_code
        == 404
    )
    found = list_referrers(store, digest, artifact_type=BUNDLE)
    assert [r.annotations["n"] for r in found] == ["1", "2"]
    assert read_artifact(store, found[1], subject=digest) == (b'{"n":2}', {"n": "2"})
