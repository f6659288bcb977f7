"""Benchmark: signing and checking the verdict and provenance, beside the push they follow.

    .venv/bin/python bench/attest.py [--size-mib 16] [--trials 5]

Each trial pushes a fresh model image (new random bytes) with the daemonless builder to
Debian's docker-registry on loopback, then, as `run push` does: loads the cosign
encrypted key (scrypt: cosign's fixed cost, once a run), signs the two statements and attaches them as referrers (the
tag-schema fallback: this registry has no referrers API), and checks them as a promotion
into an environment with `require:` does (list the referrers, read both bundles, verify
the signatures, judge). Prints the median of each, and signing and checking as a share of
the push, measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.build_push import SOURCE, context, make_model  # noqa: E402
from leptonci.core.attestation import Trust, judge  # noqa: E402
from leptonci.core.gate import Check, Verdict  # noqa: E402
from leptonci.core.signing import encrypted_pem, generate_signing_key  # noqa: E402
from leptonci.pipeline.attest import attach_attestations, plan_attestations  # noqa: E402
from leptonci.pipeline.build import build_image, push_image  # noqa: E402
from leptonci.runtime.attestations import read_evidence  # noqa: E402
from tests.fixtures.registry import RegistryServer  # noqa: E402

VERDICT = Verdict(True, (Check("accuracy", "value", "ok", "accuracy 0.900 >= 0.500 ok", 0.9),))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=16)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    key = generate_signing_key()
    pushes, loads, signs, checks = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "reg").mkdir()
        registry = RegistryServer(folder / "reg", auth=False)
        registry.start()
        key_file = folder / "cosign.key"
        key_file.write_text(encrypted_pem(key, "bench-password"))
        try:
            for trial in range(args.trials):
                root = folder / f"repo{trial}"
                ctx = context(root, registry.host, "daemonless")
                ctx.env = {  # type: ignore[misc]
                    **ctx.env,
                    "LEPTONCI_SIGNING_KEY_FILE": str(key_file),
                    "LEPTONCI_SIGNING_PASSWORD": "bench-password",
                }
                candidate = make_model(root / "cand", args.size_mib << 20, seed=100 + trial)
                build = build_image(
                    ctx,
                    candidate=candidate,
                    release=f"digits-{trial:012d}",
                    verdict="passed",
                    source=SOURCE,
                )
                start = time.perf_counter()
                built = push_image(ctx, build)
                pushes.append(time.perf_counter() - start)

                start = time.perf_counter()
                planned = plan_attestations(
                    ctx,
                    build=build,
                    candidate=candidate,
                    verdict=VERDICT,
                    gated_against="dev",
                    source=SOURCE,
                )
                loads.append(time.perf_counter() - start)
                start = time.perf_counter()
                attached = attach_attestations(ctx, planned, built)
                signs.append(time.perf_counter() - start)
                assert len(attached.actions) == 2 and not attached.skipped

                start = time.perf_counter()
                evidence = read_evidence(ctx, built.image, built.digest)
                judgement = judge(
                    evidence,
                    trust=Trust(kinds=("verdict", "provenance"), keys=(key.public,)),
                    model="digits",
                    release=build.spec.release,
                )
                checks.append(time.perf_counter() - start)
                assert judgement.ok, judgement.problem
        finally:
            registry.stop()
    push, load, sign, check = (statistics.median(x) for x in (pushes, loads, signs, checks))
    print(f"model {args.size_mib} MiB, {args.trials} trials, medians:")
    print(f"  push (daemonless, to docker-registry)          {push * 1000:8.1f} ms")
    print(
        f"  plan the statements, load the cosign key        {load * 1000:8.1f} ms  ({load / push:.1%} of the push; scrypt N=32768)"
    )
    print(
        f"  sign + attach verdict and provenance (key)     {sign * 1000:8.1f} ms  ({sign / push:.1%} of the push)"
    )
    print(
        f"  check them (read referrers, verify, judge)     {check * 1000:8.1f} ms  ({check / push:.1%} of the push)"
    )


if __name__ == "__main__":
    main()
