"""The model layer as a virtual tar, and the record of each candidate's layer digest.

The layer must be byte for byte the tar ``tarfile`` writes for the same entries (or
every image pushed before would change digest), any stretch of it must be readable
again from any offset (a resumed upload), and the record must never vouch for bytes
that changed.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leptonci.adapters.images.daemonless import build_artifact, model_layer, prepare_image
from leptonci.adapters.images.layercache import RECORD_FILE, LayerRecord
from leptonci.adapters.images.layout import OciLayout
from leptonci.adapters.images.tarlayer import TarLayer, model_entries
from leptonci.core.errors import ConfigError
from tests.adapters.test_images_daemonless import make_export, make_spec
from tests.fixtures.file_reads import CountingOpener


def _odd_export(folder: Path) -> Path:
    """A model folder with what trips tar writers: long names, empty and executable
    files, sizes off the 512-byte grid, deep folders."""
    export = make_export(folder)
    (export / ("w" * 150 + ".bin")).write_bytes(os.urandom(513))
    (export / "empty").write_bytes(b"")
    deep = export / "assets" / ("deep" * 30)
    deep.mkdir(parents=True)
    (deep / "vocab.txt").write_bytes(b"a" * 10241)
    (export / "run.sh").write_bytes(b"#!/bin/sh\n")
    (export / "run.sh").chmod(0o755)
    return export


def _tarfile_bytes(layer_root: Path, prefix: str, mtime: int) -> bytes:
    """The same layer written by the standard library, the way leptonci always had."""

    def info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(name)
        entry.type, entry.mode, entry.size, entry.mtime = kind, mode, size, mtime
        entry.uid = entry.gid = 0
        entry.uname = entry.gname = ""
        return entry

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        parts = prefix.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            tar.addfile(info("/".join(parts[:i]) + "/", tarfile.DIRTYPE, 0o755))
        for rel, path, st_ in model_entries(layer_root):
            name = f"{prefix.strip('/')}/{rel}"
            if path.is_dir():
                tar.addfile(info(name + "/", tarfile.DIRTYPE, 0o755))
            else:
                mode = 0o755 if st_.st_mode & 0o111 else 0o644
                with path.open("rb") as fh:
                    tar.addfile(info(name, tarfile.REGTYPE, mode, st_.st_size), fh)
    return out.getvalue()


def _bytes(layer: TarLayer, start: int = 0, end: int | None = None) -> bytes:
    return b"".join(bytes(piece) for piece in layer.chunks(start, end))


def test_the_layer_is_what_tarfile_writes(tmp_path: Path) -> None:
    export = _odd_export(tmp_path / "m")
    spec = make_spec(export)
    layer = model_layer(spec)
    expected = _tarfile_bytes(export, spec.model_dir, spec.mtime)
    assert layer.size == len(expected)  # known from the listing, before any read
    assert _bytes(layer) == expected


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_stretch_reads_as_the_same_bytes(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    folder = tmp_path_factory.mktemp("stretch")
    layer = model_layer(make_spec(_odd_export(folder / "m")))
    whole = _bytes(layer)
    start = data.draw(st.integers(0, layer.size))
    end = data.draw(st.integers(start, layer.size))
    assert _bytes(layer, start, end) == whole[start:end]


def test_resuming_at_an_offset_seeks_instead_of_rereading(tmp_path: Path) -> None:
    opener = CountingOpener()
    spec = make_spec(make_export(tmp_path / "m"))
    layer = model_layer(spec, opener=opener)
    tail = layer.size - 1000
    assert len(_bytes(layer, tail)) == 1000
    assert opener.bytes_read <= 1000  # only the bytes asked for


def test_a_file_that_shrinks_while_read_is_a_config_error(tmp_path: Path) -> None:
    opener = CountingOpener()
    spec = make_spec(make_export(tmp_path / "m"))
    layer = model_layer(spec, opener=opener)
    data = spec.export_dir / "variables" / "variables.data-00000-of-00001"
    opener.at(1, lambda: data.write_bytes(b"short"))
    store = OciLayout(tmp_path / "store")
    with pytest.raises(ConfigError, match=r"variables\.data-00000-of-00001 .* is unreadable"):
        build_artifact(spec, base=None, store=store, opener=opener)
    assert list((tmp_path / "store" / "blobs" / "sha256").iterdir()) == []  # temp removed
    assert layer.changed()


def test_the_record_spares_a_rebuild_reading_the_model(tmp_path: Path) -> None:
    spec = make_spec(make_export(tmp_path / "cand"))
    record = LayerRecord(tmp_path / "cand" / RECORD_FILE, settle_seconds=0)
    first = build_artifact(spec, base=None, store=None, record=record)
    opener = CountingOpener()
    again = build_artifact(spec, base=None, store=None, record=record, opener=opener)
    assert again.digest == first.digest
    assert opener.opens == 0


def test_the_record_forgets_a_model_that_changed(tmp_path: Path) -> None:
    spec = make_spec(make_export(tmp_path / "cand", seed=1))
    record = LayerRecord(tmp_path / "cand" / RECORD_FILE, settle_seconds=0)
    first = build_artifact(spec, base=None, store=None, record=record)
    make_export(tmp_path / "cand", seed=2)  # retrained in place: same names and sizes
    assert prepare_image(spec, base=None, record=record).artifact is None
    again = build_artifact(spec, base=None, store=None, record=record)
    assert again.digest != first.digest


def test_a_fresh_entry_is_checked_against_the_bytes_before_it_is_trusted(tmp_path: Path) -> None:
    spec = make_spec(make_export(tmp_path / "cand"))
    # the files were written just now: as far as timestamps go, a write could hide
    record = LayerRecord(tmp_path / "cand" / RECORD_FILE, settle_seconds=3600)
    layer = model_layer(spec)
    assert record.remember(layer, "sha256:" + "0" * 64)  # a wrong digest, recorded fresh
    opener = CountingOpener()
    found = record.lookup(model_layer(spec, opener=opener))
    assert opener.bytes_read > 0  # it read the bytes to check
    truth = build_artifact(spec, base=None, store=None).model_layer
    assert found == truth


def test_a_dry_run_reads_the_record_but_never_writes_it(tmp_path: Path) -> None:
    spec = make_spec(make_export(tmp_path / "cand"))
    path = tmp_path / "cand" / RECORD_FILE
    build_artifact(spec, base=None, store=None, record=LayerRecord(path, writable=False))
    assert not path.exists()
