"""Run an agent through PageReplacement-v0 episodes: the loop training, evaluation and compare share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from vmgym.envs.page_replacement import PageReplacementEnv
from vmgym.sim import RunStats
from workloads.model import Workload

Act = Callable[[np.ndarray, PageReplacementEnv], int]  # (observation, env) -> slot
OnStep = Callable[[np.ndarray, PageReplacementEnv], None]  # sees every decision before the action


PAGE_REPLACEMENT = "vmgym/PageReplacement-v0"
PREFETCH = "vmgym/Prefetch-v0"
MEMORY_MANAGER = "vmgym/MemoryManager-v0"
ENV_IDS = (PAGE_REPLACEMENT, PREFETCH, MEMORY_MANAGER)


def make_env(
    workload: Workload | str,
    machine: dict[str, Any] | None = None,
    *,
    k: int = 16,
    candidates: str = "mix",
    oracle: bool = False,
    prefetch: str = "none",
    env_id: str = PAGE_REPLACEMENT,
    **extra: Any,
):
    """The env every agent is trained and evaluated in (no gap report: callers anchor LRU and OPT once).

    ``env_id`` picks PageReplacement-v0 (default), Prefetch-v0 (``extra`` may
    name its replacement ``policy``) or MemoryManager-v0; ``extra`` holds other
    env keys (``reward``, ``max_steps``).
    """
    from vmgym.envs.memory_manager import MemoryManagerEnv
    from vmgym.envs.prefetch_env import PrefetchEnv

    if env_id not in ENV_IDS:
        raise ValueError(f"env {env_id!r}; allowed: {', '.join(ENV_IDS)}")
    machine = dict(machine or {})
    if env_id == PREFETCH:
        return PrefetchEnv(workload=workload, machine=machine, **extra)
    cls = MemoryManagerEnv if env_id == MEMORY_MANAGER else PageReplacementEnv
    if env_id == PAGE_REPLACEMENT:
        extra["prefetch"] = prefetch
    return cls(
        workload=workload,
        machine=machine,
        k=k,
        candidates=candidates,
        oracle=oracle,
        report_gap=False,
        **extra,
    )


def play(env: PageReplacementEnv, act: Act, seed: int, on_step: OnStep | None = None) -> RunStats:
    """One whole episode from ``reset(seed=seed)`` with ``act`` choosing every eviction; the run's stats.

    A workload that never needs an eviction (it fits in RAM) is a valid episode
    with no decisions: its stats are those of the plain run.
    """
    try:
        obs, _ = env.reset(seed=seed)
    except ValueError as e:
        if "never needs" not in str(e):
            raise
        return env.sim.stats()
    while True:
        if on_step is not None:
            on_step(obs, env)
        obs, _, terminated, truncated, _ = env.step(act(obs, env))
        if terminated or truncated:
            return env.sim.stats()
