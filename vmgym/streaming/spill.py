"""Per-reference columns too long for memory: an array, or a temporary file read in blocks.

OPT and the oracle need each reference's next-use position, which only a pass
over the rest of the trace tells (a backward pass). A streamed run therefore
keeps, per reference, its op and PTE (from the forward pass) and its next use
(from the backward pass) in :class:`Column` objects: a NumPy array when the
columns of the whole trace take at most :data:`SPILL_ABOVE` bytes, else a
temporary file under ``$TMPDIR`` written and read in blocks with plain file I/O.
Plain reads, not ``np.memmap``: a mapped file's touched pages count towards the
process's resident set, and bounding that is the point.
"""

from __future__ import annotations

import numpy as np

from workloads.spool import SPILL_ABOVE, anonymous_file

__all__ = ["SPILL_ABOVE", "Column"]


class Column:
    """``n`` values of one dtype, in memory or in a temporary file (see the module docstring)."""

    def __init__(self, n: int, dtype: type, spill: bool):
        self.dtype = np.dtype(dtype)
        self._mem: np.ndarray | None = None
        self._fh = None
        if not spill:
            self._mem = np.empty(n, self.dtype)
            return
        self._fh = anonymous_file("vmgym-column-")
        self._fh.truncate(n * self.dtype.itemsize)

    def write(self, lo: int, values: np.ndarray) -> None:
        """Store ``values`` at positions ``lo .. lo + len(values) - 1``."""
        if self._mem is not None:
            self._mem[lo : lo + values.shape[0]] = values
            return
        self._fh.seek(lo * self.dtype.itemsize)
        np.ascontiguousarray(values, self.dtype).tofile(self._fh)

    def read(self, lo: int, m: int) -> np.ndarray:
        """The ``m`` values from position ``lo`` (a view when in memory)."""
        if self._mem is not None:
            return self._mem[lo : lo + m]
        self._fh.seek(lo * self.dtype.itemsize)
        return np.fromfile(self._fh, self.dtype, m)

    def close(self) -> None:
        """Free the memory or delete the file."""
        self._mem = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None
