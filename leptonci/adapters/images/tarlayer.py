"""The model layer as a virtual tar: planned from a listing, its bytes read on demand.

Headers and padding come from one ``stat`` of every entry, so the layer's exact size is
known before a byte of the model is read, and any stretch of the layer can be produced
at any time: file contents are read (seek + readinto) only when that stretch is asked
for. An upload therefore reads the model once, as it sends it, and an interrupted
upload resumes at the offset the registry holds without re-reading what came before.

The bytes are what ``tarfile`` writes for the same entries in GNU format: entries
sorted, owner 0:0, no user or group names, modes 0644/0755, every mtime the source
commit's time, two zero blocks and zero padding to a 10240-byte record at the end.
``FORMAT`` names this layout; change it whenever the bytes would change.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import stat
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from leptonci.core.errors import ConfigError

FORMAT = "leptonci-tar-1"
PIECE = 1 << 20  # bytes read (and handed to the network) at a time
_ENCODING, _ERRORS = "utf-8", "surrogateescape"  # tarfile's defaults on Linux


class RawFile(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def close(self) -> None: ...


Opener = Callable[[Path], RawFile]  # the one place model files are opened (tests count here)


def open_raw(path: Path) -> RawFile:
    """Unbuffered: readinto lands straight in the caller's buffer."""
    return open(path, "rb", buffering=0)


@dataclass(frozen=True)
class _File:
    path: Path
    rel: str
    size: int


def model_entries(export_dir: Path) -> list[tuple[str, Path, os.stat_result]]:
    """(relative posix path, path, stat) of everything under export_dir, sorted.

    Symlinks are followed, directories too (a SavedModel's ``assets/`` is often a link
    into a data folder), so the layer holds the bytes the model reads; a dangling link
    or a directory loop is a config error naming the path.
    """
    found: list[tuple[str, Path, os.stat_result]] = []

    def walk(folder: Path, seen: frozenset[tuple[int, int]]) -> None:
        for path in _listdir(folder, export_dir):
            rel = path.relative_to(export_dir).as_posix()
            st = _stat(path, export_dir)
            found.append((rel, path, st))
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    raise ConfigError(
                        f"{rel} in {export_dir} links back to a folder above it",
                        hint="replace the symlink loop with the files the model needs",
                    )
                walk(path, seen | {key})

    root = _stat(export_dir, export_dir)
    walk(export_dir, frozenset({(root.st_dev, root.st_ino)}))
    return sorted(found, key=lambda item: item[0])


def _listdir(folder: Path, export_dir: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise unreadable(folder, export_dir, exc) from None


def _stat(path: Path, export_dir: Path) -> os.stat_result:
    try:
        return path.stat()  # follows symlinks: the layer holds plain files only
    except OSError as exc:
        raise unreadable(path, export_dir, exc) from None


def unreadable(path: Path, export_dir: Path, exc: OSError | None = None) -> ConfigError:
    rel = path.relative_to(export_dir).as_posix() if path != export_dir else "."
    what = "a dangling symlink" if path.is_symlink() and not path.exists() else "unreadable"
    why = f" ({exc.strerror or exc})" if exc is not None else ""
    return ConfigError(
        f"{rel} in the model export {export_dir} is {what}{why}",
        hint="fix or remove it, then build again",
    )


class TarLayer:
    """The model folder as the bytes of one reproducible tar layer."""

    def __init__(
        self, export_dir: Path, *, prefix: str, mtime: int, opener: Opener = open_raw
    ) -> None:
        self.export_dir = export_dir
        self.name = str(export_dir)
        self._opener = opener
        self.stat_time = time.time()
        entries = model_entries(export_dir)
        self.fingerprint = _fingerprint(entries, prefix=prefix, mtime=mtime)
        self._newest = max((max(st.st_mtime, st.st_ctime) for _, _, st in entries), default=0.0)
        self._prefix, self._mtime = prefix.strip("/"), mtime
        self._starts: list[int] = []
        self._parts: list[bytes | _File] = []
        self.size = self._plan(entries)

    # -- planning ------------------------------------------------------------------
    def _info(self, name: str, kind: bytes, mode: int, size: int = 0) -> bytes:
        entry = tarfile.TarInfo(name)
        entry.type, entry.mode, entry.size, entry.mtime = kind, mode, size, self._mtime
        entry.uid = entry.gid = 0
        entry.uname = entry.gname = ""
        return entry.tobuf(tarfile.GNU_FORMAT, _ENCODING, _ERRORS)

    def _plan(self, entries: list[tuple[str, Path, os.stat_result]]) -> int:
        pending = bytearray()  # headers and padding, merged until the next file's bytes
        offset = 0

        def flush() -> None:
            nonlocal offset
            if pending:
                self._starts.append(offset)
                self._parts.append(bytes(pending))
                offset += len(pending)
                pending.clear()

        parts = self._prefix.split("/")
        for i in range(1, len(parts) + 1):
            pending += self._info("/".join(parts[:i]) + "/", tarfile.DIRTYPE, 0o755)
        for rel, path, st in entries:
            name = f"{self._prefix}/{rel}"
            if stat.S_ISDIR(st.st_mode):
                pending += self._info(name + "/", tarfile.DIRTYPE, 0o755)
            elif stat.S_ISREG(st.st_mode):
                mode = 0o755 if st.st_mode & 0o111 else 0o644
                pending += self._info(name, tarfile.REGTYPE, mode, st.st_size)
                if st.st_size:
                    flush()
                    self._starts.append(offset)
                    self._parts.append(_File(path, rel, st.st_size))
                    offset += st.st_size
                    pending += bytes(-st.st_size % tarfile.BLOCKSIZE)
        pending += bytes(2 * tarfile.BLOCKSIZE)
        pending += bytes(-(offset + len(pending)) % tarfile.RECORDSIZE)
        flush()
        return offset

    # -- reading -------------------------------------------------------------------
    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[memoryview]:
        """The layer's bytes [start, end) in pieces of up to PIECE bytes.

        Each piece is a view into one reused buffer: valid until the next is asked for.
        """
        end = self.size if end is None else min(end, self.size)
        buffer = bytearray(min(PIECE, max(end - start, 1)))
        view = memoryview(buffer)
        filled = 0
        position = start
        index = bisect.bisect_right(self._starts, start) - 1
        while position < end:
            part, part_start = self._parts[index], self._starts[index]
            part_end = part_start + (part.size if isinstance(part, _File) else len(part))
            stop = min(part_end, end)
            if isinstance(part, bytes):
                while position < stop:
                    n = min(stop - position, len(buffer) - filled)
                    at = position - part_start
                    view[filled : filled + n] = memoryview(part)[at : at + n]
                    filled, position = filled + n, position + n
                    if filled == len(buffer):
                        yield view
                        filled = 0
            else:
                for n in self._read(part, position - part_start, stop - position, view, filled):
                    filled, position = filled + n, position + n
                    if filled == len(buffer):
                        yield view
                        filled = 0
            index += 1
        if filled:
            yield view[:filled]

    def _read(
        self, part: _File, offset: int, length: int, view: memoryview, filled: int
    ) -> Iterator[int]:
        """Read length bytes of part from offset into view (after filled), in steps.

        Yields how much each step added; the caller hands full buffers on, so the
        next step starts at the front again (``filled`` is only the first position).
        """
        try:
            fh = self._opener(part.path)
        except OSError as exc:
            raise unreadable(part.path, self.export_dir, exc) from None
        try:
            if offset:
                fh.seek(offset)
            while length > 0:
                room = len(view) - filled
                n = fh.readinto(view[filled : filled + min(room, length)])
                if not n:  # shrank while being read
                    raise unreadable(part.path, self.export_dir)
                length -= n
                yield n
                filled = (filled + n) % len(view)
        except OSError as exc:
            raise unreadable(part.path, self.export_dir, exc) from None
        finally:
            fh.close()

    # -- staying honest ------------------------------------------------------------
    def changed(self) -> bool:
        """Whether the folder's listing differs from when the layer was planned."""
        try:
            entries = model_entries(self.export_dir)
        except ConfigError:
            return True
        return _fingerprint(entries, prefix=self._prefix, mtime=self._mtime) != self.fingerprint

    def settled(self, window: float) -> bool:
        """Whether every entry was last changed more than window seconds before the
        listing: only then can a later write be told apart by its stat (timestamps are
        coarse, so a write in the same tick as the listing could go unseen)."""
        return self._newest < self.stat_time - window


def _fingerprint(
    entries: list[tuple[str, Path, os.stat_result]], *, prefix: str, mtime: int
) -> str:
    """Everything that decides the layer's bytes, as far as a stat can tell."""
    listing = [
        [rel, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
        for rel, _, st in entries
    ]
    data = json.dumps([FORMAT, prefix.strip("/"), mtime, listing], separators=(",", ":"))
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()
