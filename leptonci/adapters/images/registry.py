"""An OCI distribution registry, spoken to directly over ``requests``.

The distribution API is small: manifests (HEAD, GET, PUT), blobs (HEAD, GET), upload
sessions (POST, PATCH, GET, PUT, DELETE) and cross-repository mounts. ``RegistryClient``
has one method for each call leptonci makes; the funnel under them (ping and challenge,
auth, retries, timeouts, errors) is ``registry_http``. Uploading a whole blob,
resumably, is ``upload``'s job, on the session calls here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import requests

from leptonci.adapters.deadline import guard
from leptonci.adapters.http_deadline import cut_reason
from leptonci.adapters.images.layout import Descriptor, OciLayout, sha256_digest
from leptonci.adapters.images.registry_http import (
    CHUNK_SIZE,
    MONOLITHIC_LIMIT,
    TRANSIENT,
    RangeMismatch,
    RegistryConnection,
    RetryPolicy,
    ServerError,
    SessionLost,
    describe,
    error_text,
)
from leptonci.core.errors import RegistryAuthError, RegistryError
from leptonci.core.images import INDEX_TYPES, MANIFEST_TYPES

__all__ = [
    "CHUNK_SIZE",
    "MONOLITHIC_LIMIT",
    "TRANSIENT",
    "PutManifest",
    "RangeMismatch",
    "RegistryClient",
    "RetryPolicy",
    "ServerError",
    "SessionLost",
    "UploadState",
    "describe",
]

ACCEPT_MANIFESTS = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
PULL, PUSH = frozenset({"pull"}), frozenset({"pull", "push"})
_SESSION_GONE = {"BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"}
_BEST_EFFORT: tuple[type[Exception], ...] = (*TRANSIENT, RegistryError)


@dataclass(frozen=True)
class PutManifest:
    digest: str  # as the registry reports it
    subject: str | None  # the OCI-Subject answer: the registry indexes referrers itself


@dataclass(frozen=True)
class UploadState:
    location: str  # where the next request about this session goes
    held: int  # bytes the registry holds in the session


class RegistryClient(RegistryConnection):
    """One registry host: blobs and manifests of any repository on it."""

    # -- blobs ---------------------------------------------------------------------
    def has_blob(self, repo: str, digest: str) -> bool:
        url = self._url(repo, "blobs", digest)

        def head() -> bool:
            response = self.request("HEAD", url, scopes=((repo, PULL),))
            response.close()
            return response.status_code == 200

        return self._retrying(repo, "check a blob of", head)

    def get_blob_bytes(self, repo: str, digest: str) -> bytes:
        url = self._url(repo, "blobs", digest)
        response = self._retrying(
            repo, "read a blob of", lambda: self.request("GET", url, scopes=((repo, PULL),))
        )
        if response.status_code != 200 or sha256_digest(response.content) != digest:
            raise RegistryError(f"registry {self.host}: blob {digest[:19]} of {repo} unreadable")
        return response.content

    def download_blob(self, repo: str, desc: Descriptor, store: OciLayout) -> str:
        """Stream a blob into store and return its verified digest."""
        url = self._url(repo, "blobs", desc.digest)

        def fetch() -> str:
            writer = store.writer()  # a fresh file per try: no half blob is appended to
            # progress-based: the guard is pushed on by every window that arrives
            with guard(self.stall_timeout, clipped=False) as armed:
                try:
                    response = self.request(
                        "GET",
                        url,
                        scopes=((repo, PULL),),
                        stream=True,
                        timeout=(self.connect_timeout, self.stall_timeout),
                    )
                    with response:
                        if response.status_code != 200:
                            raise RegistryError(
                                f"registry {self.host} has no blob {desc.digest[:19]} in "
                                f"{repo}: {response.status_code}"
                            )
                        for chunk in response.iter_content(self.deadlines.window):
                            armed.touch()
                            writer.sink.write(chunk)
                except TRANSIENT as exc:
                    writer.abort()
                    raise cut_reason(armed, exc) from exc
                except BaseException:
                    writer.abort()
                    raise
            return writer.commit()

        digest = self._retrying(repo, "download a blob of", fetch)
        if digest != desc.digest:
            raise RegistryError(f"blob {desc.digest[:19]} from {self.host}/{repo} is corrupt")
        return digest

    # -- upload sessions (one try each: ``upload`` decides about retries) ----------
    def start_upload(self, repo: str) -> UploadState:
        """POST a new upload session."""
        response = self.request(
            "POST", f"{self.base_url}/v2/{repo}/blobs/uploads/", scopes=((repo, PUSH),)
        )
        response.close()
        if response.status_code != 202 or not response.headers.get("Location"):
            raise RegistryError(
                f"registry {self.host} refused an upload session for {repo}: "
                f"{response.status_code} {error_text(response)}",
                hint="check the repository name and your push permission",
            )
        return UploadState(self._location(response), 0)

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Link a blob the registry holds in from_repo into repo, sending no bytes.

        True when mounted (201); False when the registry opened an upload session
        instead (202: it cannot or will not mount), which is cancelled again.
        """
        query = urlencode({"mount": digest, "from": from_repo})
        url = f"{self.base_url}/v2/{repo}/blobs/uploads/?{query}"

        def mount() -> bool:
            response = self.request("POST", url, scopes=((repo, PUSH), (from_repo, PULL)))
            response.close()
            if response.status_code == 201:
                return True
            if response.status_code == 202 and response.headers.get("Location"):
                self.cancel_upload(repo, self._location(response))
                return False
            raise RegistryError(
                f"registry {self.host} refused to mount {digest[:19]} from {from_repo} "
                f"into {repo}: {response.status_code} {error_text(response)}",
                hint="check the repository names and your push permission",
            )

        try:
            return self._retrying(repo, "mount a blob into", mount)
        except RegistryAuthError:
            return False  # no pull right on from_repo: an upload still works

    def upload_status(self, repo: str, location: str) -> UploadState:
        """GET the session: how many bytes the registry holds (raises SessionLost)."""
        response = self.request("GET", location, scopes=((repo, PUSH),))
        response.close()
        if response.status_code in (400, 404):
            raise SessionLost(
                f"upload session answered {response.status_code} {error_text(response)}".rstrip()
            )
        if response.status_code != 204:
            raise ServerError(f"upload status answered {response.status_code}")
        return UploadState(self._location(response, location), _held(response) or 0)

    def patch_chunk(
        self, repo: str, location: str, body: Iterable[memoryview], start: int, end: int
    ) -> UploadState:
        """PATCH bytes [start, end) into the session (body is sized: len == end - start)."""
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{end - 1}",
            "Content-Length": str(end - start),
        }
        with guard(self.stall_timeout, clipped=False):  # the body pushes it on
            response = self.request(
                "PATCH",
                location,
                scopes=((repo, PUSH),),
                headers=headers,
                data=body,
                timeout=self._blob,
            )
        response.close()
        self._session_answer(response)
        if response.status_code != 202:
            raise self._rejected(repo, response, "a chunk")
        held = _held(response)
        if held is None or (held == 0 and end == 1):  # no Range, or the 0-0 of one byte
            held = end
        return UploadState(self._location(response, location), held)

    def put_blob(
        self, repo: str, location: str, digest: str, body: Iterable[memoryview] | None, size: int
    ) -> None:
        """PUT ?digest= to close the session, with the whole blob as body or none."""
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        url = _with_query(location, digest=digest)
        with guard(self.stall_timeout, clipped=False):  # the body pushes it on
            response = self.request(
                "PUT", url, scopes=((repo, PUSH),), headers=headers, data=body, timeout=self._blob
            )
        response.close()
        self._session_answer(response)
        if response.status_code != 201:
            raise self._rejected(repo, response, f"blob {digest[:19]}")
        reported = response.headers.get("Docker-Content-Digest")
        if reported and reported != digest:
            raise RegistryError(
                f"registry {self.host} stored {reported[:19]} for blob {digest[:19]} in {repo}"
            )

    def cancel_upload(self, repo: str, location: str) -> None:
        """DELETE the session, best effort (a registry purges stale ones anyway)."""
        try:
            self.request("DELETE", location, scopes=((repo, PUSH),)).close()
        except _BEST_EFFORT:
            pass

    def _location(self, response: requests.Response, fallback: str = "") -> str:
        location = response.headers.get("Location") or fallback
        return urljoin(self.base_url + "/", location)

    def _session_answer(self, response: requests.Response) -> None:
        if response.status_code == 416:
            raise RangeMismatch(f"chunk answered 416 {error_text(response)}")
        if response.status_code in (400, 404) and _error_codes(response) & _SESSION_GONE:
            raise SessionLost(
                f"upload session answered {response.status_code} {error_text(response)}".rstrip()
            )

    def _rejected(self, repo: str, response: requests.Response, what: str) -> RegistryError:
        return RegistryError(
            f"registry {self.host} rejected {what} for {repo}: "
            f"{response.status_code} {error_text(response)}",
            hint="check the repository name and the registry's quota",
        )

    # -- manifests -----------------------------------------------------------------
    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> str:
        """PUT the exact manifest bytes under ref; returns the digest the registry reports."""
        return self.push_manifest(repo, ref, data, media_type).digest

    def push_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> PutManifest:
        """PUT the manifest; the answer says whether the registry took note of a
        ``subject`` (an ``OCI-Subject`` header: it keeps the referrers list itself)."""
        url = self._url(repo, "manifests", ref)
        headers = {"Content-Type": media_type}
        response = self._retrying(
            repo,
            "push a manifest to",
            lambda: self.request("PUT", url, scopes=((repo, PUSH),), headers=headers, data=data),
        )
        if response.status_code not in (200, 201, 202):
            raise RegistryError(
                f"registry {self.host} rejected the manifest for {repo}:{ref}: "
                f"{response.status_code} {error_text(response)}"
            )
        digest = response.headers.get("Docker-Content-Digest", sha256_digest(data))
        return PutManifest(digest, response.headers.get("OCI-Subject"))

    def find_manifest(self, repo: str, ref: str) -> tuple[bytes, str] | None:
        """The manifest at ref and its media type, or None when the registry has none."""
        url = self._url(repo, "manifests", ref)
        headers = {"Accept": ACCEPT_MANIFESTS}
        response = self._retrying(
            repo,
            "read a manifest of",
            lambda: self.request("GET", url, scopes=((repo, PULL),), headers=headers),
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RegistryError(
                f"registry {self.host}: GET {repo}:{ref} gave {response.status_code}"
            )
        return response.content, response.headers.get("Content-Type", "").split(";")[0].strip()

    def referrers(self, repo: str, digest: str) -> bytes | None:
        """The referrers API's image index for digest; None when the registry has no
        referrers API (it answers 404, as distribution 2.x does, or 400/405)."""
        url = self._url(repo, "referrers", digest)
        headers = {"Accept": INDEX_TYPES[0]}
        response = self._retrying(
            repo,
            "list the referrers of",
            lambda: self.request("GET", url, scopes=((repo, PULL),), headers=headers),
        )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if response.status_code != 200 or media_type != INDEX_TYPES[0]:
            return None
        return response.content

    def manifest_digest(self, repo: str, ref: str) -> str | None:
        """The digest of the manifest at ref, read from the registry (None when absent)."""
        url = self._url(repo, "manifests", ref)
        headers = {"Accept": ACCEPT_MANIFESTS}
        response = self._retrying(
            repo,
            "read a manifest of",
            lambda: self.request("HEAD", url, scopes=((repo, PULL),), headers=headers),
        )
        response.close()
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
        url = self._url(repo, "manifests", ref)
        headers = {"Accept": ACCEPT_MANIFESTS}
        response = self._retrying(
            repo,
            "read a manifest of",
            lambda: self.request("GET", url, scopes=((repo, PULL),), headers=headers),
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


def _held(response: requests.Response) -> int | None:
    """Bytes held, from ``Range: 0-LAST`` (None without one). distribution answers 0-0
    for an empty session as for a one-byte one; read as empty."""
    _, _, last = response.headers.get("Range", "").partition("-")
    try:
        end = int(last)
    except ValueError:
        return None
    return end + 1 if end > 0 else 0


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def _error_codes(response: requests.Response) -> set[str]:
    try:
        return {str(e.get("code", "")) for e in response.json().get("errors") or []}
    except (ValueError, AttributeError, TypeError):  # not the distribution spec's shape
        return set()
