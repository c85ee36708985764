"""Soak test: random valid agents drive the three envs and the Simulator decision API for many decisions.

    python benchmarks/soak.py --decisions 1000000          # the full soak (minutes)
    python benchmarks/soak.py --decisions 10000 --json     # a short one

Every decision is followed by ``Simulator.check_invariants()`` (no data lost: RAM, swap or
the file holds every live page's newest version; frame, PTE, reverse-map, pin and swap
accounting exact; no stale TLB entry). Workloads with process events: fork-server
(copy-on-write), stack-heap (mmap/munmap), multiprocess (shared memory), mmap-readers (a
shared file), and a small workload built here that mlocks and munlocks part of its memory.
Memory is kept small so that nearly every fault is a decision. Prints decisions/s and the
violations found (expected: none); exits 1 if there was any.

Only flows the test suite compiles anyway are used: the envs' default kernels and the
``policy=None`` simulator flow, in the full (TLB) and the lean configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium as gym  # noqa: E402

import vmgym  # noqa: E402, F401 - registers the envs
from vmgym import MachineConfig, Simulator  # noqa: E402
from vmgym.sim.invariants import InvariantError  # noqa: E402
from workloads import Workload, registry  # noqa: E402
from workloads.model import Vma, WorkloadBuilder  # noqa: E402

WORKLOADS = {
    "fork-server": "fork-server:workers=3,pages=200,length_per_proc=3000",
    "stack-heap": "stack-heap:steps=40",
    "multiprocess": "multiprocess:n_procs=3,private_pages=150,shared_pages=60,length_per_proc=3000",
    "mmap-readers": "mmap-readers:n_procs=3,file_pages=300,length_per_proc=3000",
}


def mlock_workload(seed: int = 0, length: int = 4000) -> Workload:
    """Two processes; one mlocks (and later munlocks) a region while both touch random pages."""
    rng = np.random.default_rng(seed)
    b = WorkloadBuilder("mlock-mix")
    for i in range(2):
        p = b.process(f"p{i}", start=i * 100)
        p.map(Vma(0, 120, "rw"))
        p.map(Vma(200, 16, "rw"))
        p.access_pages(rng.integers(0, 120, length // 4), rng.random(length // 4) < 0.3)
        if i == 0:
            p.mlock(200)
        p.access_pages(np.concatenate([np.arange(200, 216), rng.integers(0, 120, length // 2)]), None)
        if i == 0:
            p.munlock(200)
        p.access_pages(rng.integers(0, 120, length // 4), rng.random(length // 4) < 0.5)
    return b.build()


def workloads() -> dict[str, Workload]:
    out = {name: registry.get(text) for name, text in WORKLOADS.items()}
    out["mlock"] = mlock_workload()
    return out


def _frames(wl: Workload) -> int:
    return max(8, int(wl.hints.get("frames", 64)) // 4)


def soak_simulator(wl: Workload, tlb: int, rng: np.random.Generator, budget: int, out: dict) -> int:
    """policy=None: advance(), evict() a random candidate, check_invariants(); return decisions."""
    sim = Simulator(wl, MachineConfig(frames=_frames(wl), tlb_entries=tlb, swap_slots=1 << 14), policy=None)
    n = 0
    while n < budget and sim.advance():
        cands = sim.candidates()
        sim.evict(int(cands[rng.integers(cands.size)]))
        n += 1
        _check(sim, out, f"simulator/{wl.name}/tlb={tlb}", n)
    sim.check_invariants()
    return n


def soak_env(env_id: str, wl: Workload, rng: np.random.Generator, budget: int, out: dict, seed: int) -> int:
    """A random agent among the masked (valid) actions; check_invariants() after each step."""
    env = gym.make(env_id, workload=wl, machine={"frames": _frames(wl), "swap_slots": 1 << 14})
    n = 0
    obs, info = env.reset(seed=seed)
    while n < budget:
        mask = env.unwrapped.action_masks()
        valid = np.flatnonzero(mask)
        obs, reward, terminated, truncated, info = env.step(int(valid[rng.integers(valid.size)]))
        n += 1
        _check(env.unwrapped.sim, out, f"{env_id}/{wl.name}", n)
        if terminated or truncated:
            obs, info = env.reset(seed=int(rng.integers(1 << 30)))
    env.close()
    return n


def _check(sim: Simulator, out: dict, where: str, n: int) -> None:
    try:
        sim.check_invariants()
    except InvariantError as e:
        out["violations"].append(f"{where} decision {n}: {e}")


def soak(decisions: int, seed: int = 0, verbose: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    wls = workloads()
    runs = []
    for name in wls:
        for tlb in (64, 0):
            runs.append(("simulator", name, tlb))
        for env_id in ("vmgym/PageReplacement-v0", "vmgym/Prefetch-v0", "vmgym/MemoryManager-v0"):
            runs.append((env_id, name, None))
    per_run = max(1, decisions // len(runs))
    out: dict = {"decisions": 0, "violations": [], "errors": [], "runs": {}}
    t0 = time.perf_counter()
    for kind, name, tlb in runs:
        done = 0
        t = time.perf_counter()
        try:
            while done < per_run:
                if kind == "simulator":
                    step = soak_simulator(wls[name], tlb, rng, per_run - done, out)
                else:
                    step = soak_env(kind, wls[name], rng, per_run - done, out, int(rng.integers(1 << 30)))
                if step == 0:
                    break  # no decision at all on this workload and machine
                done += step
        except Exception as e:  # anything but a clean run is reported
            out["errors"].append(f"{kind}/{name}: {type(e).__name__}: {e}")
            traceback.print_exc()
        label = f"{kind}/{name}" + (f"/tlb={tlb}" if tlb is not None else "")
        dt = time.perf_counter() - t
        out["runs"][label] = {"decisions": done, "seconds": round(dt, 2)}
        if verbose:
            print(f"{label:55s} {done:>9,} decisions {dt:>8.1f} s", flush=True)
        out["decisions"] += done
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["decisions_per_s"] = round(out["decisions"] / max(out["seconds"], 1e-9))
    out["violations_count"] = len(out["violations"])
    out["violations"] = out["violations"][:20]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()
    res = soak(args.decisions, args.seed, verbose=not args.json)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(
            f"total {res['decisions']:,} decisions in {res['seconds']:.1f} s = {res['decisions_per_s']:,}/s "
            f"(with check_invariants after each); violations {res['violations_count']}, "
            f"errors {len(res['errors'])}"
        )
        for v in res["violations"] + res["errors"]:
            print("  ", v)
    sys.exit(1 if res["violations_count"] or res["errors"] else 0)


if __name__ == "__main__":
    main()
