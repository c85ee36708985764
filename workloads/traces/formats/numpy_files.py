"""NumPy files: vmgym's own ``.npz`` (exact per-process streams) and ``.npy`` page arrays.

See the package docstring for the npz layout. A ``.npy`` holds 1-D page numbers (reads)
or (n, 2) rows of (page, op), one address space. Both are read whole (``np.load``) by
``load_trace``, and never compressed by a suffix; both also stream, for
:func:`~workloads.traces.stream_trace`: an ``.npy`` through its ``parse`` (the header, then
rows in blocks with plain reads), an ``.npz`` through its own ``stream``
(:mod:`~workloads.traces.formats.npz_blocks`: each member inflated block by block).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np

from workloads.model import DEFAULT_PAGE_SIZE, OP_EXEC, OP_READ, OP_WRITE, Workload
from workloads.traces.blocks import Batch, _Collector
from workloads.traces.errors import TraceError
from workloads.traces.mapping import _check_page_size, _collapse_mask, _finish, _make_process, _references
from workloads.traces.registry import Format, ReadRequest, register


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
            if not isinstance(arr, np.ndarray):  # an npz read as npy
                raise TraceError(f"{label}: not a readable npy file: it holds several arrays (an npz?)")
            return _from_npy(arr, label, page_size, collapse, max_refs, dense, wname)
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise TraceError(f"{label}: not a readable npz file: it holds one array (an npy?)")
            data = {k: z[k] for k in z.files}
    except TraceError:
        raise
    except MemoryError:
        raise TraceError(f"{label}: an array of this {fmt} file does not fit in memory") from None
    except Exception as e:  # NumPy's header parser and zipfile raise many types on corrupt input
        text = str(e)
        if "allow_pickle" in text or "Python objects" in text:
            raise TraceError(
                f"{label}: holds Python objects (a pickled object array); trace files are data "
                f"only and are never unpickled: expected integer arrays"
            ) from None
        raise TraceError(f"{label}: not a readable {fmt} file: {_one_line(e)}") from None
    return _from_npz(data, label, page_size, collapse, max_refs, wname)


def _one_line(e: BaseException) -> str:
    """An exception as one line: its message's first line, else its type."""
    text = str(e).strip().splitlines()
    return text[0].strip() if text else type(e).__name__


def _npy_layout(shape: tuple[int, ...], dtype: np.dtype, label: str) -> None:
    """Check an npy array's shape and dtype: 1-D page numbers or (n, 2) rows of (page, op)."""
    if dtype.kind not in "iu" or len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 2):
        raise TraceError(
            f"{label}: array of dtype {dtype} and shape {shape}; expected 1-D integer page "
            f"numbers or (n, 2) integer rows of (page, op)"
        )
    if shape[0] == 0:
        raise TraceError(f"{label}: empty array; expected at least one page number")


def _from_npy(arr, label, page_size, collapse, max_refs, dense, wname) -> Workload:
    page_size = _check_page_size(DEFAULT_PAGE_SIZE if page_size is None else page_size)
    _npy_layout(arr.shape, arr.dtype, label)
    coll = _Collector(0, collapse, max_refs, False)
    step = arr.shape[0] if max_refs is None else max(max_refs, 1 << 20)  # max_refs counts collapsed refs
    for lo in range(0, arr.shape[0], step):
        rows = arr[lo : lo + step]
        ids = np.asarray(rows[:, 0] if arr.ndim == 2 else rows)
        _npy_add(coll, ids, np.asarray(rows[:, 1]) if arr.ndim == 2 else None, lo, label)
        if coll.full:
            break
    return _finish(coll, "npy", label, 1, page_size, collapse, dense, wname)


def _npy_header(stream: IO[bytes], label: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) from an npy header; the stream is left at the data."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(stream)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(stream)
        raise ValueError(f"npy format version {version[0]}.{version[1]} is not read in blocks")
    except Exception as e:  # NumPy's header parser raises many types on corrupt input
        raise TraceError(f"{label}: not a readable npy file: {_one_line(e)}") from None


def _npy_check(ids: np.ndarray, col: np.ndarray | None, first_row: int, label: str) -> np.ndarray:
    """The ops of a block of npy rows (``col``: their op column, None: all reads), rows checked."""
    if col is None:
        ops = np.zeros(ids.size, np.int8)
    else:
        bad = (col < 0) | (col > OP_EXEC) if col.dtype.kind == "i" else col > OP_EXEC
        if bad.any():
            j = int(np.argmax(bad))
            raise TraceError(
                f"{label}: row {first_row + j}: unknown op {int(col[j])}; "
                f"expected 0 (read), 1 (write), 2 (exec)"
            )
        ops = col.astype(np.int8)
    if ids.dtype.kind == "i" and ids.size and ids.min() < 0:
        j = int(np.argmax(ids < 0))
        raise TraceError(f"{label}: row {first_row + j}: negative page number {int(ids[j])}; expected >= 0")
    return ops


def _npy_add(coll: _Collector, ids: np.ndarray, col: np.ndarray | None, first_row: int, label: str) -> None:
    """Check a block of npy rows (:func:`_npy_check`) and add them to ``coll`` as uint64 ids.

    Native 64-bit ids (non-negative once checked) are added as a view, others converted.
    """
    ops = _npy_check(ids, col, first_row, label)
    native = ids.dtype in (np.int64, np.uint64) and ids.flags.c_contiguous
    coll.add(None, ops, ids.view(np.uint64) if native else ids.astype(np.uint64))


def _fill(stream: IO[bytes], view: memoryview, label: str) -> int:
    """Read into ``view`` until it is full or the stream ends; return the bytes read."""
    got = 0
    while got < len(view):
        try:
            k = stream.readinto(view[got:])
        except Exception as e:  # zstd / gzip corruption
            raise TraceError(f"{label}: cannot decompress: {e}") from None
        if not k:
            break
        got += k
    return got


def _parse_npy(stream: IO[bytes], req: ReadRequest, coll: _Collector) -> Generator[None, None, int]:
    """Read an npy's rows in blocks into ``coll`` (a :data:`~workloads.traces.registry.Parse`)."""
    label = req.label
    shape, fortran, dtype = _npy_header(stream, label)
    _npy_layout(shape, dtype, label)
    if fortran and len(shape) == 2:
        raise TraceError(f"{label}: a Fortran-ordered (n, 2) array is read whole, not in blocks")
    width = 1 if len(shape) == 1 else 2
    rows = max(1, req.block_size // (dtype.itemsize * width))
    buf = np.empty(rows * width, dtype)
    done = 0
    while done < shape[0]:
        want = min(rows, shape[0] - done)
        got = _fill(stream, memoryview(buf[: want * width]).cast("B"), label)
        if got != want * width * dtype.itemsize:
            end = done + got // (dtype.itemsize * width)
            raise TraceError(
                f"{label}: truncated: the header promises {shape[0]:,} rows, the data ends at row {end:,}"
            )
        block = buf[: want * width].reshape(want, width)
        ids = block[:, 0]
        _npy_add(coll, ids, block[:, 1] if width == 2 else None, done, label)
        yield
        done += want
        if coll.full:
            break
    return done * width * dtype.itemsize


_NPZ_MAX_PAGE = 1 << 52  # page numbers below this; with steps below 2**40 a running sum cannot wrap


def _npz_array(data: dict, key: str, label: str, kinds: str = "iu", scalar: bool = False) -> np.ndarray:
    """Member ``key`` as an array of one of the dtype ``kinds``, 1-D (or one value if ``scalar``)."""
    arr = data[key]
    ok = isinstance(arr, np.ndarray) and arr.dtype.kind in kinds
    ok = ok and (arr.size == 1 if scalar else arr.ndim == 1)
    if not ok:
        what = (
            "one integer" if scalar else f"a 1-D {'integer' if kinds == 'iu' else 'integer or boolean'} array"
        )
        got = f"dtype {arr.dtype}, shape {arr.shape}" if isinstance(arr, np.ndarray) else "not a .npy member"
        raise TraceError(f"{label}: member {key!r} must be {what}; got {got}")
    return arr


def _npz_int64(arr: np.ndarray, key: str, label: str, lo: int, hi: int, at: int = 0) -> np.ndarray:
    """``arr`` as int64, every value in ``[lo, hi)`` (checked before converting, so nothing wraps).

    ``at`` is the index of ``arr[0]`` in its member (a block's), for the error message.
    """
    if arr.size and (int(arr.min()) < lo or int(arr.max()) >= hi):
        j = int(np.argmax((arr < lo) | (arr >= hi)))
        raise TraceError(
            f"{label}: {key}[{at + j}] = {int(arr[j])} is out of range; expected {lo} <= value < {hi}"
        )
    return arr.astype(np.int64)


_NPZ_VALUES = ("pages_delta", "pages", "addrs")  # the first one present gives the references


def _npz_page_size(data: dict, label: str, page_size: int | None) -> tuple[int, int | None]:
    """(the page size to read with: the request's, else the file's, else 4096; the file's or None)."""
    stored = None
    if "page_size" in data:
        stored = int(_npz_array(data, "page_size", label, scalar=True).reshape(-1)[0])
        if stored < 1 or stored & (stored - 1) or stored > 1 << 40:
            raise TraceError(f"{label}: member 'page_size' must be a power of two >= 1, got {stored}")
    return _check_page_size(page_size if page_size is not None else (stored or DEFAULT_PAGE_SIZE)), stored


def _npz_granularity(label: str, page_size: int, stored: int | None) -> int:
    """The page granularity of a trace of page numbers (the file's page size, else ``page_size``)."""
    gran = stored or page_size
    if page_size < gran:
        raise TraceError(
            f"{label}: trace stored at page granularity {gran} cannot be read with page_size={page_size}"
        )
    return gran


def _npz_pages(key: str, vals: np.ndarray, label: str, at: int = 0, carry: int = 0) -> tuple[np.ndarray, int]:
    """A run of member ``key``'s values as page numbers (``addrs``: addresses), checked, and the running sum.

    ``at`` is the index of ``vals[0]`` in the member, ``carry`` the running sum of
    ``pages_delta`` before it (the sum after it comes back; other members pass it on).
    """
    if key == "addrs":
        return _npz_int64(vals, "addrs", label, 0, 1 << 63, at), carry
    if key == "pages_delta":
        delta = _npz_int64(vals, "pages_delta", label, -(1 << 40), 1 << 40, at)
        sums = np.cumsum(delta)
        sums += carry
        what = "page number (running sum of pages_delta)"
        return _npz_int64(sums, what, label, 0, _NPZ_MAX_PAGE, at), int(sums[-1]) if sums.size else carry
    return _npz_int64(vals, "pages", label, 0, _NPZ_MAX_PAGE, at), carry


def _npz_scaled(pages: np.ndarray, gran: int, label: str, at: int = 0) -> np.ndarray:
    """Page numbers (checked) as byte addresses at granularity ``gran``."""
    return _npz_int64(pages, "pages", label, 0, (1 << 63) // gran, at) * gran


def _npz_addresses(data: dict, label: str, page_size: int | None) -> tuple[np.ndarray, int]:
    page_size, stored = _npz_page_size(data, label, page_size)
    key = next((k for k in _NPZ_VALUES if k in data), None)
    if key is None:
        raise TraceError(f"{label}: no 'pages', 'pages_delta' or 'addrs' array; found {sorted(data)}")
    values, _sum = _npz_pages(key, _npz_array(data, key, label), label)
    if key == "addrs":
        return values, page_size
    return _npz_scaled(values, _npz_granularity(label, page_size, stored), label), page_size


def _npz_op_codes(key: str | None, raw: np.ndarray | None, n: int, label: str, at: int = 0) -> np.ndarray:
    """The int8 ops of ``n`` references from member ``key`` (``ops``, ``writes``; None: all reads)."""
    if key is None:
        return np.zeros(n, np.int8)
    if key == "writes":
        return np.where(raw.astype(bool), OP_WRITE, OP_READ).astype(np.int8)
    return _npz_int64(raw, "ops", label, 0, OP_EXEC + 1, at).astype(np.int8)


def _npz_ops(data: dict, label: str, addrs: np.ndarray) -> np.ndarray:
    """The int8 op of each reference (one per address): ``ops``, else ``writes``, else all reads."""
    n = addrs.size
    key = next((k for k in ("ops", "writes") if k in data), None)
    raw = None if key is None else _npz_array(data, key, label, kinds="iu" if key == "ops" else "iub")
    ops = _npz_op_codes(key, raw, n, label)
    if ops.shape != addrs.shape:
        raise TraceError(f"{label}: 'ops' has {ops.size} entries but there are {n} references")
    return ops


def _npz_layout(data: dict, label: str, n: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(offsets, names, starts) of the processes (one process ``main`` if the file has none)."""
    if "offsets" in data:
        offsets = _npz_int64(_npz_array(data, "offsets", label), "offsets", label, 0, n + 1)
    else:
        offsets = np.array([0, n])
    if offsets.size < 2 or offsets[0] != 0 or offsets[-1] != n or (np.diff(offsets) < 0).any():
        raise TraceError(f"{label}: 'offsets' must rise from 0 to {n}, got {offsets.tolist()[:8]}")
    n_procs = offsets.size - 1
    names = [str(x) for x in _npz_array(data, "names", label, kinds="US")] if "names" in data else None
    names = names if names is not None else ["main"] * n_procs
    if "starts" in data:
        starts = _npz_int64(_npz_array(data, "starts", label), "starts", label, 0, 1 << 40)
    else:
        starts = np.zeros(n_procs, np.int64)
    if len(names) != n_procs or starts.size != n_procs:
        raise TraceError(f"{label}: 'names' and 'starts' must have one entry per process ({n_procs})")
    return offsets, names, starts


def _npz_description(data: dict, label: str, total: int) -> str:
    """An npz trace's description: its name, its ``total`` references and the ``how`` of its ``meta``."""
    desc = f"npz trace {Path(label).name}: {total:,} references"
    try:
        how = json.loads(str(data["meta"])).get("how", "") if "meta" in data else ""
    except (ValueError, AttributeError, RecursionError):
        how = ""
    return f"{desc}; {how}" if how else desc


def _from_npz(data: dict, label: str, page_size, collapse, max_refs, wname) -> Workload:
    addrs, page_size = _npz_addresses(data, label, page_size)
    n = addrs.size
    if n == 0:
        raise TraceError(f"{label}: no references; expected non-empty 'pages' or 'addrs'")
    ops = _npz_ops(data, label, addrs)
    offsets, names, starts = _npz_layout(data, label, n)
    shift = page_size.bit_length() - 1
    procs = []
    budget = max_refs
    for p in range(offsets.size - 1):
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
    return Workload(
        wname, procs, [], page_size, _npz_description(data, label, sum(p.ops.size for p in procs))
    )


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


def _write_npy(path: Path, blocks: Iterable[Batch], page_size: int, length: int) -> None:
    """(length, 2) int64 rows of (page, op), as ``np.save`` writes them, one block at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.dtype(np.int64)
    with open(path, "wb") as fh:
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (length, 2)}
        np.lib.format.write_array_header_1_0(fh, header)
        rows = 0
        for _pids, ops, vals in blocks:
            fh.write(np.stack([vals.astype(dtype, copy=False), ops.astype(dtype)], axis=1).tobytes())
            rows += ops.size
    if rows != length:
        raise TraceError(f"{path}: wrote {rows:,} rows, not the {length:,} announced in its header")


def _loader(fmt: str):
    def load(req: ReadRequest) -> Workload:
        return _load_numpy(req.path, fmt, req.page_size, req.collapse, req.max_refs, req.dense, req.name)

    return load


def _stream_npz(req: ReadRequest, several: bool):
    from workloads.traces.formats.npz_blocks import stream_npz  # (it builds on this module)

    return stream_npz(req, several)


register(
    Format(
        "npz",
        suffixes=(".npz",),
        magic=b"PK\x03\x04",
        load=_loader("npz"),
        stream=_stream_npz,
        write_workload=_write_npz,
    )
)
register(
    Format(
        "npy",
        suffixes=(".npy",),
        magic=b"\x93NUMPY",
        one_address_space=True,
        load=_loader("npy"),
        parse=_parse_npy,
        write=_write_npy,
    )
)
