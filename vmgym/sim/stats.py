"""Run statistics: totals and per-process figures read out of the state arrays."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from vmgym.sim import state as S


@dataclass(frozen=True)
class ProcessStats:
    """Statistics of one process."""

    pid: int
    name: str
    state: str
    accesses: int
    hits: int
    minor_faults: int
    major_faults: int
    zero_fills: int
    swap_ins: int
    file_reads: int
    cow_faults: int
    tlb_hits: int
    tlb_misses: int
    segfaults: int
    rss: int
    peak_rss: int
    time_ns: int
    reads: int
    writes: int
    execs: int
    frames: int = 0  # frames charged to it now (filled by its faults)
    frame_quota: int = 0  # its last quota under local allocation (0: global, or not running)


@dataclass(frozen=True)
class RunStats:
    """Totals of a run. ``time_ns`` (simulated time) is the headline figure.

    ``faults`` = minor + major page faults; ``misses`` = accesses that faulted,
    so ``hit_ratio`` = 1 - misses / accesses. Prefetching (:mod:`vmgym.prefetch`):
    pages read ahead, of which used (referenced while resident) and wasted (left
    RAM unreferenced); the rest are still resident and unreferenced. The first
    use of a prefetched page is a minor fault.
    """

    policy: str
    frames: int
    accesses: int
    hits: int
    misses: int
    hit_ratio: float
    faults: int
    minor_faults: int
    major_faults: int
    zero_fills: int
    swap_ins: int
    swap_outs: int
    file_reads: int
    file_writebacks: int
    cow_faults: int
    clean_drops: int
    evictions: int
    tlb_hits: int
    tlb_misses: int
    segfaults: int
    oom_kills: int
    context_switches: int
    io_reads: int
    io_writes: int
    io_stall_ns: int
    peak_swap_used: int
    time_ns: int
    prefetch_issued: int = 0
    prefetch_used: int = 0
    prefetch_wasted: int = 0
    processes: list[ProcessStats] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (per-process figures under ``processes``)."""
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The totals only, without the per-process list."""
        d = self.to_dict()
        d.pop("processes")
        return d


def collect(st: S.SimState, policy: str, process_names: list[str]) -> RunStats:
    """Read a :class:`RunStats` out of a state."""
    ps = st.proc_stats.copy()
    ps[S.ST_ACCESSES] = ps[S.ST_READS] + ps[S.ST_WRITES] + ps[S.ST_EXECS]  # not counted in the hot loop
    tot = ps.sum(axis=1)
    sc = st.sc
    procs = [
        ProcessStats(
            pid=pid,
            name=process_names[pid],
            state=S.PROC_STATE_NAMES[int(st.proc_state[pid])],
            frames=int(st.proc_frames[pid]),
            frame_quota=int(st.proc_quota[pid]),
            **{
                name: int(ps[idx, pid])
                for name, idx in (
                    ("accesses", S.ST_ACCESSES),
                    ("hits", S.ST_HITS),
                    ("minor_faults", S.ST_MINOR),
                    ("major_faults", S.ST_MAJOR),
                    ("zero_fills", S.ST_ZERO_FILL),
                    ("swap_ins", S.ST_SWAP_IN),
                    ("file_reads", S.ST_FILE_READ),
                    ("cow_faults", S.ST_COW),
                    ("tlb_hits", S.ST_TLB_HITS),
                    ("tlb_misses", S.ST_TLB_MISSES),
                    ("segfaults", S.ST_SEGV),
                    ("rss", S.ST_RSS),
                    ("peak_rss", S.ST_PEAK_RSS),
                    ("time_ns", S.ST_TIME),
                    ("reads", S.ST_READS),
                    ("writes", S.ST_WRITES),
                    ("execs", S.ST_EXECS),
                )
            },
        )
        for pid in range(ps.shape[1])
    ]
    accesses = int(tot[S.ST_ACCESSES])
    hits = int(tot[S.ST_HITS])
    return RunStats(
        policy=policy,
        frames=int(st.frame_page.shape[0]),
        accesses=accesses,
        hits=hits,
        misses=accesses - hits,
        hit_ratio=float(hits / accesses) if accesses else float(np.nan),
        faults=int(tot[S.ST_MINOR] + tot[S.ST_MAJOR]),
        minor_faults=int(tot[S.ST_MINOR]),
        major_faults=int(tot[S.ST_MAJOR]),
        zero_fills=int(tot[S.ST_ZERO_FILL]),
        swap_ins=int(tot[S.ST_SWAP_IN]),
        swap_outs=int(sc[S.SC_SWAP_OUTS]),
        file_reads=int(tot[S.ST_FILE_READ]),
        file_writebacks=int(sc[S.SC_FILE_WRITEBACKS]),
        cow_faults=int(tot[S.ST_COW]),
        clean_drops=int(sc[S.SC_CLEAN_DROPS]),
        evictions=int(sc[S.SC_EVICTIONS]),
        tlb_hits=int(tot[S.ST_TLB_HITS]),
        tlb_misses=int(tot[S.ST_TLB_MISSES]),
        segfaults=int(sc[S.SC_SEGVS]),
        oom_kills=int(sc[S.SC_OOM_KILLS]),
        context_switches=int(sc[S.SC_CTX]),
        io_reads=int(sc[S.SC_IO_READS]),
        io_writes=int(sc[S.SC_IO_WRITES]),
        io_stall_ns=int(sc[S.SC_IO_STALL]),
        peak_swap_used=int(sc[S.SC_PEAK_SWAP]),
        time_ns=int(sc[S.SC_TIME]),
        prefetch_issued=int(sc[S.SC_PF_ISSUED]),
        prefetch_used=int(sc[S.SC_PF_USED]),
        prefetch_wasted=int(sc[S.SC_PF_WASTED]),
        processes=procs,
    )
