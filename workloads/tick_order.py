"""The references of several processes in tick order, streamed: what ``trace convert`` writes.

A whole workload is written as one stream ordered by each reference's *tick* (its
process's start plus its index in that process), then its index, then its process
(:func:`workloads.traces.mapping._merged`). :func:`tick_ordered` gives the same order
from a :class:`~workloads.stream.ProcessRefStream` read once, block by block: each
block's references go to their processes' parts of a :class:`~workloads.spool.Spool`,
and windows of ticks are taken back out, each sorted as the whole order sorts it.
Memory: a window and what the source puts before the order needs it (in a temporary
file above :data:`~workloads.spool.SPILL_ABOVE` bytes), not the trace.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from workloads.spool import Spool, fill, spills
from workloads.stream import ProcessRefStream

Block = tuple[np.ndarray, np.ndarray, np.ndarray]  # process indices int64, ops int8, addresses int64


def tick_ordered(stream: ProcessRefStream, block: int = 1 << 21) -> Iterator[Block]:
    """``(process, op, address)`` blocks of ``stream`` in tick order (see the module docstring).

    Needs each process's reference count (``stream.proc_counts``, which a trace file's
    scan tells). A block holds about ``block`` references.
    """
    counts = [int(c) for c in stream.proc_counts]
    starts = [int(s) for s in stream.proc_starts]
    # within a tick, a smaller index (a later start) first, then the smaller process index
    rank = np.empty(len(counts), np.int64)
    rank[sorted(range(len(counts)), key=lambda p: (-starts[p], p))] = np.arange(len(counts))
    by_start = sorted((s, p) for p, s in enumerate(starts) if counts[p])
    spool = Spool(len(counts), spills(9 * sum(counts), "the processes' waiting references"), np.int64)
    reading = fill(spool, stream, counts, block)
    active: list[int] = []
    taken = [0] * len(counts)
    nxt = 0  # the next process of by_start to join
    tick = by_start[0][0] if by_start else 0
    try:
        while active or nxt < len(by_start):
            if not active and by_start[nxt][0] > tick:
                tick = by_start[nxt][0]  # no process has a reference before the next one starts
            while nxt < len(by_start) and by_start[nxt][0] <= tick:
                active.append(by_start[nxt][1])
                nxt += 1
            width = max(1, block // len(active))
            if nxt < len(by_start):  # a process that starts inside the window joins the next one
                width = min(width, by_start[nxt][0] - tick)
            end = tick + width
            parts = []
            for p in active:
                hi = min(end - starts[p], counts[p])
                m = hi - taken[p]
                while spool.held[p] < m:
                    next(reading)
                ops, addrs = spool.take(p, m)
                ticks = np.arange(starts[p] + taken[p] - tick, starts[p] + hi - tick, dtype=np.int64)
                parts.append((np.full(m, p, np.int64), ticks * len(counts) + rank[p], ops, addrs))
                taken[p] = hi
            procs, keys, ops, addrs = (np.concatenate(col) for col in zip(*parts, strict=True))
            order = np.argsort(keys, kind="stable")  # keys are distinct: (tick, rank)
            yield procs[order], ops[order], addrs[order]
            active = [p for p in active if taken[p] < counts[p]]
            tick = end
        for _ in reading:  # the end of the source: its counts checked
            pass
    finally:
        spool.close()
