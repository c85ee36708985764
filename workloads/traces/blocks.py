"""Shared reading machinery: blocks of a stream, the collector of references, text kernels.

Large files are read in blocks (``block_size``) into one reused buffer; each block is
parsed by the format's compiled kernel, :data:`~.textscan._CHUNK` references at a time,
and each such chunk is collapsed straight into the output arrays of a :class:`_Collector`
(which also counts references and stops at ``max_refs``). So memory is the collapsed
arrays plus one block and one chunk buffer, whatever the file size.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from numba import njit

from workloads.traces.errors import LineSyntax, TraceError, _text_error
from workloads.traces.registry import ReadRequest, _format
from workloads.traces.streams import _open_out
from workloads.traces.textscan import _CHUNK, _E_SPAN, _OUT_CAP, _kbuf


@njit(cache=True)
def _k_collect(
    ops, vals, pids, has_pids, shift, collapse, state, last_page, out_ops, out_vals, out_pids, j, limit
):
    """Append ops/vals(/pids) to ``out_*[j:]``, dropping consecutive duplicates when ``collapse``.

    ``state`` is ``[have_last, last_pid, last_op]`` and ``last_page[0]`` the page (``val >>
    shift``, ``shift`` of the dtype of ``vals``) of the previous reference; both are updated
    in place. Stops once the output reaches ``limit``. Returns the new end of the output and
    the number of inputs read.
    """
    have = state[0] != 0
    lpid = state[1]
    lop = state[2]
    lpage = last_page[0]
    i = 0
    n = ops.shape[0]
    while i < n and j < limit:
        op = ops[i]
        v = vals[i]
        page = v >> shift
        pid = pids[i] if has_pids else 0
        if not (collapse and have and page == lpage and op == lop and pid == lpid):
            out_ops[j] = op
            out_vals[j] = v
            if has_pids:
                out_pids[j] = pid
            j += 1
        have = True
        lpid = pid
        lpage = page
        lop = op
        i += 1
    state[0] = 1 if have else 0
    state[1] = lpid
    state[2] = lop
    last_page[0] = lpage
    return j, i


@njit(cache=True, nogil=True, _nrt=False)
def _k_scan(vals, shift, seen):
    """Smallest and largest of ``vals``; marks ``seen[val >> shift]`` for each page below ``seen``'s size.

    ``shift`` has the dtype of ``vals`` (as in :func:`_k_collect`). One pass for what a
    trace's scan learns of a batch (:mod:`.streaming`): its range and its distinct pages.
    """
    lo = vals[0]
    hi = vals[0]
    size = seen.shape[0]
    for k in range(vals.shape[0]):
        v = vals[k]
        if v < lo:
            lo = v
        if v > hi:
            hi = v
        page = v >> shift
        if page >= 0 and page < size:
            seen[page] = True
    return lo, hi


class _Collector:
    """Accumulates parsed chunks: collapses consecutive duplicates, enforces max_refs.

    Each chunk is collapsed straight into preallocated output arrays (int8 ops, int64
    addresses or uint64 ids, int64 pids) that grow by a quarter when full (``resize``,
    i.e. ``realloc``, which moves large blocks without copying), so parsing holds the
    collapsed references plus at most a quarter of slack, never a list of chunks to join.
    """

    def __init__(self, shift: int, collapse: bool, max_refs: int | None, is_address: bool, skip: int = 0):
        self.skip = skip  # references (after collapsing) to drop first
        self.shift = shift
        self.collapse = collapse
        self.max_refs = max_refs
        self.is_address = is_address
        self._vtype = np.dtype(np.int64 if is_address else np.uint64)
        self._shift = self._vtype.type(shift if is_address else 0)
        self._ops = np.zeros(0, np.int8)
        self._vals = np.zeros(0, self._vtype)
        self._pids: np.ndarray | None = None
        self._state = np.zeros(3, np.int64)  # have_last, pid, op of the last reference
        self._last_page = np.zeros(1, self._vtype)
        self.count = 0
        self.seen = 0  # references before collapsing
        self._taken = 0  # references handed out by ``take`` (no longer in the buffers)

    @property
    def full(self) -> bool:
        return self.max_refs is not None and self.count >= self.max_refs

    def _reserve(self, need: int, with_pids: bool) -> None:
        cap = self._ops.size
        if with_pids and self._pids is None:  # (earlier references without pids: pid 0)
            self._pids = np.zeros(cap, np.int64)
        if need <= cap:
            return
        new = max(need, cap + cap // 4)
        for arr in (self._ops, self._vals, self._pids):
            if arr is not None:
                arr.resize(new, refcheck=False)  # realloc; the new tail is zero-filled

    def add(self, pids: np.ndarray | None, ops: np.ndarray, vals: np.ndarray) -> None:
        if ops.size == 0 or self.full:
            return
        n = ops.size
        has_pids = pids is not None
        start = self.count - self._taken  # where this batch goes in the buffers
        room = n if self.max_refs is None else min(n, self.max_refs - self.count + self.skip)
        self._reserve(start + room, has_pids)
        dummy = self._state  # stands in for the pid arrays of a stream without pids
        end, used = _k_collect(
            ops.astype(np.int8, copy=False),
            vals.astype(self._vtype, copy=False),
            pids.astype(np.int64, copy=False) if has_pids else dummy,
            has_pids,
            self._shift,
            self.collapse,
            self._state,
            self._last_page,
            self._ops,
            self._vals,
            self._pids if has_pids else dummy,
            start,
            start + room,
        )
        self.seen += used  # (exact: the kernel stops at max_refs)
        if self.skip:
            k = min(self.skip, end - start)
            if k:
                for arr in (self._ops, self._vals, self._pids):
                    if arr is not None:
                        arr[start : end - k] = arr[start + k : end].copy()
                end -= k
                self.skip -= k
        self.count = self._taken + end

    def take(self) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """The references added since the last ``take`` (views, valid until the next ``add``).

        For streamed reading (:mod:`workloads.traces.streaming`): the buffers are then reused,
        so the collector holds one batch, not the trace; ``count`` still counts every reference.
        """
        m = self.count - self._taken
        self._taken = self.count
        pids = None if self._pids is None else self._pids[:m]
        return pids, self._ops[:m], self._vals[:m]

    def arrays(self) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """The collected references, trimmed in place to their count (the collector lets go of them)."""
        out = []
        for arr in (self._pids, self._ops, self._vals):
            if arr is not None:
                arr.resize(self.count, refcheck=False)
            out.append(arr)
        self._pids, self._ops, self._vals = None, np.zeros(0, np.int8), np.zeros(0, self._vtype)
        pids, ops, vals = out
        return pids, ops, vals


_FIRST_BLOCK = 24 << 12  # first read of a stream (a multiple of the 24-byte oracleGeneral record)


class _Blocks:
    """Whole-line blocks of a stream, read into one reused buffer (no per-block allocation).

    Iterating yields uint8 views that stay valid until the next step; a partial last
    line is carried to the front of the buffer, which doubles when one line does not fit.
    """

    def __init__(self, stream: IO[bytes], block_size: int, label: str, lines: bool = True):
        self.stream = stream
        self.label = label
        self.lines = lines
        self.target = max(block_size, 1)
        # start small and double up to block_size while the stream lasts: a small file never
        # costs a whole block (a 32 MiB zero-filled buffer per read grew the RSS of many reads)
        self.buf = bytearray(min(self.target, _FIRST_BLOCK))
        self.offset = 0  # stream offset of the start of the next block
        self.eof = False
        self._gen: Iterator[np.ndarray] | None = None

    def _fill(self, fill: int) -> int:
        view = memoryview(self.buf)
        while fill < len(self.buf) and not self.eof:
            try:
                k = self.stream.readinto(view[fill:])
            except Exception as e:  # zstd / gzip corruption
                raise TraceError(f"{self.label}: cannot decompress: {e}") from None
            if not k:
                self.eof = True
            else:
                fill += k
        return fill

    def __iter__(self) -> Iterator[np.ndarray]:
        """One pass over the stream: iterating again continues where the last loop stopped."""
        if self._gen is None:
            self._gen = self._blocks()
        return self._gen

    def _blocks(self) -> Iterator[np.ndarray]:
        fill = 0
        while True:
            fill = self._fill(fill)
            if fill == 0:
                return
            cut = fill
            if not self.eof:
                if self.lines:
                    cut = self.buf.rfind(b"\n", 0, fill) + 1
                if cut == 0:  # one line longer than the buffer
                    bigger = bytearray(2 * len(self.buf))
                    bigger[:fill] = self.buf[:fill]
                    self.buf = bigger
                    continue
            yield np.frombuffer(self.buf, dtype=np.uint8, count=cut)
            self.offset += cut
            rest = fill - cut
            if rest:
                self.buf[:rest] = self.buf[cut:fill]
            fill = rest
            if not self.eof and len(self.buf) < self.target:  # more to come: a bigger block
                bigger = bytearray(min(2 * len(self.buf), self.target))
                bigger[:fill] = self.buf[:fill]
                self.buf = bigger
            if self.eof and fill == 0:
                return


class _OutBuffers:
    """The reused output buffers of one kernel call (only those the kernel writes have a size)."""

    def __init__(self, size: int, names: tuple[str, ...]):
        self.ops = np.zeros(size, np.int8)  # lcs-txt: every reference a read (its kernel leaves 0)
        self.pids = np.zeros(size if "pids" in names else 0, np.int64)
        self.vals = np.zeros(size if "vals" in names else 0, np.int64)
        self.ids = np.zeros(size if "ids" in names else 0, np.uint64)
        self.args = tuple(getattr(self, name) for name in names)  # what the kernel is passed


@dataclass(frozen=True)
class TextKernel:
    """A line-oriented text format's compiled parser, as :func:`_parse_text_with` drives it.

    ``kernel(buf, pos, shift, *outputs)`` parses the block ``buf`` from ``pos`` (contract:
    :mod:`.textscan`) into the output buffers named by ``outputs``, in that order, from
    ``pids`` (int64, one pid per reference), ``ops`` (int8), and ``vals`` (int64 byte
    addresses) or ``ids`` (uint64 object ids).
    """

    kernel: Callable[..., tuple[int, int, int, int, int]]
    syntax: LineSyntax
    outputs: tuple[str, ...] = ("ops", "vals")

    def buffers(self, size: int) -> _OutBuffers:
        """Fresh output buffers for ``size`` references."""
        return _OutBuffers(size, self.outputs)

    def chunk(self, out: _OutBuffers, n: int) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """The first ``n`` parsed references in ``out``: (pids or None, ops, values)."""
        vals = out.ids if "ids" in self.outputs else out.vals
        return (out.pids[:n] if "pids" in self.outputs else None, out.ops[:n], vals[:n])

    def parse(self, stream: IO[bytes], req: ReadRequest, coll: _Collector) -> Generator[None, None, int]:
        """Parse the whole stream into ``coll`` (a :data:`~.registry.Parse`); return bytes read."""
        return _parse_text_with(self, stream, req.label, coll.shift, coll, req.block_size)


def parse_all(steps: Generator[None, None, int]) -> int:
    """Run a :data:`~.registry.Parse` generator to its end; return the bytes it read."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def _parse_text_with(
    kernel: TextKernel, stream: IO[bytes], label: str, shift: int, coll: _Collector, block_size: int
) -> Generator[None, None, int]:
    """Run ``kernel`` over the stream into ``coll``, yielding after each batch; return bytes read."""
    out = kernel.buffers(_CHUNK)
    lines = 0
    blocks = _Blocks(stream, block_size, label)
    for buf in blocks:
        kb = _kbuf(buf)
        pos = 0
        while pos < buf.shape[0]:
            pos, n, err, epos, nl = kernel.kernel(kb, pos, shift, *out.args)
            lines += nl
            if err == _E_SPAN and out.ops.size < _OUT_CAP:  # one access covers many pages: retry it
                out = kernel.buffers(_OUT_CAP)
                continue
            if err:
                raise _text_error(label, kernel.syntax, buf, epos, lines, err)
            coll.add(*kernel.chunk(out, n))
            yield
            if coll.full:
                return blocks.offset + pos
    return blocks.offset


def _parse_text(
    stream: IO[bytes], fmt: str, label: str, shift: int, coll: _Collector, block_size: int
) -> int:
    """Read the stream as format ``fmt`` into ``coll``; return bytes read.

    (The signature of the single-module reader; ``shift`` is the collector's page shift.)
    """
    return parse_all(_format(fmt).parse(stream, ReadRequest(label, block_size=block_size), coll))


Batch = tuple[np.ndarray, np.ndarray, np.ndarray]  # pids, ops, values of a block of references
_WRITE_CHUNK = 1 << 18
_LINE_MAX = 72  # bytes of the longest line a text writer kernel writes


def _write_text(fh: IO[bytes], kernel: Callable, pids, ops, vals, obj_size: int, first: int = 0) -> None:
    """Write the references with ``kernel(pids, ops, vals, first_index, obj_size, out) -> bytes``.

    ``first`` is the index of the first reference in the whole trace (for a time column).
    """
    buf = np.empty(_WRITE_CHUNK * _LINE_MAX, dtype=np.uint8)
    for lo in range(0, ops.size, _WRITE_CHUNK):
        hi = min(lo + _WRITE_CHUNK, ops.size)
        n = kernel(pids[lo:hi], ops[lo:hi], vals[lo:hi], first + lo, obj_size, buf)
        fh.write(buf[:n].tobytes())


def text_writer(kernel: Callable, header: Callable[[int], bytes] | None = None) -> Callable:
    """A :data:`~.registry.Write` for a text format: an optional header line, then one line per reference.

    ``kernel`` formats references into a byte buffer (see :func:`_write_text`); ``header``
    maps the page size to the first line(s) of the file. ``.zst``/``.gz`` names compress.
    """

    def write(path: Path, blocks: Iterable[Batch], page_size: int, length: int) -> None:
        with _open_out(path) as fh:
            if header is not None:
                fh.write(header(page_size))
            first = 0
            for pids, ops, vals in blocks:
                _write_text(fh, kernel, pids, ops, vals, page_size, first)
                first += ops.size

    return write
