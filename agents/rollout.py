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


def make_env(
    workload: Workload | str,
    machine: dict[str, Any] | None = None,
    *,
    k: int = 16,
    candidates: str = "mix",
    oracle: bool = False,
    prefetch: str = "none",
) -> PageReplacementEnv:
    """The env every agent is trained and evaluated in (no gap report: callers anchor LRU and OPT once)."""
    return PageReplacementEnv(
        workload=workload,
        machine=dict(machine or {}),
        k=k,
        candidates=candidates,
        oracle=oracle,
        report_gap=False,
        prefetch=prefetch,
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
