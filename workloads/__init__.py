"""Workloads for vmgym: the data model, generators, trace readers and named suites.

:func:`resolve` turns a registry name (``zipf:alpha=0.8``), a suite entry
(``train/zipf-a``), a TOML spec file or a trace file into a :class:`Workload`.
"""

from pathlib import Path

from workloads.model import (
    EV_EXIT,
    EV_FORK,
    EV_MLOCK,
    EV_MMAP,
    EV_MUNLOCK,
    EV_MUNMAP,
    OP_EXEC,
    OP_READ,
    OP_WRITE,
    MemObject,
    Process,
    ProcessBuilder,
    Vma,
    Workload,
    WorkloadBuilder,
    WorkloadError,
)
from workloads.stream import ProcessRefStream, RefStream


def resolve(spec: str | Path | Workload, *, fmt: str | None = None) -> Workload:
    """A workload from a registry name, suite entry, TOML spec or trace file.

    See :func:`workloads.spec.resolve`.
    """
    from workloads.spec import resolve as _resolve

    return _resolve(spec, fmt=fmt)


def resolve_stream(
    spec: str | Path | Workload, *, fmt: str | None = None, generators: bool = True, long: bool = False
) -> RefStream | None:
    """``spec`` as a :class:`~workloads.stream.RefStream` if it can be streamed, else None.

    Registry names of streamed generators (``zipf:length=1000000000``) and trace files
    from 64 MiB on (``workloads.spec.STREAM_TRACES_FROM``; several pids give a
    :class:`~workloads.stream.ProcessRefStream`) stream; suites,
    spec files, smaller traces and workloads with events do not (resolve them
    with :func:`resolve`); with ``generators=False`` only trace files do, with ``long``
    only generators of 16M references or more (``workloads.spec.STREAM_REFS_FROM``:
    what several runs of one workload stream). Errors in ``spec`` raise
    :class:`WorkloadError`.
    """
    from workloads.spec import resolve_stream as _resolve_stream

    return _resolve_stream(spec, fmt=fmt, generators=generators, long=long)


__all__ = [
    "EV_EXIT",
    "EV_FORK",
    "EV_MLOCK",
    "EV_MMAP",
    "EV_MUNLOCK",
    "EV_MUNMAP",
    "OP_EXEC",
    "OP_READ",
    "OP_WRITE",
    "MemObject",
    "Process",
    "ProcessBuilder",
    "Vma",
    "Workload",
    "WorkloadBuilder",
    "WorkloadError",
    "ProcessRefStream",
    "RefStream",
    "resolve",
    "resolve_stream",
]
