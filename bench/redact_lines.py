"""Redaction cost per output line: with many registered credentials beside none, in the
same run. Every line leptonci prints goes through ``redact``; registering a secret must
not make each line cost one scan per secret encoding. Target: within 4x of no secrets.

    .venv/bin/python bench/redact_lines.py [--lines 5000] [--secrets 30]
"""

from __future__ import annotations

import argparse
import time

from leptonci.core import redact


def lines(count: int) -> list[str]:
    return [
        f"==> push 127.0.0.1:5000/team/digits layer sha256:{i:064x} ({i} of {count}) "
        f"from /tmp/work/repo/environments/dev; accuracy 0.953 >= 0.900 ok"
        for i in range(count)
    ]


def seconds_per_line(texts: list[str]) -> float:
    for text in texts[:100]:
        redact.redact(text)  # compile the pattern, warm the caches
    start = time.perf_counter()
    for text in texts:
        redact.redact(text)
    return (time.perf_counter() - start) / len(texts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--secrets", type=int, default=30)
    args = parser.parse_args()
    texts = lines(args.lines)
    redact._registry = redact._Registry()
    bare = seconds_per_line(texts)
    for i in range(args.secrets):
        redact.register_credentials(f"user-{i}", f'pw-{i}:p@ss/w%rd-ö "q\\?')
    loaded = seconds_per_line(texts)
    ratio = loaded / bare
    print(f"no secrets            {bare * 1e6:7.1f} us/line")
    print(f"{args.secrets:3d} credentials       {loaded * 1e6:7.1f} us/line")
    print(f"ratio                 {ratio:.2f}x (target <= 4x): {'ok' if ratio <= 4 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
