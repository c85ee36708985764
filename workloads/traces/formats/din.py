"""Dinero ``din`` traces: ``label hexaddr [ignored…]``; label 0 read, 1 write, 2 exec, 3/4 escape (skipped).

Written as ``op hexaddr`` lines; holds one address space.
"""

from __future__ import annotations

import re

from numba import njit

from workloads.traces.blocks import TextKernel, text_writer
from workloads.traces.errors import LineSyntax
from workloads.traces.registry import Format, register
from workloads.traces.textscan import (
    _E_BAD_HEX,
    _E_TRUNCATED,
    _E_UNKNOWN_OP,
    _line_bounds,
    _parse_hex,
    _put_hex,
    _skip_blank,
)


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
def _k_write(pids, ops, vals, first_index, obj_size, out):
    """Format references as din lines; return the bytes written."""
    p = 0
    for i in range(ops.shape[0]):
        out[p] = 48 + ops[i]
        out[p + 1] = 32
        p = _put_hex(out, p + 2, vals[i], 1)
        out[p] = 10
        p += 1
    return p


_HEX_RE = re.compile(rb"^(0[xX])?[0-9a-fA-F]+$")


def _sniff(line: bytes) -> bool:
    tokens = line.split()
    return len(tokens) >= 2 and tokens[0] in (b"0", b"1", b"2", b"3", b"4") and bool(_HEX_RE.match(tokens[1]))


def _address(text: str) -> str:
    tokens = text.split()
    return tokens[1] if len(tokens) > 1 else ""


_EXAMPLE = "'0 400d7d4'"
DIN = TextKernel(_k_din, LineSyntax(_EXAMPLE, address=_address, size=lambda text: ""))

register(
    Format(
        "din",
        suffixes=(".din",),
        sniff=_sniff,
        addresses=True,
        one_address_space=True,
        expected=f"records such as {_EXAMPLE}",
        parse=DIN.parse,
        write=text_writer(_k_write),
    )
)
