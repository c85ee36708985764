"""Env throughput: decisions per second of PageReplacement-v0 (K=16) through gymnasium.make.

A random valid-action agent (valid slots are always a prefix, so one integer
draw) on the `zipf` workload with 1,000 frames; then SB3 training steps/s
(MaskablePPO and DQN, CPU) on the same env for comparison.

    .venv/bin/python benchmarks/bench_env.py [--steps 50000] [--train-steps 4096]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import vmgym  # noqa: F401  (registers the env ids)

ENV_KW = {"workload": "zipf", "machine": {"frames": 1000}, "k": 16, "report_gap": False}


def random_agent_rate(steps: int, candidates: str) -> float:
    env = gym.make("vmgym/PageReplacement-v0", candidates=candidates, **ENV_KW)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    base = env.unwrapped

    def run(n: int) -> None:
        for _ in range(n):
            a = int(rng.integers(int(base.action_masks().sum())))
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()

    run(200)  # warm-up (compile / load the cache)
    t = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - t)


def sb3_rate(algo: str, steps: int) -> float:
    from sb3_contrib import MaskablePPO
    from stable_baselines3 import DQN

    env = gym.make("vmgym/PageReplacement-v0", **ENV_KW)
    if algo == "maskable-ppo":
        model = MaskablePPO("MlpPolicy", env, n_steps=1024, batch_size=256, seed=0, device="cpu")
    else:
        env = gym.make("vmgym/PageReplacement-v0", invalid_action="fallback", **ENV_KW)
        model = DQN("MlpPolicy", env, learning_starts=256, train_freq=4, seed=0, device="cpu")
    t = time.perf_counter()
    model.learn(total_timesteps=steps)
    return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50_000)
    ap.add_argument("--train-steps", type=int, default=4096)
    args = ap.parse_args()
    for source in ("mix", "lru", "random"):
        rate = random_agent_rate(args.steps, source)
        print(f"random valid agent, candidates={source:<6}: {rate:9,.0f} decisions/s")
    for algo in ("maskable-ppo", "dqn"):
        print(f"SB3 {algo:<12} training: {sb3_rate(algo, args.train_steps):9,.0f} steps/s")


if __name__ == "__main__":
    main()
