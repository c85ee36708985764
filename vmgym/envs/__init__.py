"""Gymnasium environments over the vmgym simulator.

>>> import gymnasium as gym, vmgym.envs
>>> env = gym.make("vmgym/PageReplacement-v0", workload="loop:n_pages=120", machine={"frames": 100})

Registered ids: ``vmgym/PageReplacement-v0``; importing :mod:`vmgym.envs` registers them
(or use ``gym.make("vmgym.envs:vmgym/PageReplacement-v0")``).
"""

from gymnasium.envs.registration import register, registry

from vmgym.envs._kernel import FEATURES, GLOBALS, SOURCES
from vmgym.envs.baselines import baseline_agent, baseline_names
from vmgym.envs.ceiling import ceiling
from vmgym.envs.page_replacement import PageReplacementEnv, default_config

ENV_IDS = ("vmgym/PageReplacement-v0",)

if "vmgym/PageReplacement-v0" not in registry:
    register(id="vmgym/PageReplacement-v0", entry_point="vmgym.envs.page_replacement:PageReplacementEnv")

__all__ = [
    "ENV_IDS",
    "FEATURES",
    "GLOBALS",
    "SOURCES",
    "PageReplacementEnv",
    "baseline_agent",
    "baseline_names",
    "ceiling",
    "default_config",
]
