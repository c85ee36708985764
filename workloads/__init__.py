"""Workloads for vmgym: the data model, generators, trace readers and named suites."""

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
]
