"""NumPy files: vmgym's own ``.npz`` (exact per-process streams) and ``.npy`` page arrays.

See the package docstring for the npz layout. A ``.npy`` holds 1-D page numbers (reads)
or (n, 2) rows of (page, op), one address space. Both are read whole (``np.load``), not
streamed, and are never compressed by a suffix.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from workloads.model import DEFAULT_PAGE_SIZE, OP_EXEC, OP_READ, OP_WRITE, Process, Workload
from workloads.traces.blocks import _Collector
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


def _npz_ops(data: dict, label: str, addrs: np.ndarray) -> np.ndarray:
    """The int8 op of each reference (one per address): ``ops``, else ``writes``, else all reads."""
    n = addrs.size
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
    return ops


def _npz_layout(data: dict, label: str, n: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """(offsets, names, starts) of the processes (one process ``main`` if the file has none)."""
    offsets = data["offsets"].astype(np.int64) if "offsets" in data else np.array([0, n])
    if offsets[0] != 0 or offsets[-1] != n or (np.diff(offsets) < 0).any():
        raise TraceError(f"{label}: 'offsets' must rise from 0 to {n}, got {offsets.tolist()[:8]}")
    n_procs = offsets.size - 1
    names = [str(x) for x in data["names"]] if "names" in data else ["main"] * n_procs
    starts = data["starts"].astype(np.int64) if "starts" in data else np.zeros(n_procs, np.int64)
    if len(names) != n_procs or starts.size != n_procs:
        raise TraceError(f"{label}: 'names' and 'starts' must have one entry per process ({n_procs})")
    return offsets, names, starts


def _npz_description(data: dict, label: str, procs: list[Process]) -> str:
    desc = f"npz trace {Path(label).name}: {sum(p.ops.size for p in procs):,} references"
    try:
        how = json.loads(str(data["meta"])).get("how", "") if "meta" in data else ""
    except (json.JSONDecodeError, AttributeError):
        how = ""
    return f"{desc}; {how}" if how else desc


def _from_npz(data: dict, label: str, page_size, collapse, max_refs, wname) -> Workload:
    addrs, page_size = _npz_addresses(data, label, page_size)
    n = addrs.size
    if n == 0:
        raise TraceError(f"{label}: no references; expected non-empty 'pages' or 'addrs'")
    ops = _npz_ops(data, label, addrs)
    if addrs.min() < 0:
        raise TraceError(f"{label}: reference {int(np.argmax(addrs < 0))}: negative address")
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
    return Workload(wname, procs, [], page_size, _npz_description(data, label, procs))


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


def _write_npy(path: Path, pids: np.ndarray, ops: np.ndarray, vals: np.ndarray, page_size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.save(fh, np.stack([vals, ops.astype(np.int64)], axis=1))


def _loader(fmt: str):
    def load(req: ReadRequest) -> Workload:
        return _load_numpy(req.path, fmt, req.page_size, req.collapse, req.max_refs, req.dense, req.name)

    return load


register(
    Format("npz", suffixes=(".npz",), magic=b"PK\x03\x04", load=_loader("npz"), write_workload=_write_npz)
)
register(
    Format(
        "npy",
        suffixes=(".npy",),
        magic=b"\x93NUMPY",
        one_address_space=True,
        load=_loader("npy"),
        write=_write_npy,
    )
)
