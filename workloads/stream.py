"""Reference streams: one process's references read in chunks, for traces too long to hold.

A :class:`RefStream` is the streamed counterpart of a one-process, event-free
:class:`~workloads.model.Workload`: a fixed address space (its VMAs and the objects
they map) and a source that yields the references in order as ``(ops, addrs)``
blocks (int8 ops, int64 byte addresses). The source can be read any number of
times and gives the same references each time, so the simulator can read it once
to learn the footprint and again to simulate it (see :mod:`vmgym.streaming`),
with memory bounded by the footprint and the block size, not the trace length.

Streams come from the generators (:mod:`workloads.streamgen`), from trace files
(:func:`workloads.traces.stream_trace`) or from any such workload held in memory
(:func:`from_workload`, used by the tests that compare chunked with whole runs).
A :class:`ProcessRefStream` does the same for several processes (a trace whose
records carry pids): each has its own fixed VMAs and start tick, and the source
yields ``(procs, ops, addrs)`` blocks in which each process's references keep
their order; the simulator schedules them as the whole-trace loader would.
A one-process stream may also carry events (mmap, munmap, mlock, munlock, fork, exit):
their entries have ops ``>= EV_MMAP`` and, in the address column, the index of their
payload in ``events`` (as :class:`~workloads.model.Process` holds them); the simulator
replays them as their chunks pass (:mod:`vmgym.streaming.events`). A
:class:`ProcessStreams` holds several such streams, each read on its own, with their
start ticks and parents: forks and events of several processes (any workload, through
:func:`from_workload`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workloads.model import EV_MMAP, MemObject, Process, Vma, Workload, WorkloadError

__all__ = [
    "Blocks",
    "Distinct",
    "count_differs",
    "ProcBlocks",
    "ProcessRefStream",
    "ProcessStreams",
    "RefStream",
    "from_workload",
    "no_blocks",
    "proc_groups",
    "rebatch",
    "streamable",
]

BYTEMAP_BELOW = 1 << 24  # distinct values below this are counted in a byte per value


class Distinct:
    """The sorted distinct values of a stream of blocks (memory: the distinct values).

    Values below ``below`` (:data:`BYTEMAP_BELOW`) are marked in a byte per value (no
    sort); from the first larger one on, each block's distinct values are sorted and
    merged now and then.
    """

    def __init__(self, below: int = BYTEMAP_BELOW) -> None:
        self._below = below  # values below this are counted in the byte map
        self._seen: np.ndarray | None = np.zeros(0, np.bool_)
        self._sorted = np.zeros(0, np.uint64)
        self._pending: list[np.ndarray] = []
        self._size = 0

    def bytemap(self, top: int) -> np.ndarray | None:
        """The byte map of the values seen, grown to hold ``top``; None once values are counted sorted.

        A caller may mark values below its size itself (a compiled pass, say); :meth:`add`
        takes any value. From ``top >= below`` on there is no byte map (None).
        """
        if self._seen is None:
            return None
        if top >= self._below:
            self._sorted = np.flatnonzero(self._seen).astype(np.uint64)
            self._seen = None
            return None
        if top >= self._seen.size:
            grown = np.zeros(min(max(top + 1, 2 * self._seen.size), self._below), np.bool_)
            grown[: self._seen.size] = self._seen
            self._seen = grown
        return self._seen

    def add(self, values: np.ndarray) -> None:
        """Note a block of (non-negative) values."""
        values = values.astype(np.uint64, copy=False)
        seen = self.bytemap(int(values.max())) if values.size else self._seen
        if seen is not None:
            seen[values] = True
            return
        block = np.unique(values)
        self._pending.append(block)
        self._size += block.size
        if self._size > 4 * max(self._sorted.size, 1 << 20):
            self.values()

    def values(self) -> np.ndarray:
        """The distinct values so far, sorted (uint64)."""
        if self._seen is not None:
            return np.flatnonzero(self._seen).astype(np.uint64)
        if self._pending:
            self._sorted = np.unique(np.concatenate([self._sorted, *self._pending]))
            self._pending, self._size = [], 0
        return self._sorted


Blocks = Callable[[int], Iterator[tuple[np.ndarray, np.ndarray]]]
"""``blocks(size)``: the references as ``(ops int8, addrs int64)`` blocks of at most ``size``."""


@dataclass
class RefStream:
    """One process's references, read block by block (see the module docstring).

    ``blocks(size)`` yields ``(ops, addrs)`` pairs of at most ``size`` references
    each, in trace order, the same every time it is called; ``length`` is the
    number of references (None if only reading the source tells). A source that
    has read itself already may tell its ``page_set`` (the distinct pages); with it,
    ``length`` and only ``rwx`` VMAs, the simulator takes the pages from ``page_set``
    instead of a first read of the source.
    """

    name: str
    vmas: list[Vma]
    blocks: Blocks
    length: int | None = None
    objects: list[MemObject] = field(default_factory=list)
    page_size: int = 4096
    description: str = ""
    hints: dict[str, Any] = field(default_factory=dict)
    process_name: str = "main"
    page_set: np.ndarray | None = None  # the distinct pages referenced (sorted int64 vpns), if known
    events: list | None = None  # event payloads if the blocks carry events (then length counts them)

    def references(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``blocks(size)`` without the event entries (non-empty blocks of at most ``size``)."""
        for ops, addrs in self.blocks(size):
            if self.events is not None:
                refs = ops < EV_MMAP
                ops, addrs = ops[refs], addrs[refs]
            if ops.size:
                yield ops, addrs

    def pages(self) -> int:
        """Number of distinct pages referenced: ``page_set``'s, found in one read if not known (and kept)."""
        if self.page_set is None:
            shift = self.page_size.bit_length() - 1
            seen = Distinct()
            for _ops, addrs in self.references(1 << 22):
                seen.add(addrs >> shift)
            self.page_set = seen.values().astype(np.int64)
        return int(self.page_set.size)

    def workload(self) -> Workload:
        """The whole stream as an in-memory :class:`Workload` (for short streams and tests)."""
        ops: list[np.ndarray] = []
        addrs: list[np.ndarray] = []
        for o, a in self.blocks(1 << 22):
            ops.append(np.asarray(o, np.int8))
            addrs.append(np.asarray(a, np.int64))
        proc = Process(
            self.process_name,
            list(self.vmas),
            np.concatenate(ops) if ops else np.zeros(0, np.int8),
            np.concatenate(addrs) if addrs else np.zeros(0, np.int64),
            list(self.events or []),
        )
        return Workload(
            self.name, [proc], list(self.objects), self.page_size, self.description, dict(self.hints)
        )


ProcBlocks = Callable[[int], Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]]
"""``proc_blocks(size)``: ``(procs int32, ops int8, addrs int64)`` blocks of at most ``size`` references."""

PROC_BITS = 40  # a (process, page) key is process << 40 | vpn (the loader's vpns are 40-bit)


def rebatch(
    pieces: Iterable[tuple[np.ndarray, np.ndarray]], size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(ops, addrs)`` pieces of any sizes regrouped into blocks of exactly ``size`` (the last: the rest).

    Each block is a new pair of arrays (a caller may keep the last one); a piece is
    copied in, so its arrays may be reused once the next one is asked for.
    """
    ops_out = np.empty(size, np.int8)
    addrs_out = np.empty(size, np.int64)
    fill = 0
    for ops, addrs in pieces:
        done = 0
        while done < ops.size:
            k = min(size - fill, ops.size - done)
            ops_out[fill : fill + k] = ops[done : done + k]
            addrs_out[fill : fill + k] = addrs[done : done + k]
            fill += k
            done += k
            if fill == size:
                yield ops_out, addrs_out
                ops_out, addrs_out = np.empty(size, np.int8), np.empty(size, np.int64)
                fill = 0
    if fill:
        yield ops_out[:fill], addrs_out[:fill]


def no_blocks(size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The ``blocks`` of a stream of several processes: one process's references do not apply (raises)."""
    raise WorkloadError(
        "a stream of several processes is read with proc_blocks (ProcessRefStream) or per process "
        "(ProcessStreams.streams), not blocks"
    )


@dataclass
class ProcessRefStream(RefStream):
    """Several processes' references, read block by block (see the module docstring).

    Process ``k`` is named ``proc_names[k]``, maps ``proc_vmas[k]`` and joins the
    round-robin scheduler at global reference tick ``proc_starts[k]`` (as
    :attr:`workloads.model.Process.start`). ``proc_blocks(size)`` yields ``(procs,
    ops, addrs)`` blocks, the same every call; a process's references are in its own
    order, those of different processes in any order (a trace's, say). ``vmas`` and
    ``blocks`` (one process's) do not apply; ``length`` counts every process's references.
    A source that has read itself already (a trace file's scan) may tell each process's
    distinct pages and reference count (``proc_pages``, ``proc_counts``): with them and
    only ``rwx`` VMAs, the simulator skips its first read.
    """

    proc_names: list[str] = field(default_factory=list)
    proc_vmas: list[list[Vma]] = field(default_factory=list)
    proc_starts: list[int] = field(default_factory=list)
    proc_blocks: ProcBlocks | None = None
    proc_pages: list[np.ndarray] | None = None  # each process's distinct pages (sorted int64), if known
    proc_counts: list[int] | None = None  # each process's references, if known

    def pages(self) -> int:
        """Distinct (process, page) pairs referenced (``proc_pages``, else one read of the source)."""
        if self.proc_pages is not None:
            return sum(int(p.size) for p in self.proc_pages)
        if self.page_set is None:
            shift = self.page_size.bit_length() - 1
            seen = Distinct()
            for procs, _ops, addrs in self.proc_blocks(1 << 22):
                if addrs.size:
                    seen.add((procs.astype(np.int64) << PROC_BITS) | (addrs >> shift))
            self.page_set = seen.values().astype(np.int64)
        return int(self.page_set.size)

    def workload(self) -> Workload:
        """The whole stream as an in-memory :class:`Workload` (for short streams and tests)."""
        parts: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in self.proc_names]
        for procs, ops, addrs in self.proc_blocks(1 << 22):
            for k, idx in proc_groups(procs):
                parts[k].append((np.asarray(ops[idx], np.int8), np.asarray(addrs[idx], np.int64)))
        processes = []
        for k, name in enumerate(self.proc_names):
            ops = np.concatenate([o for o, _ in parts[k]]) if parts[k] else np.zeros(0, np.int8)
            addrs = np.concatenate([a for _, a in parts[k]]) if parts[k] else np.zeros(0, np.int64)
            processes.append(Process(name, list(self.proc_vmas[k]), ops, addrs, [], self.proc_starts[k]))
        return Workload(
            self.name, processes, list(self.objects), self.page_size, self.description, dict(self.hints)
        )


@dataclass
class ProcessStreams(RefStream):
    """Several processes, each its own stream that may carry events, forks included.

    ``streams[k]`` is process ``k``'s :class:`RefStream` (its name, initial VMAs, blocks
    and event payloads, as one process's stream with events: a fork entry's payload is
    the index of the process it forks, as :class:`~workloads.model.Process` holds it);
    ``starts[k]`` and ``parents[k]`` are :attr:`~workloads.model.Process.start` and
    :attr:`~workloads.model.Process.parent`. Unlike a :class:`ProcessRefStream`, each
    process is read on its own: the simulator reads each as far as its schedule needs.
    ``vmas`` and ``blocks`` do not apply; ``length`` counts every process's entries.
    """

    streams: list[RefStream] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    parents: list[int | None] = field(default_factory=list)

    def pages(self) -> int:
        """Distinct (process, page) pairs referenced (one read of every process's stream)."""
        if self.page_set is None:
            shift = self.page_size.bit_length() - 1
            seen = Distinct()
            for k, stream in enumerate(self.streams):
                for _ops, addrs in stream.references(1 << 22):
                    seen.add((np.int64(k) << PROC_BITS) | (addrs >> shift))
            self.page_set = seen.values().astype(np.int64)
        return int(self.page_set.size)

    def workload(self) -> Workload:
        """The whole streams as an in-memory :class:`Workload` (for short streams and tests)."""
        processes = []
        for stream, start, parent in zip(self.streams, self.starts, self.parents, strict=True):
            proc = stream.workload().processes[0]
            proc.start, proc.parent = start, parent
            processes.append(proc)
        return Workload(
            self.name, processes, list(self.objects), self.page_size, self.description, dict(self.hints)
        )


def count_differs(n: int, expected: int) -> str:
    """How a count read again differs from the first read's, for the "did the file change?" errors."""
    return f"more than {expected:,}" if n > expected else f"{n:,}, not {expected:,},"


def _proc_order(procs: np.ndarray) -> np.ndarray:
    """The positions of a block of process indices, stably sorted by process (a radix sort below 2**16)."""
    keys = procs.astype(np.uint16) if procs.max() < 1 << 16 else procs
    return np.argsort(keys, kind="stable")


def proc_groups(procs: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(process, positions)`` of each process in a block of process indices, positions in order."""
    if procs.size and procs[0] == procs[-1] and (procs == procs[0]).all():
        yield int(procs[0]), np.arange(procs.size)
        return
    order = _proc_order(procs)
    ranked = procs[order]
    heads = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    for a, b in zip(heads, np.r_[heads[1:], procs.size], strict=True):
        yield int(ranked[a]), order[a:b]


def streamable(workload: Workload) -> str | None:
    """Why ``workload`` cannot be streamed (one line), or None if it can."""
    if not workload.processes:
        return f"workload {workload.name!r} has no processes"
    return None


def from_workload(workload: Workload) -> RefStream:
    """The streams of ``workload`` (views, no copy).

    One process without events that starts at tick 0 gives a :class:`RefStream` (with
    events: one that carries them); several without events a
    :class:`ProcessRefStream` whose blocks interleave the processes by tick (start +
    index), as a trace file would; any other (forks, events in several processes, a
    late start) a :class:`ProcessStreams`. Raises :class:`WorkloadError` naming what
    cannot be streamed.
    """
    why = streamable(workload)
    if why is not None:
        raise WorkloadError(why)
    procs = workload.processes
    roots = all(p.parent is None for p in procs)
    if len(procs) == 1 and roots and procs[0].start == 0:
        return _one_stream(workload, procs[0])
    if roots and not any(p.has_events for p in procs):
        return _processes_stream(workload)
    return ProcessStreams(
        vmas=[],
        blocks=no_blocks,
        length=sum(int(np.asarray(p.ops).size) for p in procs),
        **_about(workload),
        streams=[_one_stream(workload, p) for p in procs],
        starts=[int(p.start) for p in procs],
        parents=[p.parent for p in procs],
    )


def _one_stream(workload: Workload, proc: Process) -> RefStream:
    """Process ``proc``'s stream (events included) over its arrays."""
    ops = np.asarray(proc.ops, np.int8)
    addrs = np.asarray(proc.args, np.int64)
    events = list(proc.events) if proc.has_events else None

    def blocks(size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for lo in range(0, ops.size, size):
            yield ops[lo : lo + size], addrs[lo : lo + size]

    return RefStream(
        vmas=list(proc.vmas),
        blocks=blocks,
        length=int(ops.size),
        process_name=proc.name,
        events=events,
        **_about(workload),
    )


def _about(workload: Workload) -> dict[str, Any]:
    """The fields a stream of ``workload`` copies from it: name, objects, page size, description, hints."""
    return {
        "name": workload.name,
        "objects": list(workload.objects),
        "page_size": workload.page_size,
        "description": workload.description,
        "hints": dict(workload.hints),
    }


def _processes_stream(workload: Workload) -> ProcessRefStream:
    procs_ = workload.processes
    sizes = [np.asarray(p.ops).size for p in procs_]
    procs = np.repeat(np.arange(len(procs_), dtype=np.int32), sizes)
    index = np.concatenate([np.arange(n, dtype=np.int64) for n in sizes])
    ticks = np.repeat(np.array([p.start for p in procs_], np.int64), sizes) + index
    order = np.lexsort((procs, ticks))  # by tick, then process
    procs = procs[order]
    ops = np.concatenate([np.asarray(p.ops, np.int8) for p in procs_])[order]
    addrs = np.concatenate([np.asarray(p.args, np.int64) for p in procs_])[order]

    def proc_blocks(size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for lo in range(0, ops.size, size):
            yield procs[lo : lo + size], ops[lo : lo + size], addrs[lo : lo + size]

    return ProcessRefStream(
        vmas=[],
        blocks=no_blocks,
        length=int(ops.size),
        **_about(workload),
        proc_names=[p.name for p in procs_],
        proc_vmas=[list(p.vmas) for p in procs_],
        proc_starts=[int(p.start) for p in procs_],
        proc_blocks=proc_blocks,
    )
