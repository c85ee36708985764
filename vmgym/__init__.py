"""vmgym: a Gymnasium environment for page replacement on a complete virtual-memory simulator."""

from vmgym._cache import configure_cache

configure_cache()  # before any kernel module is imported

from vmgym.sim import MachineConfig, Simulator, simulate  # noqa: E402

__version__ = "0.1.0"
__all__ = ["MachineConfig", "Simulator", "__version__", "simulate"]
