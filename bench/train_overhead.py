"""Benchmark: `leptonci train digits` against a bare Keras script doing the same work.

Both run as fresh subprocesses (TensorFlow import counted in both) on a copy of the
example repository, alternating, several rounds; the medians are compared. Then it
times `leptonci train digits` on a cache hit, end to end.

    .venv/bin/python bench/train_overhead.py [--rounds 3] [--epochs 12]

Targets: leptonci within 10% of the bare script; a cache hit under 1.5 s.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

BARE = """
import importlib.util, sys
import keras, tensorflow as tf
spec = importlib.util.spec_from_file_location("digits_train", sys.argv[1])
train = importlib.util.module_from_spec(spec); spec.loader.exec_module(train)
params = {"epochs": int(sys.argv[3]), "batch_size": 64, "seed": 1234}
keras.utils.set_random_seed(params["seed"])
tf.config.experimental.enable_op_determinism()
x_train, y_train, x_eval, y_eval = train.load_data(params)
model = train.build_model(params)
model.fit(x_train, y_train, epochs=params["epochs"], batch_size=64, verbose=0)
print(model.evaluate(x_eval, y_eval, batch_size=64, verbose=0, return_dict=True))
model.export(sys.argv[2], format="tf_saved_model", verbose=False)
"""


CPU: dict[int, float] = {}  # id of the wall time list -> summed child CPU seconds


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one subprocess run."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": str(BIN) + ":/usr/bin:/bin"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True, timeout=900)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=12)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leptonci-bench-") as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        config = (REPO / "leptonci.yaml").read_text()
        (root / "leptonci.yaml").write_text(config.replace("epochs: 12", f"epochs: {opts.epochs}"))
        shutil.copytree(
            REPO / "model_repo" / "digits",
            root / "model_repo" / "digits",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        train_py = str(root / "model_repo" / "digits" / "train.py")
        leptonci = [str(BIN / "leptonci"), "train", "digits"]
        bare_runs: list[tuple[float, float]] = []
        ours_runs: list[tuple[float, float]] = []
        for i in range(opts.rounds):
            out = Path(tmp) / f"bare-{i}" / "digits" / "1"
            bare_runs.append(
                timed([sys.executable, "-c", BARE, train_py, str(out), str(opts.epochs)], root)
            )
            ours_runs.append(timed([*leptonci, "--no-cache"], root))
            (bw, bc), (ow, oc) = bare_runs[-1], ours_runs[-1]
            print(
                f"round {i + 1}: bare {bw:.2f} s (cpu {bc:.2f}), leptonci {ow:.2f} s (cpu {oc:.2f})"
            )
        hits = [timed(leptonci, root)[0] for _ in range(5)]
    bare, ours = (statistics.median(w for w, _ in runs) for runs in (bare_runs, ours_runs))
    bare_cpu, ours_cpu = (statistics.median(c for _, c in runs) for runs in (bare_runs, ours_runs))
    hit = statistics.median(hits)
    ratio, cpu_ratio = ours / bare, ours_cpu / bare_cpu
    print(f"bare keras script   median {bare:.2f} s, cpu {bare_cpu:.2f} s ({opts.rounds} runs)")
    print(f"leptonci --no-cache median {ours:.2f} s, cpu {ours_cpu:.2f} s")
    verdict = "ok" if ratio <= 1.10 else "MISSED"
    print(f"overhead ratio      wall {ratio:.3f}, cpu {cpu_ratio:.3f} (target <= 1.10) {verdict}")
    print(
        f"cache hit           median {hit:.2f} s (5 runs; target < 1.5 s) "
        f"{'ok' if hit < 1.5 else 'MISSED'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
