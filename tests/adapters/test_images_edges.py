"""Image pipeline edge cases: odd model folders, file modes, and two writers of one layout."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from leptonci.adapters.images.daemonless import ImageArtifact, build_artifact
from leptonci.adapters.images.layout import OciLayout, sha256_digest
from leptonci.core.errors import ConfigError, ExitCode
from tests.adapters.test_images_daemonless import make_export, make_spec

REPO = Path(__file__).resolve().parents[2]


def _members(artifact: ImageArtifact, store: OciLayout) -> dict[str, tarfile.TarInfo]:
    data = store.read_bytes(artifact.model_layer.digest)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def _content(artifact: ImageArtifact, store: OciLayout, name: str) -> bytes:
    data = store.read_bytes(artifact.model_layer.digest)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        fh = tar.extractfile(name)
        assert fh is not None
        return fh.read()


def test_a_symlinked_folder_is_copied_into_the_layer(tmp_path: Path) -> None:
    # assets/ linked into a data folder (DVC, a shared vocabulary) must not arrive empty
    export = make_export(tmp_path / "m")
    vocab = tmp_path / "data" / "vocab"
    vocab.mkdir(parents=True)
    (vocab / "tokens.txt").write_text("a\nb\n")
    (export / "assets").symlink_to(vocab)
    (export / "model.pb").symlink_to("saved_model.pb")
    store = OciLayout(tmp_path / "store")
    artifact = build_artifact(make_spec(export), base=None, store=store)
    members = _members(artifact, store)
    prefix = "models/digits/1"
    assert members[f"{prefix}/assets"].isdir()
    assert members[f"{prefix}/assets/tokens.txt"].isfile()
    assert _content(artifact, store, f"{prefix}/assets/tokens.txt") == b"a\nb\n"
    assert members[f"{prefix}/model.pb"].isfile()  # plain files only, no links in the layer
    assert not any(m.issym() or m.islnk() for m in members.values())
    # the same bytes as a copied folder: links are not part of the digest
    plain = make_export(tmp_path / "copy")
    (plain / "assets").mkdir()
    (plain / "assets" / "tokens.txt").write_text("a\nb\n")
    (plain / "model.pb").write_bytes((plain / "saved_model.pb").read_bytes())
    assert build_artifact(make_spec(plain), base=None, store=None).digest == artifact.digest


def test_a_dangling_symlink_is_a_config_error_naming_it(tmp_path: Path) -> None:
    export = make_export(tmp_path / "m")
    (export / "variables" / "extra.data").symlink_to(tmp_path / "gone")
    with pytest.raises(ConfigError) as info:
        build_artifact(make_spec(export), base=None, store=OciLayout(tmp_path / "store"))
    assert "variables/extra.data" in str(info.value)
    assert "dangling symlink" in str(info.value)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    # found while listing the folder, before a byte was written to the store
    blobs = tmp_path / "store" / "blobs" / "sha256"
    assert not blobs.exists() or list(blobs.iterdir()) == []


def test_a_symlink_loop_is_a_config_error(tmp_path: Path) -> None:
    export = make_export(tmp_path / "m")
    (export / "variables" / "again").symlink_to(export)
    with pytest.raises(ConfigError, match=r"variables/again .* links back to a folder above it"):
        build_artifact(make_spec(export), base=None, store=None)


def test_file_modes_are_normalised(tmp_path: Path) -> None:
    export = make_export(tmp_path / "m")
    (export / "saved_model.pb").chmod(0o600)
    (export / "variables" / "variables.index").chmod(0o4775)  # setuid, group-writable
    (export / "variables").chmod(0o700)
    store = OciLayout(tmp_path / "store")
    members = _members(build_artifact(make_spec(export), base=None, store=store), store)
    prefix = "models/digits/1"
    assert members[f"{prefix}/saved_model.pb"].mode == 0o644
    assert members[f"{prefix}/variables/variables.index"].mode == 0o755
    assert members[f"{prefix}/variables"].mode == 0o755


_PUSHER = """
import sys
from pathlib import Path
from leptonci.adapters.images.daemonless import build_artifact
from leptonci.adapters.images.layout import OciLayout
from leptonci.adapters.images.transfer import push_to_layout
from tests.adapters.test_images_daemonless import make_export, make_spec

name, seed, rounds, layout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
work = layout.parent / f"work-{name}"
store = OciLayout(work / "store")
artifact = build_artifact(make_spec(make_export(work, seed=seed)), base=None, store=store)
dest = OciLayout(layout)
for i in range(rounds):
    push_to_layout(artifact, store=store, layout=dest, tags=(f"{name}-{i}",))
print(artifact.digest)
"""


def test_two_processes_writing_one_layout_keep_every_tag(tmp_path: Path) -> None:
    layout = tmp_path / "oci" / "digits"
    rounds = 60
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PUSHER, name, str(seed), str(rounds), str(layout)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        for name, seed in (("a", 1), ("b", 2))
    ]
    digests = {}
    for name, proc in zip(("a", "b"), procs, strict=True):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        digests[name] = out.strip()
    dest = OciLayout(layout)
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    refs = {name: desc.digest for name, desc in dest.entries()}
    assert refs == {f"{n}-{i}": digests[n] for n in ("a", "b") for i in range(rounds)}
    # a valid layout: every manifest and every blob it names is there and intact
    for digest in set(refs.values()):
        manifest = dest.read_json(digest)
        assert sha256_digest(dest.read_bytes(digest)) == digest
        for blob in (manifest["config"], *manifest["layers"]):
            assert sha256_digest(dest.read_bytes(blob["digest"])) == blob["digest"]
    names = {p.name for p in layout.iterdir()}
    assert names == {"oci-layout", "index.json", "blobs"}
    assert not [p for p in (layout / "blobs" / "sha256").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("docker_host", ["", "unix:///nonexistent/leptonci/docker.sock"])
def test_docker_builder_without_an_engine_exits_3_with_what_to_do(
    tmp_path: Path, docker_host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docker.utils.utils

    from leptonci.adapters.images.dockerbuild import default_dockerfile, docker_build
    from leptonci.core.errors import OutsideError

    # No DOCKER_HOST means docker's default socket: point that nowhere, so the case runs
    # on a machine (a CI runner) where an engine answers at /var/run/docker.sock too.
    monkeypatch.setattr(
        docker.utils.utils, "DEFAULT_UNIX_SOCKET", "http+unix:///nonexistent/leptonci/default.sock"
    )
    # (non-empty: docker.from_env falls back to os.environ when given an empty mapping)
    env = {"HOME": str(tmp_path), **({"DOCKER_HOST": docker_host} if docker_host else {})}
    spec = make_spec(make_export(tmp_path / "m"))
    with pytest.raises(OutsideError) as info:
        docker_build(spec, image="127.0.0.1:9/ns/digits", dockerfile=default_dockerfile(), env=env)
    text = str(info.value)
    assert info.value.exit_code == ExitCode.OUTSIDE
    assert text.startswith("cannot reach the Docker engine at ")
    assert (docker_host or "the default socket") in text
    assert "use builder: daemonless" in text and "\n" not in text
