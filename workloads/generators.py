"""Seeded, deterministic synthetic workload generators.

Every generator is a plain function returning a :class:`~workloads.model.Workload`.
They are vectorised (no Python loop per reference), so millions of references take
well under a second, and fully deterministic: all randomness comes from
``np.random.default_rng(seed)``, and the same arguments always give identical arrays
(with a given NumPy version).

Conventions shared by all generators:

* ``write_ratio`` is the probability that a reference is a write, drawn from the
  same generator after the page numbers of the same stream, so for a given seed the
  page sequence does not depend on ``write_ratio`` (except in ``mmap_readers``,
  whose writes go to a separate buffer).
* ``seed`` seeds the generator; generators without any randomness (``leak``) take
  none.
* ``page_size`` (a power of two) maps page numbers to byte addresses; references
  address the first byte of a page unless stated otherwise (``matrix``).
* ``write_ratio``, ``seed`` and ``page_size`` are keyword-only.
* Single-process generators build one process ``"main"`` with one private anonymous
  ``rw`` VMA covering virtual pages ``0 .. n-1``, like :meth:`Workload.from_pages`.
* Bad parameters raise :class:`~workloads.model.WorkloadError` naming the generator,
  the parameter and its allowed range.

Popularity skew uses :func:`zipf_ranks`, an exact inverse-CDF sampler over the
cumulative weights ``1/k**alpha`` (any ``alpha >= 0``, unlike ``rng.zipf`` which
needs ``alpha > 1``), accelerated by a guide table so that a sample costs a table
lookup and a comparison or two instead of a binary search.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np

from workloads.model import (
    DEFAULT_PAGE_SIZE,
    OP_READ,
    OP_WRITE,
    Vma,
    Workload,
    WorkloadBuilder,
    WorkloadError,
)

__all__ = [
    "MATRIX_ORDERS",
    "fork_server",
    "leak",
    "loop",
    "matrix",
    "mmap_readers",
    "multiprocess_shm",
    "phases",
    "scan_hot",
    "sequential",
    "stack_heap",
    "strided",
    "uniform",
    "zipf",
    "zipf_ranks",
]

MATRIX_ORDERS = ("row", "col", "blocked")
_GUIDE_MAX_BITS = 22  # guide table of at most 4M entries (32 MiB)
_GUIDE_LOOP_MAX = 4  # bucket widths up to this are refined by a loop, wider by searchsorted


# -- parameter validation -------------------------------------------------------------------


MAX_COUNT = 1 << 32  # largest page, reference or size count a generator accepts
MAX_PROCS = 1 << 12  # largest number of processes (or steps of a process's life) built in a Python loop
_MAXIMUM = {"n_procs": MAX_PROCS, "workers": MAX_PROCS, "steps": 1 << 20, "max_chunks": 1 << 20}


def _require_int(func: str, name: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int, or raise :class:`WorkloadError` if it is not an integer in range.

    The range is ``[minimum, maximum]``; ``maximum`` defaults to :data:`MAX_COUNT` (fewer for
    process and step counts), so that a huge number is an error, not a huge allocation.
    """
    if maximum is None:
        maximum = _MAXIMUM.get(name, MAX_COUNT)
    if isinstance(value, bool) or not isinstance(value, Integral) or not minimum <= value <= maximum:
        raise WorkloadError(f"{func}: {name} must be an integer in [{minimum}, {maximum:_}], got {value!r}")
    return int(value)


def _require_real(func: str, name: str, value: object, lo: float, hi: float = math.inf) -> float:
    """Return ``value`` as a float, or raise :class:`WorkloadError` if it is not a number in ``[lo, hi]``."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and lo <= float(value) <= hi
    if not ok:
        allowed = f">= {lo}" if hi == math.inf else f"in [{lo}, {hi}]"
        raise WorkloadError(f"{func}: {name} must be a number {allowed}, got {value!r}")
    return float(value)


def _require_choice(func: str, name: str, value: object, allowed: tuple[str, ...]) -> str:
    """Return ``value``, or raise :class:`WorkloadError` if it is not one of ``allowed``."""
    if value not in allowed:
        raise WorkloadError(f"{func}: {name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return str(value)


def _common(func: str, write_ratio: object, seed: object, page_size: object) -> np.random.Generator:
    """Validate the shared ``write_ratio``/``seed``/``page_size`` parameters and return the RNG."""
    _require_real(func, "write_ratio", write_ratio, 0.0, 1.0)
    _check_page_size(func, page_size)
    return np.random.default_rng(_require_int(func, "seed", seed, 0, 2**128))


def _check_page_size(func: str, page_size: object) -> int:
    ps = _require_int(func, "page_size", page_size, 1)
    if ps & (ps - 1):
        raise WorkloadError(f"{func}: page_size must be a power of two >= 1, got {page_size!r}")
    return ps


# -- sampling helpers -----------------------------------------------------------------------


def _inverse_cdf(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    """Draw ``size`` indices with probability proportional to ``weights`` (int64 array).

    The result equals ``np.searchsorted(cdf, rng.random(size), side="right")`` for the
    normalised cumulative weights ``cdf`` exactly; a guide table (Chen & Asau) over
    ``K`` equal-width buckets of ``[0, 1)`` (``8n`` rounded up to a power of two,
    between ``2**10`` and ``2**22``) narrows each sample to the few CDF
    steps inside its bucket, which a handful of vectorised comparisons resolve (or,
    if some bucket holds many steps, a binary search over just the samples in
    buckets that hold any).
    """
    return CdfSampler(weights)(rng.random(size))


class CdfSampler:
    """The guide-table sampler of :func:`_inverse_cdf`, built once and applied to uniforms.

    ``sampler(u)`` maps each uniform in ``[0, 1)`` to its index independently of the
    others, so a stream drawn block by block equals the one drawn whole.
    """

    def __init__(self, weights: np.ndarray):
        cdf = np.cumsum(weights, dtype=np.float64)
        self.n = cdf.size
        if self.n == 1:
            return
        self.k = 1 << min(_GUIDE_MAX_BITS, max(10, math.ceil(math.log2(8 * self.n))))
        # Work in units of 1/K: scaling by a power of two is exact, so every comparison
        # below gives the same answer as on the unscaled values.
        cdf /= cdf[-1]  # cdf[-1] is now exactly 1 > u
        cdf *= self.k
        self.cdf = cdf
        # guide[j] = #{cdf <= j}; for u in [j, j+1) the answer lies in [guide[j], guide[j+1]].
        self.guide = np.searchsorted(cdf, np.arange(self.k + 1, dtype=np.float64), side="right")
        self.width = np.diff(self.guide)
        self.widest = int(self.width.max())

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """Indices for the uniforms ``u`` (int64; ``u`` is scaled in place)."""
        if self.n == 1:
            return np.zeros(u.size, dtype=np.int64)
        cdf = self.cdf
        u *= self.k
        out = self.guide[u.astype(np.intp)]
        if self.widest <= _GUIDE_LOOP_MAX:
            for _ in range(self.widest):  # out never passes n - 1 because cdf[n - 1] = K > u
                out += cdf[out] <= u
        else:
            sel = np.flatnonzero(self.width[u.astype(np.intp)] > 0)
            out[sel] = np.searchsorted(cdf, u[sel], side="right")
        return out


def zipf_ranks(rng: np.random.Generator, n: int, alpha: float, size: int) -> np.ndarray:
    """Draw ``size`` ranks in ``0 .. n-1`` with ``P(rank k) ∝ 1/(k+1)**alpha``.

    Args:
        rng: the random generator to draw from.
        n: number of ranks (>= 1).
        alpha: skew (>= 0; 0 is uniform; values below 1 are allowed).
        size: number of samples.

    Returns:
        An int64 array; rank 0 is the most popular.
    """
    weights = np.arange(1, n + 1, dtype=np.float64) ** -float(alpha)
    return _inverse_cdf(rng, weights, size)


def _zipf_pages(rng: np.random.Generator, perm: np.ndarray, alpha: float, size: int) -> np.ndarray:
    """Zipf references over the pages ``perm`` (``perm[0]`` is the hottest page)."""
    return perm[zipf_ranks(rng, perm.size, alpha, size)]


def _writes(rng: np.random.Generator, write_ratio: float, size: int) -> np.ndarray:
    """Boolean write mask: each reference is a write with probability ``write_ratio``."""
    return rng.random(size) < write_ratio


def _ops(writes: np.ndarray) -> np.ndarray:
    return np.where(writes, OP_WRITE, OP_READ).astype(np.int8)


def _single(
    name: str,
    description: str,
    pages: np.ndarray,
    writes: np.ndarray,
    n_pages: int,
    page_size: int,
) -> Workload:
    """One process ``main`` with one private ``rw`` VMA of ``n_pages`` pages at vpn 0."""
    wb = WorkloadBuilder(name, page_size, description)
    proc = wb.process("main")
    proc.map(Vma(0, n_pages, "rw"))
    proc.access_pages(pages, writes)
    return wb.build()


def _streamed(func: str, *args: Any, **kwargs: Any) -> Workload:
    """Generator ``func`` of :mod:`workloads.streamgen` (one source of these references), held whole."""
    from workloads import streamgen  # it builds on this module's helpers

    return getattr(streamgen, func)(*args, **kwargs).workload()


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


# -- single-process generators --------------------------------------------------------------


def sequential(
    n_pages: int,
    length: int,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """Sequential scan of pages ``0 .. n_pages-1``, repeated and truncated to ``length`` references.

    Args:
        n_pages: pages scanned per pass (>= 1).
        length: total references (>= 1).
        write_ratio: probability that a reference is a write, in [0, 1].
        seed: seeds the write draws (>= 0).
        page_size: bytes per page (a power of two).
    """
    return _streamed("sequential", n_pages, length, write_ratio=write_ratio, seed=seed, page_size=page_size)


def loop(
    n_pages: int,
    length: int,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """Cyclic loop over ``n_pages`` pages: ``0, 1, ..., n_pages-1, 0, 1, ...`` for ``length`` references.

    The classic worst case for LRU and FIFO: with fewer than ``n_pages`` frames every
    reference misses, while OPT keeps ``frames - 1`` pages resident. Same stream as
    :func:`sequential`, named for the looping use.

    Args:
        n_pages: pages in the loop (>= 1).
        length: total references (>= 1).
        write_ratio: probability that a reference is a write, in [0, 1].
        seed: seeds the write draws (>= 0).
        page_size: bytes per page (a power of two).
    """
    return _streamed("loop", n_pages, length, write_ratio=write_ratio, seed=seed, page_size=page_size)


def uniform(
    n_pages: int,
    length: int,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """Independent uniformly random references over ``n_pages`` pages.

    Args:
        n_pages: pages referenced (>= 1).
        length: total references (>= 1).
        write_ratio: probability that a reference is a write, in [0, 1].
        seed: random seed (>= 0).
        page_size: bytes per page (a power of two).
    """
    return _streamed("uniform", n_pages, length, write_ratio=write_ratio, seed=seed, page_size=page_size)


def zipf(
    n_pages: int,
    length: int,
    alpha: float = 0.9,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """Independent Zipf-distributed references: the page of rank ``k`` has probability ∝ ``1/k**alpha``.

    Ranks are mapped to pages through a seeded random permutation, so the hot pages
    are scattered over the address range rather than all at low addresses.

    Args:
        n_pages: pages referenced (>= 1).
        length: total references (>= 1).
        alpha: skew (>= 0; 0 is uniform; values below 1 are allowed).
        write_ratio: probability that a reference is a write, in [0, 1].
        seed: random seed (>= 0).
        page_size: bytes per page (a power of two).
    """
    return _streamed("zipf", n_pages, length, alpha, write_ratio=write_ratio, seed=seed, page_size=page_size)


def strided(
    n_pages: int,
    length: int,
    stride: int,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """Strided array walk: reference ``i`` touches page ``(i * stride) % n_pages``.

    If ``g = gcd(stride, n_pages) > 1`` only ``n_pages / g`` distinct pages are
    touched; the VMA still spans all ``n_pages``.

    Args:
        n_pages: size of the array in pages (>= 1).
        length: total references (>= 1).
        stride: distance between consecutive references, in pages (>= 1).
        write_ratio: probability that a reference is a write, in [0, 1].
        seed: seeds the write draws (>= 0).
        page_size: bytes per page (a power of two).
    """
    return _streamed(
        "strided", n_pages, length, stride, write_ratio=write_ratio, seed=seed, page_size=page_size
    )


def matrix(
    rows: int,
    cols: int,
    order: str = "row",
    *,
    block: int = 64,
    elem_size: int = 8,
    passes: int = 1,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """Traversal of a ``rows x cols`` row-major matrix, one reference per element, at byte addresses.

    Element ``(i, j)`` lives at byte ``(i * cols + j) * elem_size`` of a private VMA
    at vpn 0. ``order="row"`` walks row by row (sequential addresses), ``"col"``
    column by column (stride ``cols * elem_size`` bytes, the cache/TLB-hostile
    order), ``"blocked"`` tile by tile (``block x block`` tiles in row-major tile
    order, row-major within a tile; edge tiles are clipped). Consecutive references
    to the same page are kept.

    Args:
        rows: matrix rows (>= 1).
        cols: matrix columns (>= 1).
        order: ``"row"``, ``"col"`` or ``"blocked"``.
        block: tile side for ``order="blocked"`` (>= 1).
        elem_size: bytes per element (>= 1).
        passes: number of complete traversals (>= 1).
        write_ratio: probability that a reference is a write, in [0, 1].
        seed: seeds the write draws (>= 0).
        page_size: bytes per page (a power of two).
    """
    rows = _require_int("matrix", "rows", rows)
    cols = _require_int("matrix", "cols", cols)
    order = _require_choice("matrix", "order", order, MATRIX_ORDERS)
    block = _require_int("matrix", "block", block)
    elem_size = _require_int("matrix", "elem_size", elem_size)
    passes = _require_int("matrix", "passes", passes)
    rng = _common("matrix", write_ratio, seed, page_size)
    if order == "row":
        elems = np.arange(rows * cols, dtype=np.int64)
    elif order == "col":
        elems = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols).T.ravel()
    else:
        prow, pcol = _round_up(rows, block), _round_up(cols, block)
        i = np.arange(prow, dtype=np.int64).reshape(prow // block, block, 1, 1)
        j = np.arange(pcol, dtype=np.int64).reshape(1, 1, pcol // block, block)
        i, j = np.broadcast_arrays(i, j)
        i = i.transpose(0, 2, 1, 3).ravel()
        j = j.transpose(0, 2, 1, 3).ravel()
        keep = (i < rows) & (j < cols)
        elems = i[keep] * cols + j[keep]
    addrs = np.tile(elems * elem_size, passes)
    writes = _writes(rng, write_ratio, addrs.size)
    n_pages = -(-rows * cols * elem_size // page_size)
    desc = (
        f"matrix {rows}x{cols} of {elem_size}-byte elements, {order} order"
        + (f" (block {block})" if order == "blocked" else "")
        + f", {passes} pass(es), write_ratio={write_ratio}"
    )
    wb = WorkloadBuilder(f"matrix-{order}", page_size, desc)
    proc = wb.process("main")
    proc.map(Vma(0, n_pages, "rw"))
    proc.access(addrs, _ops(writes))
    return wb.build()


def phases(
    n_phases: int,
    ws_pages: int,
    length: int,
    shift: int,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """Access a uniform working set of ``ws_pages`` pages that moves by ``shift`` pages per phase.

    The ``length`` references are split into ``n_phases`` (near-)equal phases; phase
    ``p`` references pages ``p*shift .. p*shift + ws_pages - 1`` uniformly. With
    ``shift >= ws_pages`` consecutive working sets are disjoint; with ``shift = 0``
    the working set never moves.

    Args:
        n_phases: number of phases (1 .. length).
        ws_pages: working-set size in pages (>= 1).
        length: total references (>= 1).
        shift: pages the working set moves at each phase change (>= 0).
        write_ratio: probability that a reference is a write, in [0, 1].
        seed: random seed (>= 0).
        page_size: bytes per page (a power of two).
    """
    return _streamed(
        "phases", n_phases, ws_pages, length, shift, write_ratio=write_ratio, seed=seed, page_size=page_size
    )


def scan_hot(
    hot_pages: int,
    scan_pages: int,
    length: int,
    alpha: float = 0.9,
    scan_every: int = 10_000,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """Mix a Zipf hot set with one-time sequential scans of fresh pages (the scan-resistance test).

    The stream repeats: ``scan_every`` Zipf(``alpha``) references over the hot pages
    ``0 .. hot_pages-1`` (through a seeded permutation), then one sequential scan of
    ``scan_pages`` pages never referenced before or after; it is truncated to
    ``length`` references. Scan ``s`` covers pages
    ``hot_pages + s*scan_pages .. hot_pages + (s+1)*scan_pages - 1``.

    Args:
        hot_pages: size of the hot set in pages (>= 1).
        scan_pages: pages per scan (>= 1).
        length: total references, scans included (>= 1).
        alpha: Zipf skew of the hot set (>= 0).
        scan_every: hot references between scans (>= 1).
        write_ratio: probability that a reference is a write, in [0, 1].
        seed: random seed (>= 0).
        page_size: bytes per page (a power of two).
    """
    hot_pages = _require_int("scan_hot", "hot_pages", hot_pages)
    scan_pages = _require_int("scan_hot", "scan_pages", scan_pages)
    length = _require_int("scan_hot", "length", length)
    alpha = _require_real("scan_hot", "alpha", alpha, 0.0)
    scan_every = _require_int("scan_hot", "scan_every", scan_every)
    rng = _common("scan_hot", write_ratio, seed, page_size)
    period = scan_every + scan_pages
    idx = np.arange(length, dtype=np.int64)
    cycle, pos = np.divmod(idx, period)
    is_scan = pos >= scan_every
    pages = hot_pages + cycle * scan_pages + (pos - scan_every)
    hot = ~is_scan
    perm = rng.permutation(hot_pages)
    pages[hot] = _zipf_pages(rng, perm, alpha, int(np.count_nonzero(hot)))
    writes = _writes(rng, write_ratio, length)
    n_scans = int(cycle[-1]) + 1 if is_scan[-1] else int(cycle[-1])
    desc = (
        f"zipf(alpha={alpha}) hot set of {hot_pages} pages with a {scan_pages}-page scan every "
        f"{scan_every} refs, {length} refs, write_ratio={write_ratio}, seed={seed}"
    )
    return _single("scan-hot", desc, pages, writes, hot_pages + n_scans * scan_pages, page_size)


# -- multi-process generators ---------------------------------------------------------------


def multiprocess_shm(
    n_procs: int = 3,
    private_pages: int = 1024,
    shared_pages: int = 256,
    length_per_proc: int = 100_000,
    alpha: float = 0.9,
    shared_fraction: float = 0.2,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """Run processes with private Zipf heaps that also share one shm segment ``"shm0"``.

    Layout of process ``p{i}``: a private anonymous ``rw`` heap at vpn
    ``0 .. private_pages-1`` and ``shm0`` (``shared=True``, ``rw``) at vpn
    ``round_up(private_pages, 64) + 64*i``, i.e. at a different virtual address in
    each process. Each reference goes to the shared segment with probability
    ``shared_fraction`` and to the private heap otherwise; both are Zipf(``alpha``),
    each heap with its own permutation, the segment with one permutation common to
    all processes (they agree on which shared pages are hot). All processes start at
    tick 0.

    Args:
        n_procs: number of processes (>= 1).
        private_pages: private heap pages per process (>= 1).
        shared_pages: pages of the shm segment (>= 1).
        length_per_proc: references per process (>= 1).
        alpha: Zipf skew of private and shared references (>= 0).
        shared_fraction: probability that a reference goes to the shm segment, in [0, 1].
        write_ratio: probability that a reference is a write, in [0, 1].
        seed: random seed (>= 0).
        page_size: bytes per page (a power of two).
    """
    f = "multiprocess_shm"
    n_procs = _require_int(f, "n_procs", n_procs)
    private_pages = _require_int(f, "private_pages", private_pages)
    shared_pages = _require_int(f, "shared_pages", shared_pages)
    length = _require_int(f, "length_per_proc", length_per_proc)
    alpha = _require_real(f, "alpha", alpha, 0.0)
    shared_fraction = _require_real(f, "shared_fraction", shared_fraction, 0.0, 1.0)
    rng = _common(f, write_ratio, seed, page_size)
    desc = (
        f"{n_procs} processes, {private_pages} private + {shared_pages} shared (shm0) pages each, "
        f"zipf(alpha={alpha}), shared_fraction={shared_fraction}, {length} refs/process, "
        f"write_ratio={write_ratio}, seed={seed}"
    )
    wb = WorkloadBuilder("multiprocess-shm", page_size, desc)
    wb.shm("shm0", shared_pages)
    shm_perm = rng.permutation(shared_pages)
    shm_base = _round_up(private_pages, 64)
    for i in range(n_procs):
        proc = wb.process(f"p{i}")
        shm_vpn = shm_base + 64 * i
        proc.map(Vma(0, private_pages, "rw"))
        proc.map(Vma(shm_vpn, shared_pages, "rw", obj="shm0", shared=True))
        perm = rng.permutation(private_pages)
        is_shared = rng.random(length) < shared_fraction
        pages = np.empty(length, dtype=np.int64)
        n_shared = int(np.count_nonzero(is_shared))
        pages[~is_shared] = _zipf_pages(rng, perm, alpha, length - n_shared)
        pages[is_shared] = shm_vpn + _zipf_pages(rng, shm_perm, alpha, n_shared)
        proc.access_pages(pages, _writes(rng, write_ratio, length))
    return wb.build()


def fork_server_description(
    workers: int, pages: int, length: int, alpha: float, write_ratio: float, seed: int
) -> str:
    """fork_server's description (the whole and the streamed generator share it)."""
    return (
        f"server writes a {pages}-page heap then forks {workers} workers; zipf(alpha={alpha}), "
        f"{length} refs/process after the fork, write_ratio={write_ratio}, seed={seed}"
    )


def fork_server(
    workers: int = 4,
    pages: int = 1024,
    length_per_proc: int = 50_000,
    alpha: float = 0.9,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """Model a pre-forking server: the parent writes its heap, forks workers, all share it copy-on-write.

    Process ``server`` has a private ``rw`` heap at vpn ``0 .. pages-1``. It first
    writes every heap page once (in order), then forks ``workers`` children
    ``worker0 ..`` (which inherit the heap), then makes ``length_per_proc`` references
    of its own. Each worker makes ``length_per_proc`` references. All post-fork
    references are Zipf(``alpha``) over the heap with one permutation common to all
    processes (they run the same code) and are writes with probability
    ``write_ratio``, each write to a still-shared page breaking copy-on-write.

    Args:
        workers: number of forked children (>= 1).
        pages: heap pages (>= 1).
        length_per_proc: post-fork references per process, parent included (>= 1).
        alpha: Zipf skew of heap references (>= 0).
        write_ratio: probability that a post-fork reference is a write, in [0, 1].
        seed: random seed (>= 0).
        page_size: bytes per page (a power of two).
    """
    return _streamed(
        "fork_server",
        workers,
        pages,
        length_per_proc,
        alpha,
        write_ratio=write_ratio,
        seed=seed,
        page_size=page_size,
    )


def mmap_readers(
    n_procs: int = 4,
    file_pages: int = 2048,
    length_per_proc: int = 50_000,
    alpha: float = 0.9,
    buffer_pages: int = 16,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """Several processes read the same file through private read-only mmaps (a shared page cache).

    Layout of process ``reader{i}``: a private anonymous ``rw`` buffer at vpn
    ``0 .. buffer_pages-1`` and the file ``"file0"`` mapped ``shared=False``, perms
    ``"r"``, whole, at vpn ``round_up(buffer_pages, 64) + 64*i``. File reads are
    Zipf(``alpha``) with one permutation common to all readers (they agree on which
    file pages are hot). Because the file mapping is read-only, ``write_ratio`` is
    the probability that a reference is instead a write to a uniformly chosen
    buffer page (copying data out). All processes start at tick 0.

    Args:
        n_procs: number of reader processes (>= 1).
        file_pages: file size in pages (>= 1).
        length_per_proc: references per process (>= 1).
        alpha: Zipf skew of file reads (>= 0).
        buffer_pages: private buffer pages per process (>= 1).
        write_ratio: probability that a reference is a buffer write, in [0, 1].
        seed: random seed (>= 0).
        page_size: bytes per page (a power of two).
    """
    f = "mmap_readers"
    n_procs = _require_int(f, "n_procs", n_procs)
    file_pages = _require_int(f, "file_pages", file_pages)
    length = _require_int(f, "length_per_proc", length_per_proc)
    alpha = _require_real(f, "alpha", alpha, 0.0)
    buffer_pages = _require_int(f, "buffer_pages", buffer_pages)
    rng = _common(f, write_ratio, seed, page_size)
    desc = (
        f"{n_procs} processes read a {file_pages}-page file via private read-only mmaps, "
        f"zipf(alpha={alpha}), {length} refs/process, buffer write_ratio={write_ratio}, seed={seed}"
    )
    wb = WorkloadBuilder("mmap-readers", page_size, desc)
    wb.file("file0", file_pages)
    perm = rng.permutation(file_pages)
    file_base = _round_up(buffer_pages, 64)
    for i in range(n_procs):
        proc = wb.process(f"reader{i}")
        file_vpn = file_base + 64 * i
        proc.map(Vma(0, buffer_pages, "rw"))
        proc.map(Vma(file_vpn, file_pages, "r", obj="file0", shared=False))
        pages = file_vpn + _zipf_pages(rng, perm, alpha, length)
        writes = _writes(rng, write_ratio, length)
        n_writes = int(np.count_nonzero(writes))
        pages[writes] = rng.integers(0, buffer_pages, size=n_writes, dtype=np.int64)
        proc.access_pages(pages, writes)
    return wb.build()


def file_scan(
    file_pages: int = 2000,
    passes: int = 3,
    random_ratio: float = 0.0,
    *,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """One process reads a file through a private read-only mmap, front to back, ``passes`` times.

    The file ``"file0"`` is mapped whole at vpn 0. With ``random_ratio`` > 0 each
    reference is, with that probability, replaced by a read of a uniformly random
    page (a scan disturbed by lookups). The readahead case: demand paging takes a
    major fault per page; a sequential prefetcher streams it.

    Args:
        file_pages: file size in pages (>= 1).
        passes: front-to-back passes (>= 1).
        random_ratio: probability that a reference goes to a random page instead, in [0, 1].
        seed: seeds the random references (>= 0).
        page_size: bytes per page (a power of two).
    """
    f = "file_scan"
    file_pages = _require_int(f, "file_pages", file_pages)
    passes = _require_int(f, "passes", passes)
    random_ratio = _require_real(f, "random_ratio", random_ratio, 0.0, 1.0)
    rng = _common(f, 0.0, seed, page_size)
    pages = np.tile(np.arange(file_pages, dtype=np.int64), passes)
    jump = rng.random(pages.shape[0]) < random_ratio
    pages[jump] = rng.integers(0, file_pages, size=int(jump.sum()), dtype=np.int64)
    desc = f"{passes} sequential passes over a {file_pages}-page mmapped file, random_ratio={random_ratio}"
    wb = WorkloadBuilder("file-scan", page_size, desc)
    wb.file("file0", file_pages)
    proc = wb.process("reader")
    proc.map(Vma(0, file_pages, "r", obj="file0", shared=False))
    proc.access_pages(pages, np.zeros(pages.shape[0], dtype=bool))
    return wb.build()


def leak(pages_per_step: int = 64, steps: int = 1000, *, page_size: int = DEFAULT_PAGE_SIZE) -> Workload:
    """Leak memory: one process keeps mmapping fresh anonymous VMAs, writes them once, never frees them.

    Step ``s`` maps a private ``rw`` VMA of ``pages_per_step`` pages at vpn
    ``s * pages_per_step`` (the first one is part of the initial address space, the
    rest are ``mmap`` events) and writes each of its pages once, in order. The
    footprint grows to ``pages_per_step * steps`` pages; once that exceeds RAM plus
    swap the machine runs out of memory. Deterministic: every reference is a write
    (a read of never-written anonymous memory would not need a frame), so there is
    no ``write_ratio`` or ``seed``.

    Args:
        pages_per_step: pages mapped and written per step (>= 1).
        steps: number of steps (>= 1).
        page_size: bytes per page (a power of two).
    """
    pages_per_step = _require_int("leak", "pages_per_step", pages_per_step)
    steps = _require_int("leak", "steps", steps)
    _check_page_size("leak", page_size)
    desc = f"leak: {steps} steps each mmapping and writing {pages_per_step} fresh pages, never freed"
    wb = WorkloadBuilder("leak", page_size, desc)
    proc = wb.process("main")
    ones = np.ones(pages_per_step, dtype=bool)
    for s in range(steps):
        start = s * pages_per_step
        proc.map(Vma(start, pages_per_step, "rw"))
        proc.access_pages(np.arange(start, start + pages_per_step, dtype=np.int64), ones)
    return wb.build()


def heap_chunks(grow_draw: np.ndarray, max_chunks: int) -> np.ndarray:
    """stack_heap's heap size in chunks during each step: a random walk clamped to 1..max_chunks."""
    live = np.empty(grow_draw.size, dtype=np.int64)
    chunks = 1
    for s in range(grow_draw.size):
        live[s] = chunks
        if chunks < max_chunks and (chunks == 1 or grow_draw[s]):
            chunks += 1
        elif chunks > 1:
            chunks -= 1
    return live


def stack_heap_description(
    steps: int,
    refs: int,
    chunk_pages: int,
    max_chunks: int,
    stack_pages: int,
    grow_prob: float,
    stack_fraction: float,
    write_ratio: float,
    seed: int,
) -> str:
    """The description of a stack_heap workload (whole or streamed)."""
    return (
        f"heap of {chunk_pages}-page chunks growing/shrinking by mmap/munmap (1..{max_chunks} chunks, "
        f"grow_prob={grow_prob}) plus a {stack_pages}-page stack (stack_fraction={stack_fraction}), "
        f"{steps} steps x {refs} refs, write_ratio={write_ratio}, seed={seed}"
    )


def stack_heap(
    steps: int = 200,
    refs_per_step: int = 1000,
    chunk_pages: int = 16,
    max_chunks: int = 32,
    stack_pages: int = 32,
    grow_prob: float = 0.6,
    stack_fraction: float = 0.3,
    *,
    write_ratio: float = 0.0,
    seed: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Workload:
    """Grow a heap by ``mmap`` and shrink it by ``munmap`` while the process also uses its stack.

    Layout of process ``main``: heap chunk ``c`` (``chunk_pages`` private ``rw``
    pages) at vpn ``c * chunk_pages``; the stack, ``stack_pages`` private ``rw``
    pages, just above the largest possible heap at vpn
    ``max_chunks * chunk_pages + 16``. Initially the stack and chunk 0 are mapped.
    Each of the ``steps`` steps makes ``refs_per_step`` references: with probability
    ``stack_fraction`` to the stack, ``d`` pages below its top with ``d`` geometric
    (p = 1/2, clipped to the stack), otherwise uniformly to the live heap. Between
    steps the heap grows by one chunk (an ``mmap`` event) with probability
    ``grow_prob`` and otherwise shrinks by unmapping its topmost chunk (a ``munmap``
    event); it always grows at one chunk and always shrinks at ``max_chunks``.

    Args:
        steps: number of steps (>= 1); there is a resize event between consecutive steps.
        refs_per_step: references per step (>= 1).
        chunk_pages: pages per heap chunk (>= 1).
        max_chunks: largest heap size in chunks (>= 1).
        stack_pages: stack size in pages (>= 1).
        grow_prob: probability that a step grows the heap, in [0, 1].
        stack_fraction: probability that a reference goes to the stack, in [0, 1].
        write_ratio: probability that a reference is a write, in [0, 1].
        seed: random seed (>= 0).
        page_size: bytes per page (a power of two).
    """
    return _streamed(
        "stack_heap",
        steps,
        refs_per_step,
        chunk_pages,
        max_chunks,
        stack_pages,
        grow_prob,
        stack_fraction,
        write_ratio=write_ratio,
        seed=seed,
        page_size=page_size,
    )
