"""Processes with events (mmap, munmap, mlock, munlock, fork, exit), streamed chunk by chunk.

The whole-trace loader (:mod:`vmgym.sim.loader`) translates each process's stream
segment by segment, replaying each event on its address space between them: an mmap
makes a new VMA instance (a new global id, its own PTEs), a munmap retires one,
mlock/munlock name one, a fork hands the child a copy of the address space and the
pages touched so far, exit ends the stream. :class:`ProcessTree` does the same over a
:class:`~workloads.stream.ProcessStreams` (or one process's
:class:`~workloads.stream.RefStream` that carries events), with the loader's own
translator, in two reads of each process's stream:

1. The first read, process by process (a parent before its children), replays the
   events and translates the references to PTE keys, keeping only what the run needs
   whole: the distinct keys, the VMA instances, what each fork hands its child, and
   where each stream's events are (a :class:`~vmgym.sim.schedule.Timeline`). The keys
   and instances become the state arrays (:func:`~vmgym.sim.loader.load_plans`).
2. The run's read follows the loader's schedule (:func:`~vmgym.sim.schedule.schedule`,
   computed from the timelines alone): each slice takes its process's entries from a
   :class:`~workloads.spool.Spool`, reading that process's stream a block further when
   the spool runs short. A replaying translator hands out the first read's VMA
   instances (the same global ids whatever order the processes are read in), and the
   keys become PTE ids: the global trace, START, slices and EXIT, as the loader makes it.

Memory is the footprint, the VMA instances, the event positions and a block per
process, not the trace.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vmgym.sim.config import MachineConfig
from vmgym.sim.loader import (
    OP_CODES,
    LoadedWorkload,
    _err,
    _ProcPlan,
    _Translator,
    _VmaInst,
    load_plans,
    trace_column_int32,
    validate_processes,
)
from vmgym.sim.schedule import Timeline
from vmgym.streaming.processes import Entries, scheduled
from workloads.model import EV_EXIT, EV_MLOCK, EV_MMAP, Process, Workload, WorkloadError
from workloads.spool import Spool
from workloads.stream import Distinct, ProcessStreams, RefStream, no_blocks


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _alone(stream: RefStream) -> ProcessStreams:
    """One process's stream with events as a tree of one process."""
    return ProcessStreams(
        name=stream.name,
        vmas=[],
        blocks=no_blocks,
        length=stream.length,
        objects=list(stream.objects),
        page_size=stream.page_size,
        streams=[stream],
        starts=[0],
        parents=[None],
    )


class ProcessTree:
    """The global trace of processes with events and forks (see the module docstring)."""

    def __init__(self, stream: RefStream, quantum: int, chunk: int):
        tree = stream if isinstance(stream, ProcessStreams) else _alone(stream)
        k = len(tree.streams)
        if len(tree.starts) != k or len(tree.parents) != k:
            raise WorkloadError(
                f"workload {tree.name!r}: a stream of processes needs one start and parent per process, "
                f"got {k} streams, {len(tree.starts)} starts and {len(tree.parents)} parents"
            )
        self.tree, self.quantum, self.chunk = tree, quantum, chunk
        self.block = max(1, chunk // max(k, 1))  # each process's reads: a chunk in all
        self.several = k > 1
        empty = np.zeros(0, np.int8), np.zeros(0, np.int64)
        self.shell = Workload(
            tree.name,
            [
                Process(s.process_name, list(s.vmas), *empty, list(s.events or []), int(start), parent)
                for s, start, parent in zip(tree.streams, tree.starts, tree.parents, strict=True)
            ],
            list(tree.objects),
            tree.page_size,
        )
        validate_processes(self.shell)
        self.tr = _Translator(self.shell, tree.page_size)
        self.plans: list[_ProcPlan] = []
        self.lines: list[Timeline] = []
        self.read = []  # entries each stream gives (up to its EXIT)
        self.mlock = False  # any mlock event (the simulator skips pins without one)
        self.n_refs = 0
        forkers = {p for p in tree.parents if p is not None}
        for pid in range(k):
            self._first_read(pid, set() if pid in forkers else None)
        self.pte_keys = [plan.pte_keys for plan in self.plans]
        sizes = [keys.size for keys in self.pte_keys]
        self.pte_base = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        roots = sum(p is None for p in tree.parents)
        self.length = roots + sum(line.length for line in self.lines)  # each root's START too
        self.zeros = np.zeros(max(chunk, 1), np.int32)

    def _first_read(self, pid: int, touched: set[int] | None) -> None:
        """Process ``pid``'s PTE keys, timeline and forks (``touched``: if it forks, its pages so far)."""
        plan, current = self.tr.begin(pid, self.plans, touched)
        keys = Distinct()
        events: list[np.ndarray] = []
        forks: list[np.ndarray] = []
        children: list[np.ndarray] = []
        pos = 0
        last_op = -1  # the stream's last entry (an EXIT ends it)
        for ops, pk in self._walk(self.tr, pid, plan, current, touched):
            block = Timeline.of_ops(ops, pk)  # this block's events, forks and children (a fork's key)
            events.append(block.events + pos)
            forks.append(block.forks + pos)
            children.append(block.children)
            ok = (ops < EV_MMAP) & (pk >= 0)
            keys.add(pk[ok])
            self.n_refs += ops.shape[0] - block.events.shape[0]
            self.mlock = self.mlock or bool(np.any(ops[block.events] == EV_MLOCK))
            pos += ops.shape[0]
            last_op = int(ops[-1]) if ops.shape[0] else last_op
        self.read.append(pos)
        if last_op != EV_EXIT:  # the loader's EXIT at the end of a stream without one
            events.append(np.array([pos], np.int64))
            pos += 1
        plan.pte_keys = np.union1d(keys.values().astype(np.int64), plan.inherited)
        self.plans.append(plan)
        self.lines.append(Timeline(pos, _joined(events), _joined(forks), _joined(children)))

    def load(self, config: MachineConfig) -> LoadedWorkload:
        """The state arrays: the PTEs of the first read, the VMA instances its mmaps and forks made."""
        return load_plans(self.shell, config, self.tr, self.plans)

    def _walk(
        self,
        tr: _Translator,
        pid: int,
        plan: _ProcPlan,
        current: list[_VmaInst],
        touched: set[int] | None = None,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Each block's ops and PTE keys (SEGV codes, event arguments) of process ``pid``, up to an EXIT."""
        proc = self.shell.processes[pid]
        pos = 0
        for ops, addrs in self.tree.streams[pid].blocks(self.block):
            ops = np.asarray(ops, np.int8)
            addrs = np.asarray(addrs, np.int64)
            bad = ~np.isin(ops, OP_CODES)
            if bad.any():
                j = int(np.argmax(bad))
                raise _err(self.shell, pid, f"stream entry {pos + j}: unknown op code {int(ops[j])}")
            keys, end = tr.translate_entries(pid, proc, ops, addrs, plan, current, touched)
            if end and ops[end - 1] == EV_EXIT:
                yield ops[:end], keys[:end]
                return
            pos += ops.shape[0]
            yield ops, keys

    def _translated(self, tr: _Translator, pid: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Process ``pid``'s entries read again: ops and global PTE ids (event arguments, SEGV codes)."""
        plan, current = tr.begin(pid, self.plans)
        pte_keys = self.plans[pid].pte_keys
        seen = 0
        for ops, keys in self._walk(tr, pid, plan, current):
            seen += ops.shape[0]
            if seen > self.read[pid]:
                raise self._changed(pid, seen)
            ok = (ops < EV_MMAP) & (keys >= 0)
            at = np.searchsorted(pte_keys, keys[ok])
            if at.size and (at.max() >= pte_keys.size or not np.array_equal(pte_keys[at], keys[ok])):
                raise self._changed(pid, seen)
            keys[ok] = at + self.pte_base[pid]
            yield ops, trace_column_int32(keys, self.tree.name)
        if seen != self.read[pid]:
            raise self._changed(pid, seen)

    def entries(self) -> Iterator[Entries]:
        """The global trace in chunks of at most ``chunk`` entries: STARTs, the slices, EXITs."""
        tr = _Translator(self.shell, self.tree.page_size, replay=[plan.vmas for plan in self.plans])
        k = len(self.plans)
        readers = [self._translated(tr, pid) for pid in range(k)]
        spool = Spool(k, spill=False)
        yield from scheduled(
            self.lines,
            self.tree.starts,
            self.tree.parents,
            self.quantum,
            spool,
            self.read,
            lambda p: spool.append(p, *next(readers[p])),  # (the first read counted them)
            self.chunk,
        )
        for reader in readers:  # each stream to its end: its count checked
            for _ in reader:
                pass

    def _changed(self, pid: int, seen: int) -> WorkloadError:
        return WorkloadError(
            f"workload {self.tree.name!r}: read again, process {self.shell.processes[pid].name!r} gave other "
            f"entries than the first read ({seen:,} read, {self.read[pid]:,} before): did the source change?"
        )
