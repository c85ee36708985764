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


def resolve(spec: str | Path | Workload, *, fmt: str | None = None) -> Workload:
    """A workload from a registry name, suite entry, TOML spec or trace file.

    See :func:`workloads.spec.resolve`.
    """
    from workloads.spec import resolve as _resolve

    return _resolve(spec, fmt=fmt)


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
    "resolve",
]
