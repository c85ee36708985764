"""The whole exact LRU miss-ratio curve against one LRU simulation of the same trace.

Trace: 1M references, Zipf(0.9) over 10k pages (as ``bench_sim.py``), one process,
lean configuration (no TLB); the simulation uses ``--frames`` (1,000). In rounds,
back to back in one process (this VM's speed drifts), it times

  curve      ``vmgym.mrc.lru_misses``: misses at every size 1..10,000 (page ids ready)
  sim        ``Simulator.run()`` with LRU at one size (state loaded beforehand)
  curve e2e  ``page_ids`` (the simulator's loader) + the curve
  sim e2e    ``Simulator(...)`` (load, allocate) + ``run()``

and prints each one's best, the ratio of the bests and the median over rounds of the
ratio within a round (the target: curve <= 2x sim). Then, once each, the exact OPT
curve against one OPT simulation and SHARDS at a few rates with their error.

    .venv/bin/python benchmarks/bench_mrc.py [--refs 1000000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from vmgym import MachineConfig, Simulator
from vmgym.mrc import curve_error, lru_misses, opt_misses, page_ids, shards_lru_misses
from workloads import Workload
from workloads.generators import zipf_ranks


def zipf_pages(n_pages: int, refs: int, alpha: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.permutation(n_pages)[zipf_ranks(rng, n_pages, alpha, refs)]


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=int, default=1_000_000)
    ap.add_argument("--pages", type=int, default=10_000)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--frames", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    w = Workload.from_pages(zipf_pages(args.pages, args.refs, args.alpha, args.seed), name="zipf")
    cfg = MachineConfig(frames=args.frames, tlb_entries=0)
    ids, m = page_ids(w)
    lru_misses(ids[:1000], m)  # warm-up: compile or load the kernels
    Simulator(w, cfg, "lru").run()
    print(f"{args.refs:,} references, {m:,} pages, LRU simulated at {args.frames:,} frames", end="")
    print(f"; {args.rounds} rounds")

    names = ("curve", "sim", "curve e2e", "sim e2e")
    times: dict[str, list[float]] = {k: [] for k in names}
    for _ in range(args.rounds):
        t, curve = timed(lambda: lru_misses(ids, m))
        times["curve"].append(t)
        sim = Simulator(w, cfg, "lru")
        t, stats = timed(sim.run)
        times["sim"].append(t)
        assert curve[args.frames] == stats.misses, (curve[args.frames], stats.misses)
        times["curve e2e"].append(timed(lambda: lru_misses(*page_ids(w)))[0])
        times["sim e2e"].append(timed(lambda: Simulator(w, cfg, "lru").run())[0])
    for k in names:
        b = min(times[k])
        print(f"  {k:<10} best {b:7.3f} s  ({args.refs / b / 1e6:5.1f} M refs/s)")
    for a, b in (("curve", "sim"), ("curve e2e", "sim e2e")):
        ratio = min(times[a]) / min(times[b])
        med = statistics.median(x / y for x, y in zip(times[a], times[b], strict=True))
        print(f"  {a} / {b}: {ratio:.2f}x best/best, median per round {med:.2f}x")
    print(f"  miss ratio at {args.frames} frames: {curve[args.frames] / args.refs:.4f} (curve = simulation)")

    opt_misses(ids[:1000], m)
    t_curve, opt = timed(lambda: opt_misses(ids, m))
    Simulator(w, cfg, "opt").run()
    sim = Simulator(w, cfg, "opt")
    t_sim, stats = timed(sim.run)
    assert opt[args.frames] == stats.misses
    print(f"OPT: curve 1..{m:,} {t_curve:.3f} s, curve 1..{args.frames:,} ", end="")
    print(f"{timed(lambda: opt_misses(ids, m, args.frames))[0]:.3f} s, one simulation {t_sim:.3f} s")

    for rate in (0.1, 0.01, 0.001):
        t, est = timed(lambda rate=rate: shards_lru_misses(ids, m, rate))
        e = curve_error(est, curve, args.refs)
        print(f"SHARDS R={rate:g}: {t:.4f} s, mean abs error {e['mae']:.4f}, max {e['max']:.4f}")


if __name__ == "__main__":
    main()
