"""vmgym: a Gymnasium environment for page replacement on a complete virtual-memory simulator."""

from vmgym.sim import MachineConfig, Simulator, simulate

__version__ = "0.1.0"
__all__ = ["MachineConfig", "Simulator", "__version__", "simulate"]
