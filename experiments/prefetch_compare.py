"""What each prefetcher buys under one replacement policy: major faults, simulated time, used/wasted reads.

Every workload runs with its hinted machine (full configuration: TLB, swap,
the default cost model) under ``--policy`` (LRU by default), once per
prefetcher. Deterministic; prints a Markdown table (the README's figures).

    .venv/bin/python experiments/prefetch_compare.py [--policy lru] [--workloads file-scan,multiprocess]
"""

from __future__ import annotations

import argparse

from vmgym import prefetch
from vmgym.sim import MachineConfig, Simulator
from workloads import resolve

WORKLOADS = "file-scan,mmap-readers,sequential,strided,multiprocess,trace-sort,trace-sqlite"


def main() -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", default="lru")
    ap.add_argument("--workloads", default=WORKLOADS)
    ap.add_argument("--prefetchers", default=",".join(prefetch.names()))
    args = ap.parse_args()
    print("| workload | frames | prefetcher | major faults | sim time (s) | prefetched | used | wasted |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for name in args.workloads.split(","):
        wl = resolve(name)
        cfg = MachineConfig.for_workload(wl)
        for pf in args.prefetchers.split(","):
            s = Simulator(wl, cfg, args.policy, prefetch=pf).run()
            print(
                f"| {name} | {cfg.frames} | {pf} | {s.major_faults:,} | {s.time_ns / 1e9:.3f} | "
                f"{s.prefetch_issued:,} | {s.prefetch_used:,} | {s.prefetch_wasted:,} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
