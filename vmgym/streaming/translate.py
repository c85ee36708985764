"""Address to page-table entry, compiled: the loader's translation for one fixed address space.

The whole-trace loader (:mod:`vmgym.sim.loader`) translates with NumPy passes
over every reference of every process. A streamed workload has one process whose
VMAs never change, so a reference's PTE depends on its address and op alone, and
one compiled pass per block does it:

- Each VMA gets a range of *flat indices* (its pages, VMAs in the process's
  order): flat index ``offs[v] + vpn - start[v]``. Flat order is the loader's PTE
  order (by VMA index, then vpn), so numbering the referenced flat indices in
  increasing order gives exactly the loader's PTE ids.
- :func:`flat_indices` maps a block of ``(op, address)`` to flat indices, or to
  ``SEGV_UNMAPPED`` / ``SEGV_PROT`` as the loader would.
- Dense address spaces (at most :data:`DENSE_SPAN` pages in all) mark referenced
  pages in a byte per page and translate through an int32 table; sparse ones keep
  the sorted distinct flat indices and translate by binary search.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vmgym.sim import state as S
from workloads.model import Vma, WorkloadError

DENSE_SPAN = 1 << 24  # pages: above this the address space is handled sparsely (no per-page table)


@njit(cache=True, nogil=True)
def flat_indices(ops, addrs, shift, starts, ends, perms, offs, out):  # pragma: no cover (compiled)
    """``out[i]``: flat index of reference ``i``, or a ``SEGV_*`` code (see the module docstring)."""
    nv = starts.shape[0]
    for i in range(addrs.shape[0]):
        vpn = addrs[i] >> shift
        code = S.SEGV_UNMAPPED
        for v in range(nv):
            if starts[v] <= vpn < ends[v]:
                code = offs[v] + vpn - starts[v] if perms[v] & (1 << ops[i]) else S.SEGV_PROT
                break
        out[i] = code


@njit(cache=True, nogil=True)
def mark(flat, seen):  # pragma: no cover (compiled)
    """``seen[j] = 1`` for every flat index ``j`` in ``flat`` (SEGV codes skipped)."""
    for i in range(flat.shape[0]):
        j = flat[i]
        if j >= 0:
            seen[j] = 1


@njit(cache=True, nogil=True)
def through_table(flat, table, out):  # pragma: no cover (compiled)
    """``out[i] = table[flat[i]]`` (int32 PTE ids), SEGV codes passed through.

    Returns the index of the first reference to a page the table does not number
    (-1 if none): the source gave a page its first read did not.
    """
    unseen = -1
    for i in range(flat.shape[0]):
        j = flat[i]
        if j >= 0:
            t = table[j]
            if t < 0 and unseen < 0:
                unseen = i
            out[i] = t
        else:
            out[i] = j
    return unseen


def all_rwx(vmas: list[Vma]) -> bool:
    """True if every VMA allows every op: a page's first use then never faults for its op."""
    return all(set(v.perms) == set("rwx") for v in vmas)


class Scratch:
    """A reusable int64 buffer for flat indices, shared by the address spaces of several processes."""

    def __init__(self) -> None:
        self._buf = np.zeros(0, np.int64)

    def get(self, n: int) -> np.ndarray:
        """A buffer of ``n`` values (contents undefined), grown as needed."""
        if self._buf.shape[0] < n:
            self._buf = np.empty(n, np.int64)
        return self._buf[:n]


class AddressSpace:
    """The VMAs of one process as arrays, and the PTE numbering of the pages it references.

    Feed :meth:`add` every block once (the first pass), call :meth:`number`, then
    :meth:`translate` blocks to PTE ids. ``dense`` overrides the choice by span (the
    spaces of several processes choose together); ``scratch`` shares a buffer.
    """

    def __init__(
        self, vmas: list[Vma], page_size: int, dense: bool | None = None, scratch: Scratch | None = None
    ):
        self.shift = page_size.bit_length() - 1
        self.starts = np.array([v.start_vpn for v in vmas], np.int64)
        self.ends = np.array([v.end_vpn for v in vmas], np.int64)
        self.perms = np.array(
            [sum(1 << k for k, c in enumerate("rwx") if c in v.perms) for v in vmas], np.int8
        )
        sizes = self.ends - self.starts
        self.offs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.span = int(sizes.sum())
        self.dense = self.span <= DENSE_SPAN if dense is None else dense
        self._seen = np.zeros(self.span if self.dense else 0, np.uint8)
        self._sparse: list[np.ndarray] = []
        self._sorted = np.zeros(0, np.int64)
        self._table = np.zeros(0, np.int32)
        self._scratch = Scratch() if scratch is None else scratch

    def _flat_of(self, ops: np.ndarray, addrs: np.ndarray) -> np.ndarray:
        out = self._scratch.get(addrs.shape[0])
        flat_indices(ops, addrs, self.shift, self.starts, self.ends, self.perms, self.offs, out)
        return out

    def add(self, ops: np.ndarray, addrs: np.ndarray) -> None:
        """First pass: note the pages a block references."""
        flat = self._flat_of(ops, addrs)
        if self.dense:
            mark(flat, self._seen)
            return
        block = np.unique(flat[flat >= 0])
        self._sparse.append(block)
        if sum(b.size for b in self._sparse) > 4 * max(self._sorted.size, 1 << 20):
            self._merge()

    def add_pages(self, vpns: np.ndarray, block: int) -> None:
        """First pass from a source's known distinct pages, ``block`` at a time.

        For ``rwx`` VMAs only (:func:`all_rwx`): there any op marks a page.
        """
        reads = np.zeros(min(block, vpns.size), np.int8)
        for lo in range(0, vpns.size, block):
            part = vpns[lo : lo + block]
            self.add(reads[: part.size], part << self.shift)

    def _merge(self) -> None:
        self._sorted = np.unique(np.concatenate([self._sorted, *self._sparse]))
        self._sparse = []

    def number(self) -> np.ndarray:
        """Number the referenced pages; return the loader's PTE keys (``vma index << 40 | vpn``, sorted)."""
        if self.dense:
            flat = np.flatnonzero(self._seen).astype(np.int64)
            self._table = np.full(self.span, -1, np.int32)
            self._table[flat] = np.arange(flat.size, dtype=np.int32)
            self._seen = np.zeros(0, np.uint8)
        else:
            self._merge()
            flat = self._sorted
        local = np.searchsorted(self.offs, flat, side="right") - 1
        return (local << 40) | (self.starts[local] + flat - self.offs[local])

    @property
    def n_ptes(self) -> int:
        """Number of PTEs (after :meth:`number`)."""
        return int(np.count_nonzero(self._table >= 0)) if self.dense else int(self._sorted.size)

    def translate(self, ops: np.ndarray, addrs: np.ndarray) -> np.ndarray:
        """PTE ids (int32) of a block of references, or ``SEGV_*`` codes.

        Raises :class:`~workloads.model.WorkloadError` for a page the first pass did
        not see (the source gave other references this time).
        """
        flat = self._flat_of(ops, addrs)
        out = np.empty(addrs.shape[0], np.int32)
        if self.dense:
            unseen = through_table(flat, self._table, out)
        else:
            ok = flat >= 0
            out[:] = flat
            pages = flat[ok]
            idx = np.searchsorted(self._sorted, pages)
            found = np.zeros(pages.size, np.bool_)
            inside = idx < self._sorted.size
            found[inside] = self._sorted[idx[inside]] == pages[inside]
            bad = np.flatnonzero(~found)
            unseen = int(np.flatnonzero(ok)[bad[0]]) if bad.size else -1
            out[ok] = idx
        if unseen >= 0:
            raise WorkloadError(
                f"address {int(addrs[unseen]):#x} was not in the first read of the stream: "
                f"its source gave other references when read again (did the file change?)"
            )
        return out
