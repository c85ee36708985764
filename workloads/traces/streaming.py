"""Trace files as reference streams: a one-process trace read block by block, never whole.

:func:`stream_trace` opens a trace file as a :class:`~workloads.stream.RefStream`, so a
run holds the footprint's state and a block, not the trace (:mod:`vmgym.streaming`).
It reads the file once up front (the *scan*) for what a stream must tell before it is
read: the number of references, the address range (the process's one ``rwx`` VMA, as
:func:`~workloads.traces.load_trace` makes it), the number of distinct pages (the
frames hint) and, when object ids are renumbered densely, the sorted distinct ids that
number them. Each read of the stream then parses the file again, through the same
format parser and collector as :func:`~workloads.traces.load_trace` (collapsing,
``max_refs``, errors), so the stream's references equal the loaded workload's bit for
bit (``tests/workloads/test_trace_stream.py``).

Formats read whole (npz) and traces whose records carry several pids do not stream:
:func:`stream_trace` raises :class:`NotStreamable` (for several pids as soon as a second
one appears), and :func:`workloads.resolve_stream` leaves such a file to be loaded whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from workloads.model import DEFAULT_PAGE_SIZE, Vma
from workloads.stream import Distinct, RefStream
from workloads.traces.api import _request, _stored_values
from workloads.traces.blocks import _Collector, _k_scan
from workloads.traces.errors import TraceError
from workloads.traces.mapping import _check_page_size, _description, _no_references, _renumbers
from workloads.traces.registry import Format, ReadRequest, _format
from workloads.traces.streams import _open_raw


class NotStreamable(TraceError):
    """A readable trace that does not stream (npz, several processes); load it whole instead."""


STREAM_BLOCK = 4 << 20  # bytes per read: smaller than load_trace's, as a run holds a block beside its chunks

Batch = tuple[np.ndarray | None, np.ndarray, np.ndarray]  # pids or None, ops, values (views)
_NO_MAP = np.zeros(0, np.bool_)  # a scan's byte map once pages are counted sorted


class _TraceReader:
    """One trace file read through its format's parser, batch by batch (each read parses it again)."""

    def __init__(self, spec: Format, req: ReadRequest, shift: int):
        self.spec = spec
        self.req = req
        self.shift = shift
        self.nbytes = 0
        self.seen = 0  # references before collapsing, of the last read

    def batches(self) -> Iterator[Batch]:
        coll = _Collector(self.shift, self.req.collapse, self.req.max_refs, self.spec.addresses)
        with _open_raw(self.req.path) as stream:
            steps = self.spec.parse(stream, self.req, coll)
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    self.nbytes = done.value
                    break
                batch = coll.take()
                if batch[1].size:
                    yield batch
        self.seen = coll.seen


class _Scan:
    """What the first read learns: references, pids, value range, distinct pages (module docstring)."""

    def __init__(self, reader: _TraceReader):
        self.count = 0
        self.has_pids = False
        self.pid = 0  # of the first reference (0 where a record has none)
        self.lo = self.hi = 0  # smallest and largest value (address or object id)
        distinct = Distinct()
        shift = reader.shift if reader.spec.addresses else 0  # values to pages
        label = reader.req.label
        for pids, _ops, vals in reader.batches():
            first = self.count == 0
            if pids is None:  # records without a pid: pid 0
                pids = np.zeros(1, np.int64)
            else:
                self.has_pids = True
            if first:
                self.pid = int(pids[0])
            other = pids[pids != self.pid]
            if other.size:
                raise NotStreamable(
                    f"{label}: references of several processes (pids {self.pid} and {int(other[0])}); "
                    f"only a one-process trace streams"
                )
            lo, hi = self._block(distinct, vals, shift)
            self.lo = lo if first else min(self.lo, lo)
            self.hi = hi if first else max(self.hi, hi)
            self.count += vals.size
        self.seen = reader.seen
        self.nbytes = reader.nbytes
        self.distinct = distinct.values()

    @staticmethod
    def _block(distinct: Distinct, vals: np.ndarray, shift: int) -> tuple[int, int]:
        """The range of one batch's values; its pages noted in ``distinct`` (one compiled pass)."""
        vshift = vals.dtype.type(shift)
        seen = distinct.bytemap(0)
        lo, hi = _k_scan(vals, vshift, _NO_MAP if seen is None else seen)
        top = int(hi) >> shift
        if seen is None or top >= seen.size:  # more pages than the map holds: grow it and mark again
            seen = distinct.bytemap(top)
            if seen is not None:
                _k_scan(vals, vshift, seen)
            else:
                distinct.add(vals >> vshift)
        return lo, hi


def stream_trace(
    path: str | Path,
    fmt: str | None = None,
    page_size: int | None = None,
    collapse: bool = True,
    max_refs: int | None = None,
    *,
    dense: bool | None = None,
    obj_id_col: int | None = None,
    op_col: int | None = None,
    block_size: int = STREAM_BLOCK,
    name: str | None = None,
) -> RefStream:
    """A one-process trace file as a :class:`~workloads.stream.RefStream` (arguments: ``load_trace``).

    Reads the file once now (see the module docstring) and again at each read of the
    stream, ``block_size`` bytes at a time (4 MiB by default). ``stream.page_set`` holds the
    distinct pages. Raises
    :class:`TraceError` for what :func:`~workloads.traces.load_trace` rejects, and its
    subclass :class:`NotStreamable` for a format read whole (npz) or a trace of several
    processes.
    """
    path = Path(path)
    fmt, req = _request(path, fmt, page_size, collapse, max_refs, dense, obj_id_col, op_col, block_size, name)
    spec = _format(fmt)
    if spec.parse is None:
        raise NotStreamable(f"{path}: format {fmt} is read whole, not streamed; load it with load_trace")
    page_size = _check_page_size(DEFAULT_PAGE_SIZE if page_size is None else page_size)
    shift = page_size.bit_length() - 1
    reader = _TraceReader(spec, req, shift)
    scan = _Scan(reader)
    if scan.count == 0:
        raise _no_references(req.label, fmt, scan.nbytes)
    note = ""
    table = None
    if spec.addresses:
        lo, hi = int(scan.lo) >> shift, int(scan.hi) >> shift
    elif _renumbers(dense, int(scan.hi)):
        table = scan.distinct
        lo, hi = 0, table.size - 1
        note = ", object ids renumbered densely"
    else:
        lo, hi = int(scan.lo), int(scan.hi)
    if table is not None:
        page_set = np.arange(table.size, dtype=np.int64)
    else:  # the distinct pages (addresses) or object ids (used as page numbers)
        page_set = scan.distinct.astype(np.int64)
    desc = _description(fmt, req.label, scan.count, scan.seen, collapse, note)

    def blocks(size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        ops_out = np.empty(size, np.int8)
        addrs_out = np.empty(size, np.int64)
        fill = 0
        for _pids, ops, vals in reader.batches():
            if vals.min() < scan.lo or vals.max() > scan.hi:
                raise TraceError(
                    f"{req.label}: read again, it holds values outside the range its scan saw "
                    f"({int(scan.lo)}..{int(scan.hi)}): did the file change?"
                )
            if spec.addresses:
                addrs = vals.astype(np.int64, copy=False)
            else:
                pages = np.searchsorted(table, vals) if table is not None else vals.view(np.int64)
                addrs = pages.astype(np.int64, copy=False) << shift
            done = 0
            while done < ops.size:
                k = min(size - fill, ops.size - done)
                ops_out[fill : fill + k] = ops[done : done + k]
                addrs_out[fill : fill + k] = addrs[done : done + k]
                fill += k
                done += k
                if fill == size:
                    yield ops_out, addrs_out
                    ops_out = np.empty(size, np.int8)  # the caller may keep the last block
                    addrs_out = np.empty(size, np.int64)
                    fill = 0
            del ops, vals, addrs  # before the next batch is read: one batch at a time in memory
        if fill:
            yield ops_out[:fill], addrs_out[:fill]

    return RefStream(
        name=req.name,
        vmas=[Vma(lo, hi - lo + 1, "rwx")],
        blocks=blocks,
        length=scan.count,
        page_size=page_size,
        description=desc,
        process_name=f"pid{scan.pid}" if scan.has_pids else "main",
        page_set=page_set,
    )


def write_stream(stream: RefStream, path: Path, fmt: str, block: int = 1 << 21) -> Path:
    """Write a one-process stream to ``path`` in ``fmt`` block by block (as ``write_trace`` would)."""
    spec = _format(fmt)
    if spec.write is None or not spec.write_in_blocks:
        raise TraceError(f"format {fmt} is not written block by block; load the trace and use write_trace")
    pids = np.zeros(block, np.int64)  # one process: pid 0, as write_trace numbers them
    length = stream.length
    if length is None:
        length = sum(ops.size for ops, _ in stream.blocks(block))

    def blocks() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for ops, addrs in stream.blocks(block):
            p = pids[: ops.size]
            yield p, ops, _stored_values(spec.addresses, p, addrs, stream.page_size, 1)

    spec.write(path, blocks(), stream.page_size, length)
    return path
