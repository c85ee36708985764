"""Several processes streamed: their address spaces, a spool of their references, their schedule.

A :class:`~workloads.stream.ProcessRefStream` (a trace whose records carry pids)
gives the references of several processes interleaved as its source has them. The
whole-trace loader (:mod:`vmgym.sim.loader`) instead runs each process's stream in
round-robin slices of ``quantum`` references, a process joining at its start tick.
:class:`ProcessSource` gives the same global trace with memory bounded by the
footprint and a chunk:

1. A first read of the source notes each process's pages (one
   :class:`~vmgym.streaming.translate.AddressSpace` per process) and counts its
   references (a trace file's scan tells both: no such read); the PTEs are numbered
   as the loader numbers them (per process, then per VMA and vpn).
2. The loader's scheduler (:func:`~vmgym.sim.schedule.schedule`) runs from the counts alone, and
   :meth:`ProcessSource.entries` takes each slice from a :class:`~workloads.spool.Spool` (memory, or
   one temporary file above :data:`~workloads.spool.SPILL_ABOVE` bytes), with
   each process's START before its first slice and EXIT after its last reference.
   The run's read of the source fills the spool as far as the next slice needs:
   each block's references translated to PTE ids and appended, in source order, to
   their processes' parts. It reads ahead of the simulation (on the feed's reading
   thread), and the spool holds what a file's order puts before the schedule's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from vmgym.sim import state as S
from vmgym.sim.config import MachineConfig
from vmgym.sim.loader import LoadedWorkload, load_address_space
from vmgym.sim.schedule import Timeline, merged, schedule
from vmgym.streaming.translate import DENSE_SPAN, AddressSpace, Scratch, all_rwx
from workloads.model import Process, Workload, WorkloadError
from workloads.spool import Spool, check_processes, fill, spills
from workloads.stream import ProcessRefStream, proc_groups

Entries = tuple[np.ndarray, np.ndarray, np.ndarray]  # ops int8, PTE ids / event args int32, pids int32


class Packer:
    """Pieces of the global trace packed into chunks of at most ``size`` entries.

    Small pieces (a slice of a quantum, a START) are copied into the chunk being filled;
    a piece of half a chunk or more is handed on as it is, after the entries before it,
    so a process that runs alone passes its blocks through without a copy.
    """

    def __init__(self, size: int):
        self.size = size
        self.fill = 0
        self._cols: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # made when first needed
        self._pids: np.ndarray | None = None  # the pid column of a piece handed on whole

    @property
    def room(self) -> int:
        """Entries the current chunk still takes."""
        return self.size - self.fill

    def put(self, ops: np.ndarray, pte: np.ndarray, p: int) -> list[Entries]:
        """Add at most :attr:`room` entries of process ``p``; the chunks this completes (maybe none)."""
        m = ops.shape[0]
        if 2 * m >= self.size:
            if self._pids is None or self._pids[0] != p:
                self._pids = np.full(self.size, p, np.int32)
            out = [] if self.fill == 0 else [self._flush()]
            return [*out, (ops, pte, self._pids[:m])]
        if self._cols is None:
            self._cols = (
                np.empty(self.size, np.int8),
                np.empty(self.size, np.int32),
                np.empty(self.size, np.int32),
            )
        a, b = self.fill, self.fill + m
        for col, values in zip(self._cols, (ops, pte, p), strict=True):
            col[a:b] = values
        self.fill = b
        return [self._flush()] if b == self.size else []

    def _flush(self) -> Entries:
        """The chunk filled so far: the arrays themselves if full (new ones next time), else a copy."""
        m, cols = self.fill, self._cols
        self.fill = 0
        if m == self.size:
            self._cols = None
            return cols
        return cols[0][:m].copy(), cols[1][:m].copy(), cols[2][:m].copy()

    def rest(self) -> Entries | None:
        """The last, partly filled chunk (None if empty)."""
        return self._flush() if self.fill else None


def scheduled(
    lines: list[Timeline],
    starts: list[int],
    parents: list[int | None],
    quantum: int,
    spool: Spool,
    stored: list[int],
    more: Callable[[int], object],
    chunk: int,
) -> Iterator[Entries]:
    """The global trace of scheduled streams, in chunks of at most ``chunk`` entries.

    Each slice of :func:`~vmgym.sim.schedule.schedule` takes its process's entries from
    ``spool`` (``more(p)`` reads further when it holds none of process ``p``'s), after a
    root process's START. Process ``p``'s stream gives ``stored[p]`` entries; if its
    timeline is one longer, the EXIT it lacks comes after its last slice.
    """
    pack = Packer(chunk)
    arg = np.zeros(1, np.int32)
    start, exit_ = np.array([S.E_START], np.int8), np.array([S.E_EXIT], np.int8)
    for p, lo, hi in merged(schedule(lines, starts, parents, quantum)):
        if lo == 0 and parents[p] is None:
            yield from pack.put(start, arg, p)
        left = min(hi, stored[p]) - lo
        while left:
            if not spool.held[p]:
                more(p)
                continue
            ops, pte = spool.take(p, min(left, pack.room, spool.held[p]))
            left -= ops.shape[0]
            yield from pack.put(ops, pte, p)
        if hi > stored[p]:
            yield from pack.put(exit_, arg, p)
    if (out := pack.rest()) is not None:
        yield out


def _knows_its_pages(stream: ProcessRefStream) -> bool:
    """True if the first read can be skipped: pages and counts told, every VMA ``rwx``."""
    k = len(stream.proc_names)
    return (
        stream.proc_pages is not None
        and stream.proc_counts is not None
        and len(stream.proc_pages) == len(stream.proc_counts) == k
        and all(all_rwx(vmas) for vmas in stream.proc_vmas)
    )


class ProcessSource:
    """The global trace of a :class:`~workloads.stream.ProcessRefStream` (see the module docstring)."""

    several = True
    mlock = False  # (no events)

    def __init__(self, stream: ProcessRefStream, quantum: int, chunk: int):
        k = len(stream.proc_names)
        if k == 0 or len(stream.proc_vmas) != k or len(stream.proc_starts) != k:
            raise WorkloadError(
                f"workload {stream.name!r}: a stream of several processes needs one name, VMA list and "
                f"start per process, got {k}, {len(stream.proc_vmas)} and {len(stream.proc_starts)}"
            )
        self.stream = stream
        self.quantum = quantum
        self.chunk = chunk
        dense = sum(v.end_vpn - v.start_vpn for vmas in stream.proc_vmas for v in vmas) <= DENSE_SPAN
        scratch = Scratch()  # one process's block at a time: one buffer
        self.spaces = [AddressSpace(v, stream.page_size, dense, scratch) for v in stream.proc_vmas]
        if _knows_its_pages(stream):  # no first read: the source has counted pages and references
            counts = np.array(stream.proc_counts, np.int64)
            for space, pages in zip(self.spaces, stream.proc_pages, strict=True):
                space.add_pages(pages, chunk)
        else:
            counts = np.zeros(k, np.int64)
            for procs, ops, addrs in stream.proc_blocks(chunk):
                check_processes(stream, procs)
                for p, idx in proc_groups(procs):
                    self.spaces[p].add(ops[idx], addrs[idx])
                    counts[p] += idx.size
        self.counts = counts
        self.pte_keys = [space.number() for space in self.spaces]
        sizes = np.array([keys.size for keys in self.pte_keys], np.int64)
        self.pte_base = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.n_refs = int(counts.sum())
        self.length = self.n_refs + 2 * k  # each process's START and EXIT
        self.shell = Workload(
            stream.name,
            [
                Process(name, list(vmas), np.zeros(0, np.int8), np.zeros(0, np.int64), [], int(start))
                for name, vmas, start in zip(
                    stream.proc_names, stream.proc_vmas, stream.proc_starts, strict=True
                )
            ],
            list(stream.objects),
            stream.page_size,
        )

    def load(self, config: MachineConfig) -> LoadedWorkload:
        """The state arrays of the processes' fixed address spaces and counted PTEs."""
        return load_address_space(self.shell, config, self.pte_keys)

    def _translated(self, p: int, ops: np.ndarray, addrs: np.ndarray) -> np.ndarray:
        """Process ``p``'s references as global PTE ids (segfault codes stay negative)."""
        pte = self.spaces[p].translate(ops, addrs)
        pte[pte >= 0] += self.pte_base[p]
        return pte

    def entries(self) -> Iterator[Entries]:
        """The global trace in chunks of at most ``chunk`` entries (events included).

        The source is read as far as the next slice needs, not whole first: a slice
        whose references the spool lacks reads further blocks (each appended to its
        processes' parts), so reading overlaps the simulation of earlier chunks.
        """
        spool = Spool(len(self.counts), spills(self.n_refs * 5, "the processes' waiting references"))
        reading = fill(spool, self.stream, self.counts, self.chunk, self._translated)
        lines = [Timeline.of_references(int(n)) for n in self.counts]
        try:
            yield from scheduled(
                lines,
                self.stream.proc_starts,
                [None] * len(lines),
                self.quantum,
                spool,
                [int(n) for n in self.counts],
                lambda p: next(reading),  # (the counts were checked when the source ran out)
                self.chunk,
            )
            for _ in reading:  # the end of the source: its counts checked
                pass
        finally:
            spool.close()
