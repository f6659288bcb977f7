"""The OCI distribution registry adapter, on top of oras-py's ``Registry`` client.

oras-py does the protocol (upload sessions, chunked uploads, token auth); this module
adds what leptonci needs around it: bounded retries with short configurable backoff
(oras's own decorator sleeps up to minutes, so it is bypassed), typed errors that name
the registry and repository, pre-emptive basic auth (so no blob is sent twice), byte
counting for progress and idempotence, and reading digests back from the registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import oras.auth.utils
import oras.container
import oras.provider
import requests

from leptonci.adapters.images.credentials import Credentials
from leptonci.adapters.images.layout import BlobWriter, Descriptor, sha256_digest
from leptonci.core.backoff import Backoff
from leptonci.core.errors import RegistryAuthError, RegistryError
from leptonci.core.images import INDEX_TYPES, MANIFEST_TYPES
from leptonci.core.redact import excerpt, redact, register_secret

T = TypeVar("T")
ACCEPT_MANIFESTS = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
MONOLITHIC_LIMIT = 64 << 20  # larger blobs go up in chunks, so memory stays bounded
CHUNK_SIZE = 16 << 20
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@dataclass(frozen=True)
class RetryPolicy(Backoff):
    """Bounded retries for 5xx and connection errors."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0


class _ServerError(Exception):
    """A 5xx answer: retryable."""


class _OrasRegistry(oras.provider.Registry):
    """oras-py's client with a typed, counting, pre-authenticated request funnel.

    ``do_request`` replaces oras's own (which sleeps 3..83 s in a retry decorator and
    reuses one bearer token for every scope); retries happen in ``RegistryClient``.
    """

    basic_header: str | None = None
    on_sent: Callable[[int], None] | None = None

    def do_request(  # type: ignore[override]
        self,
        url: str,
        method: str = "GET",
        data: dict[str, Any] | bytes | None = None,
        headers: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        headers = dict(headers or {})
        token_auth = self.basic_header is None and isinstance(self.auth, oras.auth.TokenAuth)
        if self.basic_header:
            headers.setdefault("Authorization", self.basic_header)
        elif token_auth and self.auth.token:
            headers["Authorization"] = f"Bearer {self.auth.token}"
        try:
            response = self._send(url, method, data, headers, json, stream)
            if response.status_code in (401, 403) and token_auth:
                # A bearer token is scoped to one repository and one set of actions: the
                # token that answered a HEAD (pull) cannot open an upload (push). Ask the
                # token service for the scope this challenge names, then try once more.
                headers, changed = self.auth.authenticate_request(response, headers, refresh=True)
                register_secret(self.auth.token)  # the token service's answer, as it arrives
                if changed:
                    response = self._send(url, method, data, headers, json, stream)
        except _TRANSIENT:
            raise
        except (ValueError, AttributeError, oras.auth.AuthenticationException) as exc:
            # oras raises these when it cannot answer an auth challenge
            raise RegistryAuthError(redact(f"authentication failed: {exc}")) from None
        if response.status_code >= 500:
            raise _ServerError(f"{method} answered {response.status_code} {response.reason}")
        if response.status_code in (401, 403):
            raise RegistryAuthError(f"{method} answered {response.status_code}")
        if (
            method in ("PUT", "PATCH")
            and isinstance(data, bytes)
            and "/blobs/uploads/" in url
            and response.status_code < 300
            and self.on_sent is not None
        ):
            self.on_sent(len(data))
        return response

    def _send(
        self,
        url: str,
        method: str,
        data: dict[str, Any] | bytes | None,
        headers: dict[str, str],
        json: dict[str, Any] | None,
        stream: bool,
    ) -> requests.Response:
        return self.session.request(
            method,
            url,
            data=data,
            json=json,
            headers=headers,
            stream=stream,
            verify=self._tls_verify,
        )


class RegistryClient:
    """One registry host: blobs and manifests of any repository on it."""

    def __init__(
        self,
        host: str,
        *,
        plain_http: bool = False,
        credentials: Credentials | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.retry = retry or RetryPolicy()
        self.bytes_sent = 0
        self.on_sent: Callable[[int], None] | None = None
        self._credentials = credentials
        self._plain_http = plain_http
        self._timeout = timeout
        self._client: _OrasRegistry | None = None

    # -- connection and auth -------------------------------------------------------
    @property
    def scheme(self) -> str:
        return "http" if self._plain_http else "https"

    def _connect(self, repo: str) -> _OrasRegistry:
        """Ping /v2/ and pick oras's auth backend from the registry's challenge."""
        if self._client is not None:
            return self._client
        url = f"{self.scheme}://{self.host}/v2/"
        challenge = self._retrying(repo, "reach", lambda: self._ping(url))
        backend = "basic" if challenge.lower().startswith("basic") else "token"
        client = _OrasRegistry(hostname=self.host, insecure=self._plain_http, auth_backend=backend)
        client.session.request = _with_timeout(client.session.request, self._timeout)  # type: ignore[method-assign]
        client.on_sent = self._count
        creds = self._credentials
        if backend == "basic" and creds is None:
            # A token registry may still grant anonymous pulls (public base images).
            raise RegistryAuthError(
                f"registry {self.host} requires credentials for {repo}",
                hint="set LEPTONCI_REGISTRY_USERNAME and LEPTONCI_REGISTRY_PASSWORD or docker login",
            )
        if creds is not None:
            client.auth.set_basic_auth(creds.username, creds.password)
            if backend == "basic":
                encoded = oras.auth.utils.get_basic_auth(creds.username, creds.password)
                client.basic_header = f"Basic {encoded}"
        self._client = client
        return client

    def _ping(self, url: str) -> str:
        response = requests.get(url, timeout=self._timeout)
        if response.status_code >= 500:
            raise _ServerError(f"GET /v2/ answered {response.status_code}")
        if response.status_code == 401:
            return response.headers.get("Www-Authenticate", "Bearer")
        return ""

    def _count(self, size: int) -> None:
        self.bytes_sent += size
        if self.on_sent is not None:
            self.on_sent(size)

    def _retrying(self, repo: str, what: str, call: Callable[[], T]) -> T:
        last = ""
        for attempt in range(self.retry.attempts):
            try:
                return call()
            except RegistryAuthError:
                if self._credentials is None:
                    raise RegistryAuthError(
                        f"registry {self.host} requires credentials for {repo}",
                        hint="set LEPTONCI_REGISTRY_USERNAME and LEPTONCI_REGISTRY_PASSWORD "
                        "or docker login",
                    ) from None
                raise RegistryAuthError(
                    f"registry refused credentials for {self.host}/{repo}",
                    hint="check LEPTONCI_REGISTRY_USERNAME/PASSWORD or your docker login",
                ) from None
            except _ServerError as exc:
                last = str(exc)
            except _TRANSIENT as exc:
                last = type(exc).__name__.replace("Error", " error").strip().lower()
            if attempt + 1 < self.retry.attempts:
                time.sleep(self.retry.delay(attempt + 1))
        raise RegistryError(
            redact(
                f"registry {self.host} failed to {what} {repo} after "
                f"{self.retry.attempts} tries: {last}"
            ),
            hint="check that the registry is up and reachable, then run again",
        )

    def _container(self, repo: str) -> oras.container.Container:
        return oras.container.Container(f"{self.host}/{repo}")

    def _url(self, repo: str, kind: str, ref: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{repo}/{kind}/{ref}"

    # -- blobs ---------------------------------------------------------------------
    def has_blob(self, repo: str, digest: str) -> bool:
        client = self._connect(repo)
        url = self._url(repo, "blobs", digest)
        response = self._retrying(repo, "check a blob of", lambda: client.do_request(url, "HEAD"))
        return response.status_code == 200

    def upload_blob(self, repo: str, path: str, desc: Descriptor) -> None:
        """Upload a blob from a file (callers HEAD it first to skip existing ones)."""
        client = self._connect(repo)
        container = self._container(repo)
        layer = {"digest": desc.digest, "size": desc.size, "mediaType": desc.media_type}

        def upload() -> requests.Response:
            try:
                if desc.size > MONOLITHIC_LIMIT:
                    return client.chunked_upload(path, container, layer, chunk_size=CHUNK_SIZE)
                return client.put_upload(path, container, layer)
            except ValueError:  # oras: the registry gave no upload session (no Location)
                raise RegistryError(
                    f"registry {self.host} refused an upload session for {repo}",
                    hint="check the repository name and your push permission",
                ) from None

        response = self._retrying(repo, "upload a blob to", upload)
        if response.status_code not in (201, 202, 204):
            raise RegistryError(
                f"registry {self.host} rejected blob {desc.digest[:19]} for {repo}: "
                f"{response.status_code} {_error_text(response)}",
                hint="check the repository name and the registry's quota",
            )

    def download_blob(self, repo: str, desc: Descriptor, writer: BlobWriter) -> str:
        """Stream a blob into writer and return its verified digest."""
        client = self._connect(repo)
        url = self._url(repo, "blobs", desc.digest)

        def fetch() -> str:
            with client.do_request(url, "GET", stream=True) as response:
                if response.status_code != 200:
                    raise RegistryError(
                        f"registry {self.host} has no blob {desc.digest[:19]} in {repo}: "
                        f"{response.status_code}"
                    )
                for chunk in response.iter_content(1 << 20):
                    writer.sink.write(chunk)
            return writer.commit()

        try:
            digest = self._retrying(repo, "download a blob of", fetch)
        except BaseException:
            writer.abort()
            raise
        if digest != desc.digest:
            raise RegistryError(f"blob {desc.digest[:19]} from {self.host}/{repo} is corrupt")
        return digest

    # -- manifests -----------------------------------------------------------------
    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        """PUT the exact manifest bytes under ref; returns the digest the registry reports."""
        client = self._connect(repo)
        url = self._url(repo, "manifests", ref)
        headers = {"Content-Type": media_type}
        response = self._retrying(
            repo,
            "push a manifest to",
            lambda: client.do_request(url, "PUT", data=data, headers=headers),
        )
        if response.status_code not in (200, 201, 202):
            raise RegistryError(
                f"registry {self.host} rejected the manifest for {repo}:{ref}: "
                f"{response.status_code} {_error_text(response)}"
            )
        return response.headers.get("Docker-Content-Digest", sha256_digest(data))

    def manifest_digest(self, repo: str, ref: str) -> str | None:
        """The digest of the manifest at ref, read from the registry (None when absent)."""
        client = self._connect(repo)
        url = self._url(repo, "manifests", ref)
        headers = {"Accept": ACCEPT_MANIFESTS}
        response = self._retrying(
            repo, "read a manifest of", lambda: client.do_request(url, "HEAD", headers=headers)
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryError(
                f"registry {self.host}: HEAD {repo}:{ref} gave {response.status_code}"
            )
        digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        data, _ = self.get_manifest(repo, ref)
        return sha256_digest(data)

    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str]:
        """The manifest (or index) bytes at ref and their media type."""
        client = self._connect(repo)
        url = self._url(repo, "manifests", ref)
        headers = {"Accept": ACCEPT_MANIFESTS}
        response = self._retrying(
            repo, "read a manifest of", lambda: client.do_request(url, "GET", headers=headers)
        )
        if response.status_code == 404:
            raise RegistryError(
                f"image {self.host}/{repo}:{ref} not found",
                hint="check image.base in leptonci.yaml and that the image was pushed",
            )
        if response.status_code != 200:
            raise RegistryError(
                f"registry {self.host}: GET {repo}:{ref} gave {response.status_code}"
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return response.content, media_type

    def get_blob_bytes(self, repo: str, digest: str) -> bytes:
        client = self._connect(repo)
        url = self._url(repo, "blobs", digest)
        response = self._retrying(repo, "read a blob of", lambda: client.do_request(url, "GET"))
        if response.status_code != 200 or sha256_digest(response.content) != digest:
            raise RegistryError(f"registry {self.host}: blob {digest[:19]} of {repo} unreadable")
        return response.content


def _with_timeout(request: Callable[..., requests.Response], timeout: float) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", timeout)
        return request(*args, **kwargs)

    return call


def _error_text(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return excerpt("; ".join(str(e.get("message", e.get("code", ""))) for e in errors))
    except ValueError:
        return excerpt(response.text)
