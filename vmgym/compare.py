"""Run several policies on one workload and place each between LRU (0 %) and OPT (100 %)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from vmgym import policies, prefetch
from vmgym.sim import MachineConfig, RunStats, Simulator
from workloads.model import Workload
from workloads.stream import RefStream

COLUMNS = (
    "policy",
    "misses",
    "minor_faults",
    "major_faults",
    "hit_ratio",
    "swap_outs",
    "file_writebacks",
    "time_ns",
    "lru_to_opt",
    "prefetch_issued",
    "prefetch_used",
    "prefetch_wasted",
)


AGENT_PREFIX = "agent:"  # "agent:default", "agent:runs/x/model.npz": a learned agent (package agents)


def parse_policies(text: str) -> list[str]:
    """``"lru,clock"`` or ``"all"`` to canonical policy names (unknown names raise PolicyError).

    ``agent:NAME`` and ``agent:PATH`` entries (a shipped or saved learned agent)
    are kept as written; :func:`compare` loads them.
    """
    if text.strip().lower() == "all":
        return policies.names()
    out: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if part.lower().startswith(AGENT_PREFIX):
            name = AGENT_PREFIX + part[len(AGENT_PREFIX) :].strip()
        elif part:
            name = policies.get_class(part).name
        else:
            continue
        if name not in out:
            out.append(name)
    if not out:
        raise policies.PolicyError("no policy given; e.g. --policies lru,clock,opt or --policies all")
    return out


def check_agents(names: Sequence[str]) -> str | None:
    """Load every ``agent:`` entry (imports package agents only then); the first error, or None."""
    specs = [n[len(AGENT_PREFIX) :] for n in names if n.startswith(AGENT_PREFIX)]
    if not specs:
        return None
    from agents import AgentError, load
    from agents.evaluate import check_evicts

    for spec in specs:
        try:
            check_evicts(load(spec))
        except AgentError as e:
            return str(e)
    return None


def gap_closed(misses: int, lru_misses: int, opt_misses: int) -> float | None:
    """Position between LRU (0.0) and OPT (1.0) by misses; None when LRU already equals OPT."""
    if lru_misses == opt_misses:
        return None
    return (lru_misses - misses) / (lru_misses - opt_misses)


def compare(
    workload: Workload | RefStream,
    config: MachineConfig,
    names: Sequence[str],
    on_done: Callable[[str, RunStats], None] | None = None,
    prefetcher: str | prefetch.Prefetcher | None = None,
    on_progress: Callable[[str, str, int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run each policy on ``workload``; rows of :data:`COLUMNS` plus the full statistics.

    LRU and OPT are always run (they anchor the ``lru_to_opt`` column), with the
    same ``prefetcher`` as the others. ``lru_to_opt`` compares misses (accesses
    that faulted, the first use of a prefetched page included), so it measures
    replacement; what prefetching gains shows in major faults and simulated time.
    An ``agent:`` entry runs a learned agent (:func:`agents.load`) in
    PageReplacement-v0 on the same machine, choosing among its candidates. A
    :class:`~workloads.stream.RefStream` is read again by each policy, agents included
    (the env streams it too). ``on_progress(policy, what, done, total)`` hears each
    compiled policy's run (``what`` is ``"running"``) and OPT's loading phases
    (:class:`~vmgym.sim.Simulator`'s ``loading``); ``on_done(policy, stats)`` each end.
    """
    pf = prefetch.make(prefetcher)
    results: dict[str, RunStats] = {}
    for name in dict.fromkeys([*names, "lru", "opt"]):
        if name.startswith(AGENT_PREFIX):
            results[name] = _run_agent(name[len(AGENT_PREFIX) :], workload, config, pf)
        elif on_progress is None:
            results[name] = Simulator(workload, config, name, prefetch=pf).run()
        else:
            hear = functools.partial(on_progress, name)
            sim = Simulator(workload, config, name, prefetch=pf, loading=hear)
            results[name] = sim.run(progress=functools.partial(hear, "running"))
        if on_done is not None:
            on_done(name, results[name])
    lru, opt = results["lru"].misses, results["opt"].misses
    rows = []
    for name in names:
        s = results[name]
        row = {c: getattr(s, c) for c in COLUMNS if hasattr(s, c)}
        row["policy"] = name
        row["lru_to_opt"] = gap_closed(s.misses, lru, opt)
        row["stats"] = s.summary()
        rows.append(row)
    return rows


def _run_agent(
    spec: str, workload: Workload | RefStream, config: MachineConfig, pf: prefetch.Prefetcher
) -> RunStats:
    """A learned agent's run (imported here: ``vmgym compare`` without agents never imports torch)."""
    from agents import load
    from agents.evaluate import run_agent

    return run_agent(load(spec), workload, config, prefetch=pf)
