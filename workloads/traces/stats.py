"""``trace info``: footprint, read/write/exec mix and LRU stack distances of a trace."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from workloads.model import OP_NAMES, Workload
from workloads.stackdist import LruStack
from workloads.stream import ProcessRefStream, RefStream, proc_groups
from workloads.traces.api import load_trace
from workloads.traces.mapping import _PID_SHIFT, _references
from workloads.traces.registry import _resolve_format

REUSE_EXACT_LIMIT = 20_000_000
_MRC_FRAMES = (16, 64, 256, 1024, 4096, 16384, 65536)


def _stack_distances(ids: np.ndarray, n_ids: int) -> np.ndarray:
    """LRU stack distance of every reference (-1 for a first touch), in one array (the tests' check).

    :class:`_Reuse` computes the same distances block by block into a histogram.
    """
    return LruStack(n_ids).distances(np.ascontiguousarray(ids, np.int64))


class _Reuse:
    """LRU stack distances of one process's references, fed in blocks, kept as a histogram.

    Memory is a few words per distinct page (``pages``: the sorted distinct pages it
    will see), not per reference.
    """

    def __init__(self, pages: np.ndarray):
        self.pages = pages
        self.stack = LruStack(pages.size)

    def add(self, pages: np.ndarray) -> None:
        """Note a block of references (page numbers, all among ``pages``)."""
        self.stack.add(np.searchsorted(self.pages, pages).astype(np.int64, copy=False))

    @property
    def warm(self) -> np.ndarray:
        """``warm[d]``: the re-references at distance ``d``."""
        return self.stack.hist[:-1]


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def info(
    source: str | Path | Workload,
    fmt: str | None = None,
    page_size: int | None = None,
    *,
    collapse: bool = True,
    max_refs: int | None = None,
    exact_limit: int = REUSE_EXACT_LIMIT,
    stream: bool | None = None,
) -> dict[str, Any]:
    """Summarise a trace file (or a :class:`Workload`).

    Returns references, processes, distinct pages (distinct (process, page) pairs),
    footprint in bytes, read/write/exec counts and fractions, and ``reuse``: LRU stack
    distances, computed per process over its own stream and pooled. A distance is the
    number of distinct other pages touched since the previous reference to the same page,
    so LRU with ``C`` frames (per process) hits exactly when it is ``< C``. ``median``,
    ``p90`` and ``mean`` are over re-references, ``cold_fraction`` is first touches over
    all references, and ``lru_miss_ratio`` maps frame counts to the per-process LRU miss
    ratio. The distances are exact (Fenwick tree, O(n log n)) up to ``exact_limit``
    references; beyond that they are estimated by spatial sampling (SHARDS, Waldspurger et
    al., FAST 2015): pages whose hash falls below rate ``exact_limit / references`` are
    kept and their distances scaled by ``1 / rate`` (``exact`` is False, ``sample_rate``
    says the rate).

    A trace file is read as a stream (:func:`~workloads.traces.stream_trace`,
    block by block: memory bounded by its distinct pages, not its length) from
    ``workloads.spec.STREAM_TRACES_FROM`` bytes on, or always with ``stream=True``
    (``False``: load it whole); the summary is the same either way.
    """
    if isinstance(source, Workload):
        return _summarise(source.name, "workload", _workload_parts(source), exact_limit)
    path = Path(source)
    fmt_name = _resolve_format(path, fmt)
    if stream is None:
        from workloads.spec import STREAM_TRACES_FROM

        stream = path.is_file() and path.stat().st_size >= STREAM_TRACES_FROM
    if stream:
        from workloads.traces.streaming import NotStreamable, stream_trace

        try:
            refs = stream_trace(path, fmt_name, page_size, collapse, max_refs, several=True)
        except NotStreamable:
            pass  # npz: loaded whole below
        else:
            return _summarise(str(source), fmt_name, _stream_parts(refs), exact_limit)
    workload = load_trace(path, fmt_name, page_size, collapse, max_refs)
    return _summarise(str(source), fmt_name, _workload_parts(workload), exact_limit)


# What _summarise reads: the page size, the references, the processes' sorted distinct pages,
# and a function that yields (process index, ops, pages) blocks.
_Parts = tuple[int, int, list[np.ndarray], Callable[[], Iterator[tuple[int, np.ndarray, np.ndarray]]]]


def _workload_parts(workload: Workload) -> _Parts:
    shift = workload.page_size.bit_length() - 1
    refs = _references(workload)

    def blocks() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        for pid, (ops, addrs) in enumerate(refs):
            yield pid, ops, addrs >> shift

    distinct = [np.unique(addrs >> shift) for _, addrs in refs]
    return workload.page_size, sum(o.size for o, _ in refs), distinct, blocks


def _stream_parts(refs: RefStream) -> _Parts:
    shift = refs.page_size.bit_length() - 1
    if isinstance(refs, ProcessRefStream):  # pages and counts per process from the scan

        def each() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
            for procs, ops, addrs in refs.proc_blocks(1 << 20):
                for pid, idx in proc_groups(procs):
                    yield pid, ops[idx], addrs[idx] >> shift

        return refs.page_size, int(refs.length), list(refs.proc_pages), each

    def blocks() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        for ops, addrs in refs.blocks(1 << 20):
            yield 0, ops, addrs >> shift

    return refs.page_size, int(refs.length), [np.asarray(refs.page_set, np.int64)], blocks


def _summarise(where: str, fmt_name: str, parts: _Parts, exact_limit: int) -> dict[str, Any]:
    page_size, n, distinct, blocks = parts
    rate = 1.0 if n <= exact_limit else exact_limit / n
    threshold = np.uint64(min(int(rate * 2**24), 2**24))

    def sampled(pid: int, pages: np.ndarray) -> np.ndarray:
        if rate == 1.0:
            return pages
        return pages[(_splitmix(pages + (pid << _PID_SHIFT)) >> np.uint64(40)) < threshold]

    reuse = [_Reuse(sampled(pid, pages)) for pid, pages in enumerate(distinct)]
    counts = np.zeros(3, np.int64)
    for pid, ops, pages in blocks():
        counts += np.bincount(ops, minlength=3)[:3]
        reuse[pid].add(sampled(pid, pages))
    n_distinct = sum(d.size for d in distinct)
    out: dict[str, Any] = {
        "trace": where,
        "format": fmt_name,
        "page_size": page_size,
        "references": int(n),
        "processes": len(distinct),
        "distinct_pages": int(n_distinct),
        "footprint_bytes": int(n_distinct) * page_size,
    }
    for code, name in OP_NAMES.items():
        out[f"{name}s"] = int(counts[code])
    for code, name in OP_NAMES.items():
        out[f"{name}_fraction"] = float(counts[code] / n) if n else 0.0
    out["reuse"] = _reuse_summary(reuse, rate)
    return out


def _reuse_summary(reuse: list[_Reuse], rate: float) -> dict[str, Any]:
    size = max(max(r.warm.size for r in reuse), 1) if reuse else 1
    hist = np.zeros(size, np.int64)
    for r in reuse:
        hist[: r.warm.size] += r.warm
    cold = sum(r.stack.first_touches for r in reuse)
    total = sum(r.stack.references for r in reuse)
    warm = int(hist.sum())
    cum = np.cumsum(hist)

    def nth(k: int) -> float:  # the k-th smallest warm distance (0-based), scaled
        return float(np.searchsorted(cum, k, side="right")) / rate

    median = p90 = mean = None
    if warm:
        mid = warm // 2
        median = nth(mid) if warm % 2 else (nth(mid - 1) + nth(mid)) / 2
        at = 0.9 * (warm - 1)  # as numpy's percentile: linear between the neighbours
        lo = int(np.floor(at))
        a, b = nth(lo), nth(min(lo + 1, warm - 1))
        t = at - lo
        p90 = a + (b - a) * t if t < 0.5 else b - (b - a) * (1 - t)
        mean = float((np.arange(size, dtype=np.float64) * hist).sum() / warm) / rate
    scaled = np.arange(size, dtype=np.float64) / rate
    summary: dict[str, Any] = {
        "exact": rate == 1.0,
        "sample_rate": rate,
        "sampled_references": int(total),
        "cold_fraction": float(cold / total) if total else 0.0,
        "median": median,
        "p90": p90,
        "mean": mean,
    }
    summary["lru_miss_ratio"] = {
        str(c): (float((cold + hist[scaled >= c].sum()) / total) if total else 0.0) for c in _MRC_FRAMES
    }
    return summary
