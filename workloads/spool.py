"""Per-reference data too long for memory: in an array, or in a temporary file read in blocks.

:class:`Column` holds ``n`` values of one dtype written and read by position (OPT's and
the oracle's per-reference op, PTE and next use in a streamed run; a trace's object ids
and next accesses while oracleGeneral is written). :class:`Spool` holds each process's
references in order until a schedule takes them: a source of several processes (a trace
file with pids) gives their references in its own order, and a consumer that wants
another (the simulator's round-robin schedule, ``trace convert``'s tick order) appends
each block's references to their processes' parts and takes them back per process, in
order. Above :data:`SPILL_ABOVE` bytes either goes to a temporary file under
``$TMPDIR``, read back with plain reads (not ``np.memmap``: a mapped file's touched
pages count towards the resident set, and bounding that is the point). :func:`spills`
decides, and checks the folder has room first; a full disk or a short file later is a
one-line :class:`~workloads.model.WorkloadError`, never lost or zero-filled values.
"""

from __future__ import annotations

import mmap
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import IO

import numpy as np

from workloads.model import WorkloadError, byte_size
from workloads.stream import ProcessRefStream, proc_groups

SPILL_ABOVE = 1 << 27  # bytes of per-reference columns (128 MiB) above which they go to a file


def spills(nbytes: int, what: str, above: int | None = None) -> bool:
    """True if ``nbytes`` of per-reference data go to a temporary file: above ``above`` bytes.

    ``above`` defaults to :data:`SPILL_ABOVE` (read at each call). A spill is checked
    first: if the temporary folder (``$TMPDIR``) has less free room than ``nbytes``, a
    one-line :class:`WorkloadError` naming ``what``, the folder and the sizes, before
    any work (not an ``OSError`` from deep inside a write later).
    """
    if nbytes <= (SPILL_ABOVE if above is None else above):
        return False
    folder = tempfile.gettempdir()
    free = shutil.disk_usage(folder).free
    if nbytes > free:
        raise WorkloadError(
            f"{what} need {byte_size(nbytes)} in a temporary file under {folder}, which has "
            f"{byte_size(free)} free: set TMPDIR to a folder with more room"
        )
    return True


def anonymous_file(prefix: str) -> IO[bytes]:
    """A new temporary file opened ``w+b``, unbuffered, and already unlinked: it lives as long as its handle.

    Unbuffered, so a failed write (a full disk) raises at that write (:func:`write_at`).
    """
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=".bin")
    fh = os.fdopen(fd, "w+b", buffering=0)
    os.unlink(path)
    return fh


def write_at(fh: IO[bytes], offset: int, values: np.ndarray) -> None:
    """Write ``values``' bytes at ``offset`` of an :func:`anonymous_file`; a failure is one line.

    Not ``ndarray.tofile``: it writes through a C stream whose buffer holds a short
    write (under 4 KiB) and drops it silently when the disk is full.
    """
    view = memoryview(np.ascontiguousarray(values)).cast("B")
    try:
        fh.seek(offset)
        while view.nbytes:
            view = view[fh.write(view) :]
    except OSError as e:  # the disk filled up since the check (spills)
        raise WorkloadError(
            f"cannot write a temporary file under {tempfile.gettempdir()}: {e.strerror or e}"
        ) from None


def read_at(fh: IO[bytes], offset: int, dtype: np.dtype, m: int) -> np.ndarray:
    """The ``m`` values of ``dtype`` at ``offset`` of an :func:`anonymous_file` (all of them, or an error)."""
    fh.seek(offset)
    out = np.fromfile(fh, dtype, m)
    if out.shape[0] != m:
        raise WorkloadError(
            f"a temporary file under {tempfile.gettempdir()} gave {out.shape[0]} values, not {m}"
        )
    return out


def small_pages_array(n: int, dtype: type) -> np.ndarray:
    """``n`` zeros in private anonymous memory of ordinary 4 KiB pages (no huge pages).

    NumPy asks for transparent huge pages for every array of 4 MiB or more
    (``madvise(MADV_HUGEPAGE)``); where the kernel's THP ``defrag`` setting is
    ``madvise`` (this project's VM, many distributions' default), each first touch of
    such an array may stall in direct compaction to assemble a 2 MiB page. A column
    written once and read in order gains nothing from huge pages: on this project's
    VM, OPT's 30M-reference columns in ordinary pages cut the whole ``vmgym run``
    from 4.98 s to 3.23 s (median of 6 paired runs, 2026-12-04; system time 2.6 -> 0.7 s).
    The mapping is freed when the last view of the array goes.
    """
    dt = np.dtype(dtype)
    if not hasattr(mmap, "MAP_PRIVATE"):  # not POSIX: no huge-page advice to avoid
        return np.empty(n, dt)
    # private, not shared: a shared anonymous mapping is shmem, whose faults cost ~50 % more here
    return np.frombuffer(mmap.mmap(-1, max(1, n * dt.itemsize), flags=mmap.MAP_PRIVATE), dt, n)


class Column:
    """``n`` values of one dtype, in memory or (``spill``) in a temporary file."""

    def __init__(self, n: int, dtype: type, spill: bool):
        self.dtype = np.dtype(dtype)
        self._mem: np.ndarray | None = None
        self._fh = None
        if not spill:
            self._mem = small_pages_array(n, self.dtype)
            return
        self._fh = anonymous_file("vmgym-column-")
        self._fh.truncate(n * self.dtype.itemsize)

    def write(self, lo: int, values: np.ndarray) -> None:
        """Store ``values`` at positions ``lo .. lo + len(values) - 1``."""
        if self._mem is not None:
            self._mem[lo : lo + values.shape[0]] = values
            return
        write_at(self._fh, lo * self.dtype.itemsize, np.asarray(values, self.dtype))

    def read(self, lo: int, m: int) -> np.ndarray:
        """The ``m`` values from position ``lo`` (a view when in memory)."""
        if self._mem is not None:
            return self._mem[lo : lo + m]
        return read_at(self._fh, lo * self.dtype.itemsize, self.dtype, m)

    def close(self) -> None:
        """Free the memory or delete the file."""
        self._mem = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class Spool:
    """Each process's references ``(op, value)``, appended in blocks and taken in order.

    ``values`` is the dtype of the second column (PTE ids, addresses). In memory, or
    (``spill``) in one temporary file holding each appended block as its ops then its
    values.
    """

    def __init__(self, processes: int, spill: bool, values: type = np.int32):
        self._parts: list[deque[list]] = [deque() for _ in range(processes)]
        self.held = [0] * processes  # references appended and not yet taken, per process
        self._dtype = np.dtype(values)
        self._fh = anonymous_file("vmgym-spool-") if spill else None
        self._end = 0

    def append(self, p: int, ops: np.ndarray, values: np.ndarray) -> None:
        """Append a block of process ``p``'s references."""
        self.held[p] += ops.shape[0]
        if self._fh is None:  # [where, size, taken]: the arrays, or the file offset
            self._parts[p].append([(np.array(ops, np.int8), values), ops.shape[0], 0])
            return
        write_at(self._fh, self._end, np.asarray(ops, np.int8))
        write_at(self._fh, self._end + ops.shape[0], np.asarray(values, self._dtype))
        self._parts[p].append([self._end, ops.shape[0], 0])
        self._end += (1 + self._dtype.itemsize) * ops.shape[0]

    def take(self, p: int, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The next ``m`` references of process ``p`` (it holds them)."""
        self.held[p] -= m
        ops, vals = [], []
        while m:
            part = self._parts[p][0]
            where, size, lo = part
            k = min(m, size - lo)
            if self._fh is None:
                ops.append(where[0][lo : lo + k])
                vals.append(where[1][lo : lo + k])
            else:
                ops.append(read_at(self._fh, where + lo, np.dtype(np.int8), k))
                vals.append(read_at(self._fh, where + size + self._dtype.itemsize * lo, self._dtype, k))
            part[2] += k
            if part[2] == size:
                self._parts[p].popleft()
            m -= k
        if len(ops) == 1:
            return ops[0], vals[0]
        return np.concatenate(ops), np.concatenate(vals)

    def close(self) -> None:
        """Free the memory or delete the file."""
        self._parts = []
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def check_processes(stream: ProcessRefStream, procs: np.ndarray) -> None:
    """Refuse a block whose process indices fall outside the stream's processes (one line)."""
    k = len(stream.proc_names)
    if procs.size and (procs.min() < 0 or procs.max() >= k):
        bad = int(procs[(procs < 0) | (procs >= k)][0])
        raise WorkloadError(f"workload {stream.name!r}: process index {bad} is not in 0..{k - 1}")


def _changed(stream: ProcessRefStream, p: int, seen: int, count: int, more: bool) -> WorkloadError:
    return WorkloadError(
        f"workload {stream.name!r}: read again, its stream gave process {stream.proc_names[p]!r} "
        f"{seen:,} references{' or more' if more else ''}, not {count:,} (did the file change?)"
    )


def fill(
    spool: Spool,
    stream: ProcessRefStream,
    counts: Sequence[int],
    block: int,
    values: Callable[[int, np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> Iterator[None]:
    """Read ``stream`` once, one block per step, each process's references appended to ``spool``.

    ``values(p, ops, addrs)`` is what is stored beside the ops (default: the addresses).
    A process index outside the stream's, or a process giving other than its
    ``counts[p]`` references, is a one-line :class:`WorkloadError` (the source changed).
    """
    k = len(stream.proc_names)
    seen = np.zeros(k, np.int64)
    for procs, ops, addrs in stream.proc_blocks(block):
        check_processes(stream, procs)
        for p, idx in proc_groups(procs):
            seen[p] += idx.size
            if seen[p] > counts[p]:
                raise _changed(stream, p, int(seen[p]), int(counts[p]), more=True)
            part = addrs[idx]
            spool.append(p, ops[idx], part if values is None else values(p, ops[idx], part))
        yield
    for p in range(k):
        if seen[p] != counts[p]:
            raise _changed(stream, p, int(seen[p]), int(counts[p]), more=False)
