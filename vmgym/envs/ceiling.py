"""The ceiling of a candidate source: Belady's choice among the offered candidates.

Running :meth:`PageReplacementEnv.oracle_action` as the agent shows how much of
the gap between LRU and OPT *any* agent could close with these candidates.
"""

from __future__ import annotations

from typing import Any

from vmgym.envs.page_replacement import PageReplacementEnv


def ceiling(workload: Any, machine: dict[str, Any] | None = None, k: int = 16, candidates: str = "mix",
            seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Misses of the oracle agent, of LRU and OPT, and its place between them (``lru_to_opt``)."""
    env = PageReplacementEnv(workload=workload, machine=machine or {}, k=k, candidates=candidates)
    env.reset(seed=seed)
    while True:
        _, _, terminated, truncated, info = env.step(env.oracle_action())
        if terminated or truncated:
            break
    return {
        "candidates": candidates,
        "k": k,
        "misses": info["stats"]["misses"],
        "lru_misses": info["lru_misses"],
        "opt_misses": info["opt_misses"],
        "lru_to_opt": info["lru_to_opt"],
        "decisions": info["decisions"],
    }
