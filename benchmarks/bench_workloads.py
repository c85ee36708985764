"""Time the workload generators: 10M Zipf references, plus every registry workload.

Run: .venv/bin/python benchmarks/bench_workloads.py [--refs N] [--pages N] [--repeat N]
Prints wall time and references per second (best of --repeat runs).
"""

from __future__ import annotations

import argparse
import time

from workloads import generators as gen
from workloads import registry


def best_of(repeat: int, fn):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=int, default=10_000_000)
    ap.add_argument("--pages", type=int, default=10_000)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    for pages in sorted({1_000, args.pages, 1_000_000}):
        secs, w = best_of(
            args.repeat, lambda p=pages: gen.zipf(p, args.refs, args.alpha, write_ratio=0.3, seed=1)
        )
        print(
            f"zipf(alpha={args.alpha}) {w.references:>11,} refs over {pages:>9,} pages: "
            f"{secs:6.3f} s  {w.references / secs / 1e6:6.1f} M refs/s"
        )
    print()
    for name in registry.names():
        secs, w = best_of(args.repeat, lambda n=name: registry.get(n))
        rate = w.references / secs / 1e6
        print(f"registry {name:14s} {w.references:>9,} refs  {secs:6.3f} s  {rate:6.1f} M refs/s")


if __name__ == "__main__":
    main()
