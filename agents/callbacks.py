"""SB3 callbacks: the numbers a user looks at in tensorboard while an agent trains.

:class:`ValidationCallback` logs the mean reward per decision and, every
``every`` steps, evaluates the current actor on the validation suite: the
fraction of the LRU->OPT gap closed (mean and per workload), faults per 1k
accesses and the hit ratio. The actor is exported to the plain-array scorer
for this (no torch per decision), so a validation pass takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from agents.scorer_agent import ScorerAgent


class ValidationCallback(BaseCallback):
    """Reward per decision, and validation gap closed / faults per 1k / hit ratio every ``every`` steps."""

    def __init__(self, entries, config, label: str, every: int, log: Callable[[str], None] = print):
        super().__init__()
        self.entries = entries
        self.config = config
        self.label = label
        self.every = every
        self.log = log
        self.history: list[dict[str, Any]] = []
        self._rewards: list[float] = []
        self._last = 0

    def as_scorer_agent(self, agent) -> ScorerAgent:
        """The SB3 agent's actor as a :class:`ScorerAgent` (plain arrays, compiled inference)."""
        return ScorerAgent(
            agent.export_scorer(), self.config.k, self.config.candidates, {"label": self.label}
        )

    def _on_step(self) -> bool:
        self._rewards.extend(float(r) for r in np.ravel(self.locals.get("rewards", [])))
        if self.num_timesteps - self._last >= self.every:
            self._last = self.num_timesteps
            self.logger.record(
                "train/reward_per_decision", float(np.mean(self._rewards)) if self._rewards else 0.0
            )
            self._rewards.clear()
            self._validate()
        return True

    def _validate_prefetch(self, agent) -> None:
        """Prefetch-v0 / MemoryManager-v0: simulated time relative to no prefetching, and major faults."""
        from agents.evaluate import evaluate_prefetch

        rows = evaluate_prefetch([agent], self.entries, prefetchers=(), seed=self.config.seed)
        ratio = float(np.mean([r["time_vs_none"] for r in rows]))
        self.logger.record("validation/time_vs_none_mean", ratio)
        self.logger.record("validation/major_faults_mean", float(np.mean([r["major_faults"] for r in rows])))
        self.logger.dump(self.num_timesteps)
        self.history.append({"timesteps": int(self.num_timesteps), "time_vs_none": ratio})
        self.log(f"  {self.num_timesteps:,} steps: validation time {ratio:.3f}x of no prefetching")

    def _on_training_end(self) -> None:
        if self.num_timesteps != self._last:
            self._validate()

    def _validate(self) -> None:
        if not self.entries:
            return
        from agents.evaluate import evaluate, summary
        from agents.rl import sb3_agent

        p = self.config.params
        sb3 = sb3_agent(
            self.config.algorithm, self.model, self.config.k, self.config.candidates,
            {"label": self.label, "params": {"env": p.env, "policy": p.policy}},
        )  # fmt: skip
        if sb3.env_id != "vmgym/PageReplacement-v0":
            self._validate_prefetch(sb3)
            return
        agent = self.as_scorer_agent(sb3)
        rows = evaluate([agent], self.entries, baselines=(), ceiling=False, seed=self.config.seed)
        gap = summary(rows).get(agent.label, {}).get("mean", 0.0)
        self.logger.record("validation/lru_to_opt_mean", gap)
        self.logger.record(
            "validation/faults_per_1k_mean", float(np.mean([r["faults_per_1k"] for r in rows]))
        )
        self.logger.record("validation/hit_ratio_mean", float(np.mean([r["hit_ratio"] for r in rows])))
        for r in rows:
            if r["lru_to_opt"] is not None:
                self.logger.record(f"validation_gap/{r['workload']}", r["lru_to_opt"])
        self.logger.dump(self.num_timesteps)
        self.history.append({"timesteps": int(self.num_timesteps), "validation_gap": gap})
        self.log(f"  {self.num_timesteps:,} steps: validation {100 * gap:.1f} % of the LRU->OPT gap closed")


class ProgressCallback(BaseCallback):
    """Reports ``(steps done, total)`` to ``progress`` every 256 steps (for a progress bar)."""

    def __init__(self, progress: Callable[[float, float], None], total: int):
        super().__init__()
        self.progress = progress
        self.total = total

    def _on_step(self) -> bool:
        if self.num_timesteps % 256 < self.training_env.num_envs:
            self.progress(min(self.num_timesteps, self.total), self.total)
        return True
