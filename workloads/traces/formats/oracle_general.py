"""libCacheSim's binary oracleGeneral traces: 24-byte little-endian records ``<IQIq``.

(uint32 time, uint64 obj_id, uint32 obj_size, int64 next_access_vtime.) Records of
obj_size 0 are skipped, as libCacheSim does. There is no op field: every reference reads
back as a read. Written with ``time`` the reference index (mod ``2**32``) and
``next_access_vtime`` the 1-based index of the next request to the same object (``-1``
if none), as libCacheSim's ``traceConv`` writes it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from pathlib import Path
from typing import IO

import numpy as np

from workloads.spool import Column, spills
from workloads.stackdist import NEVER, backward_next_uses
from workloads.stream import Distinct
from workloads.traces.blocks import _WRITE_CHUNK, Batch, _Blocks, _Collector
from workloads.traces.errors import TraceError
from workloads.traces.registry import Format, ReadRequest, register
from workloads.traces.streams import _open_out

_OG_DTYPE = np.dtype(
    {
        "names": ["time", "obj_id", "obj_size", "next"],
        "formats": ["<u4", "<u8", "<u4", "<i8"],
        "offsets": [0, 4, 12, 16],
        "itemsize": 24,
    }
)


def _parse_oracle(
    stream: IO[bytes], label: str, coll: _Collector, block_size: int
) -> Generator[None, None, int]:
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
        yield
        if coll.full:
            return blocks.offset + buf.shape[0]
    return blocks.offset


def _records(ids: np.ndarray, nxt: np.ndarray, lo: int, page_size: int) -> bytes:
    """Records for the references at ``lo ..``; ``nxt``: each one's next use (0-based, NEVER if none)."""
    rec = np.zeros(ids.size, dtype=_OG_DTYPE)
    rec["time"] = (np.arange(lo, lo + ids.size, dtype=np.int64) & 0xFFFFFFFF).astype(np.uint32)
    rec["obj_id"] = ids
    rec["obj_size"] = min(page_size, 0xFFFFFFFF)
    rec["next"] = np.where(nxt == NEVER, -1, nxt + 1)  # libCacheSim: the 1-based next index, -1 if none
    return rec.tobytes()


def _parse(stream: IO[bytes], req: ReadRequest, coll: _Collector) -> Generator[None, None, int]:
    return _parse_oracle(stream, req.label, coll, req.block_size)


def _write(path: Path, blocks: Iterable[Batch], page_size: int, length: int) -> None:
    """The records, each with its next access, in three passes over the trace's columns.

    The object ids go forward into a column (and their distinct values, to number them
    densely); a backward pass, block by block from the end, finds the next accesses into
    a second column (:func:`workloads.stackdist.backward_next_uses`); a forward pass
    writes the records. The columns are arrays, or
    temporary files above :data:`~workloads.spool.SPILL_ABOVE` bytes (16 bytes a
    reference): memory is the distinct ids and a block, not the trace.
    """
    spill = spills(16 * length, "oracleGeneral's object-id and next-access columns")
    ids = Column(length, np.uint64, spill)
    nxt = Column(length, np.int64, spill)
    distinct = Distinct()
    n = 0
    try:
        for _pids, _ops, vals in blocks:
            if n + vals.size > length:
                raise TraceError(f"{path}: more than the {length:,} references announced to the writer")
            ids.write(n, vals)
            distinct.add(vals)
            n += vals.size
        if n != length:
            raise TraceError(f"{path}: {n:,} references, not the {length:,} announced to the writer")
        keys = distinct.values()
        backward_next_uses(
            lambda lo, m: np.searchsorted(keys, ids.read(lo, m)), length, keys.size, nxt, _WRITE_CHUNK
        )
        with _open_out(path) as fh:
            for lo in range(0, length, _WRITE_CHUNK):
                m = min(_WRITE_CHUNK, length - lo)
                fh.write(_records(ids.read(lo, m), nxt.read(lo, m), lo, page_size))
    finally:
        ids.close()
        nxt.close()


register(
    Format(
        "oracleGeneral",
        aliases=("oraclegeneralbin",),
        name_contains=("oraclegeneral",),
        name_suffixes=(".oracleGeneral.bin", ".oracleGeneral"),
        expected="24-byte records",
        parse=_parse,
        write=_write,
    )
)
