"""libCacheSim-style csv traces (object ids, optional op column); see the package docstring.

A header row is recognised when its first field is not a number; the id and op columns
come from the header, ``obj_id_col=``/``op_col=`` (1-based), or libCacheSim's
``time,obj_id,…`` convention. Numeric ids are parsed by a compiled kernel; non-numeric
ids take a slower Python path (numbered in order of first appearance).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import IO

import numpy as np
from numba import njit

from workloads.model import OP_EXEC, OP_READ, OP_WRITE
from workloads.traces.blocks import _Blocks, _Collector, text_writer
from workloads.traces.errors import TraceError, _line_text
from workloads.traces.registry import Format, ReadRequest, register
from workloads.traces.textscan import (
    _CHUNK,
    _E_BAD_ID,
    _E_TRUNCATED,
    _E_UNKNOWN_OP,
    _kbuf,
    _line_bounds,
    _parse_dec_u64,
    _put_dec,
    _put_op_word,
    _skip_blank,
)

_EXAMPLE = "'1,42932745,4096,read'"


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


@njit(cache=True, inline="always")
def _csv_fields(buf, s, t, delim, id_col, op_col, need):
    """Bounds of the id and op fields of the row buf[s:t]: (columns seen, id_a, id_b, op_a, op_b)."""
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
    return col, id_a, id_b, op_a, op_b


@njit(cache=True, inline="always")
def _csv_row(buf, s, t, delim, id_col, op_col, words, lens, codes):
    """(object id, op, err) of the non-blank row buf[s:t]."""
    need = max(id_col, op_col) + 1
    col, id_a, id_b, op_a, op_b = _csv_fields(buf, s, t, delim, id_col, op_col, need)
    if col < need:
        return np.uint64(0), 0, _E_TRUNCATED
    v, err = _parse_dec_u64(buf, id_a, id_b)
    if err != 0:
        return v, 0, err
    op = 0
    if op_col >= 0:
        op = _csv_op(buf, op_a, op_b, words, lens, codes)
        if op < 0:
            return v, 0, _E_UNKNOWN_OP
    return v, op, 0


@njit(cache=True)
def _k_csv(buf, pos, delim, id_col, op_col, words, lens, codes, ops, ids):
    """Numeric-id csv rows; delim 0 means runs of blanks."""
    n_buf = buf.shape[0]
    cap = ops.shape[0]
    n = 0
    nl = 0
    while pos < n_buf:
        if n + 1 > cap:
            return pos, n, 0, pos, nl
        s, t, nxt = _line_bounds(buf, pos)
        if _skip_blank(buf, s, t) < t:
            v, op, err = _csv_row(buf, s, t, delim, id_col, op_col, words, lens, codes)
            if err != 0:
                return pos, n, err, s, nl
            ids[n] = v
            ops[n] = op
            n += 1
        pos = nxt
        nl += 1
    return pos, n, 0, pos, nl


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
        if not fields:  # only characters that str.split takes for blanks (e.g. '\x1f')
            raise TraceError(
                f"{label} line 1: no columns in {first!r}; expected a csv record such as {_EXAMPLE}"
            )
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
) -> Generator[None, None, int]:
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
                return (yield from _parse_csv_strings(blocks, buf, pos_before, lines, setup, label, coll))
            if err:
                raise _csv_error(label, buf, epos, lines, err, setup)
            coll.add(None, ops[:n], ids[:n])
            yield
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
            f"{where}: truncated record {text!r}; expected at least {need} columns as in {_EXAMPLE}"
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
) -> Generator[None, None, int]:
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
        yield
        if coll.full:
            break
    return blocks.offset


@njit(cache=True)
def _k_write(pids, ops, vals, first_index, obj_size, out):
    """Format references as ``time,obj_id,obj_size,op`` rows; return the bytes written."""
    p = 0
    for i in range(ops.shape[0]):
        p = _put_dec(out, p, first_index + i)
        out[p] = 44
        p = _put_dec(out, p + 1, vals[i])
        out[p] = 44
        p = _put_dec(out, p + 1, obj_size)
        out[p] = 44
        p = _put_op_word(out, p + 1, ops[i])
        out[p] = 10
        p += 1
    return p


def _parse(stream: IO[bytes], req: ReadRequest, coll: _Collector) -> Generator[None, None, int]:
    return _parse_csv(stream, req.label, coll, req.block_size, req.obj_id_col, req.op_col)


register(
    Format(
        "csv",
        suffixes=(".csv",),
        sniff=lambda line: b"," in line,
        sniff_rank=1,  # any line with a comma: after the other text formats' rules
        expected=f"records such as {_EXAMPLE}",
        parse=_parse,
        write=text_writer(_k_write, lambda page_size: b"time,obj_id,obj_size,op\n"),
    )
)
