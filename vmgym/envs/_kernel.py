"""The compiled half of the environments: one call per decision.

Each call from Python into numba unboxes its arguments; the machine state is a
NamedTuple of ~65 arrays, about 8 us to unbox, more than the rest of a step.
So an env step does everything in a single call (evict the agent's victim, run
the simulator to the next decision, choose the candidate frames, write their
features and, with an oracle, their next uses), and it receives the state
inside a one-element typed list (:func:`make_handle`): numba unboxes the list
as one object and reads the arrays out of it natively, 3x faster per call.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba.typed import List

from vmgym.policies.opt import page_next_use
from vmgym.sim import state as S
from vmgym.sim.frames import evictable, referenced
from vmgym.sim.kernel import _run, evict
from vmgym.sim.stateref import ref

# Candidate sources.
SRC_LRU, SRC_FIFO, SRC_CLOCK, SRC_RANDOM, SRC_MIX = 0, 1, 2, 3, 4
SOURCES = ("lru", "fifo", "clock", "random", "mix")

# Per-candidate features (columns of the candidate block), all in [0, 1].
FEATURES = (
    "age",  # log1p(references since the page was loaded) / log1p(trace length)
    "idle",  # log1p(references since its last use) / log1p(trace length)
    "uses",  # log1p(uses since loaded) / log1p(trace length)
    "reuse_gap",  # log1p(gap between its last two uses) / log1p(trace length); 1 if not reused yet
    "referenced",  # MMU accessed bit of any PTE mapping the page
    "dirty",  # written since last cleaned (eviction would write it back)
    "shared",  # mapped by more than one PTE (shared memory, fork, file)
    "file",  # file-backed page (page cache)
    "shm",  # shared-memory page
    "owner_fault_rate",  # the owning process's recent faults per access (moving average; 0: no single owner)
    # The rest measure time in memory sizes (references / frames), so that they mean the same on any
    # trace length and RAM size: log1p(x / frames) / log1p(MEM_SPAN), capped at 1.
    "idle_mem",  # references since its last use
    "gap_mem",  # its last reuse gap: between its last two uses, else from its last use before it was
    #             evicted to its reload; 1 if it was never reused
    "due_mem",  # references until it would be used again if its last gap repeats (0: overdue; 1: no gap)
    "overdue",  # 1 if it has been idle longer than its last gap
    "use_rate",  # uses per memory size of residence: log1p(uses * frames / (age + 1)) / log1p(MEM_SPAN)
    "evictions",  # log1p(times the page was evicted before this residence) / log1p(MEM_SPAN)
    "refault_mem",  # how long it stayed out before this load, after its last eviction (1: never evicted)
    "valid",  # 1 for a real candidate, 0 for padding (masked)
)
N_FEATURES = len(FEATURES)
MEM_SPAN = 64.0  # the *_mem features saturate at 64 memory sizes

# Per-page history the env keeps across evictions (rows of ``phist``, int64 [N_PHIST, n_pages]).
PH_EVICTED, PH_LAST_USE, PH_EVICTIONS = 0, 1, 2  # position of its last eviction (-1: never), its last
N_PHIST = 3  # use before that eviction (-1), times evicted

# Global context (the last block).
GLOBALS = (
    "free",  # free frames / frames
    "recent_fault_rate",  # faults per access since the previous decision
    "fault_rate",  # faults per access since the start
    "swap_fill",  # swap slots in use / swap slots
    "progress",  # trace position / trace length
)
N_GLOBALS = len(GLOBALS)

# ctl slots (int64): random state, clock hand, number of candidates, accesses and faults at the last decision.
CTL_RNG, CTL_HAND, CTL_N, CTL_ACC, CTL_FAULTS = 0, 1, 2, 3, 4
N_CTL = 5

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, _nrt=False)
def _below(ctl, m):
    """A uniform draw in [0, m) from the splitmix64 state in ``ctl[CTL_RNG]``."""
    z = np.uint64(ctl[CTL_RNG]) + _GOLDEN
    ctl[CTL_RNG] = np.int64(z)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    z = z ^ (z >> np.uint64(31))
    return np.int64(z % np.uint64(m))


@njit(cache=True, inline="always", _nrt=False)
def _tail(st, key, count, cand, n):
    """Append the ``count`` evictable frames with the smallest ``key`` (ties: lower frame), oldest first."""
    m = 0
    for f in range(key.shape[0]):
        if m == count and key[f] >= key[cand[n + m - 1]]:
            continue
        if not evictable(st, f):
            continue
        j = m if m < count else count - 1
        while j > 0 and key[cand[n + j - 1]] > key[f]:
            cand[n + j] = cand[n + j - 1]
            j -= 1
        cand[n + j] = f
        if m < count:
            m += 1
    return n + m


@njit(cache=True, inline="always", _nrt=False)
def _taken(cand, n, f):
    for j in range(n):
        if cand[j] == f:
            return True
    return False


@njit(cache=True, inline="always", _nrt=False)
def _random(st, count, ctl, cand, n):
    """Append up to ``count`` distinct evictable frames drawn uniformly (not already chosen)."""
    frames = st.frame_page.shape[0]
    goal = n + count
    tries = 0
    while n < goal and tries < 32 * count:
        f = _below(ctl, frames)
        tries += 1
        if evictable(st, f) and not _taken(cand, n, f):
            cand[n] = f
            n += 1
    if n < goal:  # few evictable frames: scan from a random start
        start = _below(ctl, frames)
        for d in range(frames):
            f = (start + d) % frames
            if n < goal and evictable(st, f) and not _taken(cand, n, f):
                cand[n] = f
                n += 1
    return n


@njit(cache=True, inline="always", _nrt=False)
def _clock(st, count, ctl, cand):
    """The first ``count`` evictable frames sweeping from the clock hand."""
    frames = st.frame_page.shape[0]
    n = 0
    for d in range(frames):
        f = (ctl[CTL_HAND] + d) % frames
        if evictable(st, f):
            cand[n] = f
            n += 1
            if n == count:
                break
    return n


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _select(st, source, k, ctl, cand):
    if source == SRC_LRU:
        return _tail(st, st.frame_last, k, cand, 0)
    if source == SRC_FIFO:
        return _tail(st, st.frame_in, k, cand, 0)
    if source == SRC_CLOCK:
        return _clock(st, k, ctl, cand)
    if source == SRC_RANDOM:
        return _random(st, k, ctl, cand, 0)
    n = _tail(st, st.frame_last, k // 2, cand, 0)
    return _random(st, k - n, ctl, cand, n)


RATE_WEIGHT = 0.2  # weight of the latest interval in the per-process fault-rate moving average


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _owner_rates(st, hist):
    """Update each process's recent fault rate (hist rows: accesses, faults at the last decision; rate).

    The rate is a moving average over decisions of faults per access in each
    interval (weight RATE_WEIGHT for the newest), so it follows phases.
    """
    ps = st.proc_stats
    for p in range(ps.shape[1]):
        acc = ps[S.ST_READS, p] + ps[S.ST_WRITES, p] + ps[S.ST_EXECS, p]
        flt = ps[S.ST_MINOR, p] + ps[S.ST_MAJOR, p]
        d_acc = acc - hist[0, p]
        if d_acc > 0:
            r = (flt - hist[1, p]) / d_acc
            hist[2, p] = r if hist[0, p] == 0 else (1.0 - RATE_WEIGHT) * hist[2, p] + RATE_WEIGHT * r
        hist[0, p] = acc
        hist[1, p] = flt


@njit(cache=True, inline="always", _nrt=False)
def _mem(x, frames, inv_span):
    """``log1p(x / frames) / log1p(MEM_SPAN)`` capped at 1 (``x`` in references; negative counts as 0)."""
    return min(1.0, math.log1p(max(x, 0) / frames) * inv_span)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _features(st, cand, n, k, obs, nxt, hist, phist):
    pos = st.sc[S.SC_POS]
    scale = 1.0 / math.log1p(max(st.cfg[S.CF_LENGTH], 1))
    frames = st.frame_page.shape[0]
    inv_span = 1.0 / math.log1p(MEM_SPAN)
    oracle = st.ref_key.shape[0] > 0
    obs[:] = 0.0
    for j in range(k):
        nxt[j] = -1
        if j >= n:
            cand[j] = -1
            continue
        f = cand[j]
        g = st.frame_page[f]
        b = j * N_FEATURES
        age = max(pos - st.frame_in[f], 0)
        idle = max(pos - st.frame_last[f], 0)
        obs[b + 0] = math.log1p(age) * scale
        obs[b + 1] = math.log1p(idle) * scale
        obs[b + 2] = math.log1p(st.frame_count[f]) * scale
        gap = st.frame_gap[f]
        obs[b + 3] = 1.0 if gap < 0 else math.log1p(gap) * scale
        obs[b + 4] = 1.0 if referenced(st, f) else 0.0
        obs[b + 5] = 1.0 if st.page_dirty[g] else 0.0
        obs[b + 6] = 1.0 if st.page_mapcount[g] > 1 else 0.0
        kind = st.page_kind[g]
        obs[b + 7] = 1.0 if kind == S.KIND_FILE else 0.0
        obs[b + 8] = 1.0 if kind == S.KIND_SHM else 0.0
        owner = st.page_owner[g]
        if owner >= 0:
            obs[b + 9] = min(1.0, hist[2, owner])
        evicted = phist[PH_EVICTED, g]
        if gap < 0 and evicted >= 0 and phist[PH_LAST_USE, g] >= 0:
            gap = st.frame_in[f] - phist[PH_LAST_USE, g]  # reuse across its last eviction
        obs[b + 10] = _mem(idle, frames, inv_span)
        obs[b + 11] = 1.0 if gap < 0 else _mem(gap, frames, inv_span)
        obs[b + 12] = 1.0 if gap < 0 else _mem(gap - idle, frames, inv_span)
        obs[b + 13] = 1.0 if gap >= 0 and idle > gap else 0.0
        obs[b + 14] = min(1.0, math.log1p(st.frame_count[f] * frames / (age + 1.0)) * inv_span)
        obs[b + 15] = min(1.0, math.log1p(phist[PH_EVICTIONS, g]) * inv_span)
        obs[b + 16] = 1.0 if evicted < 0 else _mem(st.frame_in[f] - evicted, frames, inv_span)
        obs[b + 17] = 1.0
        if oracle:
            nxt[j] = page_next_use(st, g)
        for c in range(N_FEATURES):
            obs[b + c] = min(obs[b + c], 1.0)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True)
def _globals(st, ctl, k, obs):
    b = k * N_FEATURES
    frames = st.frame_page.shape[0]
    acc = 0
    flt = 0
    for p in range(st.proc_stats.shape[1]):
        acc += st.proc_stats[S.ST_READS, p] + st.proc_stats[S.ST_WRITES, p] + st.proc_stats[S.ST_EXECS, p]
        flt += st.proc_stats[S.ST_MINOR, p] + st.proc_stats[S.ST_MAJOR, p]
    obs[b + 0] = st.sc[S.SC_FREE_TOP] / frames
    d_acc = acc - ctl[CTL_ACC]
    obs[b + 1] = min(1.0, (flt - ctl[CTL_FAULTS]) / d_acc) if d_acc > 0 else 0.0
    obs[b + 2] = min(1.0, flt / acc) if acc > 0 else 0.0
    slots = st.slot_page.shape[0]
    obs[b + 3] = st.sc[S.SC_SWAP_USED] / slots if slots > 0 else 0.0
    obs[b + 4] = st.sc[S.SC_POS] / max(st.cfg[S.CF_LENGTH], 1)
    ctl[CTL_ACC] = acc
    ctl[CTL_FAULTS] = flt


@njit(cache=True, _nrt=False)
def env_step(state, victim, stop, source, k, ctl, cand, obs, nxt, hist, phist):
    """Evict ``victim`` (-1: none), run to the next decision (or ``stop``), observe.

    Returns the simulator status (``ST_*``). On ``ST_NEED_VICTIM`` ``cand[:k]``
    holds the candidate frames (-1 for padding; their number in ``ctl[CTL_N]``),
    ``obs`` the observation and ``nxt`` the candidates' next uses (-1 without an
    oracle); ``hist`` holds the per-process fault-rate history (:func:`_owner_rates`),
    ``phist`` the per-page history across evictions (``PH_*`` rows, see :func:`new_page_history`).
    Invalid victims are rejected by the caller before this call. At the end of a
    streamed chunk (``ST_DONE`` before ``stop``) it returns at once, observing nothing:
    the caller swaps in the next chunk (``Simulator.next_chunk``) and calls again with
    no victim. The kernels below read the state by reference (:mod:`vmgym.sim.stateref`).
    """
    st = ref(state)
    if victim >= 0:
        g = st.frame_page[victim]
        phist[PH_EVICTED, g] = st.sc[S.SC_POS]
        phist[PH_LAST_USE, g] = st.frame_last[victim]
        phist[PH_EVICTIONS, g] += 1
        evict(st, victim)
        st.sc[S.SC_DECISIONS] += 1
        if source == SRC_CLOCK:
            ctl[CTL_HAND] = (victim + 1) % st.frame_page.shape[0]
    status = _run(st, stop)
    if status == S.ST_DONE and st.sc[S.SC_POS] < stop:
        return status  # the end of a streamed chunk: the caller swaps in the next one and calls again
    n = 0
    if status == S.ST_NEED_VICTIM:
        n = _select(st, source, k, ctl, cand)
    ctl[CTL_N] = n
    _owner_rates(st, hist)
    _features(st, cand, n, k, obs, nxt, hist, phist)
    _globals(st, ctl, k, obs)
    return status


@njit(cache=True)
def make_handle(st):
    """A one-element typed list holding ``st`` (sharing its arrays): what :func:`env_step_h` takes."""
    handle = List()
    handle.append(st)
    return handle


@njit(cache=True)
def env_step_h(handle, victim, stop, source, k, ctl, cand, obs, nxt, hist, phist):
    """:func:`env_step` on the state held by ``handle`` (see the module docstring)."""
    return env_step(handle[0], victim, stop, source, k, ctl, cand, obs, nxt, hist, phist)


def new_page_history(n_pages: int) -> np.ndarray:
    """A fresh ``phist`` for :func:`env_step`: no page evicted yet."""
    phist = np.full((N_PHIST, n_pages), -1, np.int64)
    phist[PH_EVICTIONS] = 0
    return phist
