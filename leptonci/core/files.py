"""The one place the text files leptonci reads are checked and decoded, and written.

Every text file leptonci reads (``leptonci.yaml``, ledgers, manifests and
kustomizations, metrics files, keys, workflows) comes through ``read_text``, or, when
git gave the bytes, through ``decode``. A file is at most ``MAX_FILE_BYTES`` long (a
bigger one is refused before it is read), UTF-8 (the first bad byte is named by line),
and, when read from a repository, inside it: a symlink to a file outside is refused.
Each refusal is one ``ConfigError`` naming the file (exit 2). Line ends are read as
Python's text mode reads them (``\\r\\n`` as ``\\n``).

``write_atomic`` writes through a temp file and a rename; the file keeps its mode, and
a new file gets 0644 whatever the umask says.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from pathlib import Path

from leptonci.core.errors import ConfigError

# Room for any one object Kubernetes stores (at most 1.5 MiB: a big CRD) and far more
# than a config or a ledger (its history is bounded) needs; the round-trip parser reads
# about 0.3 MB a second, so a file this size still parses in seconds, and a 50 MB one is
# refused before it is read. README.md, "Limits on what leptonci reads", documents it.
MAX_FILE_BYTES = 2 * 1024 * 1024
NEW_FILE_MODE = 0o644


def too_large(file: str, size: int) -> ConfigError:
    return ConfigError(
        f"file is {size:,} bytes, more than leptonci reads ({MAX_FILE_BYTES:,})",
        file=file,
        hint="is it the file you meant? split or shorten it",
    )


def decode(data: bytes, *, file: str) -> str:
    """data as text: bounded, UTF-8, line ends as text mode reads them."""
    if len(data) > MAX_FILE_BYTES:
        raise too_large(file, len(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} on this line)",
            file=file,
            line=line,
            hint="save the file as UTF-8",
        ) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def shown(path: Path, root: Path | None) -> str:
    """path as errors name it: relative to root when it is under it."""
    if root is not None:
        try:
            return Path(os.path.abspath(path)).relative_to(os.path.abspath(root)).as_posix()
        except ValueError:
            pass
    return str(path)


def outside(file: str, target: str) -> ConfigError:
    return ConfigError(
        f"leads to {target}, outside the repository (a symlink?)",
        file=file,
        hint="leptonci reads only files inside the repository; put the file itself here",
    )


def check_inside(path: Path, root: Path, *, file: str | None = None) -> None:
    """Refuse path when it (or a symlink on the way to it) leads outside root."""
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(os.path.realpath(root)):
        raise outside(file or shown(path, root), str(real))


def link_target(name: str, target: str) -> str | None:
    """The repository path a symlink stored in git at name points to; None: outside it."""
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if posixpath.isabs(target) or resolved == ".." or resolved.startswith("../"):
        return None
    return resolved


def read_text(path: Path, *, root: Path | None = None) -> str:
    """The text of the file at path, checked as the module says.

    With root, errors name the file relative to it, and a file that resolves outside it
    is refused. A missing file raises FileNotFoundError, for callers to word.
    """
    file = shown(path, root)
    if root is not None:
        check_inside(path, root, file=file)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise too_large(file, size)
            data = fh.read(MAX_FILE_BYTES + 1)  # a pipe or device has no size to trust
    except (FileNotFoundError, ConfigError):
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=file) from None
    return decode(data, file=file)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write data to path through a temp file and a rename, keeping an existing mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".leptonci-tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
