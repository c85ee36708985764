"""Streamed runs: a long workload simulated chunk by chunk, in bounded memory.

``Simulator(stream, config, policy)`` with a :class:`workloads.stream.RefStream`, a
:class:`workloads.stream.ProcessRefStream` (a trace of several processes) or a
:class:`workloads.stream.ProcessStreams` (processes with events and forks), from
:func:`workloads.resolve_stream`, :mod:`workloads.streamgen` or
:func:`workloads.stream.from_workload`, runs through :func:`open_feed`; the
statistics equal the whole trace's bit for bit. Modules: :mod:`.translate`
(address to PTE, compiled), :mod:`.processes` (a trace of several processes: the
schedule of :mod:`vmgym.sim.schedule` over the spool of :mod:`workloads.spool`),
:mod:`.events` (mmap, munmap, mlock, munlock, fork and exit, in one process or a tree
of them, replayed as the chunks pass), :mod:`.feed` (the passes over the source and
the chunks).
"""

from vmgym.streaming.feed import DEFAULT_CHUNK, ChunkFeed, open_feed

__all__ = ["DEFAULT_CHUNK", "ChunkFeed", "open_feed"]
