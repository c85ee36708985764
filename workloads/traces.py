"""Read and write memory-reference traces; summarise them; the bundled real traces.

:func:`load_trace` turns a trace file into a :class:`~workloads.model.Workload`,
:func:`write_trace` writes one back out, :func:`convert` does both, and
:func:`info` summarises a trace (footprint, read/write mix, LRU stack distances).

Formats (``fmt`` names; detected from the file name, else from the first bytes)
-------------------------------------------------------------------------------

=================  ===============================  ============================================
fmt                file names                       content
=================  ===============================  ============================================
``lackey``         ``*.lackey``, ``*.lk``           valgrind ``--tool=lackey --trace-mem=yes``
                                                    log: ``I  0400d7d4,3`` exec, `` L 1fff0007
                                                    78,8`` read, `` S …`` write, `` M …`` modify
                                                    (read then write); ``==pid==`` lines skipped
``din``            ``*.din``                        Dinero: ``label hexaddr [ignored…]``, label 0
                                                    read, 1 write, 2 exec, 3/4 escape (skipped)
``plain``          ``*.txt``, ``*.trace``,          ``pid op address``: decimal pid, op ``R``,
                   ``*.plain``                      ``W`` or ``X``, hex address (``0x``
                                                    optional); ``#`` comment lines
``csv``            ``*.csv``                        libCacheSim-style csv (see below)
``lcs-txt``        ``*.txt`` (by content)           libCacheSim txt: one decimal object id per
                                                    line
``oracleGeneral``  ``*.oracleGeneral*``             libCacheSim binary: 24-byte little-endian
                                                    records ``<IQIq`` (uint32 time, uint64
                                                    obj_id, uint32 obj_size, int64
                                                    next_access_vtime); records of obj_size 0
                                                    are skipped, as libCacheSim does
``npz``            ``*.npz``                        vmgym's own (below): exact per-process
                                                    streams
``npy``            ``*.npy``                        1-D page numbers (reads), or (n, 2) rows of
                                                    (page, op)
=================  ===============================  ============================================

Any of them may be compressed: a ``.zst``/``.zstd`` or ``.gz`` suffix (or the zstd/gzip
magic bytes) means the stream is decompressed on the fly. A ``.txt`` file is ``plain``
when its first record has three fields and ``lcs-txt`` when it has one; a file with an
unknown suffix is recognised by its first bytes (npz/npy magic, else its first lines).

Mapping to a workload
---------------------
* Address formats (``lackey``, ``din``, ``plain``) keep byte addresses; a reference's page
  is ``address // page_size``. A lackey access that straddles a page boundary touches
  every page it covers (one reference each).
* Object-id formats (``csv``, ``lcs-txt``, ``oracleGeneral``, ``npy``) hold object ids,
  which become page numbers (address ``id * page_size``). When every id is below
  ``2**36`` the ids are used as page numbers directly (so a trace written by vmgym
  reads back with the same pages); otherwise, e.g. hashed 64-bit ids, they are renumbered
  densely ``0..k-1`` in sorted id order (``np.unique`` inverse). ``dense=True``/``False``
  forces either. Non-numeric csv ids are numbered in order of first appearance.
* ``plain`` and ``npz`` traces may hold several processes: one :class:`Process` per pid,
  ordered by first appearance, named ``pid<N>`` (``npz`` keeps its own names). A process
  starts at the global position of its first reference in the file (``Process.start``);
  after that the simulator's round-robin scheduler interleaves the processes. All other
  formats give one process ``"main"``.
* Each process gets one private anonymous ``rwx`` VMA covering ``[min_vpn, max_vpn]`` of
  its references, so no reference faults on permissions or segfaults; the simulator
  only allocates page-table entries for the pages actually referenced.
* ``collapse=True`` (the default) drops a reference when the previous reference *of the
  same process* was to the same page with the same op: a run of reads to one page becomes
  one read, but a write after a read of the same page is kept (it dirties the page).
* ``max_refs`` stops reading after that many references (counted after collapsing).

Large files are read in blocks (``block_size``, 32 MiB by default) into one reused
buffer (compressed files are decompressed on the fly, 64 KiB of input at a time), and
each block is parsed by a compiled (numba) kernel, 256Ki references at a time; each such
chunk is collapsed straight into the output arrays, which grow by a quarter when full. So
memory is the parsed (collapsed) arrays (9 bytes per reference, at most a quarter more
while growing) plus one block and one chunk buffer, whatever the file size: a 67 MB lackey
log (``ls /usr/bin``, 2.97M references after collapsing, 27 MB of arrays) peaks at about
33 MB above the interpreter's own (RSS; 62 MB allocated per ``tracemalloc``, 32 of them the
block). A lackey log reads at about 18 M lines/s, 20 M
references/s, on a 2-core machine (``benchmarks/bench_traces.py``). With
``NUMBA_DISABLE_JIT=1`` the kernels run as plain Python (same results, far slower).
Malformed input raises :class:`TraceError`
naming the file, the line (text) or byte offset (binary; of the decompressed stream for
a compressed file), and what was expected.

csv
---
A header row is recognised when its first field is not a number. The object id column
is the one named ``obj_id``/``obj-id``/``id``/``key``/``lbn``/``lba``/``block``/``addr``/
``page`` (or ``obj_id_col=``, 1-based as libCacheSim's ``obj-id-col``); without a header
it is column 2 (libCacheSim's ``time,obj_id,…`` convention), or 1 for one-column files.
An ``op`` column (header ``op``/``op_type``/``operation``/``rw``/``type``, or ``op_col=``)
is optional: ``read``/``r``/``get``/``gets`` read, ``write``/``w``/``set``/``add``/
``replace``/``cas``/``append``/``prepend``/``update`` write, ``exec``/``x`` exec (SCSI
opcodes ``28``/``88``/``a8`` read, ``2a``/``8a``/``aa`` write, as in libCacheSim's sample
trace); anything else is an error. The delimiter is ``,``, else tab, else whitespace.
Numeric ids are parsed by a compiled kernel; non-numeric ids take a slower Python path.
vmgym writes ``time,obj_id,obj_size,op`` with a header (``time`` is the reference index,
``obj_size`` the page size, ``op`` one of ``read``/``write``/``exec``), i.e. libCacheSim's
``time-col=1, obj-id-col=2, obj-size-col=3`` with a header line.

npz (vmgym)
-----------
``np.savez_compressed`` with ``ops`` (int8, per reference), ``pages_delta`` (page numbers
as successive differences, in the narrowest integer type that holds them; they deflate
far better than raw numbers) or ``addrs`` (int64 byte addresses, when some address is not
page aligned), ``offsets`` (int64, process ``p`` owns ``[offsets[p], offsets[p+1])``),
``names``, ``starts`` (int64), ``page_size`` and ``meta`` (a JSON string: how the trace was
made). A foreign npz with just ``pages`` or ``addrs`` (and optionally ``ops`` or a boolean
``writes``) is read as one process. A trace stored at page granularity cannot be read
with a smaller page size (a larger one is fine).

Writers
-------
:func:`write_trace` writes every format. Traces hold references only: process events
(mmap, fork, …) and memory objects are dropped. ``lackey``, ``din`` and ``npy`` hold one
address space and refuse a multi-process workload; the object-id formats encode a
process into the id (``pid << 40 | vpn``) so that processes never share a page. Several
processes written to one stream (``plain``, id formats) are merged in the order of
``start + index within the process`` (ties: lower index first, then lower pid).
``oracleGeneral`` has no op field (every reference reads back as a read); its ``time``
is the reference index (mod ``2**32``), ``next_access_vtime`` the 1-based index of the
next request to the same object (``-1`` if none), as libCacheSim's ``traceConv``
writes it. Lackey lines are written with access size 1.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
from numba import config as _numba_config
from numba import njit

from workloads.model import (
    DEFAULT_PAGE_SIZE,
    EV_MMAP,
    OP_EXEC,
    OP_NAMES,
    OP_READ,
    OP_WRITE,
    Process,
    Vma,
    Workload,
    WorkloadError,
)

__all__ = [
    "FORMATS",
    "TraceError",
    "bundled",
    "convert",
    "detect_format",
    "info",
    "load_bundled",
    "load_trace",
    "write_trace",
]

FORMATS = ("lackey", "din", "plain", "csv", "lcs-txt", "oracleGeneral", "npz", "npy")
BLOCK_SIZE = 32 << 20
DATA_DIR = Path(__file__).resolve().parent / "data"

_EXT = {
    ".lackey": "lackey",
    ".lk": "lackey",
    ".din": "din",
    ".csv": "csv",
    ".npz": "npz",
    ".npy": "npy",
    ".trace": "plain",
    ".plain": "plain",
}
_COMPRESSED = (".zst", ".zstd", ".gz")
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_LEVEL = 6
_ZSTD_READ = 1 << 16  # compressed bytes per decompression step
_DENSE_BELOW = 1 << 36  # ids below this are used as page numbers (simulator vpns are 40-bit)
_PID_SHIFT = 40  # object id = pid << 40 | vpn when several processes share an id stream
_OG_DTYPE = np.dtype(
    {
        "names": ["time", "obj_id", "obj_size", "next"],
        "formats": ["<u4", "<u8", "<u4", "<i8"],
        "offsets": [0, 4, 12, 16],
        "itemsize": 24,
    }
)
_EXAMPLES = {
    "lackey": "' L 0400d7d4,8'",
    "din": "'0 400d7d4'",
    "plain": "'0 R 400d7d4'",
    "lcs-txt": "'42932745'",
    "csv": "'1,42932745,4096,read'",
}


class TraceError(WorkloadError):
    """A trace that cannot be read; the message names the file, line or offset and what was expected."""


# == compiled text parsers ==================================================================
#
# Each kernel parses buf[pos:] line by line until the buffer ends or the output arrays
# are (nearly) full, and returns (next_pos, n_out, err, err_pos, lines): err is 0 or one
# of the codes below, err_pos the start of the offending line (or of the next line to
# parse), lines the number of whole lines consumed before it. The Python side turns a
# failing line into a message. The kernels do not collapse: _Collector does (_k_collect).


def _kbuf(buf: np.ndarray) -> Any:
    """The buffer the parsing kernels index: the uint8 array itself when compiled.

    With ``NUMBA_DISABLE_JIT=1`` the kernels run as plain Python, where indexing a uint8
    array gives NumPy uint8 scalars whose arithmetic wraps around (``v * 16 + d``); a
    memoryview gives Python ints instead, so the kernels compute the same in both modes.
    """
    return memoryview(buf) if _numba_config.DISABLE_JIT else buf


_E_UNRECOGNISED = 1
_E_BAD_HEX = 2
_E_TRUNCATED = 3
_E_BAD_SIZE = 4
_E_RANGE = 5
_E_UNKNOWN_OP = 6
_E_BAD_PID = 7
_E_BAD_ID = 8
_E_SPAN = 9


@njit(cache=True, inline="always")
def _hexval(c):
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


@njit(cache=True, inline="always")
def _is_space(c):
    return c == 32 or c == 9 or c == 13


@njit(cache=True)
def _parse_hex(buf, p, t):
    """Hex number at buf[p:t] up to ',', blank or t; optional 0x. Returns (value, end, err)."""
    if p + 1 < t and buf[p] == 48 and (buf[p + 1] == 120 or buf[p + 1] == 88):
        p += 2
    v = 0
    nd = 0
    first = 0
    while p < t:
        c = buf[p]
        if c == 44 or c == 32 or c == 9:
            break
        d = _hexval(c)
        if d < 0:
            return 0, p, _E_BAD_HEX
        if nd == 0:
            first = d
        nd += 1
        if nd > 16:
            return 0, p, _E_RANGE
        v = v * 16 + d
        p += 1
    if nd == 0:
        return 0, p, _E_TRUNCATED if p >= t else _E_BAD_HEX
    if nd == 16 and first >= 8:
        return 0, p, _E_RANGE
    return v, p, 0


@njit(cache=True)
def _line_bounds(buf, pos):
    """(start, trimmed end, next line start) of the line at pos, leading blanks kept."""
    n = buf.shape[0]
    e = pos
    while e < n and buf[e] != 10:
        e += 1
    t = e
    while t > pos and _is_space(buf[t - 1]):
        t -= 1
    return pos, t, e + 1


@njit(cache=True, inline="always")
def _emit(ops, vals, n, kind, v, size, shift):
    """Append the references of one access (every page it covers); return the new count."""
    first = v >> shift
    last = (v + size - 1) >> shift if size > 0 else first
    pg = first
    while pg <= last:
        a = v if pg == first else pg << shift
        if kind == 3:
            ops[n] = 0
            vals[n] = a
            ops[n + 1] = 1
            vals[n + 1] = a
            n += 2
        else:
            ops[n] = kind
            vals[n] = a
            n += 1
        pg += 1
    return n


@njit(cache=True, inline="always")
def _need(kind, v, size, shift):
    first = v >> shift
    last = (v + size - 1) >> shift if size > 0 else first
    return (last - first + 1) * (2 if kind == 3 else 1)


@njit(cache=True, inline="always")
def _lackey_kind(buf, s, t):
    """0 read, 1 write, 2 exec, 3 modify, -1 unrecognised, -2 truncated prefix."""
    c0 = buf[s]
    if c0 == 73:  # 'I'
        if t - s < 3:
            return -2
        if buf[s + 1] == 32 and buf[s + 2] == 32:
            return 2
        return -1
    if c0 == 32:
        if t - s < 3:
            return -2
        if buf[s + 2] == 32:
            k = buf[s + 1]
            if k == 76:
                return 0
            if k == 83:
                return 1
            if k == 77:
                return 3
    return -1


@njit(cache=True)
def _lackey_slow(buf, s, t):
    """Parse one non-canonical line buf[s:t]: (kind, address, size, err); kind -1 = skip."""
    if t == s:
        return -1, 0, 0, 0
    c0 = buf[s]
    if t - s >= 2 and c0 == buf[s + 1] and (c0 == 61 or c0 == 45 or c0 == 42):  # == -- **
        return -1, 0, 0, 0
    kind = _lackey_kind(buf, s, t)
    if kind == -2:
        return -1, 0, 0, _E_TRUNCATED
    if kind < 0:
        return -1, 0, 0, _E_UNRECOGNISED
    v, p, err = _parse_hex(buf, s + 3, t)
    if err != 0:
        return -1, 0, 0, err
    if p >= t:
        return -1, 0, 0, _E_TRUNCATED
    if buf[p] != 44:
        return -1, 0, 0, _E_BAD_HEX
    p += 1
    if p >= t:
        return -1, 0, 0, _E_TRUNCATED
    size = 0
    while p < t:
        d = buf[p] - 48
        if d < 0 or d > 9 or size > 1 << 30:
            return -1, 0, 0, _E_BAD_SIZE
        size = size * 10 + d
        p += 1
    return kind, v, size, 0


@njit(cache=True)
def _k_lackey(buf, pos, shift, ops, vals):  # noqa: C901 - fast path for canonical lines, slow path else
    n_buf = buf.shape[0]
    cap = ops.shape[0]
    n = 0
    nl = 0
    while pos < n_buf:
        s = pos
        kind = -1
        v = 0
        size = 0
        nxt = -1
        # fast path: 'I  hex,dec\n' or ' X hex,dec\n' exactly
        if s + 3 < n_buf:
            kind = _lackey_kind(buf, s, s + 3)
        if kind >= 0:
            p = s + 3
            nd = 0
            while p < n_buf and nd < 16:
                d = _hexval(buf[p])
                if d < 0:
                    break
                v = v * 16 + d
                nd += 1
                p += 1
            if 0 < nd < 16 and p < n_buf and buf[p] == 44:
                p += 1
                ns = 0
                while p < n_buf and 48 <= buf[p] <= 57 and ns < 9:
                    size = size * 10 + (buf[p] - 48)
                    ns += 1
                    p += 1
                if ns > 0 and (p == n_buf or buf[p] == 10):
                    nxt = p + 1
        if nxt < 0:  # anything else: find the line, parse it carefully
            s, t, nxt = _line_bounds(buf, pos)
            kind, v, size, err = _lackey_slow(buf, s, t)
            if err != 0:
                return pos, n, err, s, nl
        if kind >= 0:
            need = _need(kind, v, size, shift)
            if n + need > cap:
                return pos, n, _E_SPAN if n == 0 else 0, s, nl
            n = _emit(ops, vals, n, kind, v, size, shift)
        pos = nxt
        nl += 1
    return pos, n, 0, pos, nl


@njit(cache=True)
def _skip_blank(buf, p, t):
    while p < t and (buf[p] == 32 or buf[p] == 9):
        p += 1
    return p


@njit(cache=True)
def _din_line(buf, s, t):
    """(op, address, err) of one din line; op -1 = skip (blank or escape record)."""
    p = _skip_blank(buf, s, t)
    if p == t:
        return -1, 0, 0
    label = 0
    nd = 0
    while p < t and 48 <= buf[p] <= 57 and nd < 3:
        label = label * 10 + (buf[p] - 48)
        nd += 1
        p += 1
    if nd == 0 or (p < t and not (buf[p] == 32 or buf[p] == 9)):
        return -1, 0, _E_UNKNOWN_OP
    p = _skip_blank(buf, p, t)
    if p >= t:
        return -1, 0, _E_TRUNCATED
    v, p, err = _parse_hex(buf, p, t)
    if err != 0:
        return -1, 0, err
    if p < t and not (buf[p] == 32 or buf[p] == 9):
        return -1, 0, _E_BAD_HEX
    if label > 4:
        return -1, 0, _E_UNKNOWN_OP
    return (label if label <= 2 else -1), v, 0


@njit(cache=True)
def _k_din(buf, pos, shift, ops, vals):
    n_buf = buf.shape[0]
    cap = ops.shape[0]
    n = 0
    nl = 0
    while pos < n_buf:
        if n + 1 > cap:
            return pos, n, 0, pos, nl
        s, t, nxt = _line_bounds(buf, pos)
        op, v, err = _din_line(buf, s, t)
        if err != 0:
            return pos, n, err, s, nl
        if op >= 0:
            ops[n] = op
            vals[n] = v
            n += 1
        pos = nxt
        nl += 1
    return pos, n, 0, pos, nl


@njit(cache=True)
def _plain_line(buf, s, t):  # noqa: C901 - one flat state machine
    """(pid, op, address, err) of one plain line; pid -1 = skip (blank or comment)."""
    p = _skip_blank(buf, s, t)
    if p == t or buf[p] == 35:  # blank or '#'
        return -1, 0, 0, 0
    pid = 0
    nd = 0
    while p < t and 48 <= buf[p] <= 57:
        pid = pid * 10 + (buf[p] - 48)
        nd += 1
        p += 1
        if pid > 2147483647:
            return -1, 0, 0, _E_BAD_PID
    if nd == 0 or (p < t and not (buf[p] == 32 or buf[p] == 9)):
        return -1, 0, 0, _E_BAD_PID
    p = _skip_blank(buf, p, t)
    if p >= t:
        return -1, 0, 0, _E_TRUNCATED
    c = buf[p] | 32  # lower case
    op = -1
    if c == 114:
        op = 0
    elif c == 119:
        op = 1
    elif c == 120:
        op = 2
    p += 1
    if op < 0 or (p < t and not (buf[p] == 32 or buf[p] == 9)):
        return -1, 0, 0, _E_UNKNOWN_OP
    p = _skip_blank(buf, p, t)
    if p >= t:
        return -1, 0, 0, _E_TRUNCATED
    v, p, err = _parse_hex(buf, p, t)
    if err != 0:
        return -1, 0, 0, err
    if p < t:
        return -1, 0, 0, _E_BAD_HEX
    return pid, op, v, 0


@njit(cache=True)
def _k_plain(buf, pos, shift, pids, ops, vals):
    n_buf = buf.shape[0]
    cap = ops.shape[0]
    n = 0
    nl = 0
    while pos < n_buf:
        if n + 1 > cap:
            return pos, n, 0, pos, nl
        s, t, nxt = _line_bounds(buf, pos)
        pid, op, v, err = _plain_line(buf, s, t)
        if err != 0:
            return pos, n, err, s, nl
        if pid >= 0:
            pids[n] = pid
            ops[n] = op
            vals[n] = v
            n += 1
        pos = nxt
        nl += 1
    return pos, n, 0, pos, nl


@njit(cache=True)
def _parse_dec_u64(buf, p, t):
    """Decimal uint64 at buf[p:t] (blanks around allowed): (value, err)."""
    p = _skip_blank(buf, p, t)
    while t > p and (buf[t - 1] == 32 or buf[t - 1] == 9 or buf[t - 1] == 13):
        t -= 1
    top = np.uint64(18446744073709551615)
    ten = np.uint64(10)
    v = np.uint64(0)
    if p >= t:
        return v, _E_BAD_ID
    while p < t:
        d = buf[p] - 48
        if d < 0 or d > 9:
            return v, _E_BAD_ID
        du = np.uint64(d)
        if v > (top - du) // ten:
            return v, _E_RANGE
        v = v * ten + du
        p += 1
    return v, 0


@njit(cache=True)
def _k_lcs_txt(buf, pos, ids):
    n_buf = buf.shape[0]
    cap = ids.shape[0]
    n = 0
    nl = 0
    while pos < n_buf:
        if n + 1 > cap:
            return pos, n, 0, pos, nl
        s, t, nxt = _line_bounds(buf, pos)
        if _skip_blank(buf, s, t) < t:
            v, err = _parse_dec_u64(buf, s, t)
            if err != 0:
                return pos, n, err, s, nl
            ids[n] = v
            n += 1
        pos = nxt
        nl += 1
    return pos, n, 0, pos, nl


@njit(cache=True)
def _csv_op(buf, a, b, words, lens, codes):
    """Op code of the token buf[a:b] (case-insensitive, blanks trimmed), -1 if unknown."""
    a = _skip_blank(buf, a, b)
    while b > a and (buf[b - 1] == 32 or buf[b - 1] == 9 or buf[b - 1] == 13):
        b -= 1
    for w in range(words.shape[0]):
        if lens[w] != b - a:
            continue
        ok = True
        for i in range(b - a):
            c = buf[a + i]
            if 65 <= c <= 90:
                c += 32
            if c != words[w, i]:
                ok = False
                break
        if ok:
            return codes[w]
    return -1


@njit(cache=True)
def _k_csv(buf, pos, delim, id_col, op_col, words, lens, codes, ops, ids):  # noqa: C901
    """Numeric-id csv rows; delim 0 means runs of blanks."""
    n_buf = buf.shape[0]
    cap = ops.shape[0]
    n = 0
    nl = 0
    need = max(id_col, op_col) + 1
    while pos < n_buf:
        if n + 1 > cap:
            return pos, n, 0, pos, nl
        s, t, nxt = _line_bounds(buf, pos)
        if _skip_blank(buf, s, t) == t:
            pos = nxt
            nl += 1
            continue
        col = 0
        a = s
        if delim == 0:
            a = _skip_blank(buf, s, t)
        id_a = -1
        id_b = -1
        op_a = -1
        op_b = -1
        p = a
        while col < need:
            if delim == 0:
                while p < t and not (buf[p] == 32 or buf[p] == 9):
                    p += 1
            else:
                while p < t and buf[p] != delim:
                    p += 1
            if col == id_col:
                id_a, id_b = a, p
            if col == op_col:
                op_a, op_b = a, p
            col += 1
            if p >= t:
                break
            p += 1
            if delim == 0:
                p = _skip_blank(buf, p, t)
            a = p
        if col < need:
            return pos, n, _E_TRUNCATED, s, nl
        v, err = _parse_dec_u64(buf, id_a, id_b)
        if err != 0:
            return pos, n, err, s, nl
        op = 0
        if op_col >= 0:
            op = _csv_op(buf, op_a, op_b, words, lens, codes)
            if op < 0:
                return pos, n, _E_UNKNOWN_OP, s, nl
        ids[n] = v
        ops[n] = op
        n += 1
        pos = nxt
        nl += 1
    return pos, n, 0, pos, nl


# == compiled writers and analysis ==========================================================


@njit(cache=True, inline="always")
def _put_hex(out, p, v, width):
    nd = 1
    x = v >> 4
    while x > 0:
        nd += 1
        x >>= 4
    if nd < width:
        nd = width
    for i in range(nd):
        d = (v >> (4 * (nd - 1 - i))) & 15
        out[p + i] = d + 48 if d < 10 else d + 87
    return p + nd


@njit(cache=True, inline="always")
def _put_dec(out, p, v):
    if v < 0:
        out[p] = 45
        p += 1
        v = -v
    nd = 1
    x = v // 10
    while x > 0:
        nd += 1
        x //= 10
    for i in range(nd):
        out[p + nd - 1 - i] = 48 + v % 10
        v //= 10
    return p + nd


@njit(cache=True, inline="always")
def _put_op_word(out, p, op):
    """Write 'read', 'write' or 'exec'."""
    if op == 0:
        out[p] = 114
        out[p + 1] = 101
        out[p + 2] = 97
        out[p + 3] = 100
        return p + 4
    if op == 1:
        out[p] = 119
        out[p + 1] = 114
        out[p + 2] = 105
        out[p + 3] = 116
        out[p + 4] = 101
        return p + 5
    out[p] = 101
    out[p + 1] = 120
    out[p + 2] = 101
    out[p + 3] = 99
    return p + 4


@njit(cache=True)
def _fmt_lines(kind, pids, ops, vals, first_index, obj_size, out):  # noqa: C901 - one branch per format
    """Format references as text lines; kind 0 lackey, 1 din, 2 plain, 3 lcs-txt, 4 csv."""
    p = 0
    for i in range(ops.shape[0]):
        op = ops[i]
        v = vals[i]
        if kind == 0:
            if op == 2:
                out[p] = 73
                out[p + 1] = 32
                out[p + 2] = 32
            else:
                out[p] = 32
                out[p + 1] = 76 if op == 0 else 83
                out[p + 2] = 32
            p = _put_hex(out, p + 3, v, 8)
            out[p] = 44
            out[p + 1] = 49
            p += 2
        elif kind == 1:
            out[p] = 48 + op
            out[p + 1] = 32
            p = _put_hex(out, p + 2, v, 1)
        elif kind == 2:
            p = _put_dec(out, p, pids[i])
            out[p] = 32
            out[p + 1] = 82 if op == 0 else (87 if op == 1 else 88)
            out[p + 2] = 32
            p = _put_hex(out, p + 3, v, 1)
        elif kind == 3:
            p = _put_dec(out, p, v)
        else:
            p = _put_dec(out, p, first_index + i)
            out[p] = 44
            p = _put_dec(out, p + 1, v)
            out[p] = 44
            p = _put_dec(out, p + 1, obj_size)
            out[p] = 44
            p = _put_op_word(out, p + 1, op)
        out[p] = 10
        p += 1
    return p


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


# == streams and detection ==================================================================


def _open_raw(path: Path) -> IO[bytes]:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except OSError as e:
        raise TraceError(f"{path}: cannot open: {e.strerror or e}") from None
    head = fh.peek(4)[:4]
    if head.startswith(_ZSTD_MAGIC):
        return _ZstdReader(fh)
    if head.startswith(_GZIP_MAGIC):
        fh.close()
        return gzip.open(path, "rb")  # (a GzipFile around fh would not close fh)
    return fh


class _ZstdReader(io.RawIOBase):
    """Streaming zstd decompression (several frames allowed) that fails on a truncated frame.

    (``zstandard``'s own stream reader silently returns what it has at a premature end.)
    """

    def __init__(self, fh: IO[bytes]):
        import zstandard

        self._fh = fh
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._pending = memoryview(b"")
        self._started = False
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._pending and not self._done:
            chunk = self._fh.read(_ZSTD_READ)  # small, so one step's output stays small
            if not chunk:
                self._done = True
                if self._started and not self._obj.eof:
                    raise OSError("truncated zstd stream (the last frame is incomplete)")
                break
            self._started = True
            out = self._obj.decompress(chunk)
            while self._obj.eof and self._obj.unused_data:  # a further frame
                rest = self._obj.unused_data
                self._obj = self._dctx.decompressobj()
                out += self._obj.decompress(rest)
            self._pending = memoryview(out)
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _read_exact(stream: IO[bytes], size: int, label: str) -> bytes:
    """Read up to ``size`` bytes (fewer only at the end of the stream)."""
    parts = []
    got = 0
    while got < size:
        try:
            data = stream.read(size - got)
        except Exception as e:  # zstd / gzip corruption
            raise TraceError(f"{label}: cannot decompress: {e}") from None
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _strip_compression(name: str) -> str:
    for suffix in _COMPRESSED:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def detect_format(path: str | Path) -> str:
    """Return the format name of ``path`` (see the module docstring) from its name, else its content."""
    path = Path(path)
    name = _strip_compression(path.name.lower())
    if "oraclegeneral" in name:
        return "oracleGeneral"
    ext = Path(name).suffix
    if ext in _EXT:
        return _EXT[ext]
    with _open_raw(path) as stream:
        head = _read_exact(stream, 1 << 16, str(path))
    if not head:
        raise TraceError(f"{path}: empty file; cannot detect its format (pass fmt=)")
    if head.startswith(b"PK\x03\x04"):
        return "npz"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    fmt = _sniff_text(head)
    if fmt is None:
        raise TraceError(
            f"{path}: cannot detect the trace format from its name or first lines; "
            f"pass fmt= one of {', '.join(FORMATS)}"
        )
    return fmt


_LACKEY_RE = re.compile(rb"^(I  | [LSM] )[0-9a-fA-F]+,\d+\s*$")
_HEX_RE = re.compile(rb"^(0[xX])?[0-9a-fA-F]+$")


def _sniff_text(head: bytes) -> str | None:
    """Guess a text format from the first lines (None if no rule matches)."""
    if b"\x00" in head:
        return None
    for raw in head.split(b"\n")[:-1] or head.split(b"\n"):
        line = raw.rstrip(b"\r")
        if not line.strip():
            continue
        if line.startswith((b"==", b"--")) or _LACKEY_RE.match(line):
            return "lackey"
        if line.startswith(b"#"):
            continue
        tokens = line.split()
        if len(tokens) == 1 and tokens[0].isdigit():
            return "lcs-txt"
        if len(tokens) == 3 and tokens[0].isdigit() and tokens[1].upper() in (b"R", b"W", b"X"):
            return "plain"
        if len(tokens) >= 2 and tokens[0] in (b"0", b"1", b"2", b"3", b"4") and _HEX_RE.match(tokens[1]):
            return "din"
        if b"," in line:
            return "csv"
        return None
    return None


# == collecting parsed references ===========================================================


@njit(cache=True)
def _k_collect(ops, vals, pids, has_pids, shift, collapse, state, last_page, out_ops, out_vals, out_pids, j):
    """Append ops/vals(/pids) to ``out_*[j:]``, dropping consecutive duplicates when ``collapse``.

    ``state`` is ``[have_last, last_pid, last_op]`` and ``last_page[0]`` the page (``val >>
    shift``, ``shift`` of the dtype of ``vals``) of the previous reference; both are updated
    in place. Returns the new end of the output.
    """
    have = state[0] != 0
    lpid = state[1]
    lop = state[2]
    lpage = last_page[0]
    for i in range(ops.shape[0]):
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
    state[0] = 1 if have else 0
    state[1] = lpid
    state[2] = lop
    last_page[0] = lpage
    return j


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
        self.seen += n
        has_pids = pids is not None
        self._reserve(self.count + n, has_pids)
        dummy = self._state  # stands in for the pid arrays of a stream without pids
        end = _k_collect(
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
            self.count,
        )
        if self.skip:
            k = min(self.skip, end - self.count)
            if k:
                for arr in (self._ops, self._vals, self._pids):
                    if arr is not None:
                        arr[self.count : end - k] = arr[self.count + k : end].copy()
                end -= k
                self.skip -= k
        if self.max_refs is not None:
            end = min(end, self.max_refs)
        self.count = end

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


class _Blocks:
    """Whole-line blocks of a stream, read into one reused buffer (no per-block allocation).

    Iterating yields uint8 views that stay valid until the next step; a partial last
    line is carried to the front of the buffer, which doubles when one line does not fit.
    """

    def __init__(self, stream: IO[bytes], block_size: int, label: str, lines: bool = True):
        self.stream = stream
        self.label = label
        self.lines = lines
        self.buf = bytearray(max(block_size, 1))
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
            if self.eof and fill == 0:
                return


_OUT_CAP = 1 << 20  # most references one kernel call may produce (one access's pages must fit)
_CHUNK = 1 << 18  # references per kernel call (the reused output buffers)


def _parse_text(
    stream: IO[bytes], fmt: str, label: str, shift: int, coll: _Collector, block_size: int
) -> int:
    """Run the kernel of ``fmt`` over the stream into ``coll``; return bytes read."""

    def buffers(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The reused output buffers of one kernel call: only those the kernel of fmt writes."""
        ops = np.zeros(size, np.int8)  # lcs-txt: every reference a read (its kernel leaves 0)
        pids = np.zeros(size if fmt == "plain" else 0, np.int64)
        vals = np.zeros(size if fmt != "lcs-txt" else 0, np.int64)
        ids = np.zeros(size if fmt == "lcs-txt" else 0, np.uint64)
        return ops, pids, vals, ids

    ops, pids, vals, ids = buffers(_CHUNK)
    lines = 0
    blocks = _Blocks(stream, block_size, label)
    for buf in blocks:
        kb = _kbuf(buf)
        pos = 0
        while pos < buf.shape[0]:
            if fmt == "lackey":
                pos, n, err, epos, nl = _k_lackey(kb, pos, shift, ops, vals)
                chunk = (None, ops[:n], vals[:n])
            elif fmt == "din":
                pos, n, err, epos, nl = _k_din(kb, pos, shift, ops, vals)
                chunk = (None, ops[:n], vals[:n])
            elif fmt == "plain":
                pos, n, err, epos, nl = _k_plain(kb, pos, shift, pids, ops, vals)
                chunk = (pids[:n], ops[:n], vals[:n])
            else:
                pos, n, err, epos, nl = _k_lcs_txt(kb, pos, ids)
                chunk = (None, ops[:n], ids[:n])
            lines += nl
            if err == _E_SPAN and ops.size < _OUT_CAP:  # one access covers many pages: retry it
                ops, pids, vals, ids = buffers(_OUT_CAP)
                continue
            if err:
                raise _text_error(label, fmt, buf, epos, lines, err)
            coll.add(*chunk)
            if coll.full:
                return blocks.offset + pos
    return blocks.offset


def _line_text(buf: np.ndarray, start: int) -> str:
    end = start
    while end < buf.shape[0] and buf[end] != 10 and end - start < 200:
        end += 1
    return bytes(buf[start:end]).rstrip(b"\r").decode("utf-8", "replace")


def _text_error(label: str, fmt: str, buf: np.ndarray, epos: int, lines_before: int, code: int) -> TraceError:
    return TraceError(f"{label} line {lines_before + 1}: {_describe(fmt, code, _line_text(buf, epos))}")


def _describe(fmt: str, code: int, text: str) -> str:  # noqa: C901 - one message per error code
    example = _EXAMPLES[fmt]
    tokens = text.split()
    if fmt == "lackey":
        addr, _, size = text[3:].partition(",")
    elif fmt == "din":
        addr = tokens[1] if len(tokens) > 1 else ""
        size = ""
    elif fmt == "plain":
        addr = tokens[2] if len(tokens) > 2 else ""
        size = ""
    else:
        addr = size = text.strip()
    if code == _E_UNRECOGNISED:
        return (
            f"unrecognised line {text!r}; expected a record such as 'I  0400d7d4,3', "
            f"{example}, ' S 1fff000778,8' or ' M 0421b4a0,4', or a '==pid==' message"
        )
    if code == _E_BAD_HEX:
        return f"bad hex address {addr.strip()!r}; expected {example}"
    if code == _E_TRUNCATED:
        return f"truncated record {text!r}; expected {example}"
    if code == _E_BAD_SIZE:
        return f"bad access size {size.strip()!r}; expected a decimal size as in {example}"
    if code == _E_RANGE:
        return f"number {addr.strip()!r} out of range; expected a 64-bit value as in {example}"
    if code == _E_UNKNOWN_OP:
        op = tokens[1] if fmt == "plain" and len(tokens) > 1 else (tokens[0] if tokens else "")
        allowed = "R, W or X" if fmt == "plain" else "0 (read), 1 (write), 2 (exec), 3 or 4 (escape)"
        return f"unknown op {op!r}; expected {allowed} as in {example}"
    if code == _E_BAD_PID:
        return f"bad pid {tokens[0] if tokens else ''!r}; expected a decimal pid as in {example}"
    if code == _E_BAD_ID:
        return f"bad object id {text.strip()!r}; expected one decimal integer per line as in {example}"
    if code == _E_SPAN:
        return f"access {text.strip()!r} spans more than {_OUT_CAP} pages; use a larger page size"
    return f"cannot parse {text!r}; expected {example}"  # pragma: no cover


# == readers of binary and csv formats ======================================================


def _parse_oracle(stream: IO[bytes], label: str, coll: _Collector, block_size: int) -> int:
    rec = _OG_DTYPE.itemsize
    blocks = _Blocks(stream, max(rec, block_size // rec * rec), label, lines=False)
    for buf in blocks:
        whole = buf.shape[0] // rec * rec
        if whole != buf.shape[0]:
            raise TraceError(
                f"{label}: truncated record at byte offset {blocks.offset + whole}: "
                f"{buf.shape[0] - whole} of {rec} bytes; expected 24-byte oracleGeneral records "
                f"(<IQIq: uint32 time, uint64 obj_id, uint32 obj_size, int64 next_access_vtime), "
                f"so a length that is a multiple of 24"
            )
        recs = buf.view(_OG_DTYPE)
        ids = recs["obj_id"][recs["obj_size"] != 0]
        coll.add(None, np.zeros(ids.size, np.int8), ids)
        if coll.full:
            return blocks.offset + buf.shape[0]
    return blocks.offset


_ID_NAMES = ("obj_id", "obj-id", "objid", "id", "key", "obj", "object_id", "lbn", "lba", "block")
_ID_NAMES += ("addr", "address", "page")
_OP_NAMES_CSV = ("op", "op_type", "op-type", "operation", "rw", "type")
_HEADER_NAMES = frozenset(
    (*_ID_NAMES, *_OP_NAMES_CSV, "time", "timestamp", "ts", "size", "obj_size", "obj-size", "version")
)
_CSV_OPS = {
    **dict.fromkeys(("read", "r", "get", "gets", "load", "l", "0", "28", "88", "a8"), OP_READ),
    **dict.fromkeys(("write", "w", "set", "add", "replace", "cas", "append", "prepend"), OP_WRITE),
    **dict.fromkeys(("update", "store", "s", "1", "2a", "8a", "aa"), OP_WRITE),
    **dict.fromkeys(("exec", "x", "i", "2"), OP_EXEC),
}
_CSV_WORDS = np.zeros((len(_CSV_OPS), 8), np.uint8)
for _i, _w in enumerate(_CSV_OPS):
    _CSV_WORDS[_i, : len(_w)] = np.frombuffer(_w.encode(), np.uint8)
_CSV_LENS = np.array([len(w) for w in _CSV_OPS], np.int64)
_CSV_CODES = np.array(list(_CSV_OPS.values()), np.int64)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _CsvSetup:
    """Delimiter and columns of a csv trace, from its first non-empty line."""

    def __init__(self, first: str, label: str, obj_id_col: int | None, op_col: int | None):
        self.id_col = None if obj_id_col is None else obj_id_col - 1
        self.op_col = None if op_col is None else op_col - 1
        self.delim = "," if "," in first else ("\t" if "\t" in first else None)
        fields = [f.strip() for f in first.split(self.delim)]
        names = [f.lower().strip("\"' ") for f in fields]
        # a non-numeric first field starts a header, unless obj_id_col is given and no field
        # is a known column name (then it is a row with a string id, e.g. 'foo,get')
        self.header = not _is_number(fields[0]) and (
            obj_id_col is None or any(f in _HEADER_NAMES for f in names)
        )
        if self.header:
            if self.id_col is None:
                found = [i for i, f in enumerate(names) if f in _ID_NAMES]
                self.id_col = found[0] if found else (1 if len(fields) > 1 else 0)
            if self.op_col is None:
                found = [i for i, f in enumerate(names) if f in _OP_NAMES_CSV]
                self.op_col = found[0] if found else None
        elif self.id_col is None:
            self.id_col = 1 if len(fields) > 1 else 0
        for col, what in ((self.id_col, "obj_id_col"), (self.op_col, "op_col")):
            if col is not None and not 0 <= col < len(fields):
                raise TraceError(
                    f"{label} line 1: {what}={col + 1} but the line has {len(fields)} columns: {first!r}"
                )


def _parse_csv(
    stream: IO[bytes],
    label: str,
    coll: _Collector,
    block_size: int,
    obj_id_col: int | None,
    op_col: int | None,
) -> int:
    ops = np.zeros(_CHUNK, np.int8)
    ids = np.zeros(_CHUNK, np.uint64)
    setup: _CsvSetup | None = None
    lines = 0
    blocks = _Blocks(stream, block_size, label)
    for buf in blocks:
        pos = 0
        if setup is None:
            first = next((i for i in range(buf.shape[0]) if buf[i] not in b" \t\r\n"), None)
            if first is None:
                lines += int(np.count_nonzero(buf == 10))
                continue
            setup = _CsvSetup(_line_text(buf, first).strip(), label, obj_id_col, op_col)
            lines += int(np.count_nonzero(buf[:first] == 10))  # blank lines before it
            if setup.header:
                nl_at = np.flatnonzero(buf[first:] == 10)
                pos = first + int(nl_at[0]) + 1 if nl_at.size else buf.shape[0]
                lines += 1
            else:
                pos = first
        delim = ord(setup.delim) if setup.delim else 0
        op = -1 if setup.op_col is None else setup.op_col
        while pos < buf.shape[0]:
            pos_before = pos
            pos, n, err, epos, nl = _k_csv(
                _kbuf(buf), pos, delim, setup.id_col, op, _CSV_WORDS, _CSV_LENS, _CSV_CODES, ops, ids
            )
            lines += nl
            if err == _E_BAD_ID and coll.count == 0 and n == 0:  # string ids: the slow path
                return _parse_csv_strings(blocks, buf, pos_before, lines, setup, label, coll)
            if err:
                raise _csv_error(label, buf, epos, lines, err, setup)
            coll.add(None, ops[:n], ids[:n])
            if coll.full:
                return blocks.offset + pos
    return blocks.offset


def _csv_error(label: str, buf: np.ndarray, epos: int, lines: int, code: int, setup: _CsvSetup) -> TraceError:
    text = _line_text(buf, epos)
    fields = text.split(setup.delim)
    where = f"{label} line {lines + 1}"
    if code == _E_TRUNCATED:
        need = max(setup.id_col, setup.op_col or 0) + 1
        return TraceError(
            f"{where}: truncated record {text!r}; expected at least {need} columns as in {_EXAMPLES['csv']}"
        )
    if code == _E_UNKNOWN_OP:
        return TraceError(
            f"{where}: unknown op {fields[setup.op_col].strip()!r}; expected read, write or exec "
            f"(or r, w, x, get, set, …)"
        )
    return TraceError(
        f"{where}: bad object id {fields[setup.id_col].strip()!r}; expected a non-negative 64-bit integer "
        f"(the first rows had numeric ids)"
    )


def _parse_csv_strings(
    blocks: _Blocks, buf: np.ndarray, pos: int, lines: int, setup: _CsvSetup, label: str, coll: _Collector
) -> int:
    """Read a csv with non-numeric object ids, numbered in order of first appearance (pure Python)."""
    table: dict[str, int] = {}

    def rows(first: np.ndarray, pos: int) -> Iterator[tuple[np.ndarray, int]]:
        yield first, pos
        for more in blocks:
            yield more, 0

    for chunk, start in rows(buf, pos):
        text = bytes(chunk[start:]).decode("utf-8", "replace").split("\n")
        if text and text[-1] == "":
            text.pop()
        id_list, op_list = [], []
        for k, line in enumerate(text):
            if not line.strip():
                continue
            fields = line.rstrip("\r").split(setup.delim)
            try:
                key = fields[setup.id_col].strip()
                op = (
                    OP_READ
                    if setup.op_col is None
                    else _CSV_OPS.get(fields[setup.op_col].strip().lower(), -1)
                )
            except IndexError:
                need = max(setup.id_col, setup.op_col or 0) + 1
                raise TraceError(
                    f"{label} line {lines + k + 1}: truncated record {line!r}; "
                    f"expected at least {need} columns"
                ) from None
            if op < 0:
                raise TraceError(
                    f"{label} line {lines + k + 1}: unknown op {fields[setup.op_col].strip()!r}; "
                    f"expected read, write or exec (or r, w, x, get, set, …)"
                )
            id_list.append(table.setdefault(key, len(table)))
            op_list.append(op)
        lines += len(text)
        coll.add(None, np.array(op_list, np.int8), np.array(id_list, np.uint64))
        if coll.full:
            break
    return blocks.offset


# == building the workload ==================================================================


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


def _ids_to_pages(ids: np.ndarray, dense: bool | None) -> tuple[np.ndarray, bool]:
    ids = np.asarray(ids, dtype=np.uint64)
    if dense is None:
        dense = bool(ids.size) and int(ids.max()) >= _DENSE_BELOW
    if dense:
        _, inv = np.unique(ids, return_inverse=True)
        return inv.astype(np.int64).ravel(), True
    if ids.size and int(ids.max()) >= _DENSE_BELOW << 4:
        raise TraceError(f"object id {int(ids.max())} is too large for a page number; use dense=True")
    return ids.view(np.int64), False  # the same values (all below 2**40), no copy


def _trace_name(path: Path) -> str:
    name = _strip_compression(path.name)
    for suffix in (".oracleGeneral.bin", ".oracleGeneral"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def load_trace(
    path: str | Path,
    fmt: str | None = None,
    page_size: int | None = None,
    collapse: bool = True,
    max_refs: int | None = None,
    *,
    dense: bool | None = None,
    obj_id_col: int | None = None,
    op_col: int | None = None,
    block_size: int = BLOCK_SIZE,
    name: str | None = None,
) -> Workload:
    """Read a trace file into a :class:`Workload` (formats and mapping: see the module docstring).

    ``fmt`` is one of :data:`FORMATS` or ``None`` to detect it; ``page_size`` (a power of
    two) defaults to 4096, or to an npz trace's own page size. ``collapse`` drops
    consecutive duplicate (process, page, op) references; ``max_refs`` stops after that
    many references. ``dense`` controls the renumbering of object ids (``None``: only
    when some id is ``>= 2**36``); ``obj_id_col``/``op_col`` pick csv columns (1-based);
    ``block_size`` is the read size of the chunked parsers; ``name`` names the workload
    (default: the file name without its suffixes). Raises :class:`TraceError`.
    """
    path = Path(path)
    fmt = _resolve_format(path, fmt)
    if max_refs is not None and (isinstance(max_refs, bool) or not isinstance(max_refs, int) or max_refs < 1):
        raise TraceError(f"max_refs must be an integer >= 1 or None, got {max_refs!r}")
    if block_size < 1:
        raise TraceError(f"block_size must be >= 1, got {block_size!r}")
    label = str(path)
    wname = name or _trace_name(path)
    if fmt in ("npz", "npy"):
        return _load_numpy(path, fmt, page_size, collapse, max_refs, dense, wname)
    page_size = _check_page_size(DEFAULT_PAGE_SIZE if page_size is None else page_size)
    shift = page_size.bit_length() - 1
    coll = _Collector(shift, collapse, max_refs, fmt in ("lackey", "din", "plain"))
    with _open_raw(path) as stream:
        if fmt == "oracleGeneral":
            nbytes = _parse_oracle(stream, label, coll, block_size)
        elif fmt == "csv":
            nbytes = _parse_csv(stream, label, coll, block_size, obj_id_col, op_col)
        else:
            nbytes = _parse_text(stream, fmt, label, shift, coll, block_size)
    return _finish(coll, fmt, label, nbytes, page_size, collapse, dense, wname)


def _resolve_format(path: Path, fmt: str | None) -> str:
    if fmt is None:
        return detect_format(path)
    canon = {f.lower(): f for f in FORMATS}
    canon.update(
        {"txt": "lcs-txt", "lcs_txt": "lcs-txt", "oraclegeneralbin": "oracleGeneral", "lk": "lackey"}
    )
    if fmt.lower() not in canon:
        raise TraceError(f"unknown trace format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    return canon[fmt.lower()]


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
        what = "empty file" if nbytes == 0 else "no memory references found"
        example = "24-byte records" if fmt == "oracleGeneral" else f"records such as {_EXAMPLES[fmt]}"
        raise TraceError(f"{label}: {what}; expected {fmt} {example}")
    note = ""
    if fmt in ("lackey", "din", "plain"):
        addrs = vals.astype(np.int64, copy=False)
    else:
        pages, renumbered = _ids_to_pages(vals, dense)
        del vals
        pages <<= page_size.bit_length() - 1  # in place: pages is ours (a fresh array or vals)
        addrs = pages
        note = ", object ids renumbered densely" if renumbered else ""
    collapsed = f" ({coll.seen:,} before collapsing)" if collapse and coll.seen != coll.count else ""
    desc = f"{fmt} trace {Path(label).name}: {coll.count:,} references{collapsed}{note}"
    return _build(wname, pids, ops, addrs, page_size, collapse, desc)


def _load_numpy(
    path: Path,
    fmt: str,
    page_size: int | None,
    collapse: bool,
    max_refs: int | None,
    dense: bool | None,
    wname: str,
) -> Workload:
    label = str(path)
    try:
        if fmt == "npy":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            return _from_npy(arr, label, page_size, collapse, max_refs, dense, wname)
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except TraceError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise TraceError(f"{label}: not a readable {fmt} file: {e}") from None
    return _from_npz(data, label, page_size, collapse, max_refs, wname)


def _from_npy(arr, label, page_size, collapse, max_refs, dense, wname) -> Workload:
    page_size = _check_page_size(DEFAULT_PAGE_SIZE if page_size is None else page_size)
    if arr.dtype.kind not in "iu" or arr.ndim not in (1, 2) or (arr.ndim == 2 and arr.shape[1] != 2):
        raise TraceError(
            f"{label}: array of dtype {arr.dtype} and shape {arr.shape}; expected 1-D integer page "
            f"numbers or (n, 2) integer rows of (page, op)"
        )
    if arr.shape[0] == 0:
        raise TraceError(f"{label}: empty array; expected at least one page number")
    n = arr.shape[0] if max_refs is None else min(arr.shape[0], max_refs)
    ids = np.asarray(arr[:n, 0] if arr.ndim == 2 else arr[:n])
    ops = np.asarray(arr[:n, 1], dtype=np.int64) if arr.ndim == 2 else np.zeros(n, np.int64)
    if ops.min() < 0 or ops.max() > OP_EXEC:
        j = int(np.argmax((ops < 0) | (ops > OP_EXEC)))
        raise TraceError(
            f"{label}: row {j}: unknown op {int(ops[j])}; expected 0 (read), 1 (write), 2 (exec)"
        )
    if arr.dtype.kind == "i" and ids.min() < 0:
        j = int(np.argmax(ids < 0))
        raise TraceError(f"{label}: row {j}: negative page number {int(ids[j])}; expected >= 0")
    coll = _Collector(0, collapse, max_refs, False)
    coll.add(None, ops.astype(np.int8), ids.astype(np.uint64))
    return _finish(coll, "npy", label, 1, page_size, collapse, dense, wname)


def _npz_addresses(data: dict, label: str, page_size: int | None) -> tuple[np.ndarray, int]:
    stored = int(data["page_size"]) if "page_size" in data else None
    page_size = _check_page_size(page_size if page_size is not None else (stored or DEFAULT_PAGE_SIZE))
    if "pages_delta" in data:
        pages = np.cumsum(data["pages_delta"].astype(np.int64))
    else:
        pages = data["pages"].astype(np.int64) if "pages" in data else None
    if pages is not None:
        gran = stored or page_size
        if page_size < gran:
            raise TraceError(
                f"{label}: trace stored at page granularity {gran} cannot be read with page_size={page_size}"
            )
        return pages * gran, page_size
    if "addrs" in data:
        return data["addrs"].astype(np.int64), page_size
    raise TraceError(f"{label}: no 'pages', 'pages_delta' or 'addrs' array; found {sorted(data)}")


def _from_npz(data: dict, label: str, page_size, collapse, max_refs, wname) -> Workload:  # noqa: C901
    addrs, page_size = _npz_addresses(data, label, page_size)
    n = addrs.size
    if n == 0:
        raise TraceError(f"{label}: no references; expected non-empty 'pages' or 'addrs'")
    if "ops" in data:
        ops = data["ops"].astype(np.int8)
    elif "writes" in data:
        ops = np.where(data["writes"].astype(bool), OP_WRITE, OP_READ).astype(np.int8)
    else:
        ops = np.zeros(n, np.int8)
    if ops.shape != addrs.shape:
        raise TraceError(f"{label}: 'ops' has {ops.size} entries but there are {n} references")
    if ops.min() < 0 or ops.max() > OP_EXEC:
        j = int(np.argmax((ops < 0) | (ops > OP_EXEC)))
        raise TraceError(f"{label}: reference {j}: unknown op {int(ops[j])}; expected 0, 1 or 2")
    if addrs.min() < 0:
        raise TraceError(f"{label}: reference {int(np.argmax(addrs < 0))}: negative address")
    offsets = data["offsets"].astype(np.int64) if "offsets" in data else np.array([0, n])
    if offsets[0] != 0 or offsets[-1] != n or (np.diff(offsets) < 0).any():
        raise TraceError(f"{label}: 'offsets' must rise from 0 to {n}, got {offsets.tolist()[:8]}")
    n_procs = offsets.size - 1
    names = [str(x) for x in data["names"]] if "names" in data else ["main"] * n_procs
    starts = data["starts"].astype(np.int64) if "starts" in data else np.zeros(n_procs, np.int64)
    if len(names) != n_procs or starts.size != n_procs:
        raise TraceError(f"{label}: 'names' and 'starts' must have one entry per process ({n_procs})")
    shift = page_size.bit_length() - 1
    procs = []
    budget = max_refs
    for p in range(n_procs):
        p_ops, p_addrs = ops[offsets[p] : offsets[p + 1]], addrs[offsets[p] : offsets[p + 1]]
        if collapse and p_ops.size:
            keep = _collapse_mask(p_addrs >> shift, p_ops)
            p_ops, p_addrs = p_ops[keep], p_addrs[keep]
        if budget is not None:
            p_ops, p_addrs = p_ops[:budget], p_addrs[:budget]
            budget -= p_ops.size
        if p_ops.size:
            procs.append(_make_process(names[p], p_ops, p_addrs, shift, int(starts[p])))
        if budget == 0:
            break
    desc = f"npz trace {Path(label).name}: {sum(p.ops.size for p in procs):,} references"
    try:
        how = json.loads(str(data["meta"])).get("how", "") if "meta" in data else ""
    except (json.JSONDecodeError, AttributeError):
        how = ""
    return Workload(wname, procs, [], page_size, f"{desc}; {how}" if how else desc)


# == writers ================================================================================


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


def _open_out(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.lower()
    if name.endswith((".zst", ".zstd")):
        import zstandard

        fh = open(path, "wb")  # noqa: SIM115 - closed by the stream writer
        return zstandard.ZstdCompressor(level=_ZSTD_LEVEL, threads=-1).stream_writer(fh, closefd=True)
    if name.endswith(".gz"):
        return gzip.open(path, "wb", compresslevel=6)
    return open(path, "wb")  # noqa: SIM115 - returned to the caller


_TEXT_KIND = {"lackey": 0, "din": 1, "plain": 2, "lcs-txt": 3, "csv": 4}
_WRITE_CHUNK = 1 << 18


def _write_text(fh: IO[bytes], fmt: str, pids, ops, vals, obj_size: int) -> None:
    kind = _TEXT_KIND[fmt]
    buf = np.empty(_WRITE_CHUNK * 72, dtype=np.uint8)
    for lo in range(0, ops.size, _WRITE_CHUNK):
        hi = min(lo + _WRITE_CHUNK, ops.size)
        n = _fmt_lines(kind, pids[lo:hi], ops[lo:hi], vals[lo:hi], lo, obj_size, buf)
        fh.write(buf[:n].tobytes())


def _next_access(ids: np.ndarray) -> np.ndarray:
    """1-based index of the next reference to the same id, -1 if none (libCacheSim convention)."""
    order = np.argsort(ids, kind="stable")
    nxt = np.full(ids.size, -1, np.int64)
    same = ids[order[1:]] == ids[order[:-1]]
    nxt[order[:-1][same]] = order[1:][same] + 1
    return nxt


def _output_format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        return _resolve_format(path, fmt)
    name = _strip_compression(path.name.lower())
    ext = Path(name).suffix
    found = "oracleGeneral" if "oraclegeneral" in name else ("plain" if ext == ".txt" else _EXT.get(ext))
    if found is None:
        raise TraceError(
            f"{path}: cannot tell the format from the file name; pass fmt= one of {', '.join(FORMATS)}"
        )
    return found


def write_trace(
    workload: Workload, path: str | Path, fmt: str | None = None, *, meta: dict | None = None
) -> Path:
    """Write the references of ``workload`` to ``path`` in ``fmt`` (default: from the file name).

    ``.txt`` means ``plain``; a ``.zst``/``.gz`` suffix compresses. ``meta`` (JSON-able)
    is stored in npz files. See the module docstring for what each format keeps.
    """
    path = Path(path)
    fmt = _output_format(path, fmt)
    page_size = _check_page_size(workload.page_size)
    shift = page_size.bit_length() - 1
    if fmt == "npz":
        _write_npz(workload, path, meta)
        return path
    pids, ops, addrs = _merged(workload)
    if ops.size == 0:
        raise TraceError(f"workload {workload.name!r} has no references to write")
    n_procs = len(workload.processes)
    if fmt in ("lackey", "din", "npy") and n_procs > 1:
        raise TraceError(
            f"format {fmt} holds one address space but workload {workload.name!r} has {n_procs} "
            f"processes; write plain or npz instead"
        )
    vals = addrs
    if fmt in ("csv", "lcs-txt", "oracleGeneral", "npy"):
        vals = addrs >> shift
        if n_procs > 1:
            vals = (pids << _PID_SHIFT) | vals
    if fmt == "npy":
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.save(fh, np.stack([vals, ops.astype(np.int64)], axis=1))
        return path
    with _open_out(path) as fh:
        if fmt == "oracleGeneral":
            _write_oracle(fh, vals, page_size)
        else:
            if fmt == "plain":
                fh.write(
                    f"# vmgym plain trace: pid op address (R read, W write, X exec; hex address); "
                    f"page_size={page_size}\n".encode()
                )
            elif fmt == "csv":
                fh.write(b"time,obj_id,obj_size,op\n")
            _write_text(fh, fmt, pids, ops, vals, page_size)
    return path


def _write_oracle(fh: IO[bytes], ids: np.ndarray, page_size: int) -> None:
    nxt = _next_access(ids)
    for lo in range(0, ids.size, _WRITE_CHUNK):
        hi = min(lo + _WRITE_CHUNK, ids.size)
        rec = np.zeros(hi - lo, dtype=_OG_DTYPE)
        rec["time"] = (np.arange(lo, hi, dtype=np.int64) & 0xFFFFFFFF).astype(np.uint32)
        rec["obj_id"] = ids[lo:hi].astype(np.uint64)
        rec["obj_size"] = min(page_size, 0xFFFFFFFF)
        rec["next"] = nxt[lo:hi]
        fh.write(rec.tobytes())


def _write_npz(workload: Workload, path: Path, meta: dict | None) -> None:
    refs = _references(workload)
    if not any(o.size for o, _ in refs):
        raise TraceError(f"workload {workload.name!r} has no references to write")
    ops = np.concatenate([o for o, _ in refs])
    addrs = np.concatenate([a for _, a in refs])
    offsets = np.concatenate([[0], np.cumsum([o.size for o, _ in refs])]).astype(np.int64)
    page_size = workload.page_size
    arrays: dict[str, Any] = {
        "ops": ops,
        "offsets": offsets,
        "names": np.array([p.name for p in workload.processes], dtype=str),
        "starts": np.array([p.start for p in workload.processes], dtype=np.int64),
        "page_size": np.int64(page_size),
        "meta": np.array(json.dumps(meta or {}, sort_keys=True)),
    }
    if (addrs & (page_size - 1)).any():
        arrays["addrs"] = addrs
    else:
        delta = np.diff(addrs >> (page_size.bit_length() - 1), prepend=np.int64(0))
        for dtype in (np.int8, np.int16, np.int32):  # narrower integers deflate better
            lim = np.iinfo(dtype)
            if delta.min() >= lim.min and delta.max() <= lim.max:
                delta = delta.astype(dtype)
                break
        arrays["pages_delta"] = delta
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def convert(
    src: str | Path,
    dst: str | Path,
    fmt: str | None = None,
    *,
    src_fmt: str | None = None,
    page_size: int | None = None,
    collapse: bool = True,
    max_refs: int | None = None,
) -> Path:
    """Read ``src`` (format ``src_fmt`` or detected) and write it to ``dst`` in ``fmt`` (or by name).

    Reading collapses consecutive duplicates unless ``collapse=False``; see
    :func:`load_trace` and :func:`write_trace` for what each format keeps.
    """
    out_fmt = _output_format(Path(dst), fmt)  # fail before reading a large input
    workload = load_trace(src, src_fmt, page_size, collapse, max_refs)
    return write_trace(workload, dst, out_fmt, meta={"converted_from": Path(src).name})


# == summary ================================================================================

REUSE_EXACT_LIMIT = 20_000_000
_MRC_FRAMES = (16, 64, 256, 1024, 4096, 16384, 65536)


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


# == bundled traces =========================================================================


def bundled() -> dict[str, Path]:
    """Name -> path of the real traces bundled in ``workloads/data`` (see its README)."""
    if not DATA_DIR.is_dir():
        return {}
    return {p.name[: -len(".npz")]: p for p in sorted(DATA_DIR.glob("*.npz"))}


def load_bundled(name: str, **kwargs: Any) -> Workload:
    """Load the bundled trace ``name`` (keyword arguments go to :func:`load_trace`)."""
    traces = bundled()
    if name not in traces:
        raise TraceError(f"unknown bundled trace {name!r}; choose one of: {', '.join(traces) or '(none)'}")
    return load_trace(traces[name], "npz", **kwargs)
