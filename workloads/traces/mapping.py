"""From parsed references to a :class:`~workloads.model.Workload`, and back to reference streams.

One process per pid (ordered by first appearance), each with one ``rwx`` VMA over the
pages it references; object ids become page numbers (see the package docstring).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workloads.model import EV_MMAP, Process, Vma, Workload
from workloads.traces.errors import TraceError
from workloads.traces.registry import _format, _formats
from workloads.traces.streams import _strip_compression

if TYPE_CHECKING:
    from workloads.traces.blocks import _Collector

_DENSE_BELOW = 1 << 36  # ids below this are used as page numbers (simulator vpns are 40-bit)
_PID_SHIFT = 40  # object id = pid << 40 | vpn when several processes share an id stream


def _check_page_size(page_size: object) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise TraceError(f"page_size must be a power of two >= 1, got {page_size!r}")
    if page_size & (page_size - 1):
        raise TraceError(f"page_size must be a power of two >= 1, got {page_size!r}")
    return page_size


def _collapse_mask(pages: np.ndarray, ops: np.ndarray) -> np.ndarray:
    keep = np.ones(ops.size, dtype=bool)
    keep[1:] = (pages[1:] != pages[:-1]) | (ops[1:] != ops[:-1])
    return keep


def _collapsed(pages: np.ndarray, ops: np.ndarray, last: tuple[int, int] | None) -> np.ndarray:
    """load_trace's collapse mask of one process's references in a batch (``_collapse_mask``).

    ``last`` is that process's previous ``(page, op)`` (None before its first), against
    which its first reference here is checked.
    """
    keep = _collapse_mask(pages, ops)
    keep[0] = last is None or last != (int(pages[0]), int(ops[0]))
    return keep


def _make_process(name: str, ops: np.ndarray, addrs: np.ndarray, shift: int, start: int) -> Process:
    lo, hi = int(addrs.min()) >> shift, int(addrs.max()) >> shift
    return Process(name, [Vma(lo, hi - lo + 1, "rwx")], ops, addrs, [], start, None)


def _build(
    name: str,
    pids: np.ndarray | None,
    ops: np.ndarray,
    addrs: np.ndarray,
    page_size: int,
    collapse: bool,
    description: str,
) -> Workload:
    shift = page_size.bit_length() - 1
    procs: list[Process] = []
    if pids is None or pids.min() == pids.max():
        # one stream: _Collector has collapsed it already (consecutive = same process)
        pname = "main" if pids is None else f"pid{int(pids[0])}"
        procs.append(_make_process(pname, ops, addrs, shift, 0))
    else:
        uniq, first = np.unique(pids, return_index=True)
        order = np.argsort(pids, kind="stable")
        bounds = np.append(np.searchsorted(pids[order], uniq), pids.size)
        for k in np.argsort(first, kind="stable"):
            idx = order[bounds[k] : bounds[k + 1]]
            p_ops, p_addrs = ops[idx], addrs[idx]
            if collapse:
                keep = _collapse_mask(p_addrs >> shift, p_ops)
                p_ops, p_addrs = p_ops[keep], p_addrs[keep]
            procs.append(_make_process(f"pid{int(uniq[k])}", p_ops, p_addrs, shift, int(first[k])))
    return Workload(name, procs, [], page_size, description)


def _renumbers(dense: bool | None, max_id: int | None) -> bool:
    """True if object ids are renumbered densely: ``dense``, or if None, a largest id ``max_id`` >= 2**36.

    Raises :class:`TraceError` for ids kept as page numbers that do not fit one.
    """
    if dense is None:
        dense = max_id is not None and max_id >= _DENSE_BELOW
    if not dense and max_id is not None and max_id >= _DENSE_BELOW << 4:
        raise TraceError(f"object id {max_id} is too large for a page number; use dense=True")
    return dense


def _ids_to_pages(ids: np.ndarray, dense: bool | None) -> tuple[np.ndarray, bool]:
    ids = np.asarray(ids, dtype=np.uint64)
    if _renumbers(dense, int(ids.max()) if ids.size else None):
        _, inv = np.unique(ids, return_inverse=True)
        return inv.astype(np.int64).ravel(), True
    return ids.view(np.int64), False  # the same values (all below 2**40), no copy


def _no_references(label: str, fmt: str, nbytes: int) -> TraceError:
    """The error for a trace file without references."""
    what = "empty file" if nbytes == 0 else "no memory references found"
    return TraceError(f"{label}: {what}; expected {fmt} {_format(fmt).expected}")


def _description(fmt: str, label: str, count: int, seen: int, collapse: bool, note: str) -> str:
    """A trace workload's description: format, file, references (and how many before collapsing)."""
    collapsed = f" ({seen:,} before collapsing)" if collapse and seen != count else ""
    return f"{fmt} trace {Path(label).name}: {count:,} references{collapsed}{note}"


def _trace_name(path: Path) -> str:
    name = _strip_compression(path.name)
    for suffix in (s for fmt in _formats() for s in fmt.name_suffixes):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _finish(
    coll: _Collector,
    fmt: str,
    label: str,
    nbytes: int,
    page_size: int,
    collapse: bool,
    dense: bool | None,
    wname: str,
) -> Workload:
    pids, ops, vals = coll.arrays()
    if ops.size == 0:
        raise _no_references(label, fmt, nbytes)
    note = ""
    if _format(fmt).addresses:
        addrs = vals.astype(np.int64, copy=False)
    else:
        pages, renumbered = _ids_to_pages(vals, dense)
        del vals
        pages <<= page_size.bit_length() - 1  # in place: pages is ours (a fresh array or vals)
        addrs = pages
        note = ", object ids renumbered densely" if renumbered else ""
    desc = _description(fmt, label, coll.count, coll.seen, collapse, note)
    return _build(wname, pids, ops, addrs, page_size, collapse, desc)


def _references(workload: Workload) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per process: (ops, addrs) of its memory references (events dropped)."""
    out = []
    for proc in workload.processes:
        ops = np.asarray(proc.ops)
        refs = ops < EV_MMAP
        out.append((ops[refs].astype(np.int8), np.asarray(proc.args)[refs].astype(np.int64)))
    return out


def _merged(workload: Workload) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All references as one stream: (pids, ops, addrs), ordered by start + index (the tick), then index."""
    refs = _references(workload)
    pids = np.concatenate([np.full(o.size, p, np.int64) for p, (o, _) in enumerate(refs)])
    ops = np.concatenate([o for o, _ in refs])
    addrs = np.concatenate([a for _, a in refs])
    if len(refs) > 1:
        index = np.concatenate([np.arange(o.size, dtype=np.int64) for o, _ in refs])
        starts = np.concatenate(
            [np.full(o.size, workload.processes[p].start) for p, (o, _) in enumerate(refs)]
        )
        order = np.lexsort((pids, index, starts + index))  # by tick, then earlier in its own stream
        pids, ops, addrs = pids[order], ops[order], addrs[order]
    return pids, ops, addrs
