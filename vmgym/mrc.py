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
  O(n log m) for ``n`` references over ``m`` distinct pages
  (:class:`workloads.stackdist.LruStack`, shared with ``trace info``).
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

Large inputs stream: :func:`curves` takes a :class:`~workloads.stream.RefStream` as
well as a whole workload, reads the page ids chunk by chunk (:func:`stream_ids`), and
carries each curve's state across chunks (:class:`workloads.stackdist.LruStack` for
LRU and SHARDS; OPT's next uses by a backward pass over a spilled column), so memory is
the pages' state and a chunk, not the trace; the curves equal the whole ones bit for bit.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from vmgym.sim import state as S
from vmgym.sim.config import MachineConfig
from vmgym.sim.loader import load
from vmgym.streaming.feed import DEFAULT_CHUNK, open_source
from workloads.model import OP_WRITE, Workload
from workloads.spool import Column, spills
from workloads.stackdist import LruStack, backward_next_uses
from workloads.stream import ProcessRefStream, ProcessStreams, RefStream

POLICIES = ("lru", "opt")
"""The policies with a one-pass curve (stack algorithms)."""


class MrcError(ValueError):
    """A workload or option the miss-ratio curve cannot handle; the message says why."""


# == page identity ==========================================================================


_UNSTABLE = np.array([S.E_MUNMAP, S.E_MLOCK, S.E_MUNLOCK, S.E_FORK], np.int8)  # events that refuse a curve


def _unstable(name: str) -> MrcError:
    return MrcError(
        f"workload {name!r} has munmap/mlock/munlock events; miss-ratio curves need a workload "
        "whose pages stay mapped and unpinned"
    )


def _several(name: str, k: int) -> MrcError:
    return MrcError(
        f"workload {name!r} has {k} processes; miss-ratio curves need one "
        "process (fork, copy-on-write and shared mappings make faults depend on more than the pages)"
    )


def _check_references(name: str, ops: np.ndarray, pte: np.ndarray, filepriv: np.ndarray, first: int) -> None:
    """Refuse a segfaulting reference or a write through a private file mapping.

    ``first`` is the index of ``pte[0]`` among the workload's references.
    """
    if pte.size and pte.min() < 0:
        j = first + int(np.argmax(pte < 0))
        raise MrcError(f"workload {name!r}: reference {j} segfaults; miss-ratio curves need valid references")
    if filepriv[pte[ops == OP_WRITE]].any():
        raise MrcError(
            f"workload {name!r} writes through a private file mapping (copy-on-write); "
            "miss-ratio curves need one page per address"
        )


def _check_space(name: str, pte_static: np.ndarray) -> None:
    static = pte_static[pte_static >= 0]
    if np.unique(static).size != static.size:
        raise MrcError(f"workload {name!r} maps one object page at two addresses; miss-ratio curves need one")


def page_ids(workload: Workload) -> tuple[np.ndarray, int]:
    """Per reference, in simulated order, the dense id (0..m-1) of the page it touches; and m.

    The id is the page-table entry the simulator's loader translates the reference
    to; in the workloads accepted here (see the module docstring) a PTE maps exactly
    one page for the whole run, so two references touch the same page iff they have
    the same id. Raises :class:`MrcError` for the others.
    """
    name = workload.name
    if len(workload.processes) != 1:
        raise _several(name, len(workload.processes))
    lw = load(workload, MachineConfig(page_size=workload.page_size, tlb_entries=0))
    ops = lw.ref_op
    if np.isin(ops, _UNSTABLE).any():
        raise _unstable(name)
    refs = ops < S.EVENT_BASE
    pte = lw.ref_pte[refs]
    _check_references(name, ops[refs], pte, (lw.pte_flags & S.PTE_FILEPRIV) != 0, 0)
    _check_space(name, lw.pte_static)
    return pte.astype(np.int64), int(lw.pte_pid.shape[0])


@dataclass
class PageIds:
    """A workload's references as dense page ids (:func:`page_ids`), in blocks.

    ``blocks()`` reads them again at each call: one array for a whole workload, a
    stream's chunks for a :class:`~workloads.stream.RefStream`.
    """

    name: str
    references: int
    n_ids: int
    blocks: Callable[[], Iterator[np.ndarray]]
    referenced: np.ndarray | None = None  # which ids occur, if not all (a stream numbers only those)


Progress = Callable[[str, int, int], None]
"""``progress(what, done, total)``: a curve's pass over the references (:func:`curves`)."""


def _told(ids: PageIds, what: str, progress: Progress | None) -> PageIds:
    """``ids`` whose every read of the blocks tells ``progress`` the references done so far."""
    if progress is None:
        return ids

    def blocks() -> Iterator[np.ndarray]:
        done = 0
        for block in ids.blocks():
            yield block
            done += block.size
            progress(what, done, ids.references)

    return PageIds(ids.name, ids.references, ids.n_ids, blocks, ids.referenced)


def whole_ids(workload: Workload) -> PageIds:
    """:func:`page_ids` as one block."""
    return _one_block(*page_ids(workload), workload.name)


def stream_ids(stream: RefStream, chunk: int = DEFAULT_CHUNK) -> PageIds:
    """The page ids of a one-process stream, chunk by chunk, as :func:`page_ids` gives them whole.

    The PTEs are numbered as a streamed run numbers them (:mod:`vmgym.streaming`), which
    is the whole loader's numbering; memory is the footprint and a chunk, not the trace.
    """
    name = stream.name
    if isinstance(stream, ProcessRefStream):
        raise _several(name, len(stream.proc_names))
    if isinstance(stream, ProcessStreams) and len(stream.streams) > 1:
        raise _several(name, len(stream.streams))
    lean = MachineConfig(page_size=stream.page_size, tlb_entries=0)
    source = open_source(stream, lean.quantum, chunk)  # events: mmaps pass, munmap/mlock refused below
    lw = source.load(lean)
    _check_space(name, lw.pte_static)
    filepriv = (lw.pte_flags & S.PTE_FILEPRIV) != 0

    def blocks() -> Iterator[np.ndarray]:
        first = 0
        for ops, pte, _pids in source.entries():
            if np.isin(ops, _UNSTABLE).any():
                raise _unstable(name)
            refs = ops < S.EVENT_BASE
            ids = pte[refs]
            _check_references(name, ops[refs], ids, filepriv, first)
            first += ids.size
            if ids.size:
                yield ids.astype(np.int64)

    return PageIds(name, source.n_refs, int(lw.pte_pid.shape[0]), blocks)


# == kernels ================================================================================


@njit(cache=True, nogil=True)
def _opt_push(ids, nxt, stack, prio, pos, hist, state):  # pragma: no cover (compiled)
    """Push references through OPT's stack (Mattson et al. 1970, priority = next use), as LruStack.

    Only the top ``len(stack)`` positions are kept: they depend on nothing below.
    ``hist[d]`` counts distance ``d`` below the last slot, which counts the rest;
    ``state[0]`` is the stack's size; ``pos[x]`` is id x's position (-1: below or never).
    """
    m = stack.shape[0]
    size = state[0]
    for i in range(ids.shape[0]):
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
    state[0] = size


class _OptStack:
    """OPT stack distances up to depth ``top``, fed in blocks with each reference's next use."""

    def __init__(self, n_ids: int, top: int):
        self.stack = np.empty(top, np.int64)
        self.prio = np.empty(top, np.int64)  # next use of stack[k]: smaller = keep
        self.pos = np.full(n_ids, -1, np.int64)
        self.hist = np.zeros(top + 1, np.int64)
        self.state = np.zeros(1, np.int64)

    def add(self, ids: np.ndarray, nxt: np.ndarray) -> None:
        _opt_push(ids, nxt, self.stack, self.prio, self.pos, self.hist, self.state)


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


def _top(m: int, n_ids: int) -> int:
    """The deepest distance a histogram keeps: the sizes asked for, at most the footprint."""
    return min(m, max(n_ids, 1))


def _lru_curve(ids: PageIds, m: int) -> np.ndarray:
    stack = LruStack(ids.n_ids, _top(m, ids.n_ids))
    for block in ids.blocks():
        stack.add(block)
    return _padded(_misses_from_hist(stack.hist), m)


def _one_block(ids: np.ndarray, n_ids: int, name: str = "") -> PageIds:
    """Ids held whole as :class:`PageIds` of one block (with the ids that occur)."""
    ids = np.ascontiguousarray(ids, np.int64)
    referenced = np.zeros(n_ids, np.bool_)
    referenced[ids] = True
    return PageIds(name, int(ids.size), n_ids, lambda: iter([ids]), referenced)


def lru_misses(ids: np.ndarray, n_ids: int, max_frames: int | None = None) -> np.ndarray:
    """Exact LRU misses ``misses[c]`` for c = 0..max_frames frames (default: the footprint ``n_ids``)."""
    return _lru_curve(_one_block(ids, n_ids), _max_frames(max_frames, n_ids))


def _opt_curve(ids: PageIds, m: int, progress: Progress | None = None) -> np.ndarray:
    """OPT's misses: the ids into a column, next uses in a backward pass, then the stack forward.

    The columns (8 bytes a reference each) are arrays, or temporary files above
    :data:`~workloads.spool.SPILL_ABOVE` bytes (:class:`workloads.spool.Column`).
    ``progress`` hears the three passes.
    """
    n = ids.references
    tell = progress or (lambda what, done, total: None)
    spill = spills(16 * n, "the OPT curve's columns")
    col, nxt = Column(n, np.int64, spill), Column(n, np.int64, spill)
    try:
        lo = 0
        for block in _told(ids, "opt: reading the references", progress).blocks():
            col.write(lo, block)
            lo += block.size
        step = DEFAULT_CHUNK
        backward_next_uses(col.read, n, ids.n_ids, nxt, step, lambda done: tell("opt: next uses", done, n))
        stack = _OptStack(ids.n_ids, _top(m, ids.n_ids))
        for lo in range(0, n, step):
            k = min(step, n - lo)
            stack.add(np.ascontiguousarray(col.read(lo, k)), np.ascontiguousarray(nxt.read(lo, k)))
            tell("opt: stack distances", lo + k, n)
    finally:
        col.close()
        nxt.close()
    return _padded(_misses_from_hist(stack.hist), m)


def opt_misses(ids: np.ndarray, n_ids: int, max_frames: int | None = None) -> np.ndarray:
    """Exact OPT (Belady's MIN) misses ``misses[c]`` for c = 0..max_frames frames."""
    return _opt_curve(_one_block(ids, n_ids), _max_frames(max_frames, n_ids))


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


_HASH_BITS = 24


def _shards_curve(ids: PageIds, rate: float, m: int, seed: int) -> np.ndarray:
    """SHARDS over ``ids`` (see :func:`shards_lru_misses`); only the ids that occur are sampled."""
    n, n_ids = ids.references, ids.n_ids
    threshold = np.uint64(math.ceil(rate * 2**_HASH_BITS))
    keep_page = (
        _splitmix64(np.arange(n_ids, dtype=np.int64) + (seed << 32)) >> np.uint64(64 - _HASH_BITS)
    ) < (threshold)
    if ids.referenced is not None:
        keep_page &= ids.referenced
    dense = np.cumsum(keep_page) - 1  # the sampled pages that occur, numbered in order
    n_sampled = int(keep_page.sum())
    out = np.full(m + 1, float(n))
    if n_sampled == 0:
        return out
    # distances in the sample are scaled by 1/rate: d_s hits c frames iff d_s < ceil(c * rate)
    top = min(math.ceil(m * rate), n_sampled)  # sampled distances are < n_sampled
    stack = LruStack(n_sampled, max(top, 1))
    for block in ids.blocks():
        stack.add(dense[block[keep_page[block]]])
    hist = stack.hist.astype(np.float64)
    hist[0] += n * rate - stack.references  # SHARDS-adj: expected minus actual sampled references
    sampled_misses = np.cumsum(hist[::-1])[::-1]  # sampled_misses[k]: distance >= k
    ks = np.minimum(np.ceil(np.arange(m + 1) * rate).astype(np.int64), hist.size - 1)
    out = sampled_misses[ks] / rate
    out[0] = n
    return np.clip(out, 0.0, float(n))


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
    if rate == 1.0:
        return lru_misses(ids, n_ids, m).astype(np.float64)
    return _shards_curve(_one_block(ids, n_ids), rate, m, seed)


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
    workload: Workload | RefStream,
    policies: list[str] | tuple[str, ...] = POLICIES,
    max_frames: int | None = None,
    sample: float | None = None,
    check: bool = False,
    seed: int = 0,
    chunk: int = DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> tuple[list[Curve], dict[str, int]]:
    """The curves of ``policies`` on ``workload`` up to ``max_frames`` (default: its footprint).

    With ``sample`` LRU is estimated by SHARDS at that rate; ``check`` also computes
    the exact LRU curve and fills the sampled curve's ``error``. Returns the curves
    and ``{"references", "distinct_pages"}``. A :class:`~workloads.stream.RefStream`
    is read ``chunk`` references at a time (:func:`stream_ids`), once per curve: the same curves with
    memory bounded by the footprint (OPT's two columns go to temporary files past
    :data:`~workloads.spool.SPILL_ABOVE` bytes). ``progress(what, done, total)``, if
    given, hears each pass over the references (:data:`Progress`).
    """
    for p in policies:
        if p not in POLICIES:
            raise MrcError(f"no one-pass curve for policy {p!r}; choose from: {', '.join(POLICIES)}")
    if sample is not None and not 0.0 < sample <= 1.0:
        raise MrcError(f"sample rate must be in (0, 1], got {sample}")
    ids = stream_ids(workload, chunk) if isinstance(workload, RefStream) else whole_ids(workload)
    n = ids.references
    if n == 0:
        raise MrcError(f"workload {ids.name!r} has no references")
    m = _max_frames(max_frames, ids.n_ids)
    out: list[Curve] = []
    lru_ids = _told(ids, "lru: stack distances", progress)
    for p in policies:
        if p == "opt":
            out.append(Curve("opt", "exact", _opt_curve(ids, m, progress), n))
        elif sample is None:
            out.append(Curve("lru", "exact", _lru_curve(lru_ids, m), n))
        else:
            shards = (
                _lru_curve(lru_ids, m).astype(np.float64)
                if sample == 1.0
                else _shards_curve(_told(ids, f"lru: SHARDS at {sample:g}", progress), sample, m, seed)
            )
            est = Curve("lru", "shards", shards, n, sample)
            if check:
                exact = Curve("lru", "exact", _lru_curve(lru_ids, m), n)
                est.error = curve_error(est.misses, exact.misses, n)
                out.append(exact)
            out.append(est)
    return out, {"references": n, "distinct_pages": ids.n_ids}
