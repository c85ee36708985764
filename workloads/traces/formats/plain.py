"""vmgym's plain text traces: ``pid op address`` lines, several processes in one file.

Decimal pid, op ``R``/``W``/``X`` (read, write, exec; any case), hex address (``0x``
optional); ``#`` comment lines. One process per pid, ordered by first appearance.
"""

from __future__ import annotations

from numba import njit

from workloads.traces.blocks import TextKernel, text_writer
from workloads.traces.errors import LineSyntax
from workloads.traces.registry import Format, register
from workloads.traces.textscan import (
    _E_BAD_HEX,
    _E_BAD_PID,
    _E_TRUNCATED,
    _E_UNKNOWN_OP,
    _line_bounds,
    _parse_hex,
    _put_dec,
    _put_hex,
    _skip_blank,
)


@njit(cache=True)
def _plain_line(buf, s, t):
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
def _k_write(pids, ops, vals, first_index, obj_size, out):
    """Format references as plain lines; return the bytes written."""
    p = 0
    for i in range(ops.shape[0]):
        op = ops[i]
        p = _put_dec(out, p, pids[i])
        out[p] = 32
        out[p + 1] = 82 if op == 0 else (87 if op == 1 else 88)
        out[p + 2] = 32
        p = _put_hex(out, p + 3, vals[i], 1)
        out[p] = 10
        p += 1
    return p


def _header(page_size: int) -> bytes:
    return (
        f"# vmgym plain trace: pid op address (R read, W write, X exec; hex address); "
        f"page_size={page_size}\n".encode()
    )


def _sniff(line: bytes) -> bool:
    tokens = line.split()
    return len(tokens) == 3 and tokens[0].isdigit() and tokens[1].upper() in (b"R", b"W", b"X")


def _address(text: str) -> str:
    tokens = text.split()
    return tokens[2] if len(tokens) > 2 else ""


def _op(text: str) -> str:
    tokens = text.split()
    return tokens[1] if len(tokens) > 1 else (tokens[0] if tokens else "")


_EXAMPLE = "'0 R 400d7d4'"
PLAIN = TextKernel(
    _k_plain,
    LineSyntax(_EXAMPLE, address=_address, size=lambda text: "", op=_op, ops_allowed="R, W or X"),
    outputs=("pids", "ops", "vals"),
)

register(
    Format(
        "plain",
        suffixes=(".trace", ".plain"),
        write_suffixes=(".txt",),
        sniff=_sniff,
        addresses=True,
        expected=f"records such as {_EXAMPLE}",
        parse=PLAIN.parse,
        write=text_writer(_k_write, _header),
    )
)
