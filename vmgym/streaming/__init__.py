"""Streamed runs: a long workload simulated chunk by chunk, in bounded memory.

``Simulator(stream, config, policy)`` with a :class:`workloads.stream.RefStream`
or, for several processes, a :class:`workloads.stream.ProcessRefStream` (from
:func:`workloads.resolve_stream`, :mod:`workloads.streamgen` or
:func:`workloads.stream.from_workload`) runs through :func:`open_feed`; the
statistics equal the whole trace's bit for bit. Modules: :mod:`.translate`
(address to PTE, compiled), :mod:`.processes` (several processes: schedule, with the
spool of :mod:`workloads.spool`), :mod:`.events` (one process's mmap, munmap, mlock,
munlock and exit, replayed as the chunks pass), :mod:`.feed` (the passes over the
source and the chunks). Forks, and events of several processes, run whole
(:mod:`vmgym.sim.loader`).
"""

from vmgym.streaming.feed import DEFAULT_CHUNK, ChunkFeed, open_feed

__all__ = ["DEFAULT_CHUNK", "ChunkFeed", "open_feed"]
