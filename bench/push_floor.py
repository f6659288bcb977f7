"""Benchmark: leptonci build+push of a large model against the wire floor, in one run.

    .venv/bin/python bench/push_floor.py [--size-mib 1024] [--trials 3] [--rss-mib 256,1024]
    LEPTONCI_BENCH_4G=1 .venv/bin/python bench/push_floor.py    # also RSS at 4 GiB

One model (a fake SavedModel of random bytes), one image. Each trial pushes it with
each tool to its own fresh registry (Debian's docker-registry on loopback; the machine's
dirty pages are flushed before each push, so one upload's writeback does not slow the
next), in turn:

- curl: POST an upload session, then ``curl -T LAYER -X PUT ...&digest=``, the layer
  being the very tar leptonci builds. The floor: the registry receives, hashes and
  stores the bytes; the client only reads and sends them.
- skopeo: ``skopeo copy`` of the same image from an OCI layout (default settings,
  which recompress the uncompressed layer; and ``--preserve-digests``, which does not).
- leptonci: ``build_image`` + ``push_image`` (daemonless, registry destination) in a
  child process, timed inside it (no interpreter start-up); its peak RSS is that
  child's, from ``wait4``. Then the re-push of the unchanged model: 0 bytes.

Prints medians over the trials, their ratios (and the median of each trial's own
leptonci/curl ratio, steadier on a shared machine), and leptonci's peak RSS by size.
Targets: leptonci/curl <= 1.15, leptonci/skopeo <= 0.8, RSS < 150 MiB at 4 GiB,
re-push 0 bytes in < 0.3 s.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from leptonci.adapters.git import SourceInfo  # noqa: E402
from leptonci.core.candidate import Candidate  # noqa: E402
from leptonci.pipeline.build import build_image, push_image  # noqa: E402
from leptonci.runtime.context import Context  # noqa: E402
from leptonci.runtime.output import Output  # noqa: E402
from tests.fixtures.registry import RegistryServer  # noqa: E402

SOURCE = SourceInfo("c" * 40, "2026-01-02T03:04:05Z", "https://github.com/example/models")
RELEASE = "digits-0123456789ab"
CONFIG = """\
project: bench
registry: {registry}
builder: daemonless
models:
  digits:
    path: model
    gate: {{accuracy: {{min: 0.5}}}}
environments:
  - {{name: dev, path: env}}
"""


# -- the model and a leptonci project around it --------------------------------------
def make_model(folder: Path, size: int) -> Path:
    """A fake SavedModel of `size` random bytes (incompressible, like trained weights)."""
    export = folder / "digits" / "1"
    (export / "variables").mkdir(parents=True)
    _random_file(export / "saved_model.pb", size // 20)
    _random_file(export / "variables" / "variables.data-00000-of-00001", size - size // 20)
    (export / "variables" / "variables.index").write_bytes(b"index" * 40)
    return folder


def _random_file(path: Path, size: int) -> None:
    with path.open("wb") as fh:
        for start in range(0, size, 8 << 20):
            fh.write(os.urandom(min(8 << 20, size - start)))


def candidate(folder: Path) -> Candidate:
    return Candidate(
        model="digits",
        version=1,
        root=folder,
        content_hash="sha256:" + "ab" * 32,
        metrics={"accuracy": 0.9},
        eval_fingerprint="sha256:" + "e" * 64,
        eval_count=10,
    )


def context(root: Path, registry: str) -> Context:
    (root / "model").mkdir(parents=True, exist_ok=True)
    (root / "env").mkdir(exist_ok=True)
    (root / "leptonci.yaml").write_text(CONFIG.format(registry=registry))
    out = Output(env={}, stdout=io.StringIO(), stderr=io.StringIO())
    return Context(root=root, out=out, env=dict(os.environ))


def build_push(root: Path, model: Path, registry: str) -> dict[str, object]:
    ctx = context(root, registry)
    start = time.perf_counter()
    build = build_image(
        ctx, candidate=candidate(model), release=RELEASE, verdict="passed", source=SOURCE
    )
    built = push_image(ctx, build)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "bytes_sent": built.bytes_sent, "digest": built.digest}


# -- the three pushes ----------------------------------------------------------------
def fresh_registry(base: Path) -> RegistryServer:
    server = RegistryServer(Path(tempfile.mkdtemp(dir=base, prefix="registry-")), auth=False)
    server.start()
    os.sync()  # the previous push's writeback must not land in this one's time
    time.sleep(0.2)
    return server


def done(server: RegistryServer) -> None:
    server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)


def leptonci_push(base: Path, model: Path, host: str) -> tuple[dict[str, object], float]:
    """build+push in a child process: (its report, its peak RSS in MiB)."""
    root = Path(tempfile.mkdtemp(dir=base, prefix="project-"))
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(root), str(model), f"{host}/bench"],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"leptonci push failed (exit {proc.returncode})")
    return json.loads(out), usage.ru_maxrss / 1024  # Linux: KiB


def curl_put(server: RegistryServer, layer: Path, digest: str) -> float:
    import requests

    start = time.perf_counter()
    session = requests.post(f"{server.url}/v2/bench-curl/blobs/uploads/", timeout=30)
    location = session.headers["Location"]
    url = f"{location}{'&' if '?' in location else '?'}digest={digest}"
    code = subprocess.run(
        [
            *("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT"),
            *("-T", str(layer), "-H", "Content-Type: application/octet-stream", url),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seconds = time.perf_counter() - start
    if code != "201":
        raise SystemExit(f"curl upload answered {code}")
    return seconds


def skopeo_copy(server: RegistryServer, layout: Path, home: Path, *flags: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            *("skopeo", "copy", "--retry-times", "0", "--dest-tls-verify=false", *flags),
            *(f"oci:{layout}:{RELEASE}", f"docker://{server.host}/bench-skopeo:{RELEASE}"),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "HOME": str(home)},  # no blob cache carried between runs
    )
    return time.perf_counter() - start


# -- the run -------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--rss-mib", default="256,1024", help="model sizes for the RSS line")
    parser.add_argument("--child", nargs=3, metavar=("ROOT", "MODEL", "REGISTRY"))
    args = parser.parse_args()
    if args.child:
        root, model, registry = args.child
        print(json.dumps(build_push(Path(root), Path(model), registry)))
        return 0
    for tool in ("curl", "skopeo", "docker-registry"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (scripts/setup.sh --dev)", file=sys.stderr)
            return 2
    rss_sizes = [int(s) for s in args.rss_mib.split(",") if s]
    if os.environ.get("LEPTONCI_BENCH_4G") == "1":
        rss_sizes.append(4096)
    with tempfile.TemporaryDirectory(prefix="leptonci-push-floor-") as tmp:
        base = Path(tmp)
        return run(base, args.size_mib, args.trials, rss_sizes)


def run(base: Path, size_mib: int, trials: int, rss_sizes: list[int]) -> int:
    model = make_model(base / "model", size_mib << 20)
    # the same image in an OCI layout: skopeo's source, and its layer is curl's file
    layout_root = base / "layout-project"
    build_push(layout_root, model, "oci-layout:oci")
    layout = layout_root / "oci" / "digits"
    manifest = json.loads(
        (layout / "blobs" / "sha256" / _tagged(layout).split(":")[1]).read_bytes()
    )
    layer_digest = manifest["layers"][-1]["digest"]
    layer = layout / "blobs" / "sha256" / layer_digest.split(":")[1]
    record = model / "image-layers.json"
    times: dict[str, list[float]] = {k: [] for k in ("curl", "skopeo", "skopeo-pd", "leptonci")}
    rss: list[float] = []
    repush: list[tuple[float, int]] = []
    for _ in range(trials):
        for tool in times:
            server = fresh_registry(base)
            try:
                if tool == "curl":
                    times[tool].append(curl_put(server, layer, layer_digest))
                elif tool.startswith("skopeo"):
                    home = Path(tempfile.mkdtemp(dir=base, prefix="home-"))
                    flags = ("--preserve-digests",) if tool == "skopeo-pd" else ()
                    times[tool].append(skopeo_copy(server, layout, home, *flags))
                else:
                    record.unlink(missing_ok=True)  # a first push: the layer is not known
                    report, peak = leptonci_push(base, model, server.host)
                    if report["digest"] != _tagged(layout):
                        raise SystemExit("leptonci pushed another digest than the layout holds")
                    times[tool].append(float(report["seconds"]))  # type: ignore[arg-type]
                    rss.append(peak)
                    again, _ = leptonci_push(base, model, server.host)
                    repush.append((float(again["seconds"]), int(again["bytes_sent"])))  # type: ignore[arg-type]
            finally:
                done(server)
    peaks = {size_mib: max(rss)}
    for size in rss_sizes:
        if size != size_mib:
            peaks[size] = _rss_at(base, size)
    med = {tool: statistics.median(values) for tool, values in times.items()}
    lepton = med["leptonci"]
    print(f"model: {size_mib} MiB, layer {layer.stat().st_size} bytes, trials: {trials} (medians)")
    print(f"curl -T (the floor):              {med['curl']:7.2f} s")
    print(f"skopeo copy:                      {med['skopeo']:7.2f} s")
    print(f"skopeo copy --preserve-digests:   {med['skopeo-pd']:7.2f} s")
    print(f"leptonci build+push:              {lepton:7.2f} s")
    print(f"leptonci / curl:                  {lepton / med['curl']:7.3f}   (target <= 1.15)")
    print(f"leptonci / skopeo:                {lepton / med['skopeo']:7.3f}   (target <= 0.8)")
    print(f"leptonci / skopeo preserving:     {lepton / med['skopeo-pd']:7.3f}")
    # the machine may be shared: a ratio within each trial cancels slow swings in load
    paired = statistics.median(a / b for a, b in zip(times["leptonci"], times["curl"], strict=True))
    print(f"leptonci / curl, per trial:       {paired:7.3f}   (median of the trials' ratios)")
    for size in sorted(peaks):
        print(f"leptonci peak RSS at {size:5d} MiB:   {peaks[size]:7.1f} MiB   (target < 150)")
    print(f"re-push bytes sent:               {max(b for _, b in repush):7d}   (target 0)")
    print(
        f"re-push time:                     {statistics.median(t for t, _ in repush):7.3f} s"
        "   (target < 0.3)"
    )
    print(
        "all runs (s): "
        + "; ".join(f"{k} {', '.join(f'{v:.2f}' for v in vs)}" for k, vs in times.items())
    )
    return 0


def _tagged(layout: Path) -> str:
    index = json.loads((layout / "index.json").read_text())
    return str(index["manifests"][0]["digest"])


def _rss_at(base: Path, size_mib: int) -> float:
    model = make_model(
        Path(tempfile.mkdtemp(dir=base, prefix=f"model-{size_mib}-")), size_mib << 20
    )
    server = fresh_registry(base)
    try:
        _, peak = leptonci_push(base, model, server.host)
    finally:
        done(server)
        shutil.rmtree(model, ignore_errors=True)
    return peak


if __name__ == "__main__":
    raise SystemExit(main())
