"""Trace files as reference streams: a trace read block by block, never whole.

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

A trace whose records carry several pids streams with ``several=True`` (what
:func:`workloads.resolve_stream` asks for) as a :class:`~workloads.stream.ProcessRefStream`:
the scan also notes each pid's first position (its process's start tick) and value
range (its ``rwx`` VMA), and each read maps pids to processes and collapses each
process's consecutive repeats, as ``load_trace`` does. Without it, :func:`stream_trace`
raises :class:`NotStreamable` as soon as a second pid appears. A format may make its own
stream (``Format.stream``: npz, whose members are inflated block by block); a file that
one cannot take (an npz member that is not a plain array) raises :class:`NotStreamable`,
and ``resolve_stream`` loads such a file whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from workloads.model import DEFAULT_PAGE_SIZE, Vma
from workloads.stream import (
    Distinct,
    ProcessRefStream,
    ProcessStreams,
    RefStream,
    count_differs,
    no_blocks,
    proc_groups,
    rebatch,
)
from workloads.tick_order import tick_ordered
from workloads.traces.api import _check_holds, _request, _stored_values
from workloads.traces.blocks import _Collector, _k_scan
from workloads.traces.errors import TraceError
from workloads.traces.mapping import (
    _check_page_size,
    _collapsed,
    _description,
    _no_references,
    _renumbers,
)
from workloads.traces.registry import Format, ReadRequest, _format
from workloads.traces.streams import _open_raw


class NotStreamable(TraceError):
    """A trace that does not stream (several pids unless asked for, an odd npz); load it whole instead."""


STREAM_BLOCK = 4 << 20  # bytes per read: smaller than load_trace's, as a run holds a block beside its chunks
TICK_WINDOW = 1 << 18  # references per window of a trace of several pids written in tick order (~40 MB)

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


class _Processes:
    """Per process of a trace of several pids: start, value range, references and distinct pages.

    Processes are numbered by first appearance. References are counted after each
    process's consecutive repeats collapse (``collapse``), as ``load_trace`` counts them;
    pages are ``value >> shift`` (object ids: the ids themselves).
    """

    def __init__(self, collapse: bool, shift: int, label: str):
        self.collapse = collapse
        self.shift = shift
        self.label = label
        self.index: dict[int, int] = {}  # pid -> process index
        self.starts: list[int] = []  # position of the first reference
        self.ranges: list[list[int]] = []  # [smallest, largest] value
        self.counts: list[int] = []
        self.pages: list[Distinct] = []
        self.last: list[tuple[int, int] | None] = []  # (page, op) of the last reference
        self._known = np.zeros(0, np.int64)  # the pids so far, sorted, and their process indices
        self._index = np.zeros(0, np.int32)

    def first(self, pid: int, count: int, lo: int, hi: int, pages: np.ndarray, last: tuple[int, int]) -> None:
        """The first process, from what the scan learned before the second pid came."""
        self._new(pid, 0, [lo, hi])
        self.counts[0] = count
        self.pages[0].add(pages)
        self.last[0] = last

    def _new(self, pid: int, start: int, rng: list[int]) -> None:
        self.index[pid] = len(self.index)
        self.starts.append(start)
        self.ranges.append(rng)
        self.counts.append(0)
        self.pages.append(Distinct(below=1 << 20))
        self.last.append(None)

    def add(self, pos: int, pids: np.ndarray, ops: np.ndarray, vals: np.ndarray) -> None:
        """Note a batch whose first reference is at position ``pos``."""
        at = self._lookup(pids)
        unseen = np.flatnonzero(self._known[at] != pids) if self._known.size else np.arange(pids.size)
        if unseen.size:  # new pids, by first appearance
            uniq, first = np.unique(pids[unseen], return_index=True)
            for k in np.argsort(first, kind="stable"):
                j = int(unseen[first[k]])
                self._new(int(uniq[k]), pos + j, [int(vals[j])] * 2)
            at = self._lookup(pids)
        for k, idx in proc_groups(self._index[at]):
            part, o = vals[idx], ops[idx]
            rng = self.ranges[k]
            rng[0], rng[1] = min(rng[0], int(part.min())), max(rng[1], int(part.max()))
            pages = part >> part.dtype.type(self.shift)
            self.pages[k].add(pages)
            if self.collapse:
                self.counts[k] += int(np.count_nonzero(_collapsed(pages, o, self.last[k])))
                self.last[k] = (int(pages[-1]), int(o[-1]))
            else:
                self.counts[k] += idx.size

    def indices(self, pids: np.ndarray) -> np.ndarray:
        """The process index (int32) of each pid of a batch (all known to the scan)."""
        at = self._lookup(pids)
        if not np.array_equal(self._known[at], pids):
            raise TraceError(
                f"{self.label}: read again, it holds a pid its scan did not see "
                f"({int(pids[self._known[at] != pids][0])}): did the file change?"
            )
        return self._index[at]

    def _lookup(self, pids: np.ndarray) -> np.ndarray:
        """Where each pid is, or would be, among the known pids (sorted)."""
        if self._known.size != len(self.index):
            self._known = np.array(sorted(self.index), np.int64)
            self._index = np.array([self.index[int(p)] for p in self._known], np.int32)
        return np.minimum(np.searchsorted(self._known, pids), max(self._known.size - 1, 0))


class _Scan:
    """What the first read learns: references, pids, value range, distinct pages (module docstring).

    With ``several``, a trace of several pids is scanned too (``procs``, a
    :class:`_Processes`, from the second pid on); without, a second pid raises
    :class:`NotStreamable`.
    """

    def __init__(self, reader: _TraceReader, several: bool = False):
        self.count = 0
        self.has_pids = False
        self.pid = 0  # of the first reference (0 where a record has none)
        self.lo = self.hi = 0  # smallest and largest value (address or object id)
        self.procs: _Processes | None = None
        distinct = Distinct()
        shift = reader.shift if reader.spec.addresses else 0  # values to pages
        label = reader.req.label
        last = (0, 0)  # page and op of the last reference so far
        for pids, ops, vals in reader.batches():
            first = self.count == 0
            if pids is None:  # records without a pid: pid 0
                pids = np.zeros(1, np.int64)
            else:
                self.has_pids = True
            if first:
                self.pid = int(pids[0])
            if self.procs is None and (pids != self.pid).any():
                if not several:
                    other = int(pids[pids != self.pid][0])
                    raise NotStreamable(
                        f"{label}: references of several processes (pids {self.pid} and {other}); "
                        f"only a one-process trace streams"
                    )
                self.procs = _Processes(reader.req.collapse, shift, label)
                if not first:  # the references so far are the first pid's
                    self.procs.first(self.pid, self.count, self.lo, self.hi, distinct.values(), last)
            lo, hi = self._block(distinct, vals, shift)
            if self.procs is not None:
                self.procs.add(self.count, pids, ops, vals)
            last = (int(vals[-1]) >> shift, int(ops[-1]))
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
    several: bool = False,
) -> RefStream:
    """A one-process trace file as a :class:`~workloads.stream.RefStream` (arguments: ``load_trace``).

    Reads the file once now (see the module docstring) and again at each read of the
    stream, ``block_size`` bytes at a time (4 MiB by default). ``stream.page_set`` holds the
    distinct pages. With ``several``, a trace of several pids comes back as a
    :class:`~workloads.stream.ProcessRefStream` (one process per pid, as ``load_trace``
    makes them; its distinct pages are counted by a further read when asked for). Raises
    :class:`TraceError` for what :func:`~workloads.traces.load_trace` rejects, and its
    subclass :class:`NotStreamable` for a file read whole only or, without ``several``,
    a trace of several processes.
    """
    path = Path(path)
    fmt, req = _request(path, fmt, page_size, collapse, max_refs, dense, obj_id_col, op_col, block_size, name)
    spec = _format(fmt)
    if spec.stream is not None:
        return spec.stream(req, several)
    if spec.parse is None:
        raise NotStreamable(f"{path}: format {fmt} is read whole, not streamed; load it with load_trace")
    page_size = _check_page_size(DEFAULT_PAGE_SIZE if page_size is None else page_size)
    shift = page_size.bit_length() - 1
    reader = _TraceReader(spec, req, shift)
    scan = _Scan(reader, several)
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

    def addresses(vals: np.ndarray) -> np.ndarray:
        """A batch's values as byte addresses (object ids through their page numbers)."""
        if vals.min() < scan.lo or vals.max() > scan.hi:
            raise TraceError(
                f"{req.label}: read again, it holds values outside the range its scan saw "
                f"({int(scan.lo)}..{int(scan.hi)}): did the file change?"
            )
        if spec.addresses:
            return vals.astype(np.int64, copy=False)
        pages = np.searchsorted(table, vals) if table is not None else vals.view(np.int64)
        return pages.astype(np.int64, copy=False) << shift

    if scan.procs is not None:
        return _processes(scan, reader, addresses, name=req.name, page_size=page_size, desc=desc, dense=table)

    def blocks(size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        # one batch at a time in memory: rebatch copies each before the next is read
        return rebatch(((ops, addresses(vals)) for _pids, ops, vals in reader.batches()), size)

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


def _changed_count(label: str, count: int, expected: int) -> TraceError:
    what = count_differs(count, expected)
    return TraceError(f"{label}: read again, it holds {what} references: did the file change?")


def _processes(
    scan: _Scan,
    reader: _TraceReader,
    addresses: Callable[[np.ndarray], np.ndarray],
    *,
    name: str,
    page_size: int,
    desc: str,
    dense: np.ndarray | None,
) -> ProcessRefStream:
    """A trace of several pids as a :class:`ProcessRefStream`: one process per pid, as ``load_trace``."""
    shift = page_size.bit_length() - 1
    procs_ = scan.procs
    k = len(procs_.index)
    collapse = reader.req.collapse

    def pages(values: np.ndarray) -> np.ndarray:
        """Values as page numbers (int64), as ``addresses`` makes them."""
        if reader.spec.addresses:
            return (values >> values.dtype.type(shift)).astype(np.int64)
        if dense is not None:
            return np.searchsorted(dense, values.astype(np.uint64)).astype(np.int64)
        return values.astype(np.int64)

    vmas = []
    for lo, hi in procs_.ranges:
        first, last = pages(np.array([lo, hi], np.uint64))
        vmas.append([Vma(int(first), int(last - first + 1), "rwx")])
    # the scan's pages: pages already (addresses), or the ids
    page_sets = [
        d.values().astype(np.int64) if reader.spec.addresses else pages(d.values()) for d in procs_.pages
    ]

    def proc_blocks(size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        last: list[tuple[int, int] | None] = [None] * k  # each process's last (page, op)
        count = 0
        for pids, ops, vals in reader.batches():
            count += vals.size
            if count > scan.count:
                raise _changed_count(reader.req.label, count, scan.count)
            addrs = addresses(vals)
            procs = procs_.indices(pids)
            if collapse:
                pages = addrs >> shift
                keep = np.empty(procs.size, np.bool_)
                for p, idx in proc_groups(procs):
                    keep[idx] = _collapsed(pages[idx], ops[idx], last[p])
                    last[p] = (int(pages[idx[-1]]), int(ops[idx[-1]]))
                procs, ops, addrs = procs[keep], ops[keep], addrs[keep]
            else:  # the batch's arrays are the reader's, reused for the next batch
                ops, addrs = ops.copy(), addrs.copy()
            for lo in range(0, ops.size, size):
                yield procs[lo : lo + size], ops[lo : lo + size], addrs[lo : lo + size]
            del ops, vals, addrs  # before the next batch is read: one batch at a time in memory
        if count != scan.count:
            raise _changed_count(reader.req.label, count, scan.count)

    return ProcessRefStream(
        name=name,
        vmas=[],
        blocks=no_blocks,
        length=sum(procs_.counts),
        page_size=page_size,
        description=desc,
        proc_names=[f"pid{pid}" for pid in procs_.index],
        proc_vmas=vmas,
        proc_starts=list(procs_.starts),
        proc_blocks=proc_blocks,
        proc_pages=page_sets,
        proc_counts=list(procs_.counts),
    )


def write_stream(stream: RefStream, path: Path, fmt: str, block: int = 1 << 21) -> Path:
    """Write a stream to ``path`` in ``fmt`` block by block, the bytes ``write_trace`` writes.

    A :class:`~workloads.stream.ProcessRefStream` (with its ``proc_counts``) is written
    in tick order (:func:`workloads.tick_order.tick_ordered`), as ``write_trace`` orders
    the processes of a whole workload.
    """
    spec = _format(fmt)
    if spec.write is None:
        raise TraceError(f"format {fmt} is not written block by block; load the trace and use write_trace")
    if isinstance(stream, ProcessStreams):
        raise TraceError(
            f"{stream.name}: processes with forks or events are written whole: "
            "build the workload (stream.workload()) and use write_trace"
        )
    length = stream.length
    if isinstance(stream, ProcessRefStream):
        n_procs = len(stream.proc_names)
        _check_holds(spec, stream.name, n_procs)
        if stream.proc_counts is None:
            raise TraceError(f"{stream.name}: a stream of several processes needs proc_counts to be written")
        merged = tick_ordered(stream, min(block, TICK_WINDOW))
    else:
        n_procs = 1
        pids = np.zeros(block, np.int64)  # one process: pid 0, as write_trace numbers them
        merged = ((pids[: ops.size], ops, addrs) for ops, addrs in stream.references(block))
        if length is None or stream.events is not None:  # (an events stream's length counts its events)
            length = sum(ops.size for ops, _ in stream.references(block))

    def blocks() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for p, ops, addrs in merged:
            yield p, ops, _stored_values(spec.addresses, p, addrs, stream.page_size, n_procs)

    spec.write(path, blocks(), stream.page_size, length)
    return path
