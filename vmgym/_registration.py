"""Register the vmgym env ids with Gymnasium: string entry points only, so ``import vmgym`` stays light.

The env modules (and their compiled kernels) load at the first ``gym.make``.
"""

from gymnasium.envs.registration import register, registry

ENTRY_POINTS = {
    "vmgym/PageReplacement-v0": "vmgym.envs.page_replacement:PageReplacementEnv",
    "vmgym/Prefetch-v0": "vmgym.envs.prefetch_env:PrefetchEnv",
    "vmgym/MemoryManager-v0": "vmgym.envs.memory_manager:MemoryManagerEnv",
}
ENV_IDS = tuple(ENTRY_POINTS)


def register_envs() -> None:
    """Register every id not registered yet (idempotent)."""
    for env_id, entry in ENTRY_POINTS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=entry)
