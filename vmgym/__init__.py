"""vmgym: a Gymnasium environment for page replacement on a complete virtual-memory simulator.

Importing it registers ``vmgym/PageReplacement-v0``, ``vmgym/Prefetch-v0`` and
``vmgym/MemoryManager-v0`` with Gymnasium (without importing :mod:`vmgym.envs`).
"""

from vmgym._cache import configure_cache

configure_cache()  # before any kernel module is imported

from vmgym._registration import register_envs  # noqa: E402
from vmgym.sim import MachineConfig, Simulator, simulate  # noqa: E402

register_envs()  # string entry points: the env modules load at the first gym.make

__version__ = "0.1.0"
__all__ = ["MachineConfig", "Simulator", "__version__", "simulate"]
