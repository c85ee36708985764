"""Learned agents: quality on the test suite and on unseen programs, and decision speed.

    python benchmarks/bench_agents.py                     # the shipped agent, test suite + speed
    python benchmarks/bench_agents.py --agent runs/x/model.npz --traces a.npz,b.npz
    python benchmarks/bench_agents.py --speed-only
    python benchmarks/bench_agents.py --agent default,runs/gbdt/model.npz --suite valid   # side by side

Quality: each suite entry (and each extra trace, at ``--trace-frames`` frames)
with the agent, the candidate ceiling and the classic policies, as
``vmgym evaluate`` prints them; mean and worst place between LRU (0 %) and
OPT (100 %). Speed: decisions per second of the agent on a long Zipf trace,
beside a trivial agent (always slot 0: the env's own cost) and native LRU
(references per second) measured in the same process.
"""

from __future__ import annotations

import argparse
import time

import agents
from agents.base import Agent
from agents.evaluate import evaluate, run_agent, summary
from agents.imitation import suite_entries
from vmgym.sim import MachineConfig, Simulator
from workloads import resolve


def quality(agent_list, suite: str, traces: list[str], frames: int) -> None:
    entries = suite_entries(suite) + [(t, resolve(t), {"frames": frames}) for t in traces]
    rows = evaluate(agent_list, entries, baselines=("lru", "clock", "arc", "lirs", "s3fifo", "opt"))
    policies = list(dict.fromkeys(r["policy"] for r in rows))
    print("| workload | " + " | ".join(policies) + " |")
    print("|---|" + "---:|" * len(policies))
    for label in dict.fromkeys(r["workload"] for r in rows):
        cells = []
        for p in policies:
            r = next(x for x in rows if x["workload"] == label and x["policy"] == p)
            g = r["lru_to_opt"]
            cells.append("n/a" if g is None else f"{100 * g:.1f} %")
        print(f"| {label} | " + " | ".join(cells) + " |")
    s = summary([r for r in rows if r["workload"] in {e[0] for e in suite_entries(suite)}])
    print("| mean (suite) | " + " | ".join(f"{100 * s[p]['mean']:.1f} %" for p in policies) + " |")
    print("| worst (suite) | " + " | ".join(f"{100 * s[p]['min']:.1f} %" for p in policies) + " |")


class Slot0(Agent):
    """Always slot 0 (LRU's victim with mix candidates): the env's own cost per decision (not registered)."""

    name = "slot0"

    def act(self, obs, env=None) -> int:
        return 0


def speed(agent_list, refs: int, repeat: int) -> None:
    wl = resolve(f"zipf:pages=20000,length={refs},alpha=0.9")
    machine = {"frames": 2000}
    for agent in agent_list:
        run_agent(agent, wl, machine)  # warm-up (compiles)
    for name, a in (*((a.label, a) for a in agent_list), ("slot0", Slot0())):
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            stats = run_agent(a, wl, machine)
            best = min(best, time.perf_counter() - t)
        rate = stats.evictions / best
        print(f"{name:>10}: {stats.evictions:,} decisions in {best:.2f} s = {rate:,.0f} decisions/s")
    cfg = MachineConfig.for_workload(wl, **machine)
    t = time.perf_counter()
    Simulator(wl, cfg, "lru").run()
    dt = time.perf_counter() - t
    print(f"       lru: native, {refs / dt / 1e6:.1f} M references/s (same process)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", default="default", help="comma-separated: shipped names or model files")
    ap.add_argument("--suite", default="test")
    ap.add_argument("--traces", default="", help="comma-separated trace files of programs in no suite")
    ap.add_argument("--trace-frames", type=int, default=32)
    ap.add_argument("--refs", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--speed-only", action="store_true")
    args = ap.parse_args()
    agent_list = [agents.load(spec) for spec in args.agent.split(",")]
    if not args.speed_only:
        quality(agent_list, args.suite, [t for t in args.traces.split(",") if t], args.trace_frames)
    speed(agent_list, args.refs, args.repeat)


if __name__ == "__main__":
    main()
