"""Simulator throughput: LRU on a 1M-reference Zipf(0.9) trace over 10k pages, 1,000 frames.

Prints requests per second for
  (a) the lean configuration: one process, no TLB (a cache simulator);
  (b) the full MMU: 4 processes, 64-entry 4-way TLB with ASIDs, swap, 30 % writes;
next to a plain-Python OrderedDict LRU on the same trace, measured in the same run.
Every figure is the best of ``--repeat`` runs after a warm-up (compilation) run.
Loading (translation + scheduling) is timed separately from running.

    .venv/bin/python benchmarks/bench_sim.py [--refs 1000000] [--policies lru,fifo,clock,opt]
        [--pages 10000] [--frames 1000] [--lean-only]

A large footprint (state beyond L2, where the loop waits on memory):
``--refs 3000000 --pages 1000000 --frames 100000 --lean-only``.
"""

from __future__ import annotations

import argparse
import time
from collections import OrderedDict

import numpy as np

from vmgym import MachineConfig, Simulator
from vmgym.compare import parse_policies
from workloads import OP_READ, OP_WRITE, Vma, Workload, WorkloadBuilder
from workloads.generators import zipf_ranks


def zipf_pages(n_pages: int, refs: int, alpha: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.permutation(n_pages)[zipf_ranks(rng, n_pages, alpha, refs)]


def multi_process(pages: np.ndarray, n_procs: int, n_pages: int, write_ratio: float, seed: int) -> Workload:
    """Split the trace into ``n_procs`` processes, each over its own 1/n of the pages."""
    rng = np.random.default_rng(seed)
    wb = WorkloadBuilder("zipf-mp")
    per = n_pages // n_procs
    for k in range(n_procs):
        proc = wb.process(f"p{k}")
        proc.map(Vma(0, per, "rw"))
        mine = pages[k::n_procs] % per
        ops = np.where(rng.random(mine.size) < write_ratio, OP_WRITE, OP_READ)
        proc.access(mine * wb.page_size, ops)
    return wb.build()


def python_lru(pages: np.ndarray, frames: int) -> int:
    cache: OrderedDict[int, None] = OrderedDict()
    misses = 0
    for p in pages.tolist():
        if p in cache:
            cache.move_to_end(p)
        else:
            misses += 1
            if len(cache) >= frames:
                cache.popitem(last=False)
            cache[p] = None
    return misses


def best(fn, repeat: int) -> tuple[float, object]:
    out = None
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def bench(workload: Workload, config: MachineConfig, policy: str, repeat: int) -> tuple[float, float, object]:
    Simulator(workload, config, policy).run()  # warm-up: compile / load the cache
    load_t, _ = best(lambda: Simulator(workload, config, policy), repeat)
    sims = [Simulator(workload, config, policy) for _ in range(repeat)]
    it = iter(sims)
    run_t, stats = best(lambda: next(it).run(), repeat)
    return load_t, run_t, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=int, default=1_000_000)
    ap.add_argument("--pages", type=int, default=10_000)
    ap.add_argument("--frames", type=int, default=1_000)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--policies", default="lru,fifo,clock,opt", help="comma-separated, or 'all'")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lean-only", action="store_true", help="skip the full configuration")
    args = ap.parse_args()
    pages = zipf_pages(args.pages, args.refs, args.alpha, seed=42)
    n = args.refs
    t_py, py_misses = best(lambda: python_lru(pages, args.frames), 1)
    print(f"trace: Zipf({args.alpha}) {n:,} refs over {args.pages:,} pages, {args.frames:,} frames")
    print(f"python OrderedDict LRU: {n / t_py / 1e6:6.2f} M req/s  (misses {py_misses:,})")
    lean = Workload.from_pages(pages)
    full = multi_process(pages, 4, args.pages, 0.3, seed=7)
    full_cfg = MachineConfig(frames=args.frames, tlb_entries=64, tlb_ways=4, swap_slots=1 << 16, quantum=1000)
    header = f"{'config':<6} {'policy':<9} {'M req/s':>8} {'x python':>9} {'load s':>7} {'misses':>9}"
    print(header)
    for policy in parse_policies(args.policies):
        configs = [("lean", lean, MachineConfig.lean(args.frames)), ("full", full, full_cfg)]
        for label, wl, cfg in configs[: 1 if args.lean_only else 2]:
            load_t, run_t, stats = bench(wl, cfg, policy, args.repeat)
            rate = n / run_t
            cols = f"{label:<6} {policy:<9} {rate / 1e6:8.2f} {rate * t_py / n:9.1f}"
            print(f"{cols} {load_t:7.3f} {stats.misses:9,}")
            if label == "lean" and policy == "lru":
                assert stats.misses == py_misses, (stats.misses, py_misses)


if __name__ == "__main__":
    main()
