"""valgrind lackey logs (``--tool=lackey --trace-mem=yes``).

``I  0400d7d4,3`` exec, `` L …`` read, `` S …`` write, `` M …`` modify (a read then a
write); ``==pid==`` lines are skipped.

An access that straddles a page boundary touches every page it covers (one reference
each). Written with access size 1; holds one address space.
"""

from __future__ import annotations

import re

from numba import njit

from workloads.traces.blocks import TextKernel, text_writer
from workloads.traces.errors import LineSyntax
from workloads.traces.registry import Format, register
from workloads.traces.textscan import (
    _E_BAD_HEX,
    _E_BAD_SIZE,
    _E_SPAN,
    _E_TRUNCATED,
    _E_UNRECOGNISED,
    _hexval,
    _line_bounds,
    _parse_hex,
    _put_hex,
)


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
def _k_lackey(buf, pos, shift, ops, vals):
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
def _k_write(pids, ops, vals, first_index, obj_size, out):
    """Format references as lackey lines (access size 1); return the bytes written."""
    p = 0
    for i in range(ops.shape[0]):
        op = ops[i]
        if op == 2:
            out[p] = 73
            out[p + 1] = 32
            out[p + 2] = 32
        else:
            out[p] = 32
            out[p + 1] = 76 if op == 0 else 83
            out[p + 2] = 32
        p = _put_hex(out, p + 3, vals[i], 8)
        out[p] = 44
        out[p + 1] = 49
        out[p + 2] = 10
        p += 3
    return p


_LACKEY_RE = re.compile(rb"^(I  | [LSM] )[0-9a-fA-F]+,\d+\s*$")


def _sniff(line: bytes) -> bool:
    return line.startswith((b"==", b"--")) or _LACKEY_RE.match(line) is not None


def _address(text: str) -> str:
    return text[3:].partition(",")[0]


def _size(text: str) -> str:
    return text[3:].partition(",")[2]


_EXAMPLE = "' L 0400d7d4,8'"
LACKEY = TextKernel(_k_lackey, LineSyntax(_EXAMPLE, address=_address, size=_size))

register(
    Format(
        "lackey",
        aliases=("lk",),
        suffixes=(".lackey", ".lk"),
        sniff=_sniff,
        addresses=True,
        one_address_space=True,
        expected=f"records such as {_EXAMPLE}",
        parse=LACKEY.parse,
        write=text_writer(_k_write),
    )
)
