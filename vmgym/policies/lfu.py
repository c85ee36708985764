"""LFU replacement: evict the least frequently used page, the least recently used among equals.

Source: Silberschatz, Galvin & Gagne, *Operating System Concepts*, 10th ed.,
section 10.4.5 (counting-based replacement); the O(1) structure is Shah, Mitra &
Matani, "An O(1) algorithm for implementing the LFU cache eviction scheme", 2010:
a list of frequency buckets in increasing frequency, each holding the frames
with that frequency in recency order, so a hit moves its frame to the next
bucket in constant time and the victim is the LRU end of the lowest bucket.

In-memory LFU: a page's frequency counts its accesses since it was loaded (the
faulting access counts as 1); eviction forgets it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from vmgym.policies.base import Policy, register
from vmgym.sim.frames import evictable

KERNEL_ID = 10
# pol_f, per frame x: 0/1 prev (toward the bucket's MRU end) / next (toward its LRU end),
#   2: bucket node holding x.
# pol_f, per bucket node b (ids 0..n_frames-1; a nonempty bucket holds a frame, so n nodes suffice):
#   3/4: prev (lower frequency) / next (higher frequency) in the bucket list, 5: frequency,
#   6/7: MRU / LRU frame of its item list, 8: next free node.
# pol_g 0: lowest-frequency bucket (-1: none), 1: free-node stack top (-1: none).
IPREV, INEXT, BUCKET, BPREV, BNEXT, FREQ, IHEAD, ITAIL, BFREE = range(9)


@njit(cache=True, _nrt=False)
def _node_alloc(pf, pg, freq):
    b = pg[1]
    pg[1] = pf[BFREE, b]
    pf[FREQ, b] = freq
    pf[IHEAD, b] = -1
    pf[ITAIL, b] = -1
    pf[BPREV, b] = -1
    pf[BNEXT, b] = -1
    return b


@njit(cache=True, _nrt=False)
def _node_free(pf, pg, b):
    """Unlink the (empty) bucket ``b`` from the bucket list and return it to the free stack."""
    prv = pf[BPREV, b]
    nxt = pf[BNEXT, b]
    if prv >= 0:
        pf[BNEXT, prv] = nxt
    else:
        pg[0] = nxt
    if nxt >= 0:
        pf[BPREV, nxt] = prv
    pf[BFREE, b] = pg[1]
    pg[1] = b


@njit(cache=True, _nrt=False)
def _item_push(pf, b, x):
    """Make frame ``x`` the most recently used of bucket ``b``."""
    head = pf[IHEAD, b]
    pf[IPREV, x] = -1
    pf[INEXT, x] = head
    if head >= 0:
        pf[IPREV, head] = x
    else:
        pf[ITAIL, b] = x
    pf[IHEAD, b] = x
    pf[BUCKET, x] = b


@njit(cache=True, _nrt=False)
def _item_unlink(pf, b, x):
    prv = pf[IPREV, x]
    nxt = pf[INEXT, x]
    if prv >= 0:
        pf[INEXT, prv] = nxt
    else:
        pf[IHEAD, b] = nxt
    if nxt >= 0:
        pf[IPREV, nxt] = prv
    else:
        pf[ITAIL, b] = prv


@njit(cache=True, inline="always", _nrt=False)
def on_insert(st, f, g, i):
    """A page entered frame ``f``: frequency 1, most recent of its bucket."""
    pf = st.pol_f
    pg = st.pol_g
    b = pg[0]
    if b < 0 or pf[FREQ, b] != 1:
        nb = _node_alloc(pf, pg, 1)
        pf[BNEXT, nb] = b
        if b >= 0:
            pf[BPREV, b] = nb
        pg[0] = nb
        b = nb
    _item_push(pf, b, f)


@njit(cache=True, inline="always", _nrt=False)
def on_hit(st, pf, pg, f, g, i):
    """Frame ``f`` was referenced: one more use, most recent among its new frequency."""
    b = pf[BUCKET, f]
    c = pf[FREQ, b] + 1
    nb = pf[BNEXT, b]
    alone = pf[IHEAD, b] == f and pf[ITAIL, b] == f
    if nb < 0 or pf[FREQ, nb] != c:
        if alone:  # the bucket just changes its frequency
            pf[FREQ, b] = c
            return
        n = _node_alloc(pf, pg, c)  # b keeps another frame, so a node is free
        pf[BPREV, n] = b
        pf[BNEXT, n] = nb
        pf[BNEXT, b] = n
        if nb >= 0:
            pf[BPREV, nb] = n
        nb = n
    _item_unlink(pf, b, f)
    if alone:
        _node_free(pf, pg, b)
    _item_push(pf, nb, f)


@njit(cache=True, inline="always", _nrt=False)
def on_remove(st, f, evicted):
    """Frame ``f`` was emptied: drop it (and its bucket if that empties)."""
    pf = st.pol_f
    b = pf[BUCKET, f]
    _item_unlink(pf, b, f)
    if pf[IHEAD, b] < 0:
        _node_free(pf, st.pol_g, b)
    pf[BUCKET, f] = -1


@njit(cache=True, inline="always", _nrt=False)
def victim(st):
    """The LRU evictable frame of the lowest-frequency bucket that has one, or -1."""
    pf = st.pol_f
    b = st.pol_g[0]
    while b >= 0:
        f = pf[ITAIL, b]
        while f >= 0:
            if evictable(st, f):
                return f
            f = pf[IPREV, f]
        b = pf[BNEXT, b]
    return -1


@register
class LFU(Policy):
    """Least frequently used (Silberschatz et al. 10.4.5), O(1) buckets of Shah, Mitra & Matani 2010."""

    name = "lfu"
    aliases = ("least-frequently-used",)
    kernel_id = KERNEL_ID
    flow_family = "frequency"
    source = (
        "Silberschatz et al., OS Concepts 10e, 10.4.5; Shah, Mitra & Matani, "
        "An O(1) algorithm for implementing the LFU cache eviction scheme, 2010"
    )
    conventions = (
        "In-memory LFU: the count is the number of accesses since the page was loaded (the faulting "
        "access counts 1; every later access, including a minor fault that only maps it, adds 1) and is "
        "forgotten on eviction. Ties are broken by recency: the least recently used among the least "
        "frequent is evicted. Unevictable frames are skipped in that order."
    )
    frame_rows = 9
    global_rows = 2

    def init_state(self, pol_f, pol_p, pol_g):
        """No buckets; every bucket node on the free stack."""
        n = pol_f.shape[1]
        pol_f[:] = -1
        if n:
            pol_f[BFREE, : n - 1] = np.arange(1, n)
        pol_g[0] = -1
        pol_g[1] = 0 if n else -1
