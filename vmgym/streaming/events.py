"""One process with events (mmap, munmap, mlock, munlock, exit), streamed chunk by chunk.

The whole-trace loader (:mod:`vmgym.sim.loader`) translates a process's stream segment
by segment, replaying each event on its address space between them: an mmap makes a new
VMA instance (a new global id, its own PTEs), a munmap retires one, mlock/munlock name
one, exit ends the stream. :class:`EventProcess` does the same over a
:class:`~workloads.stream.RefStream` that carries events (``stream.events``), with the
loader's own translator, in two reads of the source:

1. The first read replays the events and translates the references to PTE keys,
   keeping only the distinct keys (and the VMA instances the mmaps create): the PTE
   numbering, which :func:`~vmgym.sim.loader.load_plans` turns into the state arrays.
2. The run's read replays them again with a fresh translator (the same instances come
   out in the same order, so the same global ids) and maps each chunk's keys to PTE
   ids: the global trace ``[START, entries..., EXIT]`` as the loader makes it.

Memory is the footprint, the VMA instances and a chunk, not the trace. Forks do not
stream (a forked child inherits the pages its parent touched, and the schedule
interleaves them): a stream with a fork entry is a one-line error.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from vmgym.sim import state as S
from vmgym.sim.config import MachineConfig
from vmgym.sim.loader import (
    OP_CODES,
    LoadedWorkload,
    _err,
    _ProcPlan,
    _Translator,
    load_plans,
    trace_column_int32,
)
from vmgym.streaming.processes import Entries
from workloads.model import (
    EV_EXIT,
    EV_FORK,
    EV_MLOCK,
    EV_MMAP,
    Process,
    Workload,
    WorkloadError,
)
from workloads.stream import Distinct, RefStream


class EventProcess:
    """The global trace of a one-process stream with events (see the module docstring)."""

    several = False

    def __init__(self, stream: RefStream, chunk: int):
        self.stream = stream
        self.chunk = chunk
        self.proc = Process(
            stream.process_name,
            list(stream.vmas),
            np.zeros(0, np.int8),
            np.zeros(0, np.int64),
            list(stream.events or []),
        )
        self.shell = Workload(stream.name, [self.proc], list(stream.objects), stream.page_size)
        self.tr, self.plan = self._start()
        keys = Distinct()
        entries = refs = 0
        self.mlock = False  # any mlock event (the simulator skips pins without one)
        for ops, pte in self._walk(self.tr, self.plan):
            ok = (ops < EV_MMAP) & (pte >= 0)
            keys.add(pte[ok])
            entries += ops.shape[0]
            refs += int(np.count_nonzero(ops < EV_MMAP))
            self.mlock = self.mlock or bool(np.any(ops == EV_MLOCK))
        self.plan.pte_keys = keys.values().astype(np.int64)
        self.pte_keys = [self.plan.pte_keys]
        self.n_entries = entries
        self.exited = self._exited
        self.n_refs = refs
        self.length = 1 + entries + (0 if self.exited else 1)  # START ... EXIT
        self.zeros = np.zeros(max(chunk, 1), np.int32)

    def load(self, config: MachineConfig) -> LoadedWorkload:
        """The state arrays: the PTEs of the first read, the VMA instances its mmaps made."""
        return load_plans(self.shell, config, self.tr, [self.plan])

    def _start(self) -> tuple[_Translator, _ProcPlan]:
        """A fresh translator with the process's initial VMAs (as the loader's ``translate``)."""
        tr = _Translator(self.shell, self.stream.page_size)
        plan = _ProcPlan(ops=np.zeros(0, np.int8), keys=np.zeros(0, np.int64))
        for spec in self.proc.vmas:
            tr._check_overlap(0, plan.vmas, spec)
            plan.vmas.append(tr._new_vma(0, spec, len(plan.vmas)))
        return tr, plan

    def _walk(self, tr: _Translator, plan: _ProcPlan) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Each block's ops and PTE keys (SEGV codes, event arguments), up to and with an EXIT."""
        current = list(plan.vmas)
        self._exited = False
        pos = 0
        for ops, addrs in self.stream.blocks(self.chunk):
            ops = np.asarray(ops, np.int8)
            addrs = np.asarray(addrs, np.int64)
            bad = ~np.isin(ops, OP_CODES) | (ops == EV_FORK)
            if bad.any():
                j = int(np.argmax(bad))
                if ops[j] == EV_FORK:
                    raise _err(self.shell, 0, f"stream entry {pos + j} forks; forks do not stream")
                raise _err(self.shell, 0, f"stream entry {pos + j}: unknown op code {int(ops[j])}")
            keys, end = tr.translate_entries(0, self.proc, ops, addrs, plan, current)
            if end and ops[end - 1] == EV_EXIT:
                self._exited = True
                yield ops[:end], keys[:end]
                return
            pos += ops.shape[0]
            yield ops, keys

    def entries(self) -> Iterator[Entries]:
        """The global trace in chunks of at most ``chunk`` entries: START, the stream, EXIT."""
        arg = np.zeros(1, np.int32)
        yield np.array([S.E_START], np.int8), arg, self.zeros[:1]
        tr, plan = self._start()
        pte_keys = self.plan.pte_keys
        seen = 0
        for ops, keys in self._walk(tr, plan):
            seen += ops.shape[0]
            if seen > self.n_entries:
                raise self._changed(seen)
            ok = (ops < EV_MMAP) & (keys >= 0)
            at = np.searchsorted(pte_keys, keys[ok])
            if at.size and (at.max() >= pte_keys.size or not np.array_equal(pte_keys[at], keys[ok])):
                raise self._changed(seen)
            keys[ok] = at
            pte = trace_column_int32(keys, self.stream.name)
            for lo in range(0, ops.shape[0], self.chunk):
                part = ops[lo : lo + self.chunk]
                yield part, pte[lo : lo + self.chunk], self.zeros[: part.shape[0]]
        if seen != self.n_entries:
            raise self._changed(seen)
        if not self.exited:
            yield np.array([S.E_EXIT], np.int8), arg, self.zeros[:1]

    def _changed(self, seen: int) -> WorkloadError:
        return WorkloadError(
            f"workload {self.stream.name!r}: read again, its stream gave other entries than the first "
            f"read ({seen:,} read, {self.n_entries:,} before): did the source change?"
        )
