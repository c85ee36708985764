"""Which candidates bound an agent: Belady's choice among K candidates, per candidate source.

For each workload and source, the oracle agent (``env.oracle_action()``) plays a
whole episode of PageReplacement-v0; its place between LRU (0 %) and OPT
(100 %) is the best any agent could do with those candidates. Deterministic
(seed 0); prints a Markdown table (the README's figures).

    .venv/bin/python experiments/candidate_ceiling.py [--k 16] [--workloads default,loop]
"""

from __future__ import annotations

import argparse
import time

from vmgym.envs import ceiling
from vmgym.sim import MachineConfig
from workloads import resolve

SOURCES = ("lru", "random", "mix")


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--workloads", default="default,loop,scan-hot,trace-sqlite")
    args = ap.parse_args()
    heads = " | ".join(f"{s} (K={args.k})" for s in SOURCES)
    print(f"| workload | frames | LRU misses | OPT misses | {heads} |")
    print("|---|---:|---:|---:|" + "---:|" * len(SOURCES))
    for name in args.workloads.split(","):
        wl = resolve(name)
        frames = MachineConfig.for_workload(wl).frames
        cells, lru, opt = [], None, None
        t = time.perf_counter()
        for source in SOURCES:
            r = ceiling(wl, {"tlb_entries": 0}, k=args.k, candidates=source)
            lru, opt = r["lru_misses"], r["opt_misses"]
            cells.append("n/a" if r["lru_to_opt"] is None else f"{100 * r['lru_to_opt']:.0f} %")
        secs = time.perf_counter() - t
        print(f"| {name} | {frames} | {lru} | {opt} | {' | '.join(cells)} |  <!-- {secs:.0f} s -->")


if __name__ == "__main__":
    main()
