"""The digest of each candidate's model layer, kept beside the candidate.

A re-push of an unchanged model must not read the model again to learn what the
registry already holds. So once a layer has been read whole (written to the store or
streamed to a registry), its digest and size are recorded under the layer's
fingerprint: a stat of every entry (size, mtime, ctime, inode, mode) plus the tar
format, the path in the image and the source time, i.e. everything that decides the
layer's bytes. A later build with the same fingerprint takes the digest from here.

A layer is recorded only if its listing did not change while it was read. Timestamps
are coarse: a write in the same tick as the listing could leave every stat as it was.
So, as git does with "racily clean" entries, a layer recorded while some entry was
fresher than ``SETTLE_SECONDS`` is trusted only after its bytes have been hashed once
more (a local read, no network) and found to match; it is then recorded as settled.
The record is a cache: unreadable or unwritable, it is ignored, and the model is read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from leptonci.adapters.images.layout import Descriptor
from leptonci.adapters.images.tarlayer import TarLayer
from leptonci.core.errors import ConfigError
from leptonci.core.files import read_text, write_atomic
from leptonci.core.images import OCI_LAYER_TAR

RECORD_FILE = "image-layers.json"
SETTLE_SECONDS = 2.0  # coarser than any local filesystem's timestamps
KEEP = 16  # fingerprints per candidate (source times, model paths)


class LayerRecord:
    def __init__(
        self, path: Path, *, writable: bool = True, settle_seconds: float = SETTLE_SECONDS
    ) -> None:
        self.path = path
        self.writable = writable  # a dry run reads the record, never writes it
        self.settle_seconds = settle_seconds

    def lookup(self, layer: TarLayer) -> Descriptor | None:
        """The layer's descriptor when recorded (None: the model must be read)."""
        entry = self._read().get(layer.fingerprint)
        if not isinstance(entry, dict):
            return None
        digest, size = entry.get("digest"), entry.get("size")
        if not isinstance(digest, str) or not isinstance(size, int) or size != layer.size:
            return None
        if entry.get("settled") is not True:
            # recorded while fresh: hash it now, and keep what the bytes say
            digest = _hash(layer)
            self.remember(layer, digest)
        return Descriptor(OCI_LAYER_TAR, digest, size)

    def remember(self, layer: TarLayer, digest: str) -> bool:
        """Record layer's digest (read whole just now); False when it is not safe to."""
        if not self.writable or layer.changed():
            return False
        entries = {k: v for k, v in self._read().items() if k != layer.fingerprint}
        settled = layer.settled(self.settle_seconds)
        entries[layer.fingerprint] = {"digest": digest, "size": layer.size, "settled": settled}
        kept = dict(list(entries.items())[-KEEP:])
        try:  # insertion order: the oldest go first
            write_atomic(self.path, json.dumps({"layers": kept}, indent=2) + "\n")
        except OSError:
            return False
        return True

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(read_text(self.path))
        except (OSError, ValueError, ConfigError):  # a damaged cache is an empty one
            return {}
        layers = data.get("layers") if isinstance(data, dict) else None
        return dict(layers) if isinstance(layers, dict) else {}


def _hash(layer: TarLayer) -> str:
    running = hashlib.sha256()
    for piece in layer.chunks():
        running.update(piece)
    return "sha256:" + running.hexdigest()
