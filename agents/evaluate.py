"""Agents beside the classic policies: suites x (agents, baselines) -> rows like ``vmgym compare``'s.

Every agent runs in PageReplacement-v0 on the workload's machine, choosing
among its ``k`` candidates (``mix`` by default: slot 0 is LRU's own victim);
the classic policies run natively over the whole RAM, as in ``vmgym compare``;
``ceiling`` is Belady among the same candidates (the best any agent could do
with them). Each row places its run between LRU (0) and OPT (1) by misses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from agents.base import Agent, AgentError
from agents.rollout import PAGE_REPLACEMENT, make_env, play
from vmgym.compare import gap_closed
from vmgym.sim import MachineConfig, RunStats, Simulator
from workloads.model import Workload
from workloads.stream import RefStream

DEFAULT_BASELINES = ("lru", "clock", "arc", "lirs", "s3fifo", "opt")
CEILING = "ceiling"  # Belady among the agent's candidates


def run_agent(
    agent: Agent,
    workload: Workload | RefStream,
    machine: MachineConfig | dict[str, Any] | None = None,
    *,
    seed: int = 0,
    prefetch: str = "none",
) -> RunStats:
    """One whole run of ``workload`` with ``agent`` choosing every eviction (``seed``: candidate samples).

    A :class:`~workloads.stream.RefStream` runs chunk by chunk, as the env streams it.
    """
    check_evicts(agent)
    hints = machine.to_dict() if isinstance(machine, MachineConfig) else dict(machine or {})
    env = make_env(workload, hints, k=agent.k, candidates=agent.candidates, prefetch=prefetch)
    agent.check_env(env)
    stats = play(env, agent.act, seed=seed)
    return dataclasses.replace(stats, policy=agent.label)


def check_evicts(agent: Agent) -> None:
    """Raise :class:`AgentError` unless ``agent`` chooses evictions (a PageReplacement-v0 agent)."""
    if agent.env_id != PAGE_REPLACEMENT:
        raise AgentError(
            f"agent {agent.label} acts in {agent.env_id}, not {PAGE_REPLACEMENT}: it does not choose "
            "evictions; compare it with `vmgym evaluate --agent ... --suite prefetch-test`"
        )


def run_ceiling(
    workload: Workload, machine: dict[str, Any] | None, *, k: int = 16, candidates: str = "mix", seed: int = 0
) -> RunStats:
    """Belady's choice among the same candidates an agent gets: the ceiling of the candidate source."""
    env = make_env(workload, machine, k=k, candidates=candidates, oracle=True)
    return play(env, lambda obs, e: e.oracle_action(), seed=seed)


_NATIVE: dict[tuple[int, MachineConfig, str], tuple[Workload, RunStats]] = {}


def native(workload: Workload, machine: dict[str, Any] | None, policy: str) -> RunStats:
    """A classic policy's run over the whole RAM (cached per workload object, machine and policy)."""
    cfg = MachineConfig.for_workload(workload, **dict(machine or {}))
    key = (id(workload), cfg, policy)
    hit = _NATIVE.get(key)
    if hit is None or hit[0] is not workload:
        hit = _NATIVE[key] = (workload, Simulator(workload, cfg, policy).run())
    return hit[1]


def row(label: str, policy: str, stats: RunStats, lru: int, opt: int) -> dict[str, Any]:
    """One result row: misses, hit ratio, faults per 1k accesses and the place between LRU and OPT."""
    return {
        "workload": label,
        "policy": policy,
        "misses": stats.misses,
        "hit_ratio": stats.hit_ratio,
        "faults_per_1k": 1000.0 * stats.misses / max(stats.accesses, 1),
        "time_ns": stats.time_ns,
        "lru_to_opt": gap_closed(stats.misses, lru, opt),
    }


def evaluate(
    agents: Sequence[Agent],
    entries: Sequence[tuple[str, Workload, dict[str, Any]]],
    *,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    ceiling: bool = True,
    seed: int = 0,
    on_done: Callable[[str, str], None] | None = None,
) -> list[dict[str, Any]]:
    """Rows for every entry ``(label, workload, machine hints)`` x (agents, baselines, ceiling)."""
    rows = []
    for label, workload, hints in entries:
        lru = native(workload, hints, "lru").misses
        opt = native(workload, hints, "opt").misses
        for agent in agents:
            rows.append(row(label, agent.label, run_agent(agent, workload, hints, seed=seed), lru, opt))
            if on_done is not None:
                on_done(label, agent.label)
        if ceiling and agents:
            a = agents[0]
            stats = run_ceiling(workload, hints, k=a.k, candidates=a.candidates, seed=seed)
            rows.append(row(label, CEILING, stats, lru, opt))
        for name in baselines:
            rows.append(row(label, name, native(workload, hints, name), lru, opt))
            if on_done is not None:
                on_done(label, name)
    return rows


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per policy: mean, min and max of ``lru_to_opt`` over the entries where it is defined."""
    out: dict[str, dict[str, float]] = {}
    for policy in dict.fromkeys(r["policy"] for r in rows):
        gaps = [r["lru_to_opt"] for r in rows if r["policy"] == policy and r["lru_to_opt"] is not None]
        if gaps:
            out[policy] = {"mean": sum(gaps) / len(gaps), "min": min(gaps), "max": max(gaps), "n": len(gaps)}
    return out


PREFETCH_BASELINES = ("none", "readahead", "stride")


def prefetch_row(label: str, name: str, stats: RunStats, none: RunStats) -> dict[str, Any]:
    """One prefetching result row: major faults and simulated time, also relative to no prefetching."""
    return {
        "workload": label,
        "policy": name,
        "major_faults": stats.major_faults,
        "time_ns": stats.time_ns,
        "time_vs_none": stats.time_ns / max(none.time_ns, 1),
        "prefetch_issued": stats.prefetch_issued,
        "prefetch_used": stats.prefetch_used,
        "prefetch_wasted": stats.prefetch_wasted,
    }


def evaluate_prefetch(
    agents: Sequence[Agent],
    entries: Sequence[tuple[str, Workload, dict[str, Any]]],
    *,
    prefetchers: Sequence[str] = PREFETCH_BASELINES,
    seed: int = 0,
    on_done: Callable[[str, str], None] | None = None,
) -> list[dict[str, Any]]:
    """Learned prefetchers (Prefetch-v0 / MemoryManager-v0 agents) beside classic ones, per entry.

    Every run uses the agent's replacement ``policy`` (``lru`` by default; for
    MemoryManager-v0 agents the classic rows use LRU). ``time_vs_none`` is the
    simulated time over that of the same run without prefetching (lower is better).
    """
    rows = []
    for label, workload, hints in entries:
        policy = agents[0].config.get("params", {}).get("policy", "lru") if agents else "lru"
        cfg = MachineConfig.for_workload(workload, **dict(hints or {}))
        none = Simulator(workload, cfg, policy).run()
        for agent in agents:
            extra = {"policy": policy} if agent.env_id.endswith("Prefetch-v0") else {"k": agent.k}
            env = make_env(workload, hints, env_id=agent.env_id, **extra)
            stats = play(env, agent.act, seed=seed)
            rows.append(prefetch_row(label, agent.label, stats, none))
            if on_done is not None:
                on_done(label, agent.label)
        for name in prefetchers:
            stats = none if name == "none" else Simulator(workload, cfg, policy, prefetch=name).run()
            rows.append(prefetch_row(label, name, stats, none))
            if on_done is not None:
                on_done(label, name)
    return rows


def prefetch_summary(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per prefetcher: mean, min and max of ``time_vs_none`` over the entries."""
    out: dict[str, dict[str, float]] = {}
    for name in dict.fromkeys(r["policy"] for r in rows):
        t = [r["time_vs_none"] for r in rows if r["policy"] == name]
        out[name] = {"mean": sum(t) / len(t), "min": min(t), "max": max(t), "n": len(t)}
    return out
