"""Reading and writing traces: :func:`load_trace`, :func:`write_trace`, :func:`convert`.

These only dispatch through the format registry (:mod:`.registry`); the formats
themselves live in :mod:`workloads.traces.formats`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workloads.model import DEFAULT_PAGE_SIZE, Workload
from workloads.traces.blocks import _Collector, parse_all
from workloads.traces.errors import TraceError
from workloads.traces.mapping import _PID_SHIFT, _check_page_size, _finish, _merged, _trace_name
from workloads.traces.registry import (
    BLOCK_SIZE,
    Format,
    ReadRequest,
    _format,
    _output_format,
    _resolve_format,
)
from workloads.traces.streams import _open_raw


def load_trace(
    path: str | Path,
    fmt: str | None = None,
    page_size: int | None = None,
    collapse: bool = True,
    max_refs: int | None = None,
    *,
    dense: bool | None = None,
    obj_id_col: int | None = None,
    op_col: int | None = None,
    block_size: int = BLOCK_SIZE,
    name: str | None = None,
) -> Workload:
    """Read a trace file into a :class:`Workload` (formats, mapping: the :mod:`workloads.traces` docstring).

    ``fmt`` is one of :data:`FORMATS` or ``None`` to detect it; ``page_size`` (a power of
    two) defaults to 4096, or to an npz trace's own page size. ``collapse`` drops
    consecutive duplicate (process, page, op) references; ``max_refs`` stops after that
    many references. ``dense`` controls the renumbering of object ids (``None``: only
    when some id is ``>= 2**36``); ``obj_id_col``/``op_col`` pick csv columns (1-based);
    ``block_size`` is the read size of the chunked parsers; ``name`` names the workload
    (default: the file name without its suffixes). Raises :class:`TraceError`.
    """
    path = Path(path)
    fmt, req = _request(path, fmt, page_size, collapse, max_refs, dense, obj_id_col, op_col, block_size, name)
    spec = _format(fmt)
    if spec.load is not None:
        return spec.load(req)
    page_size = _check_page_size(DEFAULT_PAGE_SIZE if page_size is None else page_size)
    coll = _Collector(page_size.bit_length() - 1, collapse, max_refs, spec.addresses)
    with _open_raw(path) as stream:
        nbytes = parse_all(spec.parse(stream, req, coll))
    return _finish(coll, fmt, req.label, nbytes, page_size, collapse, dense, req.name)


def _request(
    path: Path,
    fmt: str | None,
    page_size: int | None,
    collapse: bool,
    max_refs: int | None,
    dense: bool | None,
    obj_id_col: int | None,
    op_col: int | None,
    block_size: int,
    name: str | None,
) -> tuple[str, ReadRequest]:
    """The format of ``path`` and the checked :class:`ReadRequest` (``load_trace``'s arguments)."""
    fmt = _resolve_format(path, fmt)
    if max_refs is not None and (isinstance(max_refs, bool) or not isinstance(max_refs, int) or max_refs < 1):
        raise TraceError(f"max_refs must be an integer >= 1 or None, got {max_refs!r}")
    if block_size < 1:
        raise TraceError(f"block_size must be >= 1, got {block_size!r}")
    req = ReadRequest(
        str(path),
        path,
        page_size,
        collapse,
        max_refs,
        dense,
        obj_id_col=obj_id_col,
        op_col=op_col,
        block_size=block_size,
        name=name or _trace_name(path),
    )
    return fmt, req


def write_trace(
    workload: Workload, path: str | Path, fmt: str | None = None, *, meta: dict | None = None
) -> Path:
    """Write the references of ``workload`` to ``path`` in ``fmt`` (default: from the file name).

    ``.txt`` means ``plain``; a ``.zst``/``.gz`` suffix compresses. ``meta`` (JSON-able)
    is stored in npz files. See the :mod:`workloads.traces` docstring for what each format keeps.
    """
    path = Path(path)
    fmt = _output_format(path, fmt)
    spec = _format(fmt)
    page_size = _check_page_size(workload.page_size)
    if spec.write_workload is not None:
        spec.write_workload(workload, path, meta)
        return path
    if spec.write is None:
        raise TraceError(f"format {fmt} cannot be written")
    pids, ops, addrs = _merged(workload)
    if ops.size == 0:
        raise TraceError(f"workload {workload.name!r} has no references to write")
    n_procs = len(workload.processes)
    _check_holds(spec, workload.name, n_procs)
    vals = _stored_values(spec.addresses, pids, addrs, page_size, n_procs)
    spec.write(path, [(pids, ops, vals)], page_size, ops.size)
    return path


def _check_holds(spec: Format, name: str, n_procs: int) -> None:
    """Refuse to write ``n_procs`` processes into a format that holds one address space."""
    if spec.one_address_space and n_procs > 1:
        raise TraceError(
            f"format {spec.name} holds one address space but workload {name!r} has {n_procs} "
            f"processes; write plain or npz instead"
        )


def _stored_values(addresses: bool, pids: np.ndarray, addrs: np.ndarray, page_size: int, n_procs: int):
    """What a format stores per reference: the address, or an object id (``pid << 40 | vpn``)."""
    if addresses:
        return addrs
    vals = addrs >> (page_size.bit_length() - 1)
    return (pids << _PID_SHIFT) | vals if n_procs > 1 else vals


def convert(
    src: str | Path,
    dst: str | Path,
    fmt: str | None = None,
    *,
    src_fmt: str | None = None,
    page_size: int | None = None,
    collapse: bool = True,
    max_refs: int | None = None,
) -> Path:
    """Read ``src`` (format ``src_fmt`` or detected) and write it to ``dst`` in ``fmt`` (or by name).

    Reading collapses consecutive duplicates unless ``collapse=False``; see
    :func:`load_trace` and :func:`write_trace` for what each format keeps. A trace goes
    block by block (:func:`~workloads.traces.stream_trace`; memory: a block, not the
    trace; several pids: :mod:`workloads.tick_order`) into any format but npz, which is
    written whole.
    """
    out_fmt = _output_format(Path(dst), fmt)  # fail before reading a large input
    if _format(out_fmt).write is not None:
        from workloads.traces.streaming import NotStreamable, stream_trace, write_stream

        try:
            stream = stream_trace(src, src_fmt, page_size, collapse, max_refs, several=True)
        except NotStreamable:
            pass
        else:
            return write_stream(stream, Path(dst), out_fmt)
    workload = load_trace(src, src_fmt, page_size, collapse, max_refs)
    return write_trace(workload, dst, out_fmt, meta={"converted_from": Path(src).name})
