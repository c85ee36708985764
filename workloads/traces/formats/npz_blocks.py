"""vmgym's npz traces as streams: each member decompressed block by block as it is read.

An npz is a zip of ``.npy`` members (the layout: :mod:`workloads.traces`). Its small
members (``offsets``, ``names``, ``starts``, ``page_size``, ``meta``) are read whole; the
per-reference ones (``ops`` or ``writes``, and ``pages_delta``, ``pages`` or ``addrs``) are
read in lockstep, ``block_size`` bytes of values at a time (the request's), through
``zipfile`` (which inflates as it reads), with the checks and the arithmetic of the whole reader
(:func:`~workloads.traces.formats.numpy_files._from_npz`): the running sum of
``pages_delta`` carried from block to block, each process's consecutive repeats
collapsed with the previous block's last reference, ``max_refs`` counted over the
processes in order. A first read (the scan) counts each process's references and
distinct pages and its address range (its ``rwx`` VMA); each read of the stream then
decompresses the file again. The stream's references equal ``load_trace``'s bit for bit
(``tests/workloads/test_trace_stream.py``); memory is a block and the distinct pages.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from workloads.model import Vma
from workloads.stream import Distinct, ProcessRefStream, RefStream, no_blocks, rebatch
from workloads.traces.errors import TraceError
from workloads.traces.formats.numpy_files import (
    _NPZ_VALUES,
    _fill,
    _npy_header,
    _npz_description,
    _npz_granularity,
    _npz_layout,
    _npz_op_codes,
    _npz_page_size,
    _npz_pages,
    _npz_scaled,
    _one_line,
)
from workloads.traces.mapping import _collapsed
from workloads.traces.registry import ReadRequest
from workloads.traces.streaming import NotStreamable, _changed_count

_SMALL = ("offsets", "names", "starts", "page_size", "meta")  # members read whole


class _Npz:
    """One npz file: its small members, and its per-reference members opened in blocks."""

    def __init__(self, path: Path, label: str, block_size: int):
        self.path, self.label, self.block_size = path, label, block_size
        try:
            with zipfile.ZipFile(path) as zf:
                self.members = {n[: -len(".npy")]: n for n in zf.namelist() if n.endswith(".npy")}
                self.small = {k: self._whole(zf, k) for k in _SMALL if k in self.members}
                self.values_key = next((k for k in _NPZ_VALUES if k in self.members), None)
                self.ops_key = next((k for k in ("ops", "writes") if k in self.members), None)
                if self.values_key is None:
                    raise TraceError(
                        f"{label}: no 'pages', 'pages_delta' or 'addrs' array; found {sorted(self.members)}"
                    )
                self.n, self.dtype = self._shape(zf, self.values_key, "iu")
                if self.ops_key is not None:
                    n_ops, self.ops_dtype = self._shape(
                        zf, self.ops_key, "iu" if self.ops_key == "ops" else "iub"
                    )
                    if n_ops != self.n:
                        raise TraceError(
                            f"{label}: 'ops' has {n_ops} entries but there are {self.n} references"
                        )
        except TraceError:
            raise
        except Exception as e:  # zipfile and zlib raise many types on corrupt input
            raise TraceError(f"{label}: not a readable npz file: {_one_line(e)}") from None

    def _whole(self, zf: zipfile.ZipFile, key: str) -> np.ndarray:
        try:
            with zf.open(self.members[key]) as fh:
                return np.lib.format.read_array(fh, allow_pickle=False)
        except Exception as e:  # (a pickled member, say): the whole reader gives its own error
            raise NotStreamable(f"{self.label}: member {key!r}: {_one_line(e)}") from None

    def _shape(self, zf: zipfile.ZipFile, key: str, kinds: str) -> tuple[int, np.dtype]:
        """A per-reference member's length and dtype (1-D, of the dtype ``kinds``)."""
        with zf.open(self.members[key]) as fh:
            shape, fortran, dtype = _npy_header(fh, self.label)
        if len(shape) != 1 or dtype.kind not in kinds or dtype.hasobject:
            what = "integer" if kinds == "iu" else "integer or boolean"
            raise TraceError(
                f"{self.label}: member {key!r} must be a 1-D {what} array; got dtype {dtype}, shape {shape}"
            )
        return shape[0], dtype

    def blocks(self, key: str, dtype: np.dtype) -> Iterator[np.ndarray]:
        """Member ``key``'s values, in blocks of ``block_size`` bytes of the values member (new arrays)."""
        try:
            zf = zipfile.ZipFile(self.path)
            fh = zf.open(self.members[key])
        except Exception as e:  # the file changed since the scan, say
            raise TraceError(f"{self.label}: not a readable npz file: {_one_line(e)}") from None
        with zf, fh:
            _npy_header(fh, self.label)
            done = 0
            step = max(1, self.block_size // self.dtype.itemsize)  # the same count for ops and values
            while done < self.n:
                want = min(step, self.n - done)
                buf = np.empty(want, dtype)
                got = _fill(fh, memoryview(buf).cast("B"), self.label)
                if got != want * dtype.itemsize:
                    end = done + got // dtype.itemsize
                    raise TraceError(f"{self.label}: member {key!r} ends at value {end:,} of {self.n:,}")
                yield buf
                done += want


class _Reader:
    """The references of an npz, process by process, as ``load_trace`` makes them (module docstring)."""

    def __init__(self, req: ReadRequest):
        self.req, self.label = req, req.label
        self.npz = npz = _Npz(req.path, req.label, req.block_size)
        small = npz.small
        self.page_size, stored = _npz_page_size(small, req.label, req.page_size)
        self.gran = (
            self.page_size
            if npz.values_key == "addrs"
            else _npz_granularity(req.label, self.page_size, stored)
        )
        self.shift = self.page_size.bit_length() - 1
        if npz.n == 0:
            raise TraceError(f"{req.label}: no references; expected non-empty 'pages' or 'addrs'")
        self.offsets, self.names, self.starts = _npz_layout(small, req.label, npz.n)

    def _addresses(self, vals: np.ndarray, at: int, carry: int) -> tuple[np.ndarray, int]:
        """A block of the values member as byte addresses; the running sum after it."""
        values, carry = _npz_pages(self.npz.values_key, vals, self.label, at, carry)
        if self.npz.values_key == "addrs":
            return values, carry
        return _npz_scaled(values, self.gran, self.label, at), carry

    def read(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(process, ops, addrs)`` pieces in file order: collapsed, cut at ``max_refs``."""
        npz = self.npz
        ops_blocks = npz.blocks(npz.ops_key, npz.ops_dtype) if npz.ops_key else None
        budget = self.req.max_refs
        carry, at, p = 0, 0, 0
        last: tuple[int, int] | None = None
        offsets = self.offsets
        for vals in npz.blocks(npz.values_key, npz.dtype):
            m = vals.size
            addrs, carry = self._addresses(vals, at, carry)
            raw = None if ops_blocks is None else next(ops_blocks)
            ops = _npz_op_codes(npz.ops_key, raw, m, self.label, at)
            lo = 0
            while lo < m:
                while offsets[p + 1] <= at + lo:  # (empty processes too)
                    p, last = p + 1, None
                hi = min(m, int(offsets[p + 1]) - at)
                o, a = ops[lo:hi], addrs[lo:hi]
                if self.req.collapse:
                    pages = a >> self.shift
                    keep = _collapsed(pages, o, last)
                    last = (int(pages[-1]), int(o[-1]))
                    o, a = o[keep], a[keep]
                if budget is not None:
                    o, a = o[:budget], a[:budget]
                    budget -= o.size
                if o.size:
                    yield p, o, a
                if budget == 0:
                    return
                lo = hi
            at += m


def stream_npz(req: ReadRequest, several: bool) -> RefStream:
    """An npz trace as a stream (a :class:`ProcessRefStream` for several processes; module docstring)."""
    reader = _Reader(req)
    k = len(reader.names)
    counts = [0] * k
    ranges: list[list[int] | None] = [None] * k
    pages = [Distinct(below=1 << 20) for _ in range(k)]
    for p, _ops, addrs in reader.read():
        counts[p] += addrs.size
        lo, hi = int(addrs.min()), int(addrs.max())
        r = ranges[p]
        ranges[p] = [lo, hi] if r is None else [min(r[0], lo), max(r[1], hi)]
        pages[p].add(addrs >> reader.shift)
    kept = [p for p in range(k) if counts[p]]  # (load_trace keeps the processes with references)
    total = sum(counts)
    if len(kept) > 1 and not several:
        raise NotStreamable(f"{req.label}: references of several processes; only a one-process trace streams")
    shift = reader.shift
    vmas = [
        [Vma(ranges[p][0] >> shift, (ranges[p][1] >> shift) - (ranges[p][0] >> shift) + 1, "rwx")]
        for p in kept
    ]
    index = np.full(k, -1, np.int32)
    index[kept] = np.arange(len(kept), dtype=np.int32)

    def pieces() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        seen = 0
        for p, ops, addrs in reader.read():
            seen += ops.size
            if seen > total:
                raise _changed_count(req.label, seen, total)
            yield int(index[p]), ops, addrs
        if seen != total:
            raise _changed_count(req.label, seen, total)

    desc = _npz_description(reader.npz.small, req.label, total)
    common = {"name": req.name, "page_size": reader.page_size, "description": desc}
    if len(kept) == 1:
        p = kept[0]
        return RefStream(
            vmas=vmas[0],
            blocks=lambda size: rebatch(((o, a) for _p, o, a in pieces()), size),
            length=total,
            process_name=reader.names[p],
            page_set=pages[p].values().astype(np.int64),
            **common,
        )

    def proc_blocks(size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for q, ops, addrs in pieces():
            procs = np.full(ops.size, q, np.int32)
            for lo in range(0, ops.size, size):
                yield procs[lo : lo + size], ops[lo : lo + size], addrs[lo : lo + size]

    return ProcessRefStream(
        vmas=[],
        blocks=no_blocks,
        length=total,
        **common,
        proc_names=[reader.names[p] for p in kept],
        proc_vmas=vmas,
        proc_starts=[int(reader.starts[p]) for p in kept],
        proc_blocks=proc_blocks,
        proc_pages=[pages[p].values().astype(np.int64) for p in kept],
        proc_counts=[counts[p] for p in kept],
    )
