"""Compiled (numba) byte-level helpers shared by the text formats: numbers, lines, output.

The parsing kernels of the text formats (one per format module) parse ``buf[pos:]`` line
by line until the buffer ends or the output arrays are (nearly) full, and return
``(next_pos, n_out, err, err_pos, lines)``: ``err`` is 0 or one of the ``_E_*`` codes
below, ``err_pos`` the start of the offending line (or of the next line to parse),
``lines`` the number of whole lines consumed before it. :mod:`.errors` turns a failing
line into a message; the kernels do not collapse (:class:`.blocks._Collector` does).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import config as _numba_config
from numba import njit

_OUT_CAP = 1 << 20  # most references one kernel call may produce (one access's pages must fit)
_CHUNK = 1 << 18  # references per kernel call (the reused output buffers)


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


@njit(cache=True)
def _skip_blank(buf, p, t):
    while p < t and (buf[p] == 32 or buf[p] == 9):
        p += 1
    return p


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
