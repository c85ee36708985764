"""Machine configuration and cost model, validated with errors that name the field.

All latencies are integer simulated nanoseconds so that runs are exact and
reproducible bit for bit (no floating-point accumulation).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """A configuration value outside its allowed range; the message names the field."""


def _check_int(owner: str, name: str, value: Any, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{owner}.{name} must be an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ConfigError(f"{owner}.{name} must be {rng}, got {value}")


def _check_choice(owner: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{owner}.{name} must be one of {', '.join(choices)}; got {value!r}")


@dataclass(frozen=True)
class CostModel:
    """Latencies in simulated nanoseconds.

    Defaults are orders of magnitude from public measurements:

    - ``tlb_hit`` 1 ns, ``dram`` 100 ns: "Latency numbers every programmer should
      know" (J. Dean, P. Norvig): main-memory reference ~100 ns.
    - ``page_walk`` 40 ns: a 4-level x86-64 walk mostly hitting the data caches
      (Bhattacharjee & Lustig, *Architectural and OS Support for Virtual Memory*,
      2017, report 20-60 ns typical walk latencies).
    - ``minor_fault`` 1,000 ns (kernel entry, allocation, PTE set-up; ~0.5-1 us
      measured on Linux), ``zero_fill`` 500 ns and ``cow_copy`` 1,000 ns (clearing
      or copying 4 KiB at ~5-10 GB/s).
    - ``swap_read``/``swap_write`` 80,000/100,000 ns and ``file_read``/``file_write``
      the same: a SATA SSD 4 KiB random read ~80-150 us (Dean/Norvig: 150 us).
      Use :meth:`hdd` for a disk (~10 ms per random I/O).
    - ``context_switch`` 2,000 ns (~1-3 us measured with lmbench on Linux).
    - ``io_batch_page`` 4,000 ns: a read of the device location right after the
      previous read's (the next swap slot or file page) joins that request and
      costs only its transfer (4 KiB at ~1 GB/s), as readahead and swap-cluster
      reads do; any other read pays the full ``swap_read`` / ``file_read``.
    """

    tlb_hit: int = 1
    page_walk: int = 40
    dram: int = 100
    minor_fault: int = 1_000
    zero_fill: int = 500
    cow_copy: int = 1_000
    major_fault: int = 2_000
    swap_read: int = 80_000
    swap_write: int = 100_000
    file_read: int = 80_000
    file_write: int = 100_000
    context_switch: int = 2_000
    io_batch_page: int = 4_000

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_int("CostModel", f.name, getattr(self, f.name), 0, 10**12)

    @classmethod
    def hdd(cls) -> CostModel:
        """A rotating disk for swap and files: ~10 ms per random 4 KiB I/O, ~40 us per batched page."""
        return cls(
            swap_read=10_000_000,
            swap_write=10_000_000,
            file_read=10_000_000,
            file_write=10_000_000,
            io_batch_page=40_000,  # sequential transfer ~100 MB/s
        )

    def as_array(self) -> np.ndarray:
        """The costs as an int64 array in field order (for the compiled kernel)."""
        return np.array([getattr(self, f.name) for f in dataclasses.fields(self)], dtype=np.int64)


SEGFAULT_ACTIONS = ("kill", "error")
OOM_ACTIONS = ("kill", "error")
ALLOCATIONS = ("global", "equal", "proportional", "working-set")


@dataclass(frozen=True)
class MachineConfig:
    """The simulated machine.

    Fields (units in brackets):

    - ``page_size`` [bytes]: power of two in [512, 2 MiB]; default 4096.
    - ``frames`` [pages]: RAM size, >= 1.
    - ``swap_slots`` [pages]: swap device size, >= 0.
    - ``tlb_entries`` [entries]: 0 disables the TLB (lean configuration); otherwise
      a multiple of ``tlb_ways`` with a power-of-two number of sets.
    - ``tlb_ways``: associativity (LRU within a set).
    - ``tlb_asid``: True tags entries with the process (no flush on a context
      switch); False flushes the TLB at every switch.
    - ``quantum`` [references]: round-robin scheduler time slice.
    - ``segfault``: ``"kill"`` the faulting process (counted) or raise an ``"error"``.
    - ``oom``: when RAM and swap are full, ``"kill"`` the process with the largest
      RSS + swap (Linux's badness) or raise an ``"error"``.
    - ``allocation``: how frames are shared between processes. ``"global"``
      (default): any fault may take any frame (global replacement). Local
      replacement with a per-process quota: ``"equal"`` (frames / running
      processes), ``"proportional"`` (by each process's virtual size: the pages
      it ever maps, Silberschatz's proportional allocation), ``"working-set"``
      (each process's working set W(t, ``ws_window``): the distinct pages it
      referenced in the last ``ws_window`` trace references, recomputed every
      ``ws_window`` references, and at doubling positions during the first
      window (Denning 1968); when they exceed RAM, RAM is
      shared max-min fairly: working sets below the fair share fit whole, the
      others split what remains).
      A process at its quota replaces one of its own pages; one under its quota
      takes a free frame, else a frame of a process over its quota, else any.
    - ``ws_window`` [references]: the working-set window tau, >= 1.
    - ``costs``: the :class:`CostModel`.
    """

    page_size: int = 4096
    frames: int = 1024
    swap_slots: int = 1 << 18
    tlb_entries: int = 64
    tlb_ways: int = 4
    tlb_asid: bool = True
    quantum: int = 1000
    segfault: str = "kill"
    oom: str = "kill"
    allocation: str = "global"
    ws_window: int = 10_000
    costs: CostModel = field(default_factory=CostModel)

    def __post_init__(self) -> None:
        o = "MachineConfig"
        _check_int(o, "page_size", self.page_size, 512, 1 << 21)
        if self.page_size & (self.page_size - 1):
            raise ConfigError(f"{o}.page_size must be a power of two, got {self.page_size}")
        _check_int(o, "frames", self.frames, 1, 1 << 28)
        _check_int(o, "swap_slots", self.swap_slots, 0, 1 << 30)
        _check_int(o, "tlb_entries", self.tlb_entries, 0, 1 << 16)
        _check_int(o, "tlb_ways", self.tlb_ways, 1, 64)
        if self.tlb_entries:
            sets, rem = divmod(self.tlb_entries, self.tlb_ways)
            if rem or sets & (sets - 1):
                raise ConfigError(
                    f"{o}.tlb_entries must be tlb_ways x a power of two (tlb_ways={self.tlb_ways}), "
                    f"got {self.tlb_entries}"
                )
        if not isinstance(self.tlb_asid, bool):
            raise ConfigError(f"{o}.tlb_asid must be true or false, got {self.tlb_asid!r}")
        _check_int(o, "quantum", self.quantum, 1)
        _check_choice(o, "segfault", self.segfault, SEGFAULT_ACTIONS)
        _check_choice(o, "oom", self.oom, OOM_ACTIONS)
        _check_choice(o, "allocation", self.allocation, ALLOCATIONS)
        _check_int(o, "ws_window", self.ws_window, 1)
        if not isinstance(self.costs, CostModel):
            raise ConfigError(f"{o}.costs must be a CostModel, got {type(self.costs).__name__}")

    @classmethod
    def lean(cls, frames: int, **overrides: Any) -> MachineConfig:
        """A cache-simulator configuration: no TLB; the swap device large enough."""
        return cls(frames=frames, **{"tlb_entries": 0, **overrides})

    @classmethod
    def for_workload(cls, workload: Any, **overrides: Any) -> MachineConfig:
        """The machine for ``workload``: defaults, its hints, then ``overrides``.

        A ``None`` override is ignored; the page size is the workload's.
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls.from_dict({**getattr(workload, "hints", {}), **given, "page_size": workload.page_size})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MachineConfig:
        """Build from a flat dict (as read from TOML/JSON); unknown keys are errors."""
        data = dict(data)
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - allowed
        if unknown:
            raise ConfigError(
                f"unknown MachineConfig field(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        costs = data.pop("costs", None)
        if isinstance(costs, dict):
            cost_fields = {f.name for f in dataclasses.fields(CostModel)}
            bad = set(costs) - cost_fields
            if bad:
                raise ConfigError(
                    f"unknown CostModel field(s) {', '.join(sorted(bad))}; "
                    f"allowed: {', '.join(sorted(cost_fields))}"
                )
            data["costs"] = CostModel(**costs)
        elif costs is not None:
            data["costs"] = costs
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot (for run records)."""
        return dataclasses.asdict(self)
