"""Reuse, fed block by block: LRU stack distances (``trace info``, ``vmgym mrc``) and next uses.

Mattson, Gecsei, Slutz & Traiger, "Evaluation techniques for storage hierarchies", IBM
Systems Journal 9(2), 1970: the LRU stack distance of a re-reference is the number of
distinct other ids referenced since its previous reference, and a memory of ``c`` frames
hits exactly the references at distance < ``c``. :class:`LruStack` computes it with a
Fenwick (binary indexed) tree over access times holding a 1 at each id's last access:
the distance is the number of 1s after it, O(log) a reference. Times are renumbered
densely (keeping their order) whenever they run past ``2 * n_ids + 64``, so the tree
stays about twice the ids long, however long the trace; every array is per id, none per
reference, and the state carries across blocks, so a stream gives the same histogram as
one array.

:func:`backward_next_uses` gives each reference's next use (OPT and the oracle in a
streamed run, OPT's miss-ratio curve, oracleGeneral's next-access times): one pass from
the trace's end, block by block, over keys read from a column.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit

from workloads.spool import Column

NEVER = np.int64(1) << 62  # the next use of a reference whose key is never referenced again
_NO_OUT = np.zeros(0, np.int64)


@njit(cache=True, nogil=True)
def _fenwick_build(tree, live):
    """Fenwick tree over ``tree[1:]`` with a 1 at times 1..live and 0 after them, O(len)."""
    cap = tree.shape[0] - 1
    tree[:] = 0
    tree[1 : live + 1] = 1
    for k in range(1, cap + 1):
        parent = k + (k & -k)
        if parent <= cap:
            tree[parent] += tree[k]


@njit(cache=True, nogil=True)
def lru_push(ids, tree, owner, last, hist, state, out):  # pragma: no cover (compiled)
    """Push references ``ids`` (dense ids) through the LRU stack (see the module docstring).

    ``hist[d]`` counts re-references at distance ``d`` below ``len(hist) - 1``, the last
    slot the farther ones and the first touches. ``state``: ids live (touched), the last
    time used, first touches. ``last[x]``: id x's last access time (0: never);
    ``owner[t]``: the id last accessed at time t (-1: none). With a non-empty ``out``,
    ``out[i]`` is reference i's distance (-1: a first touch).
    """
    cap = tree.shape[0] - 1
    top = hist.shape[0] - 1
    each = out.shape[0] > 0
    live = state[0]
    t = state[1]
    for i in range(ids.shape[0]):
        if t == cap:  # renumber the live times 1..live, keeping their order
            k = 0
            for s in range(1, cap + 1):
                x = owner[s]
                if x >= 0:
                    owner[s] = -1
                    k += 1
                    owner[k] = x
                    last[x] = k
            _fenwick_build(tree, live)
            t = live
        x = ids[i]
        j = last[x]
        t += 1
        if j == 0:
            live += 1
            hist[top] += 1
            state[2] += 1
            if each:
                out[i] = -1
        else:
            s = 0  # markers at times <= j
            k = j
            while k > 0:
                s += tree[k]
                k -= k & -k
            d = live - s  # markers after j: distinct other ids since
            hist[d if d < top else top] += 1
            if each:
                out[i] = d
            k = j
            while k <= cap:
                tree[k] -= 1
                k += k & -k
            owner[j] = -1
        k = t
        while k <= cap:
            tree[k] += 1
            k += k & -k
        owner[t] = x
        last[x] = t
    state[0] = live
    state[1] = t


class LruStack:
    """LRU stack distances of references to ids ``0 .. n_ids - 1``, fed in blocks (module docstring).

    ``hist[d]`` counts the re-references at distance ``d`` for ``d < top`` (default
    ``n_ids``: every distance); ``hist[top]`` the farther ones and the first touches,
    which :attr:`first_touches` counts alone.
    """

    def __init__(self, n_ids: int, top: int | None = None):
        cap = 2 * n_ids + 64
        self.tree = np.zeros(cap + 1, np.int32)
        self.owner = np.full(cap + 1, -1, np.int64)
        self.last = np.zeros(n_ids, np.int64)
        self.hist = np.zeros((n_ids if top is None else top) + 1, np.int64)
        self.state = np.zeros(3, np.int64)  # ids live, last time, first touches
        self.references = 0

    def add(self, ids: np.ndarray) -> None:
        """Note a block of references (int64 ids)."""
        lru_push(ids, self.tree, self.owner, self.last, self.hist, self.state, _NO_OUT)
        self.references += ids.shape[0]

    def distances(self, ids: np.ndarray) -> np.ndarray:
        """Note a block of references and return each one's distance (-1: a first touch)."""
        out = np.empty(ids.shape[0], np.int64)
        if ids.shape[0]:
            lru_push(ids, self.tree, self.owner, self.last, self.hist, self.state, out)
        self.references += ids.shape[0]
        return out

    @property
    def first_touches(self) -> int:
        """References to an id not referenced before."""
        return int(self.state[2])


@njit(cache=True, nogil=True)
def next_uses(keys, base, last, out):  # pragma: no cover (compiled)
    """Backward pass over one block: ``out[k]`` = next position of ``keys[k]`` after ``base + k``.

    ``last[key]`` holds the earliest position seen so far of each key (blocks go from
    the end of the trace to its start); it ends as each key's first use. A negative key
    (no key: an event, a segfault) gets NEVER.
    """
    for k in range(keys.shape[0] - 1, -1, -1):
        key = keys[k]
        if key >= 0:
            out[k] = last[key]
            last[key] = base + k
        else:
            out[k] = NEVER


def backward_next_uses(
    keys_at: Callable[[int, int], np.ndarray],
    n: int,
    n_keys: int,
    out: Column,
    step: int,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Write each of ``n`` positions' next use (NEVER if none) into ``out``, ``step`` positions at a time.

    ``keys_at(lo, m)`` gives the keys (``0 .. n_keys - 1``, or negative) of positions
    ``lo .. lo + m - 1``; the blocks are asked for from the end. Returns each key's
    first use (NEVER if none). ``progress(done)``, if given, hears the positions done
    after each block.
    """
    last = np.full(n_keys, NEVER, np.int64)
    buf = np.empty(min(step, n), np.int64)
    for lo in reversed(range(0, n, step)):
        m = min(step, n - lo)
        next_uses(keys_at(lo, m), lo, last, buf[:m])
        out.write(lo, buf[:m])
        if progress is not None:
            progress(n - lo)
    return last
