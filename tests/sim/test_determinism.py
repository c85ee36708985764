"""The same seed gives bit-identical statistics and env episodes in separate processes.

Two subprocesses with different ``PYTHONHASHSEED`` each print a JSON summary (full run
statistics of LRU in the lean and the full configuration, and a PageReplacement-v0 episode
driven by a seeded random agent: every reward, a hash of every observation, the last
info); the two outputs must be equal byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = r"""
import hashlib, json
import numpy as np
import gymnasium as gym
import vmgym
from vmgym import MachineConfig, Simulator
from workloads import registry

out = {}
wl = registry.get("multiprocess:n_procs=3,private_pages=100,shared_pages=40,length_per_proc=2000")
for label, tlb in (("lean", 0), ("full", 64)):
    sim = Simulator(wl, MachineConfig(frames=60, tlb_entries=tlb), "lru")
    out[label] = sim.run().to_dict()
env = gym.make("vmgym/PageReplacement-v0", workload=wl, machine={"frames": 60})
obs, info = env.reset(seed=7)
rng = np.random.default_rng(7)
rewards, digest = [], hashlib.sha256()
done = False
while not done:
    valid = np.flatnonzero(env.unwrapped.action_masks())
    obs, r, term, trunc, info = env.step(int(valid[rng.integers(valid.size)]))
    rewards.append(float(r).hex())
    digest.update(np.ascontiguousarray(obs).tobytes())
    done = term or trunc
out["episode"] = {"rewards": rewards, "obs_sha256": digest.hexdigest(), "info": repr(sorted(info.items()))}
print(json.dumps(out, sort_keys=True, default=repr))
"""


def _run(hashseed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_same_seed_same_bits_across_processes():
    a, b = _run("1"), _run("4242")
    assert a == b
    assert '"lean"' in a and '"full"' in a and len(a) > 1000
