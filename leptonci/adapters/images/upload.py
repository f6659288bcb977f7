"""Uploading one blob, resumably: the chunked session of the OCI distribution spec.

POST opens a session; each PATCH sends the next window of the source (``Content-Range``,
at most ``client.chunk_size`` bytes, streamed in pieces so memory stays flat); a PUT
``?digest=`` closes it. When the digest is not known up front (a model layer read as it
goes out), it is computed over the bytes, in order, as they are sent, and the PUT names
it: the bytes are read once. A small blob of known digest goes up in one PUT instead.

When a request fails (a broken connection, a stall, a 5xx), the session is asked where
it stands (GET, ``Range``) and the upload goes on from there; the source is read again
only from that offset (``tarlayer`` seeks). A registry that no longer knows the session
gets a new one from offset 0: Debian's docker-registry (distribution 2.8) does that
after a PATCH broke off partway, since its upload state token then no longer matches
the bytes it holds; between chunks, its sessions survive even a restart. Tries are
bounded (through ``retrying.retry_call``): ``client.retry.attempts`` failures, or
``deadlines.give_up`` seconds, with no chunk acknowledged in between end in a
RegistryError (exit 3). Giving up, or an interrupt, cancels the session (DELETE).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from leptonci.adapters.deadline import current
from leptonci.adapters.images.registry import RegistryClient, UploadState
from leptonci.adapters.images.registry_http import (
    TRANSIENT,
    RangeMismatch,
    SessionLost,
    describe,
)
from leptonci.adapters.images.tarlayer import PIECE
from leptonci.adapters.retrying import retry_call
from leptonci.core.errors import ConfigError, RegistryAuthError, RegistryError

_RESUMABLE: tuple[type[Exception], ...] = (RangeMismatch, *TRANSIENT)


class _Failed(Exception):
    """One try of an upload failed in a way another try may mend; says why."""


class _Progressed(Exception):
    """A try failed after the registry acknowledged chunks: start a fresh count."""


class BlobSource(Protocol):
    """Bytes of one blob that can be produced again from any offset."""

    name: str
    size: int

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[memoryview]: ...

    def changed(self) -> bool: ...


class FileSource:
    """A blob in a file (the build store, a layout): read from an offset with a seek."""

    def __init__(self, path: Path, size: int | None = None) -> None:
        self.path = path
        self.name = str(path)
        self.size = path.stat().st_size if size is None else size

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[memoryview]:
        end = self.size if end is None else end
        buffer = bytearray(min(PIECE, max(end - start, 1)))
        view = memoryview(buffer)
        with open(self.path, "rb", buffering=0) as fh:
            fh.seek(start)
            while start < end:
                n = fh.readinto(view[: min(len(buffer), end - start)])
                if not n:
                    raise ConfigError(f"{self.path} is shorter than its {self.size} bytes")
                start += n
                yield view[:n]

    def changed(self) -> bool:
        return False  # content-addressed: a different file would fail its digest


class BytesSource:
    """A blob already in memory (an image config)."""

    def __init__(self, data: bytes, name: str = "blob") -> None:
        self._data = memoryview(data)
        self.name = name
        self.size = len(data)

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[memoryview]:
        end = self.size if end is None else end
        for at in range(start, end, PIECE):
            yield self._data[at : min(at + PIECE, end)]

    def changed(self) -> bool:
        return False


@dataclass(frozen=True)
class Uploaded:
    digest: str
    sent: int  # bytes handed to the network, any resent ones included
    resumed: int = 0  # times the session went on from the offset the registry held
    restarted: int = 0  # times a new session began again from 0


class _RunningDigest:
    """sha256 of a stream that may be sent more than once: bytes already hashed are
    skipped, so a resend from an earlier offset does not hash them twice."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.position = 0

    def feed(self, start: int, piece: memoryview) -> None:
        end = start + len(piece)
        if end <= self.position:
            return
        if start > self.position:
            raise RuntimeError(f"hash gap: at {self.position}, given {start}")
        self._hash.update(piece[self.position - start :])
        self.position = end

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class _Body:
    """A request body: bytes [start, end) of a source, hashed as they go out.

    on_sent(position) runs as each piece has been handed to the network.
    """

    def __init__(
        self,
        source: BlobSource,
        start: int,
        end: int,
        running: _RunningDigest,
        on_sent: Callable[[int], None],
        window: int,
    ) -> None:
        self._source, self._start, self._end, self._running = source, start, end, running
        self._on_sent, self._window = on_sent, window
        self.sent = 0

    def __len__(self) -> int:  # requests sends Content-Length, not chunked framing
        return self._end - self._start

    def __iter__(self) -> Iterator[memoryview]:
        position = self._start
        for whole in self._source.chunks(self._start, self._end):
            # a window at a time: each send must finish within the stall timeout, and
            # each one sent pushes the request's guard on (adapters.deadline)
            for at in range(0, len(whole), self._window):
                piece = whole[at : at + self._window]
                self._running.feed(position, piece)
                yield piece
                position += len(piece)  # asked for the next piece: this one was sent
                self.sent += len(piece)
                armed = current()
                if armed is not None:
                    armed.touch()
                self._on_sent(position)


def upload_blob(
    client: RegistryClient,
    repo: str,
    source: BlobSource,
    *,
    digest: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Uploaded:
    """Upload source as one blob of repo and return its digest (computed while
    sending when not given; when given, a source that reads otherwise is refused).

    on_progress gets the bytes of each piece as it is sent, each byte once (a resend
    after a broken connection is not counted again).
    """
    return _Upload(client, repo, source, digest, on_progress).run()


class _Upload:
    def __init__(
        self,
        client: RegistryClient,
        repo: str,
        source: BlobSource,
        digest: str | None,
        on_progress: Callable[[int], None] | None,
    ) -> None:
        self.client, self.repo, self.source = client, repo, source
        self.expected, self.on_progress = digest, on_progress
        self.running = _RunningDigest()
        self.state: UploadState | None = None  # the session, as the registry last said
        self.ask = False  # ask the session where it stands before sending more
        self.sent = self.reported = self.acked = self.resumed = self.restarted = 0

    def run(self) -> Uploaded:
        """Try, resume and restart through ``retry_call``: a stretch of tries with no
        chunk acknowledged is bounded by ``retry.attempts`` and ``deadlines.give_up``;
        an acknowledged chunk starts a fresh stretch."""
        whole = self.expected is not None and self.source.size <= self.client.monolithic_limit
        while True:
            try:
                return retry_call(
                    lambda: self._attempt(whole),
                    what=f"upload {self.source.name} to {self.repo}",
                    schedule=self.client.retry,
                    retry_if=lambda exc: isinstance(exc, _Failed),
                    give_up=self._gave_up,
                    deadline=self.client.deadlines.give_up,
                )
            except _Progressed:
                continue  # bytes landed before the failure: resume at once, counts reset

    def _attempt(self, whole: bool) -> Uploaded:
        acked = self.acked
        try:
            if self.state is None:
                self.state = self.client.start_upload(self.repo)
            elif self.ask:
                self.state = self.client.upload_status(self.repo, self.state.location)
                self.resumed += 1
            self.ask = False
            return self._put_whole(self.state) if whole else self._send()
        except RegistryAuthError:
            raise self.client.auth_error(self.repo) from None
        except SessionLost as lost:
            if self._landed():
                return self._done()
            self.state = None
            self.restarted += 1
            failed = _Failed(f"the registry dropped the upload session ({lost})")
            if self.restarted > self.client.retry.attempts:  # it keeps losing them
                raise self._gave_up(failed, self.restarted) from None
        except _RESUMABLE as exc:
            failed = _Failed(describe(exc))
            if whole:
                self.state = None  # a single PUT is not resumed: a new session
            else:
                self.ask = True
        except KeyboardInterrupt:
            self._abandon()
            raise
        if self.acked > acked:
            raise _Progressed() from failed
        raise failed

    def _gave_up(self, last: Exception, tries: int) -> Exception:
        why = str(last) if isinstance(last, _Failed) else describe(last)
        self._abandon()
        return self.client.gave_up(self.repo, "upload a blob to", why, tries)

    def _abandon(self) -> None:
        """Interrupted or given up: cancel the session, so the registry frees it now."""
        if self.state is not None:
            self.client.cancel_upload(self.repo, self.state.location)
            self.state = None

    def _put_whole(self, state: UploadState) -> Uploaded:
        assert self.expected is not None
        body = self._body(0, self.source.size)
        try:
            self.client.put_blob(self.repo, state.location, self.expected, body, self.source.size)
        except RegistryError:  # the registry checks the digest itself: say why it failed
            if self.running.position == self.source.size and self.running.digest != self.expected:
                raise self._changed() from None
            raise
        finally:
            self.sent += body.sent
        return self._done()

    def _send(self) -> Uploaded:
        """PATCH the rest, chunk by chunk, then close the session naming the digest.

        ``self.state`` always holds the registry's latest answer: its Location carries
        the session's state token, and only the latest one is accepted.
        """
        assert self.state is not None
        size = self.source.size
        while self.state.held < size:
            start = self.state.held
            end = min(start + self.client.chunk_size, size)
            body = self._body(start, end)
            try:
                self.state = self.client.patch_chunk(
                    self.repo, self.state.location, body, start, end
                )
            finally:
                self.sent += body.sent
            self.acked += 1  # progress: the next failure starts a fresh count
        digest = self.running.digest
        self._check(digest, self.state)
        self.client.put_blob(self.repo, self.state.location, digest, None, 0)
        return self._done()

    def _body(self, start: int, end: int) -> _Body:
        window = self.client.deadlines.window
        return _Body(self.source, start, end, self.running, self._progress, window)

    def _check(self, digest: str, state: UploadState) -> None:
        """Refuse to close a session over bytes that are not what was planned."""
        if self.running.position != self.source.size:
            raise RuntimeError(f"hashed {self.running.position} of {self.source.size} bytes")
        if (self.expected is not None and digest != self.expected) or self.source.changed():
            self.client.cancel_upload(self.repo, state.location)
            raise self._changed()

    def _changed(self) -> ConfigError:
        return ConfigError(
            f"{self.source.name} changed while it was being pushed",
            hint="leave it alone until the push is done, then run again",
        )

    def _progress(self, position: int) -> None:
        if position > self.reported:
            if self.on_progress is not None:
                self.on_progress(position - self.reported)
            self.reported = position

    def _landed(self) -> bool:
        """After a lost answer to the closing PUT: is the blob there all the same?"""
        if self.running.position != self.source.size:
            return False
        return self.client.has_blob(self.repo, self.expected or self.running.digest)

    def _done(self) -> Uploaded:
        digest = self.expected or self.running.digest
        return Uploaded(digest, self.sent, self.resumed, self.restarted)
