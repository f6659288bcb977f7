"""Benchmark: daemonless build+push vs `docker build` + `docker push`, same model, same registry.

    DOCKER_HOST=unix:///... .venv/bin/python bench/build_push.py [--size-mib 64] [--trials 3]

Each trial uses a fresh model (new random bytes, so no builder or engine cache helps)
and a fresh registry (Debian's docker-registry on loopback), pushed once by each
builder. Prints medians and the ratio daemonless/docker (target <= 0.5), the bytes the
daemonless builder sent on a first push as a share of the model's size (target within
5%), and on a re-push of the unchanged model (target 0).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from leptonci.adapters.git import SourceInfo  # noqa: E402
from leptonci.core.candidate import Candidate  # noqa: E402
from leptonci.pipeline.build import BuildPlan, build_image, push_image  # noqa: E402
from leptonci.runtime.context import Context  # noqa: E402
from leptonci.runtime.output import Output  # noqa: E402
from tests.fixtures.registry import RegistryServer  # noqa: E402

SOURCE = SourceInfo("c" * 40, "2026-01-02T03:04:05Z", "https://github.com/example/models")
CONFIG = """\
project: bench
registry: {registry}/bench
builder: {builder}
models:
  digits:
    path: model
    gate: {{accuracy: {{min: 0.5}}}}
environments:
  - {{name: dev, path: env}}
"""


def make_model(folder: Path, size: int, seed: int) -> Candidate:
    export = folder / "digits" / "1"
    (export / "variables").mkdir(parents=True)
    data = _seeded(size, seed)  # incompressible, like trained weights
    (export / "saved_model.pb").write_bytes(data[: size // 20])
    (export / "variables" / "variables.data-00000-of-00001").write_bytes(data[size // 20 :])
    (export / "variables" / "variables.index").write_bytes(b"index" * 40)
    return Candidate(
        model="digits",
        version=1,
        root=folder,
        content_hash="sha256:" + f"{seed:064x}",
        metrics={"accuracy": 0.9},
        eval_fingerprint="sha256:" + "e" * 64,
        eval_count=10,
    )


def _seeded(size: int, seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(size)


def model_bytes(candidate: Candidate) -> int:
    return sum(p.stat().st_size for p in candidate.export_dir.rglob("*") if p.is_file())


def context(root: Path, registry: str, builder: str) -> Context:
    (root / "model").mkdir(parents=True, exist_ok=True)
    (root / "env").mkdir(exist_ok=True)
    (root / "leptonci.yaml").write_text(CONFIG.format(registry=registry, builder=builder))
    out = Output(env={}, stdout=io.StringIO(), stderr=io.StringIO())
    return Context(root=root, out=out, env=dict(os.environ))


def timed_build_push(ctx: Context, candidate: Candidate) -> tuple[float, BuildPlan, int]:
    release = f"digits-{candidate.content_hash[-12:]}"
    start = time.perf_counter()
    build = build_image(ctx, candidate=candidate, release=release, verdict="passed", source=SOURCE)
    built = push_image(ctx, build)
    return time.perf_counter() - start, build, built.bytes_sent


def cleanup_engine(image_prefix: str) -> None:
    import docker

    client = docker.from_env()
    for image in client.images.list():
        if any(tag.startswith(image_prefix) for tag in image.tags):
            client.images.remove(image.id, force=True)
    client.api.prune_builds()
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    if not os.environ.get("DOCKER_HOST"):
        print('DOCKER_HOST is not set: eval "$(scripts/start-services.sh)"', file=sys.stderr)
        return 2
    size = args.size_mib << 20
    daemonless_times: list[float] = []
    docker_times: list[float] = []
    repush_times: list[float] = []
    first_share: list[float] = []
    repush_bytes: list[int] = []
    with tempfile.TemporaryDirectory(prefix="leptonci-bench-") as tmp:
        base = Path(tmp)
        for trial in range(args.trials):
            candidate = make_model(base / f"model-{trial}", size, seed=trial + 1)
            server = RegistryServer(base / f"registry-{trial}", auth=False)
            server.start()
            try:
                # daemonless: fresh cache, cold registry
                ctx = context(base / f"d-{trial}", server.host, "daemonless")
                seconds, _, sent = timed_build_push(ctx, candidate)
                daemonless_times.append(seconds)
                first_share.append(sent / model_bytes(candidate))
                seconds, _, sent = timed_build_push(ctx, candidate)  # re-push, unchanged
                repush_times.append(seconds)
                repush_bytes.append(sent)
                # docker: same model, same registry, its own repository name
                ctx = context(base / f"k-{trial}", server.host, "docker")
                ctx = _with_registry(ctx, f"{server.host}/bench-docker")
                seconds, _, _ = timed_build_push(ctx, candidate)
                docker_times.append(seconds)
                cleanup_engine(server.host)
            finally:
                server.stop()
    d, k = statistics.median(daemonless_times), statistics.median(docker_times)
    print(f"model size: {size / 2**20:.0f} MiB, trials: {args.trials} (medians)")
    print(f"daemonless build+push:    {d:7.3f} s")
    print(f"docker build+push:        {k:7.3f} s")
    print(f"ratio daemonless/docker:  {d / k:7.3f}   (target <= 0.5)")
    share = statistics.median(first_share)
    print(f"first push bytes / model: {share:7.4f}   (target within 5%: 0.95..1.05)")
    print(f"re-push bytes sent:       {max(repush_bytes):7d}   (target 0)")
    print(f"re-push time:             {statistics.median(repush_times):7.3f} s")
    return 0


def _with_registry(ctx: Context, registry: str) -> Context:
    ctx.__dict__["config"] = ctx.config.model_copy(update={"registry": registry})
    return ctx


if __name__ == "__main__":
    raise SystemExit(main())
