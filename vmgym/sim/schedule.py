"""The round-robin scheduler that interleaves the processes' streams into one global trace.

A process's stream is references and events (mmap, munmap, mlock, munlock, fork,
exit), ending with its EXIT. The scheduler gives each process in turn a slice of up
to ``quantum`` references (with the events among them; the events after its last
reference open the next slice). A process without a parent joins the run queue when
the global reference tick reaches its start; a forked child joins after the slice
that forks it; new arrivals queue before the preempted process.

It needs only where each stream's events are (:class:`Timeline`), not the
references: the whole-trace loader (:mod:`vmgym.sim.loader`) and the streamed runs
(:mod:`vmgym.streaming`), which hold a chunk and never a stream, share it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from workloads.model import EV_FORK, EV_MMAP

Slice = tuple[int, int, int]  # (process, lo, hi): entries lo .. hi-1 of its stream


@dataclass(frozen=True)
class Timeline:
    """Where one process's stream has its events: what the scheduler needs of it.

    ``length`` counts the stream's entries, its final EXIT included; ``events`` are
    the sorted positions of its events (the EXIT's too), ``forks`` those of its fork
    events and ``children`` the process each one forks.
    """

    length: int
    events: np.ndarray
    forks: np.ndarray
    children: np.ndarray

    @classmethod
    def of_references(cls, n: int) -> Timeline:
        """The timeline of ``n`` references then EXIT (a process without events)."""
        empty = np.zeros(0, np.int64)
        return cls(n + 1, np.array([n], np.int64), empty, empty)

    @classmethod
    def of_ops(cls, ops: np.ndarray, children: np.ndarray) -> Timeline:
        """The timeline of a whole stream's ``ops``; ``children[j]`` is the process fork entry ``j`` forks."""
        forks = np.flatnonzero(ops == EV_FORK)
        return cls(int(ops.shape[0]), np.flatnonzero(ops >= EV_MMAP), forks, np.asarray(children)[forks])


def schedule(
    lines: Sequence[Timeline], starts: Sequence[int], parents: Sequence[int | None], quantum: int
) -> Iterator[Slice]:
    """The round-robin slices ``(process, lo, hi)`` of the streams (see the module docstring).

    Slice bounds come from event positions alone: the reference of rank ``r`` in a
    stream sits at ``r`` plus the number of events ``e_i`` with ``e_i - i <= r`` (the
    references before event ``i``), so a slice from reference rank ``r0`` ends just
    after rank ``r0 + quantum - 1``, or at the stream's end.
    """
    k = len(lines)
    before = [line.events - np.arange(line.events.shape[0]) for line in lines]  # refs before each event
    refs = [line.length - line.events.shape[0] for line in lines]
    pending = deque(sorted((int(starts[p]), p) for p in range(k) if parents[p] is None))
    queue: deque[int] = deque()
    cursor = [0] * k  # next entry of each stream
    done = [0] * k  # references of each stream scheduled
    tick = 0
    while queue or pending:
        while pending and pending[0][0] <= tick:
            queue.append(pending.popleft()[1])
        if not queue:
            tick = pending[0][0]
            continue
        p = queue.popleft()
        line, lo = lines[p], cursor[p]
        target = done[p] + quantum
        if target <= refs[p]:
            hi = target + int(np.searchsorted(before[p], target - 1, side="right"))
        else:
            hi, target = line.length, refs[p]
        yield p, lo, hi
        tick += target - done[p]
        cursor[p], done[p] = hi, target
        if line.forks.shape[0]:
            a, b = np.searchsorted(line.forks, [lo, hi])
            queue.extend(int(c) for c in line.children[a:b])
        while pending and pending[0][0] <= tick:
            queue.append(pending.popleft()[1])
        if hi < line.length:
            queue.append(p)


def merged(slices: Iterator[Slice]) -> Iterator[Slice]:
    """``slices`` with each run of consecutive slices of one process joined (the same entry order).

    A process that runs alone (the only one, or the last one left) then costs a slice per
    run rather than one per quantum.
    """
    run: Slice | None = None
    for p, lo, hi in slices:
        if run is not None and run[0] == p and run[2] == lo:
            run = (p, run[1], hi)
            continue
        if run is not None:
            yield run
        run = (p, lo, hi)
    if run is not None:
        yield run
