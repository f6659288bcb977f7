"""Benchmark: pin an image in 1,000 overlay folders versus a ruamel.yaml load-and-dump.

Each folder holds a kustomization.yaml (with an ``images:`` entry) and a deployment.yaml
(a full Deployment whose container names the image). The edit reads every file, runs
``edit_folder`` and writes the changed files back; the baseline reads every file, does a
ruamel.yaml round-trip load and dump, and writes it back. Targets: the edit under 1 s for
1,000 folders, at least 3x faster than the baseline. Run:

    .venv/bin/python bench/manifests.py [--folders N] [--repeat R]
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ruamel.yaml import YAML

import leptonci.manifests.edit as editor
from leptonci.manifests import ImageTarget, edit_folder
from leptonci.manifests.locate import _ruamel_locate

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ml-{n}
resources:
  - ../base
  - deployment.yaml
replicas:
  - name: digits-serving
    count: {replicas}
images:
  - name: leptonci/digits
    newName: leptonci/digits
    newTag: unreleased # replaced on every promotion
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: digits-serving-{n}
  labels:
    app: digits-serving
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: digits-serving
  template:
    metadata:
      labels:
        app: digits-serving
    spec:
      containers:
        - name: serving
          # Pinned by digest per environment.
          image: leptonci/digits:unreleased
          ports:
            - name: grpc
              containerPort: 8500
            - name: http
              containerPort: 8501
          env:
            - name: MODEL_NAME
              value: digits
          readinessProbe:
            httpGet:
              path: /v1/models/digits
              port: http
          resources:
            requests:
              cpu: 250m
              memory: 512Mi
"""
TARGET = ImageTarget(
    name="leptonci/digits",
    new_name="127.0.0.1:5000/ml/digits",
    tag="r-7f3a9c2e",
    digest="sha256:" + "9f" * 32,
)


def make_tree(root: Path, folders: int) -> list[Path]:
    dirs = []
    for n in range(folders):
        folder = root / f"env-{n:04d}"
        folder.mkdir(parents=True)
        values = {"n": n, "replicas": n % 5 + 1}
        (folder / "kustomization.yaml").write_text(KUSTOMIZATION.format(**values))
        (folder / "deployment.yaml").write_text(DEPLOYMENT.format(**values))
        dirs.append(folder)
    return dirs


def run_edit(dirs: list[Path]) -> int:
    written = 0
    for folder in dirs:
        files = {p.name: p.read_text() for p in folder.iterdir() if p.suffix == ".yaml"}
        for name, text in edit_folder(files, TARGET).items():
            (folder / name).write_text(text)
            written += 1
    return written


def run_load_dump(dirs: list[Path]) -> int:
    yaml = YAML(typ="rt")
    written = 0
    for folder in dirs:
        for path in folder.iterdir():
            if path.suffix == ".yaml":
                data = yaml.load(path.read_text())
                out = io.StringIO()
                yaml.dump(data, out)
                path.write_text(out.getvalue())
                written += 1
    return written


def run_edit_ruamel_only(dirs: list[Path]) -> int:
    """The same edit with the fast locator off: every file located by ruamel's composer."""
    fast = editor.locate  # the name edit_text calls: patching the package's has no effect
    editor.locate = lambda text, *, path="<text>": _ruamel_locate(text, path=path)
    try:
        return run_edit(dirs)
    finally:
        editor.locate = fast


def timed(fn: Callable[[list[Path]], int], dirs: list[Path]) -> tuple[float, int]:
    start = time.perf_counter()
    count = fn(dirs)
    return time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--folders", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-dry-run", action="store_true", help="only the editor part")
    args = parser.parse_args()
    runs: dict[str, Callable[[list[Path]], int]] = {
        "edit": run_edit,
        "edit_ruamel_only": run_edit_ruamel_only,
        "load_dump": run_load_dump,
    }
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(args.repeat):
        for which, fn in runs.items():
            root = Path(tempfile.mkdtemp(prefix=f"leptonci-bench-{which}-"))
            try:
                dirs = make_tree(root, args.folders)
                seconds, count = timed(fn, dirs)
                assert count == 2 * args.folders, (which, count)
                best[which] = min(best[which], seconds)
            finally:
                shutil.rmtree(root)
    files = 2 * args.folders
    print(f"folders: {args.folders} ({files} files), best of {args.repeat}")
    labels = {
        "edit": "edit_folder (read, edit, write)",
        "edit_ruamel_only": "edit_folder, ruamel locator only",
        "load_dump": "ruamel load+dump (read, rt, write)",
    }
    for which, label in labels.items():
        per_file = best[which] / files * 1e6
        print(f"{label:38s} {best[which]:7.3f} s  ({per_file:.0f} us/file)")
    print(f"ratio load+dump / edit_folder:         {best['load_dump'] / best['edit']:.1f}x")
    print(
        f"ratio load+dump / ruamel-only edit:    {best['load_dump'] / best['edit_ruamel_only']:.1f}x"
    )
    target = "ok" if best["edit"] < 1.0 and best["load_dump"] / best["edit"] >= 3 else "MISSED"
    print(f"target (1,000 folders < 1 s and >= 3x): {target}")
    if not args.skip_dry_run:
        bench_run_push_dry_run(args.repeat)


def bench_run_push_dry_run(repeat: int) -> None:
    """Wall time of `leptonci run push --dry-run` on the example with a warm cache,
    beside `leptonci status` (start-up plus config and ledgers) in the same run."""
    import os
    import statistics
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    exe = Path(sys.executable).with_name("leptonci")
    cli = [str(exe)] if exe.exists() else [sys.executable, "-m", "leptonci"]
    work = Path(tempfile.mkdtemp(prefix="leptonci-bench-dry-"))
    try:
        subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(work / "r.git")], check=True)
        subprocess.run(["git", "clone", "-q", str(work / "r.git"), str(work / "c")], check=True)
        env = dict(os.environ, LEPTONCI_CACHE=str(repo / ".leptonci" / "cache"))
        clone = work / "c"

        def once(args: list[str]) -> float:
            start = time.perf_counter()
            subprocess.run([*cli, *args], cwd=clone, env=env, check=True, capture_output=True)
            return time.perf_counter() - start

        once(["run", "push", "--dry-run"])  # warm the training cache (trains if cold)
        dry = statistics.median(once(["run", "push", "--dry-run"]) for _ in range(repeat))
        status = statistics.median(once(["status"]) for _ in range(repeat))
    finally:
        shutil.rmtree(work)
    verdict = "ok" if dry < 2.0 else "MISSED"
    print(f"run push --dry-run (warm cache)         {dry:7.3f} s  (target < 2 s: {verdict})")
    print(f"leptonci status (baseline)             {status:7.3f} s")
    print(f"ratio run-push-dry-run / status:        {dry / status:.1f}x")


if __name__ == "__main__":
    main()
