"""The compiled half of the prefetch decision (Prefetch-v0, MemoryManager-v0).

At each major fault the simulator stops (``ST_NEED_PREFETCH``); :func:`observe`
updates the env's own fault history (per-process last location and stride, a
Markov successor table), counts what each action would read and writes the
observation; :func:`apply` queues the chosen action's pages. The actions reuse
the prefetchers' enumerators in :mod:`vmgym.prefetch.kernel`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from vmgym.prefetch.kernel import loc_of, markov_learn, markov_push, push_offsets, swap_cluster
from vmgym.sim import state as S

ACTIONS = (
    "none",  # read nothing ahead
    "ahead-4",  # the 3 pages after the faulting one (a 4-page readahead window)
    "ahead-8",
    "ahead-16",
    "ahead-32",  # Linux's default maximum window (128 KiB)
    "behind-8",  # the 8 pages before it (a backward scan)
    "swap-cluster",  # the other in-use slots of its aligned 8-slot swap block
    "stride-4",  # 4 pages along the stride from this process's previous fault
    "markov",  # the pages that followed it last times (2 remembered successors)
)
N_ACTIONS = len(ACTIONS)

PF_FEATURES = (
    "file",  # the faulting page is a file page
    "shm",  # ... a shared-memory page
    "anon",  # ... a private anonymous page
    "sequential",  # it is the page right after this process's previous fault
    "stride_repeat",  # the stride from the previous fault equals the one before (confirmed)
    "stride_size",  # log1p(|stride| in pages) / log1p(1024), clipped
    "stride_back",  # the stride is negative
    "markov_known",  # remembered successors of this page / 2
    # for each action after "none": the fraction of its pages that it would read
    *(f"reads_{a}" for a in ACTIONS[1:]),
    "free",  # free frames / frames
    "major_rate",  # major faults per access since the previous decision
    "accuracy",  # prefetched pages used / prefetched so far (0 before any)
    "waste",  # prefetched pages wasted / prefetched so far
    "io_backlog",  # queued device time / (that + one swap read)
    "progress",  # trace position / trace length
)
N_PF_FEATURES = len(PF_FEATURES)
_SIZES = (0, 3, 7, 15, 31, 8, 8, 4, 2)  # pages each action names (the denominator of reads_*)

# hist columns (per process: last fault location, stride to it, its page) and ctl slots
H_LOC, H_STRIDE, H_PAGE = 0, 1, 2
N_HIST = 3
PC_ACC, PC_MAJOR = 0, 1


@njit(cache=True, _nrt=False)
def _act(st, tab, hist, a, count_only):
    p = st.sc[S.SC_PF_FAULT_PTE]
    g = st.pte_page[p]
    pid = st.pte_pid[p]
    if a == 1:
        return push_offsets(st, g, p, 1, 3, 1, False, count_only)
    if a == 2:
        return push_offsets(st, g, p, 1, 7, 1, False, count_only)
    if a == 3:
        return push_offsets(st, g, p, 1, 15, 1, False, count_only)
    if a == 4:
        return push_offsets(st, g, p, 1, 31, 1, False, count_only)
    if a == 5:
        return push_offsets(st, g, p, -1, 8, -1, False, count_only)
    if a == 6:
        return swap_cluster(st, g, 8, count_only)
    if a == 7:
        d = hist[pid, H_STRIDE] // 2
        if d == 0:
            return 0
        return push_offsets(st, g, p, d, 4, d, False, count_only)
    if a == 8:
        return markov_push(st, tab, g, count_only)
    return 0


@njit(cache=True, _nrt=False)
def apply(st, tab, hist, action):
    """Queue the pages of ``action`` for the pending fault; return how many were queued."""
    return _act(st, tab, hist, action, False)


@njit(cache=True, _nrt=False)
def observe(st, tab, hist, ctl, counts, obs, off):
    """Learn from the pending fault, count each action's reads, write features at ``obs[off:]``."""
    p = st.sc[S.SC_PF_FAULT_PTE]
    g = st.pte_page[p]
    pid = st.pte_pid[p]
    loc = loc_of(st, g, p)
    last = hist[pid, H_LOC]
    d = loc - last if last >= 0 else 0
    same = d != 0 and d == hist[pid, H_STRIDE]
    markov_learn(tab, hist[pid, H_PAGE], g)
    hist[pid, H_LOC] = loc
    hist[pid, H_STRIDE] = d
    hist[pid, H_PAGE] = g
    for j in range(obs.shape[0] - off):
        obs[off + j] = 0.0
    kind = st.page_kind[g]
    obs[off + 0] = 1.0 if kind == S.KIND_FILE else 0.0
    obs[off + 1] = 1.0 if kind == S.KIND_SHM else 0.0
    obs[off + 2] = 1.0 if kind == S.KIND_ANON else 0.0
    obs[off + 3] = 1.0 if d == 2 else 0.0
    obs[off + 4] = 1.0 if same else 0.0
    obs[off + 5] = min(1.0, math.log1p(abs(d) // 2) / math.log1p(1024))
    obs[off + 6] = 1.0 if d < 0 else 0.0
    known = 0
    for j in range(tab.shape[0]):
        if tab[j, g] >= 0:
            known += 1
    obs[off + 7] = known / max(tab.shape[0], 1)
    counts[0] = 0
    for a in range(1, N_ACTIONS):
        counts[a] = _act(st, tab, hist, a, True)
        obs[off + 7 + a] = min(1.0, counts[a] / _SIZES[a])
    b = off + 7 + N_ACTIONS
    obs[b + 0] = st.sc[S.SC_FREE_TOP] / st.frame_page.shape[0]
    acc = 0
    major = 0
    for q in range(st.proc_stats.shape[1]):
        acc += st.proc_stats[S.ST_READS, q] + st.proc_stats[S.ST_WRITES, q] + st.proc_stats[S.ST_EXECS, q]
        major += st.proc_stats[S.ST_MAJOR, q]
    d_acc = acc - ctl[PC_ACC]
    obs[b + 1] = min(1.0, (major - ctl[PC_MAJOR]) / d_acc) if d_acc > 0 else 0.0
    ctl[PC_ACC] = acc
    ctl[PC_MAJOR] = major
    issued = st.sc[S.SC_PF_ISSUED]
    if issued > 0:
        obs[b + 2] = st.sc[S.SC_PF_USED] / issued
        obs[b + 3] = st.sc[S.SC_PF_WASTED] / issued
    backlog = max(st.sc[S.SC_IO_FREE] - st.sc[S.SC_TIME], 0)
    obs[b + 4] = backlog / (backlog + st.cost[S.C_SWAP_R] + 1)
    obs[b + 5] = st.sc[S.SC_POS] / max(st.cfg[S.CF_LENGTH], 1)


def new_history(st: S.SimState) -> tuple[np.ndarray, np.ndarray]:
    """Empty fault history (per process) and Markov table (2 successors per page) for an episode."""
    hist = np.full((st.n_procs, N_HIST), -1, np.int64)
    hist[:, H_STRIDE] = 0
    return hist, np.full((2, st.page_frame.shape[0]), -1, np.int64)


def describe(sim, counts: np.ndarray) -> list[str]:
    """Text lines for ``render_mode="ansi"``: the pending fault and what each action would read."""
    ctx = sim.fault_context()
    reads = "  ".join(f"{a}:{int(c)}" for a, c in zip(ACTIONS[1:], counts[1:], strict=True))
    return [f"major fault: pid {ctx['pid']} vpn {ctx['vpn']} ({ctx['kind']})", f"would read  {reads}"]
