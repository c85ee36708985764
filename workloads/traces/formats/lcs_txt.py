"""libCacheSim txt traces: one decimal object id per line (``*.txt`` files, recognised by content)."""

from __future__ import annotations

from numba import njit

from workloads.traces.blocks import TextKernel, text_writer
from workloads.traces.errors import LineSyntax
from workloads.traces.registry import Format, register
from workloads.traces.textscan import _line_bounds, _parse_dec_u64, _put_dec, _skip_blank


@njit(cache=True)
def _k_lcs_txt(buf, pos, shift, ids):
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
def _k_write(pids, ops, vals, first_index, obj_size, out):
    """Format object ids one per line; return the bytes written."""
    p = 0
    for i in range(ops.shape[0]):
        p = _put_dec(out, p, vals[i])
        out[p] = 10
        p += 1
    return p


def _sniff(line: bytes) -> bool:
    tokens = line.split()
    return len(tokens) == 1 and tokens[0].isdigit()


_EXAMPLE = "'42932745'"
LCS_TXT = TextKernel(_k_lcs_txt, LineSyntax(_EXAMPLE), outputs=("ids",))

register(
    Format(
        "lcs-txt",
        aliases=("txt", "lcs_txt"),
        sniff=_sniff,
        expected=f"records such as {_EXAMPLE}",
        parse=LCS_TXT.parse,
        write=text_writer(_k_write),
    )
)
