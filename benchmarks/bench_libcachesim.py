"""vmgym vs libCacheSim: throughput and miss ratio per policy on the same trace, in the same process.

Trace: Zipf(0.9), 1M references over 10k pages (``bench_sim.zipf_pages``, seed 42); cache of 1,000
frames / objects (every libCacheSim object has size 1, so the capacity is 1,000 objects).

vmgym runs every registered policy in the lean configuration (``MachineConfig.lean``, one process,
no TLB) and, for ``--full`` policies, the full MMU of ``bench_sim`` (4 processes, TLB, swap, writes;
a re-mapped multi-process trace, so only its rate is comparable, not its misses).

libCacheSim (PyPI ``libcachesim``) is driven through its C trace loop: the trace is written once to a
temporary oracleGeneral binary file (24-byte packed records: uint32 time, uint64 obj_id, uint32 size,
int64 next_access_vtime, the latter precomputed so that Belady works), opened with
``TraceReader(path, TraceType.ORACLE_GENERAL_TRACE)``, and each run is
``cache.process_trace(reader)`` (-> ``c_process_trace``: reader reset + read/get loop in C) on a
freshly built cache. Rates are marginal: file writing, reader opening and cache construction are
outside the timer; one warm-up run each, then ``--repeat`` rounds. Where both sides have the policy,
each round runs vmgym once and libCacheSim once, back to back, so that both see the same machine
load (this VM's speed drifts by 2x within minutes): the table gives each side's best run, the ratio
of the bests, and the median over rounds of the ratio within a round.

    .venv/bin/python benchmarks/bench_libcachesim.py [--refs 1000000] [--frames 1000] [--repeat 5]
        [--policies all] [--full lru,fifo,clock,opt]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import libcachesim as lcs  # noqa: E402
from bench_sim import bench, multi_process, zipf_pages  # noqa: E402
from libcachesim.libcachesim_python import CAR_init  # noqa: E402

from vmgym import MachineConfig, Simulator  # noqa: E402
from vmgym.compare import parse_policies  # noqa: E402
from workloads import Workload  # noqa: E402

ORACLE_GENERAL = np.dtype([("time", "<u4"), ("obj_id", "<u8"), ("obj_size", "<u4"), ("next_vtime", "<i8")])


def _car(frames: int, hashpower: int) -> lcs.CacheBase:
    params = lcs.CommonCacheParams(cache_size=frames, default_ttl=86400 * 300, hashpower=hashpower)
    return lcs.CacheBase(CAR_init(params, ""))


# vmgym policy name -> libCacheSim cache factory (frames, hashpower); only the counterparts that exist.
LCS_POLICIES = {
    "lru": lambda n, h: lcs.LRU(n, hashpower=h),
    "fifo": lambda n, h: lcs.FIFO(n, hashpower=h),
    "clock": lambda n, h: lcs.Clock(n, hashpower=h),  # init_freq=0: inserted with the reference bit clear
    "arc": lambda n, h: lcs.ARC(n, hashpower=h),
    "car": _car,
    "lirs": lambda n, h: lcs.LIRS(n, hashpower=h),
    "opt": lambda n, h: lcs.Belady(n, hashpower=h),
    "s3fifo": lambda n, h: lcs.S3FIFO(n, hashpower=h),
    "sieve": lambda n, h: lcs.Sieve(n, hashpower=h),
    "2q": lambda n, h: lcs.TwoQ(n, hashpower=h),
    "lfu": lambda n, h: lcs.LFU(n, hashpower=h),
    "clock-pro": lambda n, h: lcs.ClockPro(n, hashpower=h),
    "lru-k": lambda n, h: lcs.LRUK(n, hashpower=h),
    "random": lambda n, h: lcs.Random(n, hashpower=h),
}
LCS_LABEL = {"opt": "Belady", "2q": "TwoQ", "lru-k": "LRU-K(2)", "clock-pro": "ClockPro"}
# Policies whose miss counts must agree exactly (deterministic, same definition on both sides).
MUST_AGREE = {"lru", "fifo", "clock", "opt"}


def write_oracle_general(pages: np.ndarray, path: str) -> None:
    """``pages`` as an oracleGeneral binary trace, object size 1, with exact next-access times."""
    n = pages.size
    rec = np.zeros(n, ORACLE_GENERAL)
    rec["time"] = np.arange(1, n + 1, dtype=np.uint32)
    rec["obj_id"] = pages.astype(np.uint64) + 1  # avoid object id 0
    rec["obj_size"] = 1
    nxt = np.full(n, -1, np.int64)  # -1: never referenced again
    order = np.argsort(pages, kind="stable")
    same = pages[order[:-1]] == pages[order[1:]]
    nxt[order[:-1][same]] = order[1:][same] + 1  # 1-based virtual time of the next reference
    rec["next_vtime"] = nxt
    rec.tofile(path)


def bench_paired(
    workload, config, policy: str, reader: lcs.TraceReader, make, frames: int, hashpower: int, repeat: int
):
    """``repeat`` rounds of one vmgym run then one libCacheSim run, after one warm-up each.

    Returns (vmgym times, libCacheSim times, vmgym stats, libCacheSim miss ratio). Simulators and caches
    are built outside the timer.
    """
    Simulator(workload, config, policy).run()  # warm-up: compile / load the numba cache
    make(frames, hashpower).process_trace(reader)  # warm-up: page in the mmap'd trace
    vm_t, lcs_t = [], []
    stats = miss_ratio = None
    for _ in range(repeat):
        sim = Simulator(workload, config, policy)
        t = time.perf_counter()
        stats = sim.run()
        vm_t.append(time.perf_counter() - t)
        cache = make(frames, hashpower)
        t = time.perf_counter()
        miss_ratio, _byte_miss_ratio = cache.process_trace(reader)
        lcs_t.append(time.perf_counter() - t)
    return vm_t, lcs_t, stats, miss_ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=int, default=1_000_000)
    ap.add_argument("--pages", type=int, default=10_000)
    ap.add_argument("--frames", type=int, default=1_000)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--policies", default="all", help="comma-separated vmgym policy names, or 'all'")
    ap.add_argument("--full", default="lru,fifo,clock,opt", help="policies also run in the full MMU config")
    ap.add_argument("--repeat", type=int, default=5, help="rounds (vmgym and libCacheSim once each)")
    ap.add_argument("--hashpower", type=int, default=16, help="libCacheSim 2^k hash buckets (default 24)")
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1, got {args.repeat}")

    n = args.refs
    pages = zipf_pages(args.pages, n, args.alpha, seed=42)
    lean = Workload.from_pages(pages)
    lean_cfg = MachineConfig.lean(args.frames)
    full = multi_process(pages, 4, args.pages, 0.3, seed=7)
    full_cfg = MachineConfig(frames=args.frames, tlb_entries=64, tlb_ways=4, swap_slots=1 << 16, quantum=1000)
    full_set = set(parse_policies(args.full)) if args.full.strip() else set()

    fd, path = tempfile.mkstemp(suffix=".oracleGeneral.bin")
    os.close(fd)
    try:
        write_oracle_general(pages, path)
        reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE)
        assert reader.get_num_of_req() == n
        print(
            f"trace: Zipf({args.alpha}) {n:,} refs over {args.pages:,} pages, {args.frames:,} frames; "
            f"libcachesim {lcs.__version__}; {args.repeat} rounds, M req/s = marginal run rate (best run); "
            "lean / lcs: ratio of the bests, and the median of the per-round ratios\n"
        )
        print(
            "| policy | libCacheSim | vmgym lean M req/s | vmgym full M req/s | libCacheSim M req/s "
            "| lean / lcs | median per round | vmgym miss ratio | lcs miss ratio | Δ misses |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        notes = []
        for policy in parse_policies(args.policies):
            make = LCS_POLICIES.get(policy)
            lcs_cols = ["–", "–", "–", "–", "–", "–"]
            if make is None:
                _, run_t, stats = bench(lean, lean_cfg, policy, args.repeat)
            else:
                vm_t, lcs_t, stats, lcs_mr = bench_paired(
                    lean, lean_cfg, policy, reader, make, args.frames, args.hashpower, args.repeat
                )
                run_t = min(vm_t)
                lcs_rate = n / min(lcs_t)
                paired = statistics.median(lt / vt for vt, lt in zip(vm_t, lcs_t, strict=True))
                lcs_misses = round(lcs_mr * n)
                delta = stats.misses - lcs_misses
                label = LCS_LABEL.get(policy, make(args.frames, args.hashpower).cache_name)
                lcs_cols = [
                    label,
                    f"{lcs_rate / 1e6:.2f}",
                    f"{n / run_t / lcs_rate:.2f}x",
                    f"{paired:.2f}x",
                    f"{lcs_mr:.4f}",
                    f"{delta:+,}",
                ]
                if policy in MUST_AGREE and delta != 0:
                    notes.append(f"{policy}: vmgym {stats.misses:,} misses vs libCacheSim {lcs_misses:,}")
            full_col = "–"
            if policy in full_set:
                _, full_t, _ = bench(full, full_cfg, policy, args.repeat)
                full_col = f"{n / full_t / 1e6:.2f}"
            print(
                f"| {policy} | {lcs_cols[0]} | {n / run_t / 1e6:.2f} | {full_col} | {lcs_cols[1]} "
                f"| {lcs_cols[2]} | {lcs_cols[3]} | {stats.misses / n:.4f} | {lcs_cols[4]} | {lcs_cols[5]} |",
                flush=True,
            )
        del reader  # the Reader closes itself; an explicit close() double-frees at exit
        print()
        if notes:
            print("DISAGREEMENT on policies expected to match exactly:")
            for line in notes:
                print(f"  {line}")
        else:
            print(f"misses agree exactly for {', '.join(sorted(MUST_AGREE))} (where run)")
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
