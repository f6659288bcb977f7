"""core/files.py: the one place files are read (bounded, UTF-8, inside the repository)
and written (atomically, keeping the mode); and the writers that use it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from leptonci.adapters.git import Git
from leptonci.adapters.images.layout import Descriptor, OciLayout
from leptonci.core.actions import WriteFile
from leptonci.core.errors import ConfigError
from leptonci.core.files import MAX_FILE_BYTES, decode, read_text, write_atomic
from leptonci.core.images import OCI_MANIFEST
from leptonci.core.plan import Plan
from leptonci.engine.applier import Applier
from tests.fixtures.git_repo import Clone, git


@pytest.fixture
def strict_umask() -> Iterator[None]:
    """umask 077, as on a hardened runner: a new file would be 0600 by default."""
    old = os.umask(0o077)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def test_a_rewritten_file_keeps_its_mode_and_a_new_one_is_0644(
    tmp_path: Path, strict_umask: None
) -> None:
    kept = tmp_path / "kustomization.yaml"
    kept.write_text("a: 1\n")
    kept.chmod(0o664)
    write_atomic(kept, "a: 2\n")
    assert kept.read_text() == "a: 2\n" and _mode(kept) == 0o664
    new = tmp_path / "env" / "ledger.yaml"
    write_atomic(new, b"environment: dev\n")
    assert _mode(new) == 0o644
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "env",
        "kustomization.yaml",
        "ledger.yaml",
    ]


def test_a_promotion_write_keeps_the_manifests_mode(
    example_clone: Clone, strict_umask: None
) -> None:
    """The applier's WriteFile, as every promotion, rollback and resume writes."""
    root = example_clone.root
    (root / "environments/dev/kustomization.yaml").chmod(0o664)
    new = "environments/dev/notes.yaml"
    plan = Plan(
        "write two files",
        (
            WriteFile(
                summary="edit",
                path="environments/dev/kustomization.yaml",
                old=(root / "environments/dev/kustomization.yaml").read_text(),
                new="resources: [../base]\n",
            ),
            WriteFile(summary="add", path=new, old=None, new="a: 1\n"),
        ),
    )
    Applier(example_clone.ctx()).apply(plan)
    assert _mode(root / "environments/dev/kustomization.yaml") == 0o664
    assert _mode(root / new) == 0o644


def test_oci_layout_blobs_and_index_are_0644(tmp_path: Path, strict_umask: None) -> None:
    layout = OciLayout(tmp_path / "oci")
    digest, _ = layout.put_bytes(b'{"config": 1}')
    writer = layout.writer()
    writer.sink.write(b"layer bytes")
    streamed = writer.commit()
    layout.tag(Descriptor(OCI_MANIFEST, digest, 13), ("v1",))
    written = [layout.blob_path(digest), layout.blob_path(streamed), tmp_path / "oci/index.json"]
    for path in [*written, tmp_path / "oci/oci-layout"]:
        assert _mode(path) == 0o644, path


def test_decode_names_the_line_of_the_first_bad_byte() -> None:
    with pytest.raises(ConfigError) as info:
        decode(b"a: 1\nb: 2\nc: \xff\n", file="environments/dev/ledger.yaml")
    assert str(info.value) == (
        "environments/dev/ledger.yaml:3: not UTF-8 text (byte 0xff on this line); "
        "save the file as UTF-8"
    )
    assert decode(b"a: 1\r\nb: caf\xc3\xa9\r\n", file="f") == "a: 1\nb: caf\u00e9\n"


def test_read_text_refuses_a_file_past_the_bound_and_one_that_leads_outside(
    tmp_path: Path,
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    big = root / "big.yaml"
    with big.open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ConfigError, match=r"^big.yaml: file is 2,097,153 bytes, more than"):
        read_text(big, root=root)
    (root / "fine.yaml").write_text("a: 1\n")
    (root / "inside.yaml").symlink_to("fine.yaml")
    assert read_text(root / "inside.yaml", root=root) == "a: 1\n"
    (tmp_path / "secret.txt").write_text("s\n")
    (root / "out.yaml").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(ConfigError, match=r"^out.yaml: leads to .*secret.txt, outside the"):
        read_text(root / "out.yaml", root=root)
    with pytest.raises(FileNotFoundError):
        read_text(root / "missing.yaml", root=root)


def test_files_read_from_a_commit_are_checked_as_the_working_tree_is(tmp_path: Path) -> None:
    """Git.tree_files / file_at: a symlink out of the repository refused, one inside
    followed, bytes that are not UTF-8 and blobs past the bound refused."""
    root = tmp_path / "repo"
    (root / "env").mkdir(parents=True)
    git(tmp_path, "init", "--quiet", "--initial-branch=main", str(root))
    (root / "env/real.yaml").write_text("a: 1\r\n")
    (root / "env/inside.yaml").symlink_to("real.yaml")
    git(root, "add", "--all")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "one")
    repo = Git(root)
    assert repo.tree_files("HEAD", "env") == {
        "env/inside.yaml": "a: 1\n",
        "env/real.yaml": "a: 1\n",
    }
    assert repo.file_at("HEAD", "env/inside.yaml") == "a: 1\n"
    assert repo.file_at("HEAD", "env/none.yaml") is None

    (root / "env/out.yaml").symlink_to("../../outside.yaml")
    (root / "env/latin.yaml").write_bytes(b"a: caf\xe9\n")
    git(root, "add", "--all")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "two")
    with pytest.raises(ConfigError, match=r"^env/out.yaml: leads to ../../outside.yaml, outside"):
        repo.file_at("HEAD", "env/out.yaml")
    with pytest.raises(ConfigError, match=r"^env/latin.yaml:1: not UTF-8 text"):
        repo.file_at("HEAD", "env/latin.yaml")
    with pytest.raises(ConfigError):
        repo.tree_files("HEAD", "env")

    (root / "env/out.yaml").unlink()
    (root / "env/latin.yaml").unlink()
    with (root / "env/big.yaml").open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)
    git(root, "add", "--all")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "three")
    with pytest.raises(ConfigError, match=r"^env/big.yaml: file is 2,097,153 bytes"):
        repo.tree_files("HEAD", "env")
