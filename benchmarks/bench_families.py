"""One flow per policy family against one flow per policy: run speed, results and compile time.

The policies of a family (``flow_family``, ``vmgym policies``) share one compiled
simulator flow whose hooks switch on the kernel id (``vmgym.sim.specialize``).
This measures what the switch costs at run time: for each policy, its family's
flow and its own flow (``flow_for(..., solo=True)``) run the same trace in turn,
in this process, best of ``--repeat`` alternating runs each; the statistics must
be identical. ``--compile`` also times the compiles, in fresh processes on an
empty numba cache (a family's flow against its members' own flows compiled one
after the other in one process, as a ``vmgym compile`` worker would).

    .venv/bin/python benchmarks/bench_families.py [--refs 2000000] [--policies all] [--compile]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sim import multi_process, zipf_pages  # noqa: E402

from vmgym import MachineConfig, Simulator, policies  # noqa: E402
from vmgym.compare import parse_policies  # noqa: E402
from vmgym.sim.specialize import flow_for  # noqa: E402
from workloads import Workload  # noqa: E402


def _simulator(workload: Workload, config: MachineConfig, policy: str, solo: bool) -> Simulator:
    sim = Simulator(workload, config, policy)
    if solo:
        sim._flow, sim._loop = flow_for(sim.policy, solo=True), 0
    return sim


def run_speed(workload: Workload, config: MachineConfig, policy: str, repeat: int) -> tuple[float, float]:
    """Best run time of the family flow and of the policy's own flow, alternating; checks equal stats."""
    best = {False: float("inf"), True: float("inf")}
    summaries = {}
    for solo in (False, True):  # compile or load both first
        _simulator(workload, config, policy, solo).run()
    for _ in range(repeat):
        for solo in (False, True):
            sim = _simulator(workload, config, policy, solo)
            t = time.perf_counter()
            stats = sim.run()
            best[solo] = min(best[solo], time.perf_counter() - t)
            summaries[solo] = stats.summary()
    assert summaries[False] == summaries[True], f"{policy}: family and own flow differ"
    return best[False], best[True]


def _child_compile(mode: str, names: list[str]) -> None:
    """In a fresh process: compile the shared kernels untimed, then time the flows (print seconds)."""
    from vmgym.sim import specialize

    specialize._compile_one(specialize.SHARED)
    tiny = Workload.from_pages([0, 1, 2, 0])
    t = time.perf_counter()
    for name in names:
        sim = _simulator(tiny, MachineConfig(frames=2), name, solo=mode == "solo")
        sim._loop_address()
        if mode == "family":
            break  # one compile serves every member
    print(f"{time.perf_counter() - t:.2f}")


def compile_times(names: list[str]) -> None:
    families: dict[str, list[str]] = {}
    for name in names:
        families.setdefault(policies.get_class(name).flow_family or name, []).append(name)
    print(f"\n{'family':<12} {'flow s':>7} {'own flows s':>12}  members")
    total_f = total_s = 0.0
    for family, members in families.items():
        secs = {}
        for mode in ("family", "solo"):
            with tempfile.TemporaryDirectory() as cache:
                env = {**os.environ, "NUMBA_CACHE_DIR": cache}
                cmd = [sys.executable, __file__, "--child-compile", mode, ",".join(members)]
                out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
                secs[mode] = float(out.split()[-1])
        total_f += secs["family"]
        total_s += secs["solo"]
        print(f"{family:<12} {secs['family']:7.1f} {secs['solo']:12.1f}  {', '.join(members)}")
    print(f"{'all':<12} {total_f:7.1f} {total_s:12.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", type=int, default=2_000_000)
    ap.add_argument("--pages", type=int, default=10_000)
    ap.add_argument("--frames", type=int, default=1_000)
    ap.add_argument("--policies", default="all", help="comma-separated, or 'all'")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="also time the compiles (minutes)")
    ap.add_argument("--child-compile", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_compile:
        _child_compile(args.child_compile[0], args.child_compile[1].split(","))
        return
    names = [n for n in parse_policies(args.policies) if policies.get_class(n).flow_family]
    pages = zipf_pages(args.pages, args.refs, 0.9, seed=42)
    lean = Workload.from_pages(pages)
    full = multi_process(pages, 4, args.pages, 0.3, seed=7)
    full_cfg = MachineConfig(frames=args.frames, tlb_entries=64, tlb_ways=4, swap_slots=1 << 16, quantum=1000)
    print(f"trace: Zipf(0.9) {args.refs:,} refs over {args.pages:,} pages, {args.frames:,} frames")
    head = f"{'config':<6} {'policy':<10} {'family':>8} {'own':>8} {'ratio':>6}"
    print(f"{head}   (M req/s, best of {args.repeat}; ratio: family / own)")
    ratios = []
    for policy in names:
        for label, wl, cfg in (("lean", lean, MachineConfig.lean(args.frames)), ("full", full, full_cfg)):
            fam, own = run_speed(wl, cfg, policy, args.repeat)
            ratios.append(own / fam)
            rates = f"{args.refs / fam / 1e6:8.2f} {args.refs / own / 1e6:8.2f}"
            print(f"{label:<6} {policy:<10} {rates} {own / fam:6.3f}")
    geo = 1.0
    for r in ratios:
        geo *= r
    print(f"geometric mean of family/own speed: {geo ** (1 / len(ratios)):.3f} over {len(ratios)} runs")
    if args.compile:
        compile_times(names)


if __name__ == "__main__":
    main()
