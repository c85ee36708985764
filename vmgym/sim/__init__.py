"""The virtual-memory simulator: machine state, MMU, faults, swap, processes.

This package never imports gymnasium; the environments in :mod:`vmgym.envs`
drive it through :class:`Simulator`.
"""

from vmgym.sim.config import ConfigError, CostModel, MachineConfig
from vmgym.sim.invariants import InvariantError
from vmgym.sim.simulator import (
    InvalidAction,
    OutOfMemory,
    SegmentationFault,
    SimulationError,
    Simulator,
    simulate,
)
from vmgym.sim.stats import ProcessStats, RunStats

__all__ = [
    "ConfigError",
    "CostModel",
    "InvalidAction",
    "InvariantError",
    "MachineConfig",
    "OutOfMemory",
    "ProcessStats",
    "RunStats",
    "SegmentationFault",
    "SimulationError",
    "Simulator",
    "simulate",
]
