"""One-pass miss-ratio curves: exact LRU and OPT, sampled LRU (SHARDS).

A miss-ratio curve gives, for every memory size ``c`` (frames), the misses a policy
makes on a reference string; for a *stack algorithm* (Mattson, Gecsei, Slutz &
Traiger, "Evaluation techniques for storage hierarchies", IBM Systems Journal 9(2),
1970) the contents of a memory of ``c`` frames are always a subset of those of
``c + 1`` frames, so one pass over the string computes every size at once: a
reference at stack distance ``d`` (0-based depth in the policy's stack) hits in
every memory of more than ``d`` frames.

* :func:`lru_misses` - LRU: the stack is recency order and the distance of a
  re-reference is the number of distinct other pages touched since its previous
  reference. Computed with a Fenwick (binary indexed) tree over last-access times,
  O(n log m) for ``n`` references over ``m`` distinct pages: each page keeps one
  marker at its last access time; the distance is the number of markers after it.
  Times are renumbered densely whenever they run past ``2m``, so the tree stays
  ``2m`` long (cache-resident) instead of ``n``.
* :func:`opt_misses` - Belady's MIN (OPT) is a stack algorithm too: Mattson et al.'s
  stack processing with priorities, the priority of a page being its next
  reference time (the sooner, the higher). The referenced page goes to the top;
  going down the stack to its old position, the page carried down and the page
  found at each position are compared, the higher-priority one stays and the other
  is carried on, and the last carried page takes the old position (or the next
  free one, on a miss). O(n * depth): a reference costs its own stack depth, capped
  at ``max_frames`` (pages below that depth never affect the sizes asked for).
  Measured (``benchmarks/bench_mrc.py``): 0.02-0.08 s on the bundled traces
  (2.8-5.7M references, 200-600 pages), 0.56 s for all 10,000 sizes of a
  1M-reference Zipf(0.9) trace (about 8 OPT simulations).
* :func:`shards_lru_misses` - SHARDS (Waldspurger, Park, Garthwaite & Ahmad,
  "Efficient MRC Construction with SHARDS", USENIX FAST 2015), fixed rate: keep
  the references to pages whose hash falls below ``rate``, compute their exact LRU
  distances, scale each distance by ``1 / rate``, and correct the count of the
  smallest-distance bucket by the difference between the expected (``rate * n``)
  and actual number of sampled references (SHARDS-adj). At ``rate=1`` it is the
  exact curve; :func:`curve_error` gives its error against an exact one.
  It needs many pages: with a few thousand, whether the few hottest pages are
  sampled moves the whole curve.

What a miss is, and which workloads: :func:`page_ids` gives each reference the
page identity the simulator itself uses - the page-table entry the loader
(:func:`vmgym.sim.loader.load`) translates it to - and a miss is an access that
faulted (``RunStats.misses``) in the lean configuration (``tlb_entries=0``, one
process, no prefetching, swap large enough that no process is OOM-killed). The curves
equal ``simulate(workload, "lru"|"opt", frames=c, tlb_entries=0).misses`` at every
``c`` (``tests/test_mrc.py``). Workloads where a page's faults do not follow from
its references alone are refused with a one-line :class:`MrcError`: several
processes (fork, copy-on-write, shared memory: a resident shared page still
faults in a process that has not mapped it), munmap/mlock/munlock events
(they free or pin frames), references that segfault, writes through a private
file mapping (copy-on-write), and one object page mapped at two addresses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from vmgym.sim import state as S
from vmgym.sim.config import MachineConfig
from vmgym.sim.loader import load
from workloads.model import OP_WRITE, Workload

POLICIES = ("lru", "opt")
"""The policies with a one-pass curve (stack algorithms)."""

_NEVER = np.int64(1) << 62  # next-use time of a page never referenced again


class MrcError(ValueError):
    """A workload or option the miss-ratio curve cannot handle; the message says why."""


# == page identity ==========================================================================


def page_ids(workload: Workload) -> tuple[np.ndarray, int]:
    """Per reference, in simulated order, the dense id (0..m-1) of the page it touches; and m.

    The id is the page-table entry the simulator's loader translates the reference
    to; in the workloads accepted here (see the module docstring) a PTE maps exactly
    one page for the whole run, so two references touch the same page iff they have
    the same id. Raises :class:`MrcError` for the others.
    """
    name = workload.name
    if len(workload.processes) != 1:
        raise MrcError(
            f"workload {name!r} has {len(workload.processes)} processes; miss-ratio curves need one "
            "process (fork, copy-on-write and shared mappings make faults depend on more than the pages)"
        )
    lw = load(workload, MachineConfig(page_size=workload.page_size, tlb_entries=0))
    ops = lw.ref_op
    bad = np.isin(ops, [S.E_MUNMAP, S.E_MLOCK, S.E_MUNLOCK, S.E_FORK])
    if bad.any():
        raise MrcError(
            f"workload {name!r} has munmap/mlock/munlock events; miss-ratio curves need a workload "
            "whose pages stay mapped and unpinned"
        )
    refs = ops < S.EVENT_BASE
    pte = lw.ref_pte[refs]
    if pte.size and pte.min() < 0:
        j = int(np.argmax(pte < 0))
        raise MrcError(f"workload {name!r}: reference {j} segfaults; miss-ratio curves need valid references")
    m = int(lw.pte_pid.shape[0])
    written = np.zeros(m, bool)
    written[pte[ops[refs] == OP_WRITE]] = True
    if np.any(written & ((lw.pte_flags & S.PTE_FILEPRIV) != 0)):
        raise MrcError(
            f"workload {name!r} writes through a private file mapping (copy-on-write); "
            "miss-ratio curves need one page per address"
        )
    static = lw.pte_static[lw.pte_static >= 0]
    if np.unique(static).size != static.size:
        raise MrcError(f"workload {name!r} maps one object page at two addresses; miss-ratio curves need one")
    return pte.astype(np.int64), m


# == kernels ================================================================================


@njit(cache=True)
def _fenwick_build(tree, live):
    """Fenwick tree over ``tree[1:]`` with a 1 at times 1..live and 0 after them, O(len)."""
    cap = tree.shape[0] - 1
    tree[:] = 0
    tree[1 : live + 1] = 1
    for k in range(1, cap + 1):
        parent = k + (k & -k)
        if parent <= cap:
            tree[parent] += tree[k]


@njit(cache=True)
def _lru_hist(ids, n_ids, max_frames):
    """Histogram of LRU stack distances.

    ``h[d]`` counts re-references at distance d < max_frames, ``h[max_frames]`` the
    rest (first touches and distances >= max_frames).
    """
    n = ids.shape[0]
    cap = 2 * n_ids + 64
    tree = np.zeros(cap + 1, np.int32)  # a 1 at each page's last access time
    owner = np.full(cap + 1, -1, np.int64)  # page whose last access is at this time
    last = np.zeros(n_ids, np.int64)  # last access time of a page, 0 = never
    hist = np.zeros(max_frames + 1, np.int64)
    live = 0
    t = 0
    for i in range(n):
        if t == cap:  # renumber the live times 1..live, keeping their order
            k = 0
            for s in range(1, cap + 1):
                x = owner[s]
                if x >= 0:
                    owner[s] = -1
                    k += 1
                    owner[k] = x
                    last[x] = k
            _fenwick_build(tree, live)
            t = live
        x = ids[i]
        j = last[x]
        t += 1
        if j == 0:
            live += 1
            hist[max_frames] += 1
        else:
            s = 0  # markers at times <= j
            k = j
            while k > 0:
                s += tree[k]
                k -= k & -k
            d = live - s  # markers after j: distinct other pages since
            hist[d if d < max_frames else max_frames] += 1
            k = j
            while k <= cap:
                tree[k] -= 1
                k += k & -k
            owner[j] = -1
        k = t
        while k <= cap:
            tree[k] += 1
            k += k & -k
        owner[t] = x
        last[x] = t
    return hist


@njit(cache=True)
def _next_use(ids, n_ids):
    """``nxt[i]``: the next position referencing ``ids[i]``, or _NEVER (one backward pass)."""
    n = ids.shape[0]
    nxt = np.empty(n, np.int64)
    seen = np.full(n_ids, _NEVER, np.int64)
    for i in range(n - 1, -1, -1):
        x = ids[i]
        nxt[i] = seen[x]
        seen[x] = i
    return nxt


@njit(cache=True)
def _opt_hist(ids, nxt, n_ids, max_frames):
    """Histogram of OPT stack distances (Mattson et al. 1970, priority = next use), as _lru_hist.

    Only the top ``max_frames`` stack positions are kept: they depend on nothing below.
    """
    n = ids.shape[0]
    m = max_frames
    stack = np.empty(m, np.int64)  # page ids, top first
    prio = np.empty(m, np.int64)  # next use time of stack[k]: smaller = keep
    pos = np.full(n_ids, -1, np.int64)  # stack position of a page, -1 if below m or never seen
    hist = np.zeros(m + 1, np.int64)
    size = 0
    for i in range(n):
        x = ids[i]
        d = pos[x]
        if d == 0:
            hist[0] += 1
            prio[0] = nxt[i]
            continue
        if d > 0:
            hist[d] += 1
            end = d
        else:
            hist[m] += 1
            end = size
            if size == 0:
                stack[0] = x
                prio[0] = nxt[i]
                pos[x] = 0
                size = 1
                continue
        y = stack[0]
        py = prio[0]
        stack[0] = x
        prio[0] = nxt[i]
        pos[x] = 0
        for k in range(1, end):
            pz = prio[k]
            if pz > py:  # the page here is needed later: it goes down, the carried one stays
                z = stack[k]
                stack[k] = y
                prio[k] = py
                pos[y] = k
                y = z
                py = pz
        if end < m:
            stack[end] = y
            prio[end] = py
            pos[y] = end
            if d < 0:
                size += 1
        else:
            pos[y] = -1  # falls below the largest memory asked for
    return hist


def _misses_from_hist(hist: np.ndarray) -> np.ndarray:
    """``misses[c]`` for c = 0..len(hist)-1 frames: references at distance >= c."""
    return np.cumsum(hist[::-1])[::-1].astype(np.int64)


def _max_frames(max_frames: int | None, n_ids: int) -> int:
    m = n_ids if max_frames is None else int(max_frames)
    if m < 1:
        raise MrcError(f"max_frames must be >= 1, got {m}")
    return m


def _padded(misses: np.ndarray, m: int) -> np.ndarray:
    """``misses`` extended to sizes 0..m with its last value (past the footprint only cold misses)."""
    if misses.size >= m + 1:
        return misses
    return np.concatenate([misses, np.full(m + 1 - misses.size, misses[-1], misses.dtype)])


def lru_misses(ids: np.ndarray, n_ids: int, max_frames: int | None = None) -> np.ndarray:
    """Exact LRU misses ``misses[c]`` for c = 0..max_frames frames (default: the footprint ``n_ids``)."""
    m = _max_frames(max_frames, n_ids)
    ids = np.ascontiguousarray(ids, np.int64)
    return _padded(_misses_from_hist(_lru_hist(ids, n_ids, min(m, max(n_ids, 1)))), m)


def opt_misses(ids: np.ndarray, n_ids: int, max_frames: int | None = None) -> np.ndarray:
    """Exact OPT (Belady's MIN) misses ``misses[c]`` for c = 0..max_frames frames."""
    m = _max_frames(max_frames, n_ids)
    ids = np.ascontiguousarray(ids, np.int64)
    hist = _opt_hist(ids, _next_use(ids, n_ids), n_ids, min(m, max(n_ids, 1)))
    return _padded(_misses_from_hist(hist), m)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


_HASH_BITS = 24


def shards_lru_misses(
    ids: np.ndarray, n_ids: int, rate: float, max_frames: int | None = None, seed: int = 0
) -> np.ndarray:
    """SHARDS estimate of the LRU misses ``misses[c]``, c = 0..max_frames (float, scaled to all refs).

    Spatial sampling at fixed ``rate`` (0 < rate <= 1): a page is sampled when the
    hash of its id (seeded) falls below ``rate * 2**24``; see the module docstring.
    """
    if not 0.0 < rate <= 1.0:
        raise MrcError(f"sample rate must be in (0, 1], got {rate}")
    m = _max_frames(max_frames, n_ids)
    ids = np.asarray(ids, np.int64)
    n = ids.size
    if rate == 1.0:
        return lru_misses(ids, n_ids, m).astype(np.float64)
    threshold = np.uint64(math.ceil(rate * 2**_HASH_BITS))
    keep_page = (
        _splitmix64(np.arange(n_ids, dtype=np.int64) + (seed << 32)) >> np.uint64(64 - _HASH_BITS)
    ) < (threshold)
    sample = ids[keep_page[ids]]
    out = np.full(m + 1, float(n))
    if sample.size == 0:
        return out
    uniq, dense = np.unique(sample, return_inverse=True)
    # distances in the sample are scaled by 1/rate: d_s hits c frames iff d_s < ceil(c * rate)
    top = min(math.ceil(m * rate), uniq.size)  # sampled distances are < uniq.size
    hist = _lru_hist(dense.astype(np.int64).ravel(), uniq.size, max(top, 1)).astype(np.float64)
    hist[0] += n * rate - sample.size  # SHARDS-adj: expected minus actual sampled references
    sampled_misses = np.cumsum(hist[::-1])[::-1]  # sampled_misses[k]: distance >= k
    ks = np.minimum(np.ceil(np.arange(m + 1) * rate).astype(np.int64), hist.size - 1)
    out = sampled_misses[ks] / rate
    out[0] = n
    return np.clip(out, 0.0, float(n))


def curve_error(approx: np.ndarray, exact: np.ndarray, references: int) -> dict[str, float]:
    """Mean and max absolute error in miss ratio over sizes 1..len-1 (SHARDS reports the mean)."""
    k = min(len(approx), len(exact))
    diff = np.abs(np.asarray(approx[1:k], float) - np.asarray(exact[1:k], float)) / max(references, 1)
    return {"mae": float(diff.mean()) if diff.size else 0.0, "max": float(diff.max()) if diff.size else 0.0}


# == workload level =========================================================================


@dataclass
class Curve:
    """Misses of one policy at every size 0..max_frames (``misses[c]`` for ``c`` frames)."""

    policy: str
    method: str  # "exact" or "shards"
    misses: np.ndarray
    references: int
    sample_rate: float = 1.0
    error: dict[str, float] | None = field(default=None)  # vs the exact curve, when both are computed

    @property
    def miss_ratio(self) -> np.ndarray:
        """``misses / references`` at every size."""
        return self.misses / max(self.references, 1)

    def at(self, frames: list[int]) -> list[dict[str, Any]]:
        """Rows ``{"frames", "misses", "miss_ratio"}`` at these sizes."""
        rows = []
        for c in frames:
            v = self.misses[c]
            rows.append(
                {
                    "frames": int(c),
                    "misses": int(v) if self.method == "exact" else round(float(v), 1),
                    "miss_ratio": float(v / max(self.references, 1)),
                }
            )
        return rows


def curves(
    workload: Workload,
    policies: list[str] | tuple[str, ...] = POLICIES,
    max_frames: int | None = None,
    sample: float | None = None,
    check: bool = False,
    seed: int = 0,
) -> tuple[list[Curve], dict[str, int]]:
    """The curves of ``policies`` on ``workload`` up to ``max_frames`` (default: its footprint).

    With ``sample`` LRU is estimated by SHARDS at that rate; ``check`` also computes
    the exact LRU curve and fills the sampled curve's ``error``. Returns the curves
    and ``{"references", "distinct_pages"}``.
    """
    for p in policies:
        if p not in POLICIES:
            raise MrcError(f"no one-pass curve for policy {p!r}; choose from: {', '.join(POLICIES)}")
    ids, n_ids = page_ids(workload)
    n = int(ids.size)
    if n == 0:
        raise MrcError(f"workload {workload.name!r} has no references")
    m = _max_frames(max_frames, n_ids)
    out: list[Curve] = []
    for p in policies:
        if p == "opt":
            out.append(Curve("opt", "exact", opt_misses(ids, n_ids, m), n))
        elif sample is None:
            out.append(Curve("lru", "exact", lru_misses(ids, n_ids, m), n))
        else:
            est = Curve("lru", "shards", shards_lru_misses(ids, n_ids, sample, m, seed), n, sample)
            if check:
                exact = Curve("lru", "exact", lru_misses(ids, n_ids, m), n)
                est.error = curve_error(est.misses, exact.misses, n)
                out.append(exact)
            out.append(est)
    return out, {"references": n, "distinct_pages": n_ids}
