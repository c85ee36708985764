"""Each process's references held in order until a schedule takes them: memory, or a temporary file.

A source of several processes (a trace file with pids) gives their references in its
own order; a consumer that wants another order (the simulator's round-robin schedule,
``trace convert``'s tick order) appends each block's references to their processes'
parts of a :class:`Spool` and takes them back per process, in order. Above
:data:`SPILL_ABOVE` bytes the parts go to one temporary file under ``$TMPDIR``, read
back with plain reads (not ``np.memmap``: a mapped file's touched pages count towards
the resident set, and bounding that is the point).
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from typing import IO

import numpy as np

SPILL_ABOVE = 1 << 27  # bytes of per-reference columns (128 MiB) above which they go to a file


def anonymous_file(prefix: str) -> IO[bytes]:
    """A new temporary file opened ``w+b`` and already unlinked: it lives as long as its handle."""
    fd, path = tempfile.mkstemp(prefix=prefix, suffix=".bin")
    fh = os.fdopen(fd, "w+b")
    os.unlink(path)
    return fh


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
        self._fh.seek(self._end)
        np.ascontiguousarray(ops, np.int8).tofile(self._fh)
        np.ascontiguousarray(values, self._dtype).tofile(self._fh)
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
                self._fh.seek(where + lo)
                ops.append(np.fromfile(self._fh, np.int8, k))
                self._fh.seek(where + size + self._dtype.itemsize * lo)
                vals.append(np.fromfile(self._fh, self._dtype, k))
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
