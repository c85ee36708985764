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


def _next_access(ids: np.ndarray) -> np.ndarray:
    """1-based index of the next reference to the same id, -1 if none (libCacheSim convention)."""
    order = np.argsort(ids, kind="stable")
    nxt = np.full(ids.size, -1, np.int64)
    same = ids[order[1:]] == ids[order[:-1]]
    nxt[order[:-1][same]] = order[1:][same] + 1
    return nxt


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


def _parse(stream: IO[bytes], req: ReadRequest, coll: _Collector) -> Generator[None, None, int]:
    return _parse_oracle(stream, req.label, coll, req.block_size)


def _write(path: Path, blocks: Iterable[Batch], page_size: int, length: int) -> None:
    """The records, with each one's next access: a pass over the whole trace (all blocks at once)."""
    vals = np.concatenate([v for _p, _o, v in blocks]) if length else np.zeros(0, np.uint64)
    with _open_out(path) as fh:
        _write_oracle(fh, vals, page_size)


register(
    Format(
        "oracleGeneral",
        aliases=("oraclegeneralbin",),
        name_contains=("oraclegeneral",),
        name_suffixes=(".oracleGeneral.bin", ".oracleGeneral"),
        expected="24-byte records",
        parse=_parse,
        write=_write,
        write_in_blocks=False,
    )
)
