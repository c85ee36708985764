"""``trace info``: footprint, read/write/exec mix and LRU stack distances of a trace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from workloads.model import OP_NAMES, Workload
from workloads.traces.api import load_trace
from workloads.traces.mapping import _PID_SHIFT, _references
from workloads.traces.registry import _resolve_format

REUSE_EXACT_LIMIT = 20_000_000
_MRC_FRAMES = (16, 64, 256, 1024, 4096, 16384, 65536)


@njit(cache=True)
def _stack_distances(ids, n_ids):
    """LRU stack distance of every reference (-1 for a first touch), Fenwick tree, O(n log n).

    The distance of a re-reference is the number of distinct other pages referenced
    since the previous reference to the same page: LRU with C frames hits iff it is < C.
    """
    n = ids.shape[0]
    last = np.full(n_ids, -1, np.int64)
    tree = np.zeros(n + 1, np.int32)
    out = np.empty(n, np.int64)
    for i in range(n):
        x = ids[i]
        j = last[x]
        if j < 0:
            out[i] = -1
        else:
            # markers in (j, i): prefix(i) - prefix(j + 1) over 1-based positions
            s = 0
            k = i
            while k > 0:
                s += tree[k]
                k -= k & -k
            k = j + 1
            while k > 0:
                s -= tree[k]
                k -= k & -k
            out[i] = s
            k = j + 1
            while k <= n:
                tree[k] -= 1
                k += k & -k
        k = i + 1
        while k <= n:
            tree[k] += 1
            k += k & -k
        last[x] = i
    return out


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
    """
    if isinstance(source, Workload):
        workload, where, fmt_name = source, source.name, "workload"
    else:
        fmt_name = _resolve_format(Path(source), fmt)
        workload = load_trace(source, fmt_name, page_size, collapse, max_refs)
        where = str(source)
    shift = workload.page_size.bit_length() - 1
    refs = _references(workload)
    n = sum(o.size for o, _ in refs)
    counts = np.zeros(3, np.int64)
    distinct = 0
    for ops, addrs in refs:
        counts += np.bincount(ops, minlength=3)[:3]
        distinct += np.unique(addrs >> shift).size
    out: dict[str, Any] = {
        "trace": where,
        "format": fmt_name,
        "page_size": workload.page_size,
        "references": int(n),
        "processes": len(workload.processes),
        "distinct_pages": int(distinct),
        "footprint_bytes": int(distinct) * workload.page_size,
    }
    for code, name in OP_NAMES.items():
        out[f"{name}s"] = int(counts[code])
    for code, name in OP_NAMES.items():
        out[f"{name}_fraction"] = float(counts[code] / n) if n else 0.0
    out["reuse"] = _reuse_summary(refs, shift, n, exact_limit)
    return out


def _reuse_summary(refs, shift: int, n: int, exact_limit: int) -> dict[str, Any]:
    rate = 1.0 if n <= exact_limit else exact_limit / n
    threshold = np.uint64(min(int(rate * 2**24), 2**24))
    dists = []
    sampled = 0
    for pid, (_, addrs) in enumerate(refs):
        pages = addrs >> shift
        if rate < 1.0:
            pages = pages[(_splitmix(pages + (pid << _PID_SHIFT)) >> np.uint64(40)) < threshold]
        sampled += pages.size
        if pages.size == 0:
            continue
        uniq, inv = np.unique(pages, return_inverse=True)
        dists.append(_stack_distances(inv.astype(np.int64).ravel(), uniq.size))
    d = np.concatenate(dists) if dists else np.zeros(0, np.int64)
    cold = d < 0
    warm = d[~cold].astype(np.float64) / rate
    summary: dict[str, Any] = {
        "exact": rate == 1.0,
        "sample_rate": rate,
        "sampled_references": int(sampled),
        "cold_fraction": float(cold.mean()) if d.size else 0.0,
        "median": float(np.median(warm)) if warm.size else None,
        "p90": float(np.percentile(warm, 90)) if warm.size else None,
        "mean": float(warm.mean()) if warm.size else None,
    }
    summary["lru_miss_ratio"] = {
        str(c): (float((cold.sum() + (warm >= c).sum()) / d.size) if d.size else 0.0) for c in _MRC_FRAMES
    }
    return summary
