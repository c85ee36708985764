"""Gymnasium environments over the vmgym simulator.

>>> import gymnasium as gym, vmgym
>>> env = gym.make("vmgym/PageReplacement-v0", workload="loop:n_pages=120", machine={"frames": 100})

Registered ids: ``vmgym/PageReplacement-v0`` (evictions), ``vmgym/Prefetch-v0``
(prefetches at major faults) and ``vmgym/MemoryManager-v0`` (both); importing
:mod:`vmgym` registers them (:mod:`vmgym._registration`; or use
``gym.make("vmgym.envs:vmgym/Prefetch-v0")``).
"""

from vmgym._registration import ENV_IDS
from vmgym.envs._kernel import FEATURES, GLOBALS, SOURCES
from vmgym.envs._prefetch import ACTIONS as PREFETCH_ACTIONS
from vmgym.envs._prefetch import PF_FEATURES as PREFETCH_FEATURES
from vmgym.envs.baselines import baseline_agent, baseline_names
from vmgym.envs.ceiling import ceiling
from vmgym.envs.memory_manager import MemoryManagerEnv, memory_manager_default_config
from vmgym.envs.page_replacement import PageReplacementEnv, default_config
from vmgym.envs.prefetch_env import PrefetchEnv, prefetch_default_config

__all__ = [
    "ENV_IDS",
    "FEATURES",
    "GLOBALS",
    "PREFETCH_ACTIONS",
    "PREFETCH_FEATURES",
    "SOURCES",
    "MemoryManagerEnv",
    "PageReplacementEnv",
    "PrefetchEnv",
    "baseline_agent",
    "baseline_names",
    "ceiling",
    "default_config",
    "memory_manager_default_config",
    "prefetch_default_config",
]
